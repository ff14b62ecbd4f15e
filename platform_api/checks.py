"""System checks of the platform's own settings (``manage.py check --deploy``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 - names compared, nothing bound


@register(Tags.security, deploy=True)
def public_base_url_check(app_configs, **kwargs) -> list[Warning]:
    """E-mails and credential files link to PUBLIC_BASE_URL: in production it must be the public https address."""
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    if parts.scheme == "https" and parts.hostname not in LOCAL_HOSTS:
        return []
    return [
        Warning(
            f"PUBLIC_BASE_URL is {settings.PUBLIC_BASE_URL!r}: e-mails and credential files would link there.",
            hint="Set PUBLIC_BASE_URL to the https address researchers use, e.g. https://research.example.org.",
            id="platform_api.W001",
        )
    ]
