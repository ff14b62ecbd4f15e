"""Staff and researcher logins: the lockout page (django-axes) and the admin's second factor (django-otp).

A (username, IP) pair that failed ``AXES_FAILURE_LIMIT`` times is refused for ``AXES_COOLOFF_HOURS``,
even with the right password; staff see attempts and lockouts in the admin (Axes) and can lift them.

Staff who registered a TOTP device (admin → TOTP devices) must give a current code at the admin
login; the admin refuses sessions of such staff that did not pass it (docs/authentication.md).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django_otp import match_token, user_has_device

from platform_api.errors import _page

LOCKED_MESSAGE = "Too many failed logins from this address for this account; try again later or ask staff to unlock it."


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """What a locked-out login gets: 429 in the platform's error page (or envelope for JSON clients)."""
    response = _page(request, 429, "rate_limited", LOCKED_MESSAGE)
    from django.conf import settings

    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME) * 3600)
    return response


class OTPAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login: username, password, and a one-time code for staff who have a device."""

    otp_token = forms.CharField(
        label="One-time code",
        required=False,
        max_length=16,
        help_text="Only if you registered an authenticator app (TOTP) for your staff account.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and user_has_device(user):
            token = (cleaned.get("otp_token") or "").strip()
            device = match_token(user, token) if token else None
            if device is None:
                raise forms.ValidationError(
                    "Enter the current one-time code of your authenticator app.", code="invalid_token"
                )
            # django-otp's user_logged_in handler stores the verified device in the session.
            user.otp_device = device
        return cleaned


def staff_passed_second_factor(request: HttpRequest) -> bool:
    """True unless the user has a second factor and this session has not passed it."""
    user = request.user
    if not user_has_device(user):
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


class LoginLockoutBackend(AxesStandaloneBackend, ModelBackend):
    """The one authentication backend: django-axes' lockout check, then Django's password check.

    One backend, not two, so ``User.objects.with_perm`` keeps working. Logins without a request
    (the shell, a test client's ``login()``) have no address to lock by and skip the lockout check.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:
            # Raises (and marks the request locked out) when this (username, IP) is locked out.
            AxesStandaloneBackend.authenticate(self, request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)


def client_str(username, ip_address, user_agent, path_info, request) -> str:
    """How axes names a login attempt in its log: account and address, never the path or agent."""
    return f"{{username: {username!r}, ip_address: {ip_address!r}}}"
