"""``where=``: the forms a filter may take, all turned into the API's JSON query language.

Accepted (the platform's ``docs/query.md`` describes the language itself):

* the query language itself: ``{"and": [...], "or": [...], "not": [...]}``;
* a GET-style dict, every item ANDed: ``{"policy": "violent_extremism", "decided_on__gte": "2025-01-01",
  "country__in": ["DE", "FR"]}`` (lookups ``__in``, ``__gt``, ``__gte``, ``__lt``, ``__lte``, ``__ne``;
  a list value without a lookup means ``__in``);
* TikTok Research API conditions: one ``{"operation", "field_name", "field_values"}`` dict, or a
  list of them (ANDed);
* a GET query string: ``"policy=violent_extremism&decided_on__gte=2025-01-01"`` (what the CLI's
  ``--where`` takes), or a JSON text of any of the above.

Values may be Python dates, datetimes (their day), booleans, numbers and strings; the server
validates them against the codebook and answers ``invalid_query`` naming the clause.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

LOOKUPS = {"in": "IN", "gt": "GT", "gte": "GTE", "lt": "LT", "lte": "LTE", "ne": "NE", "eq": "EQ"}
GROUP_KEYS = ("and", "or", "not")
CONDITION_KEYS = frozenset({"operation", "field_name", "field_values"})

Where = Mapping[str, Any] | Iterable[Mapping[str, Any]] | str | None


def to_query(where: Where) -> dict | None:
    """The API's query object for ``where`` (None: no filter)."""
    if where is None:
        return None
    if isinstance(where, str):
        text = where.strip()
        if not text:
            return None
        if text[0] in "[{":
            return to_query(json.loads(text))
        return _from_pairs(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    if isinstance(where, Mapping):
        if not where:
            return None
        keys = set(where)
        if keys <= set(GROUP_KEYS):
            return {key: [_clause(item) for item in where[key]] for key in GROUP_KEYS if key in where}
        if keys == CONDITION_KEYS:
            return {"and": [_condition(where)]}
        if keys & (set(GROUP_KEYS) | CONDITION_KEYS):
            raise ValueError(
                f"where={dict(where)!r} mixes the query language's keys with field names; use either "
                '{"and": [...], "or": [...], "not": [...]} or {"field__lookup": value, ...}'
            )
        return _from_pairs(where.items())
    items = list(where)
    if not items:
        return None
    return {"and": [_clause(item) for item in items]}


def _clause(item: Any) -> dict:
    if not isinstance(item, Mapping):
        raise ValueError(f"a clause must be a dict, got {item!r}")
    if set(item) <= set(GROUP_KEYS):
        return {key: [_clause(child) for child in item[key]] for key in GROUP_KEYS if key in item}
    if set(item) == CONDITION_KEYS:
        return _condition(item)
    # A GET-style dict nested in a group: its items ANDed.
    return _from_pairs(item.items())


def _condition(item: Mapping[str, Any]) -> dict:
    values = item["field_values"]
    if isinstance(values, str) or not isinstance(values, Iterable):
        values = [values]
    return {
        "operation": str(item["operation"]).upper(),
        "field_name": item["field_name"],
        "field_values": [_value(v) for v in values],
    }


def _from_pairs(pairs: Iterable[tuple[str, Any]]) -> dict:
    conditions = []
    for key, value in pairs:
        name, _, lookup = str(key).partition("__")
        if lookup and lookup not in LOOKUPS:
            raise ValueError(
                f"unknown lookup __{lookup} in {key!r}; use one of " + ", ".join(f"__{k}" for k in LOOKUPS)
            )
        many = isinstance(value, list | tuple | set | frozenset)
        if lookup == "in":
            values = list(value) if many else [v for v in str(value).split(",") if v != ""]
            operation = "IN"
        elif lookup:
            operation, values = LOOKUPS[lookup], [value]
        else:
            operation, values = ("IN", list(value)) if many else ("EQ", [value])
        conditions.append({"operation": operation, "field_name": name, "field_values": [_value(v) for v in values]})
    return {"and": conditions}


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return value.to_pydatetime().date().isoformat()
    if hasattr(value, "strftime") and hasattr(value, "freqstr"):  # a pandas Period (month)
        return value.strftime("%Y-%m")
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return value.item()
    return value


GET_SUFFIXES = {"EQ": "", "IN": "__in", "GT": "__gt", "GTE": "__gte", "LT": "__lt", "LTE": "__lte", "NE": "__ne"}
RESERVED_PARAMETERS = frozenset({"fields", "page_size", "cursor"})
MAX_GET_LENGTH = 4000


def get_parameters(query: dict | None) -> list[tuple[str, str]] | None:
    """The GET form of ``query`` when it has one (a plain AND of conditions), else None.

    The API reads both forms into the same query (the platform's ``docs/query.md``); the GET form is
    the cheaper request, so walks use it where it can say the same thing.
    """
    if not query:
        return []
    if set(query) != {"and"}:
        return None
    params: list[tuple[str, str]] = []
    for clause in query["and"]:
        if not isinstance(clause, Mapping) or set(clause) != CONDITION_KEYS:
            return None
        operation, name, values = clause["operation"], clause["field_name"], clause["field_values"]
        if operation not in GET_SUFFIXES or not isinstance(name, str) or name in RESERVED_PARAMETERS or "__" in name:
            return None
        if not isinstance(values, list) or not values or (operation != "IN" and len(values) != 1):
            return None
        texts = []
        for value in values:
            if isinstance(value, bool):
                texts.append("true" if value else "false")
            elif isinstance(value, int | str) and str(value) != "" and not (operation == "IN" and "," in str(value)):
                texts.append(str(value))
            else:
                return None
        params.append((name + GET_SUFFIXES[operation], ",".join(texts)))
    if sum(len(k) + len(v) + 2 for k, v in params) > MAX_GET_LENGTH:
        return None  # long URLs are refused by some proxies: the POST form has no such limit
    return params
