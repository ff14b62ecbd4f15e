from django.urls import include, path

from researchers import oauth

urlpatterns = [
    # API paths have no trailing slash; the other spelling works too (platform_api.slashes, docs/api.md).
    path("oauth/token", oauth.GrantTokenView.as_view(), name="oauth-token"),
    path("oauth/revoke_token", oauth.GrantRevokeTokenView.as_view(), name="oauth-revoke-token"),
    # Documentation, codebooks and release pages: public, before the portal's own pages.
    path("portal/", include("researchers.docs_views")),
    path("portal/", include("researchers.portal_urls")),
]
