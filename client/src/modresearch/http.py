"""The HTTP layer: OAuth tokens fetched lazily and renewed, retries with backoff, typed errors.

* Tokens come from ``POST /oauth/token/`` (client credentials, HTTP Basic). One is fetched on the
  first request, renewed shortly before it expires, and renewed once more if the API answers 401
  (a token revoked or expired early); a second 401 is raised as :class:`AuthenticationFailed`.
* Retries: 429 ``rate_limited``, 502/503/504 and connection errors are retried with exponential
  backoff and full jitter, waiting at least what ``Retry-After`` asks. ``quota_exceeded`` is not
  retried (the quota resets at 00:00 UTC); neither is a wait longer than ``max_wait``.
* Requests that are not idempotent (creating an export) are retried only when the server said it
  did nothing (429, 503) or the connection was never made.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from modresearch._version import __version__
from modresearch.errors import (
    APIError,
    AuthenticationFailed,
    ConnectionFailed,
    QuotaExceeded,
    RateLimited,
    error_from_response,
)

logger = logging.getLogger("modresearch")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Statuses with which the server says it did nothing: safe to repeat even a non-idempotent request.
REFUSED_STATUSES = frozenset({429, 503})

_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The TLS settings every client of this process shares: certificate checks against the trust store.

    httpx would load the trust store for each new client (about 20 ms of CPU); it is loaded once,
    as httpx loads it (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle). An
    ``ssl.SSLContext`` may be shared by clients and threads.
    """
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context()
        return _tls


class Transport:
    """One platform, one set of credentials: authenticated requests with retries."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        max_wait: float = 900.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self.http = http or httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"User-Agent": f"modresearch/{__version__}"},
            verify=tls_context(),
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        # Replaceable for tests and for callers with their own notion of time.
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep
        self.tokens_fetched = 0
        self.retries = 0
        self.waited = 0.0

    def __repr__(self) -> str:  # never shows the secret
        return f"Transport({self.url!r}, client_id={self.client_id!r})"

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ tokens
    def token(self, *, renew: bool = False, stale: str | None = None) -> str:
        """A valid bearer token, fetching a new one when there is none, it is about to expire, or ``renew``.

        ``stale`` is the token a 401 refused: if another thread already replaced it, that one is used.
        """
        with self._token_lock:
            if stale is not None and self._token is not None and self._token != stale:
                return self._token
            if renew or self._token is None or self.clock() >= self._token_expires:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def _fetch_token(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        response = self._send(
            lambda: self.http.post("/oauth/token/", data=data, auth=(self.client_id, self._secret)),
            idempotent=True,
        )
        if response.status_code >= 400:
            error = error_from_response(response)
            if isinstance(error, AuthenticationFailed):
                error.message = (
                    f"{error.message} Check MODRESEARCH_CLIENT_ID and MODRESEARCH_CLIENT_SECRET (rotate the secret "
                    "in the portal if it was lost), and that your grant is active."
                )
            raise error
        body = response.json()
        expires_in = float(body.get("expires_in") or 3600)
        # Renew a little before the server would refuse it: a tenth of its life, at most a minute.
        margin = min(60.0, expires_in / 10)
        self._token = body["access_token"]
        self._token_expires = self.clock() + expires_in - margin
        self.tokens_fetched += 1

    def forget_token(self) -> None:
        with self._token_lock:
            self._token = None

    # ------------------------------------------------------------------ requests
    def request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """An authenticated request; returns the response (< 400) or raises the typed error."""
        response = self._authenticated(method, path, idempotent=idempotent, **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed authenticated response (downloads); errors and retries as for :meth:`request`."""
        headers = dict(kwargs.pop("headers", None) or {})
        attempt = 0
        renewed = False
        while True:
            token = self.token()
            request = self.http.build_request(method, path, headers={**headers, **_bearer(token)}, **kwargs)
            try:
                response = self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                attempt = self._retry_or_raise(attempt, exc=exc)
                continue
            if response.status_code == 401 and not renewed:
                response.close()
                renewed = True
                self.token(renew=True, stale=token)
                continue
            if response.status_code in RETRY_STATUSES:
                response.read()
                error = error_from_response(response)
                if not isinstance(error, QuotaExceeded):
                    attempt = self._retry_or_raise(attempt, error=error)
                    continue
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            try:
                yield response
            finally:
                response.close()
            return

    def _authenticated(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        renewed = False
        while True:
            token = self.token()
            response = self._send(
                lambda token=token: self.http.request(method, path, headers={**headers, **_bearer(token)}, **kwargs),
                idempotent=idempotent,
            )
            if response.status_code == 401 and not renewed:
                # The token expired or was revoked early: renew it once, transparently.
                renewed = True
                logger.info("401 from %s %s: renewing the access token", method, path)
                self.token(renew=True, stale=token)
                continue
            return response

    def _send(self, call: Callable[[], httpx.Response], *, idempotent: bool) -> httpx.Response:
        """Send with retries; returns the final response (errors included) for the caller to judge."""
        attempt = 0
        while True:
            try:
                response = call()
            except httpx.TransportError as exc:
                # A request that was never sent can always be repeated; one that may have been, only if idempotent.
                if not idempotent and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    raise ConnectionFailed(f"{exc.__class__.__name__}: {exc}") from exc
                attempt = self._retry_or_raise(attempt, exc=exc)
                continue
            if response.status_code in RETRY_STATUSES and (idempotent or response.status_code in REFUSED_STATUSES):
                error = error_from_response(response)
                if isinstance(error, QuotaExceeded):
                    return response
                attempt = self._retry_or_raise(attempt, error=error)
                continue
            return response

    def _retry_or_raise(
        self, attempt: int, *, error: APIError | None = None, exc: httpx.TransportError | None = None
    ) -> int:
        """Sleep before the next attempt, or raise when retries are spent or the wait is too long."""
        if attempt >= self.max_retries:
            if error is not None:
                raise error
            raise ConnectionFailed(f"{self.url} could not be reached after {attempt} retries: {exc}") from exc
        delay = self._delay(attempt, error.retry_after if error is not None else None)
        if delay > self.max_wait:
            assert error is not None
            if isinstance(error, RateLimited):
                error.message += f" (the limit admits requests again in {delay:.0f} s, beyond max_wait={self.max_wait})"
            raise error
        what = f"{error.status} {error.code}" if error is not None else f"{exc.__class__.__name__}"
        logger.info("%s; retrying in %.1f s (attempt %d of %d)", what, delay, attempt + 1, self.max_retries)
        self.retries += 1
        self.waited += delay
        self.sleep(delay)
        return attempt + 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # Full jitter (a random share of an exponentially growing cap) spreads clients out;
        # a Retry-After is the least we wait, plus a little jitter so clients do not return in step.
        jittered = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311
        if retry_after is not None:
            return retry_after + random.uniform(0, min(1.0, 0.1 * retry_after + 0.05))  # noqa: S311
        return jittered


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
