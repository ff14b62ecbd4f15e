"""The base of every data endpoint: per-grant rate limits, audit, statement timeout."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.backends.signals import connection_created
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_api.audit import record_access_event, record_after_send
from platform_api.errors import OUTAGE_RETRY_AFTER, Unavailable, envelope, log_outage


class AuditedAPIView(APIView):
    """Every request (including refused ones: 401/403/429) writes exactly one access event.

    Views fill ``self.audit`` with what they know (dataset, release, query, rows returned).
    Throttling is the project's default (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``) and runs
    before the permission checks: every authenticated request counts against its grant's limits,
    refused or not, exactly as the audit log records it, so a day's count can be rebuilt from the
    log after a Redis restart (docs/quotas.md).
    """

    # Grant throttles count only audited views (their counters are rebuilt from the audit log).
    audited = True

    def initial(self, request: Request, *args, **kwargs) -> None:
        self.audit: dict = {"dataset": kwargs.get("slug", ""), "release": "", "query": {}, "rows_returned": 0}
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        # APIView.initial checks permissions before throttles; here the throttle comes first.
        self.perform_authentication(request)
        self.check_throttles(request)
        self.check_permissions(request)

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        audit = getattr(self, "audit", None) or {"dataset": kwargs.get("slug", "")}
        # _auth, not .auth: reading .auth would re-run a failed authentication.
        token = getattr(request, "_auth", None)
        grant = getattr(token, "grant", None)
        oauth_client = getattr(token, "application", None)
        event = {
            "request_id": getattr(request._request, "request_id", ""),
            "method": request.method,
            "endpoint": request.path,
            "status": response.status_code,
            "grant": grant,
            "client_id": getattr(oauth_client, "client_id", "") if grant is not None else "",
            "dataset": audit.get("dataset", ""),
            "release": audit.get("release", ""),
            "query": audit.get("query") or {},
            "rows_returned": audit.get("rows_returned", 0) if response.status_code < 400 else 0,
            "reference": getattr(grant, "dsc_reference", "") or "",
        }
        counter = audit.get("file") if response.status_code < 400 else None
        if counter is None:
            try:
                record_access_event(**event)
            except (OperationalError, InterfaceError) as exc:
                if response.status_code == 503 and getattr(response, "_has_been_logged", False):
                    return response  # already the outage's 503, logged once
                # No audit event, no data: the database is gone, so is the answer.
                return self._unavailable(request, exc, *args, **kwargs)
        else:
            # A file: the event is written once the body was sent, with the bytes that actually went out.
            response._resource_closers.append(lambda: record_after_send({**event, **counter.outcome()}))
        return response

    def _unavailable(self, request: Request, exc: Exception, *args, **kwargs) -> Response:
        log_outage("database", exc, request._request)
        response = Response(
            envelope("unavailable", Unavailable.default_message, request=request._request),
            status=503,
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER)},
        )
        response._has_been_logged = True
        return APIView.finalize_response(self, request, response, *args, **kwargs)


def use_session_statement_timeout() -> None:
    """Give every database session of this process the query timeout as its default (web processes).

    Called by ``platform_api.wsgi``: a data query then needs no transaction of its own to set the
    timeout (one round trip instead of three: SET LOCAL, the query, COMMIT). Every statement of a
    web request is bound by it, which is what a web request should be; workers and management
    commands keep the server's default and set the timeout per query.
    """
    connection_created.connect(_session_timeout, dispatch_uid="platform_session_statement_timeout")


def _session_timeout(sender, connection, **kwargs) -> None:
    timeout = int(settings.QUERY_STATEMENT_TIMEOUT_MS)
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {timeout}")
    connection.session_statement_timeout = timeout


@contextlib.contextmanager
def statement_timeout(milliseconds: int | None = None, *, using: str = "default") -> Iterator[None]:
    """Run the block in a transaction whose statements are cancelled after the timeout (→ 503).

    Where the session already has this timeout (web processes, :func:`use_session_statement_timeout`)
    the block runs as it is, without a transaction of its own.
    """
    timeout = int(milliseconds or settings.QUERY_STATEMENT_TIMEOUT_MS)
    db = connections[using]
    try:
        if getattr(db, "session_statement_timeout", None) == timeout and db.connection is not None:
            yield
            return
        with transaction.atomic(using=using), db.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {timeout}")
            yield
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
            raise Unavailable(
                "The query took too long and was cancelled; narrow it (e.g. by date or policy) and retry.",
                headers={"Retry-After": "5"},
            ) from None
        raise
