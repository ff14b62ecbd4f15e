"""Input no layer below can store: NUL bytes and lone UTF-16 surrogates, refused at the edge.

PostgreSQL rejects both in text and JSON values, so a filter, path or body carrying one used to
fail deep inside a query or the audit insert (500, no audit event). They are refused here with
400 ``invalid_request`` in the standard envelope, and the refusal is audited like any API request:

- :class:`EdgeInputMiddleware` checks the path, the query string, the headers and form bodies;
- :class:`StrictJSONParser` (DRF's parser) checks every key and string of a JSON body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from platform_api.errors import envelope

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "The request contains a NUL byte or an unpaired UTF-16 surrogate, which no field accepts."


def forbidden(text: str) -> bool:
    return bool(_FORBIDDEN.search(text))


def find_forbidden(value: Any) -> bool:
    """Whether a parsed JSON value holds a NUL or lone surrogate in any key or string."""
    if isinstance(value, str):
        return forbidden(value)
    if isinstance(value, dict):
        return any(find_forbidden(k) or find_forbidden(v) for k, v in value.items())
    if isinstance(value, list):
        return any(find_forbidden(v) for v in value)
    return False


def printable(text: str) -> str:
    """``text`` with NULs and lone surrogates escaped, so it can be stored and logged."""
    return _FORBIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _where(request: HttpRequest) -> str | None:
    if forbidden(request.path) or forbidden(request.META.get("QUERY_STRING", "")):
        return "path"
    for key, values in request.GET.lists():
        if forbidden(key) or any(forbidden(v) for v in values):
            return "query"
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and forbidden(value):
            return "header"
    if request.content_type == "application/x-www-form-urlencoded":
        for key, values in request.POST.lists():
            if forbidden(key) or any(forbidden(v) for v in values):
                return "body"
    return None


class EdgeInputMiddleware:
    """Refuses NULs and lone surrogates anywhere but a JSON body (400, audited on API paths)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _where(request)
        if where is None:
            return self.get_response(request)
        request.log_path = printable(request.path)
        response = JsonResponse(
            envelope("invalid_request", MESSAGE, detail={"location": where}, request=request), status=400
        )
        if request.path.startswith("/api/"):
            from platform_api.audit import record_access_event

            record_access_event(
                request_id=getattr(request, "request_id", ""),
                method=printable(request.method or "")[:8],
                endpoint=printable(request.path),
                status=400,
                query={"refused": f"NUL byte or lone surrogate in the {where}"},
            )
        return response


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing NULs and lone surrogates in any key or string (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if find_forbidden(data):
            raise ParseError(MESSAGE)
        return data
