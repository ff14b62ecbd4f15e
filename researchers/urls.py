from django.urls import include, path

from researchers import oauth

urlpatterns = [
    path("oauth/token/", oauth.GrantTokenView.as_view(), name="oauth-token"),
    path("oauth/revoke_token/", oauth.GrantRevokeTokenView.as_view(), name="oauth-revoke-token"),
    path("portal/", include("researchers.portal_urls")),
]
