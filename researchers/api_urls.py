"""The app's API routes (mounted under /api/v1/ by platform_api)."""

from researchers.api_views import urlpatterns

__all__ = ["urlpatterns"]
