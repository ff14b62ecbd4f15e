"""Errors of the vetting workflow, in the platform's error envelope."""

from __future__ import annotations

from platform_api.errors import Conflict


class InvalidTransition(Conflict):
    """A service was asked for a state change the current state does not allow."""

    def __init__(self, current: str, target: str, *, what: str = "application"):
        super().__init__(
            f"This {what} is {current.replace('_', ' ')}; it cannot become {target.replace('_', ' ')}.",
            detail={"current_status": current, "requested_status": target},
        )
        self.current = current
        self.target = target
