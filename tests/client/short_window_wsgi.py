"""Test-only WSGI entry point: the real application, with a grant's "minute" window lasting
``TEST_MINUTE_SECONDS`` seconds, so a test can walk through several windows of a tiny per-minute
limit in a few seconds. Nothing else changes: the same Redis limiter, headers and Retry-After."""

import os

from platform_api.wsgi import application  # sets Django up first
from researchers import quotas

quotas.MINUTE = int(os.environ.get("TEST_MINUTE_SECONDS", "60"))

__all__ = ["application"]
