"""Errors of the vetting workflow, in the platform's error envelope."""

from __future__ import annotations

from platform_api.errors import Conflict, InvalidRequest, PermissionDeniedError


class InvalidTransition(Conflict):
    """A service was asked for a state change the current state does not allow."""

    def __init__(self, current: str, target: str, *, what: str = "application"):
        super().__init__(
            f"This {what} is {current.replace('_', ' ')}; it cannot become {target.replace('_', ' ')}.",
            detail={"current_status": current, "requested_status": target},
        )
        self.current = current
        self.target = target


class EmailNotVerified(PermissionDeniedError):
    """Applications are submitted only from a verified address (docs/vetting.md)."""

    default_message = (
        "Confirm your e-mail address before submitting: open the link we e-mailed you, or ask for a new one."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, detail={"email": ["Not verified yet."]})


class VerificationLinkInvalid(InvalidRequest):
    default_message = "This verification link is invalid or outdated; log in and ask for a new one."
