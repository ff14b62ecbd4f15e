"""django-oauth-toolkit wiring: grant-derived scopes, a validator that ties clients to their grants,
and the token endpoints with brute-force limits and the platform's error envelope."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import secrets
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.core.cache import cache
from django.db import connections, router
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import AbstractApplication, AccessToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.views import RevokeTokenView, TokenView
from oauthlib.oauth2.rfc6749.errors import InvalidClientError
from rest_framework.throttling import BaseThrottle

from platform_api import ratelimit
from platform_api.errors import envelope
from platform_api.middleware import set_log_client
from researchers.models import EXPORTS_SCOPE, AccessGrant

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _dummy_secret_hash(algorithm: str) -> str:
    """A hash of a random secret with the hasher client secrets use (the same cost to verify)."""
    return make_password(secrets.token_urlsafe(32), hasher=algorithm)


def grant_of_client(oauth_client) -> AccessGrant | None:
    """The grant an OAuth client belongs to (cached on the client instance)."""
    if oauth_client is None:
        return None
    try:
        return oauth_client.access_grant
    except AccessGrant.DoesNotExist:
        return None


class GrantScopes(BaseScopes):
    """Scopes come from the client's grant: ``dataset:<slug>`` per granted dataset, ``exports`` if allowed."""

    def get_all_scopes(self) -> dict[str, str]:
        from moderation_data.catalog.models import Dataset

        scopes = {d.scope: f"Read {d.title}" for d in Dataset.objects.all()}
        scopes[EXPORTS_SCOPE] = "Create and download bulk exports"
        return scopes

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        grant = grant_of_client(application)
        if grant is None or not grant.is_usable():
            return []
        return grant.scope_names()

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        # Without a `scope` parameter a client gets exactly what its grant allows.
        return self.get_available_scopes(application, request, *args, **kwargs)


class GrantOAuth2Validator(OAuth2Validator):
    """Only the client-credentials grant, and only for clients whose grant is usable today."""

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        grant = grant_of_client(request.client)
        # A client without a usable grant cannot even authenticate (token or revocation).
        return grant is not None and grant.is_usable()

    def _save_bearer_token(self, token, request, *args, **kwargs):
        # Runs inside save_bearer_token's transaction. The client was authenticated against the
        # secret hash and grant read earlier, without a lock, and the secret check takes a while:
        # a rotation, suspension, revocation or expiry committed since then must not be followed by
        # a token minted with what it replaced (it would be saved after that change deleted the
        # client's tokens). Share-lock the grant, then the client, in the order the grant services
        # lock them (grant FOR UPDATE, then the client's UPDATE), so a change still running waits
        # for this save (and its token deletion then removes this token), and a change already
        # committed is seen here.
        self._check_client_unchanged(request)
        return super()._save_bearer_token(token, request, *args, **kwargs)

    @staticmethod
    def _check_client_unchanged(request) -> None:
        client = request.client
        grant = grant_of_client(client)
        if client is None or grant is None:
            raise InvalidClientError(request=request)
        with connections[router.db_for_write(AccessToken)].cursor() as cursor:
            cursor.execute(
                "SELECT status, valid_until, updated_at FROM researchers_accessgrant WHERE id = %s FOR SHARE",
                [grant.pk],
            )
            grant_row = cursor.fetchone()
            cursor.execute(
                "SELECT client_secret FROM oauth2_provider_application WHERE id = %s FOR SHARE",
                [client.pk],
            )
            client_row = cursor.fetchone()
        if grant_row is None or client_row is None:
            raise InvalidClientError(request=request)
        status, valid_until, updated_at = grant_row
        current = AccessGrant(pk=grant.pk, status=status, valid_until=valid_until)
        # Any change to the grant since authentication (suspension, even if reinstated meanwhile,
        # revocation, expiry, new terms, a rotation) moves updated_at; a new secret changes the hash.
        if client_row[0] != client.client_secret or updated_at != grant.updated_at or not current.is_usable():
            logger.info("token request refused: client %s changed during its authentication", client.client_id)
            raise InvalidClientError(request=request)

    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is None:
            # An unknown client id costs the same PBKDF2 verification as a known one's wrong secret,
            # so the time of a refusal does not tell which client ids exist.
            check_password("", _dummy_secret_hash(get_hasher().algorithm))
        return application

    def authenticate_client_id(self, client_id, request, *args, **kwargs) -> bool:
        # Every client here is confidential: there is no unauthenticated path.
        return False

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs) -> bool:
        if grant_type != "client_credentials":
            return False
        return client.allows_grant_type(AbstractApplication.GRANT_CLIENT_CREDENTIALS)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs) -> bool:
        # No authorization endpoint flows (code, implicit, hybrid) for research clients.
        return False

    def _load_access_token(self, token):
        # One query loads the token, its client and the client's grant (checked on every request).
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        return (
            AccessToken.objects.select_related("application__access_grant__application", "user")
            .filter(token_checksum=checksum)
            .first()
        )


# --------------------------------------------------------------------------- endpoints
def _client_ip(request: HttpRequest) -> str:
    # The same reading of X-Forwarded-For (trusting NUM_PROXIES hops) as the API's own throttles.
    return BaseThrottle().get_ident(request) or "unknown"


