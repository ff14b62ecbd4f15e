"""JSON rendering with orjson: several times faster than the stdlib on large record pages."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, uuid.UUID):
        return str(value)
    # DRF's lazy strings, ErrorDetail and the like
    return str(value)


class FastJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
