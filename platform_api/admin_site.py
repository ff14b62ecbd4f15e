"""The admin site of the platform: Django's, named after the deployment (``SITE_NAME``).

It is the default site (``PlatformAdminConfig``), so every app's ``admin.register`` uses it.
Pages whose fields are all read-only show no Save buttons (``admin/submit_line.html``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class PlatformAdminSite(admin.AdminSite):
    """Read from settings on every request, so the name follows ``SITE_NAME`` (and tests that change it).

    Staff with a second factor (django-otp device) must pass it at login (platform_api.logins).
    """

    @property
    def login_form(self):  # type: ignore[override]
        from platform_api.logins import OTPAdminAuthenticationForm

        return OTPAdminAuthenticationForm

    def has_permission(self, request) -> bool:
        from platform_api.logins import staff_passed_second_factor

        return super().has_permission(request) and staff_passed_second_factor(request)

    @property
    def site_header(self) -> str:  # type: ignore[override]
        return f"{settings.SITE_NAME} · staff"

    @property
    def site_title(self) -> str:  # type: ignore[override]
        return f"{settings.SITE_NAME} staff"

    @property
    def index_title(self) -> str:  # type: ignore[override]
        return "Review applications, manage access and data, read the audit log"

    @property
    def site_url(self) -> str:  # type: ignore[override]
        return "/portal/"


class PlatformAdminConfig(AdminConfig):
    default_site = "platform_api.admin_site.PlatformAdminSite"
