"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    """The deployment's name (``SITE_NAME``) for page titles and headers."""
    return {"SITE_NAME": settings.SITE_NAME}