def _client_id_of(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
            return unquote(decoded.split(":", 1)[0])[:255]
        except (ValueError, UnicodeDecodeError):
            return ""
    return (request.POST.get("client_id") or "")[:255]


# The first wait once a pair or an IP used up its failures; each further failure doubles it.
BACKOFF_SECONDS = 10


class TokenAttemptLimiter:
    """Failed client authentications, counted per (client id, IP) and per IP, with exponential backoff.

    Nothing is counted per client id alone: a stranger guessing a client's secret from elsewhere
    slows down only their own address, never the owner's correct secret from theirs. After
    ``FAILURES_PER_CLIENT`` failures of one (client id, IP) pair, or ``FAILURES_PER_IP`` of one IP
    (made-up ids included), the pair (or IP) waits ``BACKOFF_SECONDS``; each further failure doubles
    the wait, up to ``WINDOW_SECONDS``. A success clears its pair. Redis (Django's cache) holds the counters, so the
    limits hold across web processes.
    """

    def __init__(self) -> None:
        conf = settings.OAUTH_TOKEN_BRUTE_FORCE
        self.window = conf["WINDOW_SECONDS"]
        self.per_pair = conf["FAILURES_PER_CLIENT"]
        self.per_ip = conf["FAILURES_PER_IP"]

    def _keys(self, request: HttpRequest) -> list[tuple[str, int]]:
        ip = _client_ip(request)
        ip_digest = hashlib.sha256(ip.encode("utf-8")).hexdigest()[:32]
        keys = [(f"oauth-fail:ip:{ip_digest}", self.per_ip)]
        client_id = _client_id_of(request)
        if client_id:
            digest = hashlib.sha256(f"{client_id}\n{ip}".encode()).hexdigest()[:32]
            keys.append((f"oauth-fail:pair:{digest}", self.per_pair))
        return keys

    def blocked(self, request: HttpRequest) -> int | None:
        """Seconds to wait if the pair or the IP is backing off, else None."""
        now = ratelimit.clock()
        values = cache.get_many([key for key, _ in self._keys(request)])
        waits = [math.ceil(state["until"] - now) for state in values.values() if state and state["until"] > now]
        return max(waits) if waits else None

    def failed(self, request: HttpRequest) -> None:
        now = ratelimit.clock()
        for key, allowed in self._keys(request):
            state = cache.get(key) or {"failures": 0, "until": 0.0}
            state["failures"] += 1
            over = state["failures"] - allowed
            if over >= 0:
                state["until"] = now + min(self.window, BACKOFF_SECONDS * 2**over)
            cache.set(key, state, timeout=self.window * 4)

    def succeeded(self, request: HttpRequest) -> None:
        cache.delete_many([key for key, _ in self._keys(request) if key.startswith("oauth-fail:pair:")])


def _oauth_error_to_envelope(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """RFC 6749 errors become the platform envelope; the OAuth error name stays in ``detail``."""
    if response.status_code < 400:
        return response
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        body = {}
    oauth_error = body.get("error", "invalid_request") if isinstance(body, dict) else "invalid_request"
    description = body.get("error_description", "") if isinstance(body, dict) else ""
    detail = {"oauth_error": oauth_error}
    headers: dict[str, str] = {}
    if oauth_error == "invalid_client" or response.status_code == 401:
        code, status, message = "authentication_failed", 401, "Client authentication failed."
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    elif oauth_error == "invalid_scope":
        code, status, message = "invalid_request", 400, "The requested scope exceeds what the grant allows."
    elif oauth_error in ("unsupported_grant_type", "unauthorized_client"):
        code, status = "invalid_request", 400
        message = "Only grant_type=client_credentials is supported for research clients."
    else:
        code, status = "invalid_request", 400
        message = description or "The token request is invalid."
    result = JsonResponse(envelope(code, message, detail=detail, request=request), status=status)
    for name, value in headers.items():
        result[name] = value
    result["Cache-Control"] = "no-store"
    return result


class _LimitedOAuthView:
    limiter_class = TokenAttemptLimiter

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        limiter = self.limiter_class()
        wait = limiter.blocked(request)
        if wait is not None:
            response = JsonResponse(
                envelope("rate_limited", "Too many failed attempts; retry later.", request=request), status=429
            )
            response["Retry-After"] = str(wait)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 401 or _oauth_error_name(response) == "invalid_client":
            limiter.failed(request)
        elif response.status_code < 400:
            limiter.succeeded(request)
            set_log_client(request, f"client:{_client_id_of(request)}")
        return _oauth_error_to_envelope(request, response)


def _oauth_error_name(response: HttpResponse) -> str:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return ""
    return body.get("error", "") if isinstance(body, dict) else ""


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class GrantTokenView(_LimitedOAuthView, TokenView):
    """POST /oauth/token: client credentials in, a bearer token out."""


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class GrantRevokeTokenView(_LimitedOAuthView, RevokeTokenView):
    """POST /oauth/revoke_token: the client revokes one of its own tokens."""
