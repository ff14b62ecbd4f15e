"""DRF authentication for research clients: a bearer token from /oauth/token/, tied to an active grant.

``request.auth`` is the AccessToken; ``request.auth.grant`` (or :func:`grant_of`) is its AccessGrant.
Missing, malformed, expired or revoked tokens, and tokens of a grant that is suspended, expired
(also by date, before the nightly task runs) or revoked, answer 401 ``authentication_failed``;
so does a token in the query string. Views open to anyone (``AllowAny``) treat such a request as
anonymous instead of refusing it.
"""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

from platform_api.errors import AuthenticationFailedError
from platform_api.middleware import set_log_client
from researchers.models import AccessGrant
from researchers.oauth import grant_of_client


def grant_of(request: Request) -> AccessGrant | None:
    """The grant behind the request's token, or None for an anonymous request."""
    return getattr(request.auth, "grant", None)


def _is_public(request: Request) -> bool:
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return False
    permissions = view.get_permissions()
    return bool(permissions) and all(isinstance(p, AllowAny) for p in permissions)


class GrantTokenAuthentication(OAuth2Authentication):
    www_authenticate_realm = "api"

    def authenticate(self, request: Request):
        try:
            return self._authenticate(request)
        except AuthenticationFailedError:
            # A public view (health, API root, schema, public aggregates) ignores bad credentials
            # rather than refusing a request it would serve to anyone.
            if _is_public(request):
                return None
            raise

    def _authenticate(self, request: Request):
        # RFC 6750 §5.3 / RFC 9700: a token in a URL ends up in logs and browser history.
        if "access_token" in request.query_params:
            raise AuthenticationFailedError(
                "Send the access token in the Authorization header (Bearer), never in the URL."
            )
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip() or len(credentials) > 512:
            raise AuthenticationFailedError("Use 'Authorization: Bearer <access token>'.")
        # The Django request: the token is in the header, and reading DRF's request.POST here would
        # parse the body before the request is even authenticated (a malformed body must be the
        # view's 400, counted against the grant's limits like any other request).
        result = super().authenticate(getattr(request, "_request", request))
        if result is None:
            raise AuthenticationFailedError("The access token is invalid, expired or revoked.")
        user, token = result
        grant = grant_of_client(token.application)
        if grant is None or not grant.is_usable():
            raise AuthenticationFailedError("The access grant of this token is not active.")
        token.grant = grant
        set_log_client(request, f"client:{token.application.client_id}")
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
