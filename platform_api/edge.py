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


# Deeper JSON than any valid body (the query language nests 5 levels): refused before any
# recursive code sees it (a deeply nested /count body used to end in a RecursionError, 500).
MAX_JSON_DEPTH = 32
DEPTH_MESSAGE = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."


def check_json(value: Any) -> str:
    """What is wrong with a parsed JSON body ("" if nothing): too deep, or a NUL/lone surrogate (iterative)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if forbidden(item):
                return MESSAGE
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return DEPTH_MESSAGE
            if isinstance(item, dict):
                for key, child in item.items():
                    if forbidden(key):
                        return MESSAGE
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return ""


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
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
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
    """DRF's JSON parser, refusing NULs and lone surrogates in any key or string, and absurd nesting (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(DEPTH_MESSAGE) from None
        problem = check_json(data)
        if problem:
            raise ParseError(problem)
        return data
