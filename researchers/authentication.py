"""DRF authentication for research clients: a bearer token from /oauth/token/, tied to an active grant.

``request.auth`` is the AccessToken; ``request.auth.grant`` (or :func:`grant_of`) is its AccessGrant.
Missing, malformed, expired or revoked tokens, and tokens of a grant that is suspended, expired
(also by date, before the nightly task runs) or revoked, answer 401 ``authentication_failed``;
so does a token in the query string. Views open to anyone (``AllowAny``) treat such a request as
anonymous instead of refusing it.

The request path is kept to one small query when nothing changed (docs/scaling.md, "The request
floor"): a token's row, its client, its grant, the grant's scopes and the datasets it may read are
kept per process (keyed by the token's SHA-256, as the database keys it, never the token itself)
together with the *authorization generation* they were read at. Each request reads the generation
(one row, ``researchers_authgeneration``); any change to tokens, clients, grants, a grant's
datasets or the datasets themselves bumps it in the same transaction (statement triggers, migration
``0430_auth_generation``), so a revoked token, a suspended grant or a withdrawn scope is refused by
the very next request in every process, whether the change came from the ORM, ``.update()``, the
admin or raw SQL.
"""

from __future__ import annotations

import hashlib
import threading
import time

from django.db import connection
from django.utils import timezone
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import AccessToken
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

from platform_api.errors import AuthenticationFailedError
from platform_api.middleware import set_log_client
from researchers.models import AccessGrant
from researchers.oauth import grant_of_client


def grant_of(request: Request) -> AccessGrant | None:
    """The grant behind the request's token, or None for an anonymous request."""
    return getattr(request.auth, "grant", None)


# token checksum -> (generation, loaded at (monotonic), token with .grant attached)
_CACHE: dict[str, tuple[int, float, AccessToken]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 10_000
# A backstop only: entries are dropped as soon as the generation moves.
_CACHE_SECONDS = 300.0


def auth_generation() -> int:
    """The current authorization generation (bumped by any change to what a token may do)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM researchers_authgeneration WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else -1


def clear_token_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _load(checksum: str) -> AccessToken | None:
    """The token row with its client, grant, scopes and visible datasets, in two queries."""
    from moderation_data.catalog.models import Dataset

    token = (
        AccessToken.objects.select_related("application__access_grant", "user").filter(token_checksum=checksum).first()
    )
    if token is None:
        return None
    grant = grant_of_client(token.application)
    if grant is not None:
        visible = list(Dataset.objects.visible_to(grant))
        # Read by catalog.selectors.get_visible_dataset and grant_scopes() (researchers.permissions).
        grant.cached_visible_datasets = {dataset.slug: dataset for dataset in visible}
        grant.cached_scope_names = frozenset(grant.scope_names(visible))
    token.grant = grant
    return token


def cached_token(raw_token: str) -> AccessToken | None:
    """The token (``.grant`` attached), from this process's cache while the generation is unchanged."""
    checksum = hashlib.sha256(raw_token.encode("utf-8")).hexdigest()
    generation = auth_generation()
    now = time.monotonic()
    entry = _CACHE.get(checksum)
    if entry is not None and entry[0] == generation and now - entry[1] < _CACHE_SECONDS:
        return entry[2]
    token = _load(checksum)
    if token is not None:
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[checksum] = (generation, now, token)
    return token


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
        token = cached_token(credentials.strip())
        if token is not None and token.resource:
            # Audience-restricted tokens (RFC 8707) take django-oauth-toolkit's full path.
            result = super().authenticate(getattr(request, "_request", request))
            token = result[1] if result else None
            if token is not None:
                token.grant = grant_of_client(token.application)
        if token is None or token.expires <= timezone.now() or token.application is None:
            raise AuthenticationFailedError("The access token is invalid, expired or revoked.")
        user = token.user
        grant = token.grant
        if grant is None or not grant.is_usable():
            raise AuthenticationFailedError("The access grant of this token is not active.")
        set_log_client(request, f"client:{token.application.client_id}")
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
