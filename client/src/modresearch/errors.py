"""Typed exceptions: one class per error code of the platform's envelope.

Every error the API answers has the shape ``{"error": {"code", "message", "detail", "request_id"}}``
(the platform's ``docs/api.md``). :func:`error_from_response` turns it into the class registered
for its ``code`` (an unknown code becomes a plain :class:`APIError`), so callers can write
``except modresearch.QuotaExceeded as exc: ... exc.resets_at``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any


class ModResearchError(Exception):
    """Base of every exception this package raises."""


class APIError(ModResearchError):
    """An error answered by the platform, with its envelope's fields."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        detail: dict | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        url: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.status = status
        self.detail = detail or {}
        self.request_id = request_id
        self.retry_after = retry_after
        self.url = url
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"[{self.code}] {self.message}"]
        if self.detail:
            parts.append(f"detail: {self.detail}")
        if self.request_id:
            parts.append(f"request_id: {self.request_id}")
        return " | ".join(parts)


_BY_CODE: dict[str, type[APIError]] = {}


def _register(cls: type[APIError]) -> type[APIError]:
    _BY_CODE[cls.code] = cls
    return cls


@_register
class InvalidRequest(APIError):
    code = "invalid_request"


@_register
class InvalidQuery(APIError):
    """The query language refused a clause; ``detail["path"]`` names it."""

    code = "invalid_query"


@_register
class InvalidCursor(APIError):
    code = "invalid_cursor"


@_register
class AuthenticationFailed(APIError):
    code = "authentication_failed"


@_register
class ScopeMissing(APIError):
    code = "scope_missing"


@_register
class PermissionDenied(APIError):
    code = "permission_denied"


@_register
class GrantInactive(APIError):
    code = "grant_inactive"


@_register
class PrivacyBudgetExhausted(APIError):
    code = "privacy_budget_exhausted"


@_register
class NotFound(APIError):
    code = "not_found"


@_register
class Conflict(APIError):
    code = "conflict"


@_register
class ReleaseChanged(Conflict):
    """A cursor of one release was used with another (e.g. ``latest`` moved); pin the version."""

    code = "release_changed"


@_register
class ExportNotReady(Conflict):
    code = "export_not_ready"


@_register
class Gone(APIError):
    code = "gone"


@_register
class PayloadTooLarge(APIError):
    code = "payload_too_large"


@_register
class RateLimited(APIError):
    """Too many requests; the client waits and retries these itself unless the wait is too long."""

    code = "rate_limited"


@_register
class QuotaExceeded(APIError):
    """A daily quota (records, or an export allowance) is used up; ``resets_at`` says when it comes back.

    A records walk cut off by its quota can resume: ``resume`` holds what to pass back (see
    :meth:`modresearch.Client.records`, ``state=``).
    """

    code = "quota_exceeded"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        now = dt.datetime.now(dt.UTC)
        self.resets_at: dt.datetime | None = (
            now + dt.timedelta(seconds=self.retry_after) if self.retry_after is not None else None
        )
        stated = self.detail.get("reset_at") or self.detail.get("resets_at")
        if isinstance(stated, str):  # the server says when, in ISO 8601
            with contextlib.suppress(ValueError):
                self.resets_at = dt.datetime.fromisoformat(stated.replace("Z", "+00:00"))
        self.resume: dict | None = None
        self.rows_fetched: int | None = None

    def __str__(self) -> str:
        text = super().__str__()
        if self.resets_at is not None:
            text += f" | the quota resets at {self.resets_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.resume is not None:
            text += f" | {self.resume.get('hint', '')}"
        return text


@_register
class ServerError(APIError):
    code = "server_error"


@_register
class Unavailable(APIError):
    code = "unavailable"


class ConnectionFailed(ModResearchError):
    """The platform could not be reached (after retries)."""


class ChecksumMismatch(ModResearchError):
    """A downloaded file does not have the sha256 the platform announced."""


class StateMismatch(ModResearchError):
    """A state file belongs to another walk (dataset, release, query or fields differ)."""


class ConfigurationError(ModResearchError):
    """Credentials or the platform's URL are missing or malformed."""


def error_class(code: str) -> type[APIError]:
    return _BY_CODE.get(code, APIError)


def error_from_response(response: Any) -> APIError:
    """The typed exception for an error response (an ``httpx.Response`` with status >= 400)."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = body.get("error") if isinstance(body, dict) else None
    if isinstance(envelope, dict):
        code = str(envelope.get("code") or "error")
        message = str(envelope.get("message") or f"HTTP {status}")
        detail = envelope.get("detail") if isinstance(envelope.get("detail"), dict) else {}
        request_id = envelope.get("request_id") or response.headers.get("X-Request-ID")
    else:
        # Not the platform's envelope (a proxy's error page, say): keep what can be known.
        code = {401: "authentication_failed", 404: "not_found", 429: "rate_limited"}.get(status, "")
        code = code or ("server_error" if status >= 500 else "invalid_request")
        if status in (502, 503, 504):
            code = "unavailable"
        message = f"HTTP {status} from {response.request.url if response.request else 'the server'}"
        detail = {}
        request_id = response.headers.get("X-Request-ID")
    cls = error_class(code)
    return cls(
        message,
        code=code,
        status=status,
        detail=detail,
        request_id=request_id,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        url=str(response.request.url) if response.request else None,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
