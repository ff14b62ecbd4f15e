"""Absolute links for e-mails and downloads: built from ``PUBLIC_BASE_URL``, never from a request's Host."""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    """``PUBLIC_BASE_URL`` + ``path`` (``path`` starts with ``/``), e.g. ``https://research.example.org/portal/``."""
    if not path.startswith("/"):
        raise ValueError(f"an absolute path starting with / is needed, got {path!r}")
    return settings.PUBLIC_BASE_URL.rstrip("/") + path
