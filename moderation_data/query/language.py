"""The records query language (docs/query.md) and its keyset cursors (docs/query.md), independent of storage.

A query arrives in one of two forms and becomes the same tree of :class:`Condition` and :class:`Group`:

* POST, TikTok Research API style::

      {"and": [{"operation": "IN", "field_name": "country", "field_values": ["DE", "FR"]}],
       "or":  [...], "not": [...]}

  A group holds when all ``and`` clauses hold, at least one ``or`` clause holds (if there are any)
  and none of the ``not`` clauses holds. Each clause is a condition or a nested group.
* GET: ``?field=value``, ``?field__in=a,b``, ``__gt``, ``__gte``, ``__lt``, ``__lte``, ``__ne``;
  all parameters are ANDed, repeated ones too.

Decisions worth knowing (they are part of the contract, see docs):

* Operations are upper case only (``EQ``, not ``eq``), as in the TikTok API and the OpenAPI enum;
  a lower-case operation is refused with a hint.
* Logic is two-valued: a condition on a missing (NULL) value is false, and ``NE v`` is exactly the
  complement of ``EQ v``, so it *includes* rows where the field is missing; ``not`` is the exact
  complement of its clause. For list fields ``EQ v``/``IN`` match when any element matches and
  ``NE v`` when no element equals ``v`` (an empty or missing list included).
* Strings, pseudonyms, enums, lists and booleans support ``EQ``, ``IN`` and ``NE`` only; dates,
  months, buckets and integers support all seven operations (buckets compare by their order).
* In POST bodies, booleans may be JSON booleans or the strings ``"true"``/``"false"`` and integers
  JSON integers or decimal strings, so TikTok-style all-string ``field_values`` port unchanged.
* Limits: 50 conditions, 5 levels of nested groups below the query, 1000 values in one ``IN``,
  200 characters in one value. A nested group must contain at least one clause.

Every refusal is :class:`~platform_api.errors.InvalidQuery` (or ``InvalidCursor``) with
``detail["path"]`` naming the offending clause: ``query.and[1].field_values[0]``,
``query.or[0].and[2].operation``, a GET parameter name such as ``decided_on__gte``, or ``fields[2]``.

Values are checked against each field's domain (docs/query.md): a value outside it (``"de"`` for
``country``) is refused naming the value, the field and where the allowed values are listed, with a
suggestion for case mistakes (``did you mean "DE"?``). An unknown field name is answered with the
closest field and the list of fields; names from the DSA Transparency Database or the TikTok
Research API are answered with this API's equivalent (:mod:`moderation_data.query.crosswalk`).
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moderation_data.query import crosswalk
from platform_api.errors import InvalidQuery

OPERATIONS = ("EQ", "IN", "GT", "GTE", "LT", "LTE", "NE")
ORDERING_OPERATIONS = frozenset({"GT", "GTE", "LT", "LTE"})
EQUALITY_OPERATIONS = ("EQ", "IN", "NE")
ORDERED_TYPE_OPERATIONS = (*EQUALITY_OPERATIONS, "GT", "GTE", "LT", "LTE")

FIELD_TYPES = ("string", "pseudonym", "date", "month", "enum", "bucket", "boolean", "integer", "list")
OPERATIONS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "string": EQUALITY_OPERATIONS,
    "pseudonym": EQUALITY_OPERATIONS,
    "enum": EQUALITY_OPERATIONS,
    "boolean": EQUALITY_OPERATIONS,
    "list": EQUALITY_OPERATIONS,
    "date": ORDERED_TYPE_OPERATIONS,
    "month": ORDERED_TYPE_OPERATIONS,
    "bucket": ORDERED_TYPE_OPERATIONS,
    "integer": ORDERED_TYPE_OPERATIONS,
}
# GET suffixes; a bare ``?field=value`` is EQ.
GET_LOOKUPS = {"in": "IN", "gt": "GT", "gte": "GTE", "lt": "LT", "lte": "LTE", "ne": "NE"}

MAX_CONDITIONS = 50
MAX_DEPTH = 5
MAX_IN_VALUES = 1000
MAX_VALUE_LENGTH = 200
MAX_PSEUDONYM_LENGTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

GROUP_KEYS = ("and", "or", "not")
CONDITION_KEYS = ("operation", "field_name", "field_values")

_SQL_COMPARISON = {"EQ": "=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_INTEGER = re.compile(r"-?[0-9]+")
_PSEUDONYM = re.compile(r"[0-9a-fA-F]+")
_COMPACT_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")  # TikTok's YYYYMMDD
# Where a refusal says the allowed values are listed, unless the caller names the dataset's codebook.
DEFAULT_CODEBOOK_REF = "the dataset's codebook (GET /api/v1/datasets/{slug})"
# Domains at most this long are listed in full in a refusal's detail.
MAX_LISTED_VALUES = 60
_DATE_WORDS = frozenset({"date", "day", "time", "when", "timestamp", "created", "decided"})


@dataclass(frozen=True)
class Field:
    """One queryable field: its public name, type and the SQL column holding it (``col`` or ``alias.col``).

    ``values`` is the field's domain: the only values enum, bucket and list fields take (in bucket
    order), and, when given, the only values a string field takes (e.g. ISO country codes).
    """

    name: str
    type: str
    column: str
    values: tuple[str, ...] = ()
    filterable: bool = True

    def __post_init__(self) -> None:
        # Programming errors, caught when the codebook is turned into fields, never by a request.
        if self.type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {self.type!r} for {self.name!r}")
        if not all(_IDENTIFIER.fullmatch(part) for part in self.column.split(".")) or self.column.count(".") > 1:
            raise ValueError(f"column {self.column!r} of {self.name!r} is not a plain SQL identifier")
        if self.type in ("enum", "bucket", "list") and not self.values:
            raise ValueError(f"field {self.name!r} of type {self.type} needs values")
        object.__setattr__(self, "values", tuple(self.values))

    @property
    def operations(self) -> tuple[str, ...]:
        return OPERATIONS_BY_TYPE[self.type] if self.filterable else ()


@dataclass(frozen=True)
class Condition:
    operation: str
    field_name: str
    values: tuple[Any, ...]  # parsed: str, bool, int or datetime.date


@dataclass(frozen=True)
class Group:
    and_: tuple[Node, ...] = ()
    or_: tuple[Node, ...] = ()
    not_: tuple[Node, ...] = ()

    def is_empty(self) -> bool:
        return not (self.and_ or self.or_ or self.not_)


Node = Condition | Group


def _invalid(message: str, path: str, **extra: Any) -> InvalidQuery:
    return InvalidQuery(message, detail={"path": path, **extra})


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# --- values -----------------------------------------------------------------------------------


class _BadValue(Exception):
    def __init__(self, message: str, *, suggestion: Any = None, domain: tuple[str, ...] = ()):
        super().__init__(message)
        self.suggestion = suggestion
        self.domain = domain


def _closest_value(text: str, domain: tuple[str, ...]) -> str | None:
    """The value a mistaken one most likely meant: the same in another case, else a near spelling."""
    by_case = {value.casefold(): value for value in domain}
    if text.casefold() in by_case:
        return by_case[text.casefold()]
    close = difflib.get_close_matches(text, domain, n=1, cutoff=0.8)
    return close[0] if close else None


def _check_domain(fld: Field, text: str, raw: Any) -> str:
    if text in fld.values:
        return text
    suggestion = _closest_value(text, fld.values)
    if suggestion is not None and suggestion.casefold() == text.casefold():
        hint = f"; did you mean {_show(suggestion)}? Values are case-sensitive"
    elif suggestion is not None:
        hint = f"; did you mean {_show(suggestion)}?"
    else:
        hint = ""
    raise _BadValue(f"{_show(raw)} is not a value of {fld.name!r}{hint}", suggestion=suggestion, domain=fld.values)


def _check_text(raw: Any, fld: Field) -> str:
    if not isinstance(raw, str):
        raise _BadValue(f"{fld.name!r} takes strings, got {_show(raw)}")
    if raw == "":
        raise _BadValue(f"{fld.name!r} does not take an empty string")
    if len(raw) > MAX_VALUE_LENGTH:
        raise _BadValue(f"values of {fld.name!r} are at most {MAX_VALUE_LENGTH} characters")
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: refuse them here, not as a 500.
    if "\x00" in raw:
        raise _BadValue(f"values of {fld.name!r} cannot contain NUL characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise _BadValue(f"values of {fld.name!r} must be valid Unicode text") from None
    return raw


def _parse_value(fld: Field, raw: Any, *, from_get: bool) -> Any:
    """One value of ``fld`` as Python (str, bool, int or date); raises _BadValue with a reason."""
    kind = fld.type
    if kind == "boolean":
        if isinstance(raw, bool) and not from_get:
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        meant = {"yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}.get(
            str(raw).strip().casefold() if isinstance(raw, str | int) else None
        )
        hint = f"; did you mean {_show(meant)}?" if meant is not None else ""
        dsa = " (where the DSA Transparency Database writes Yes or No)" if str(raw).casefold() in ("yes", "no") else ""
        raise _BadValue(f"{fld.name!r} takes true or false{dsa}, got {_show(raw)}{hint}", suggestion=meant)
    if kind == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool) and not from_get:
            value = raw
        elif isinstance(raw, str) and _INTEGER.fullmatch(raw):
            value = int(raw)
        else:
            raise _BadValue(f"{fld.name!r} takes integers, got {_show(raw)}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise _BadValue(f"{fld.name!r} takes 64-bit integers, got {_show(raw)}")
        return value
    text = _check_text(raw, fld)
    if kind == "date":
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            return datetime.date.fromisoformat(text)
        except ValueError:
            compact = _COMPACT_DATE.fullmatch(text)
            meant = "-".join(compact.groups()) if compact else None
            hint = f"; did you mean {_show(meant)}?" if meant else ""
            raise _BadValue(
                f"{fld.name!r} takes dates written YYYY-MM-DD, got {_show(raw)}{hint}", suggestion=meant
            ) from None
    if kind == "month":
        if not _MONTH.fullmatch(text):
            raise _BadValue(f"{fld.name!r} takes months written YYYY-MM, got {_show(raw)}")
        return text
    if kind == "pseudonym":
        if len(text) > MAX_PSEUDONYM_LENGTH or not _PSEUDONYM.fullmatch(text):
            raise _BadValue(f"{fld.name!r} takes hexadecimal pseudonyms, got {_show(raw)}")
        return text.lower()
    if kind in ("enum", "bucket", "list") or fld.values:
        return _check_domain(fld, text, raw)
    return text  # a string field without a domain


def _check_operation(fld: Field, operation: str, path: str) -> None:
    if operation not in fld.operations:
        allowed = ", ".join(fld.operations)
        raise _invalid(
            f"Operation {operation} does not apply to {fld.name!r} (type {fld.type}); use one of: {allowed}.",
            path,
            field_name=fld.name,
            allowed=list(fld.operations),
        )


def _check_filterable(fld: Field, path: str) -> None:
    if not fld.filterable:
        why = (
            " (a per-project pseudonym: select it with fields, filter on other fields)"
            if fld.type == "pseudonym"
            else ""
        )
        raise _invalid(f"Field {fld.name!r} cannot be filtered on{why}.", path, field_name=fld.name)


def _value_error(exc: _BadValue, fld: Field, raw: Any, path: str, codebook_ref: str, prefix: str) -> InvalidQuery:
    """A refused value: names the value and the field, suggests a fix, and says where the allowed values are."""
    where = f" The allowed values of {fld.name!r} are listed in {codebook_ref}." if exc.domain else ""
    extra: dict[str, Any] = {"field_name": fld.name, "value": raw}
    if exc.suggestion is not None:
        extra["suggestion"] = exc.suggestion
    if exc.domain:
        extra["codebook"] = codebook_ref
        if len(exc.domain) <= MAX_LISTED_VALUES:
            extra["allowed_values"] = list(exc.domain)
    return _invalid(f"{prefix}{exc}.{where}", path, **extra)


def _suggest_field(name: Any, fields: Mapping[str, Field], candidates: list[str]) -> tuple[str | None, str]:
    """The field a mistaken name most likely means (or None), and a sentence on foreign names."""
    if not isinstance(name, str) or not name:
        return None, ""
    equivalent = crosswalk.field_equivalent(name)
    if equivalent is not None:
        target = equivalent.field if equivalent.field in fields else None
        return target, "" if equivalent.source == crosswalk.SYNONYM else " " + equivalent.explain()
    if name.lower() in fields:
        return name.lower(), " Field names are lower case."
    if set(re.split(r"[^a-z]+", name.lower())) & _DATE_WORDS:
        dates = [n for n in candidates if fields[n].type == "date"]
        if dates:
            return dates[0], ""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return (close[0] if close else None), ""


def _unknown_field(name: Any, fields: Mapping[str, Field], path: str, *, filterable_only: bool) -> InvalidQuery:
    """An unknown field name: the closest field, this API's name for a foreign one, and the list of fields."""
    candidates = [n for n, f in fields.items() if f.filterable or not filterable_only]
    suggestion, foreign = _suggest_field(name, fields, candidates)
    hint = f" Did you mean {suggestion!r}?" if suggestion else ""
    listed = "Fields you can filter on" if filterable_only else "Fields"
    extra: dict[str, Any] = {"field_name": name, "fields": candidates}
    if suggestion:
        extra["suggestion"] = suggestion
    return _invalid(f"Unknown field {_show(name)}.{foreign}{hint} {listed}: {', '.join(candidates)}.", path, **extra)


# --- POST form --------------------------------------------------------------------------------


class _BodyParser:
    def __init__(self, fields: Mapping[str, Field], codebook_ref: str = DEFAULT_CODEBOOK_REF):
        self.fields = fields
        self.codebook_ref = codebook_ref
        self.conditions = 0

    def group(self, obj: Any, path: str, depth: int) -> Group:
        if not isinstance(obj, dict):
            raise _invalid("A query group must be an object with 'and', 'or' and/or 'not' arrays.", path)
        if depth > MAX_DEPTH:
            raise _invalid(f"Groups are nested more than {MAX_DEPTH} levels deep.", path, limit=MAX_DEPTH)
        for key in obj:
            if key not in GROUP_KEYS:
                foreign = crosswalk.parameter_equivalent(key)
                where = f" {foreign.explain()} It goes beside 'query', not inside it." if foreign else ""
                raise _invalid(
                    f"Unknown key {_show(key)} in a group; a group has only 'and', 'or' and 'not'.{where}",
                    f"{path}.{key}",
                )
        parts: dict[str, tuple[Node, ...]] = {}
        for key in GROUP_KEYS:
            if key not in obj:
                parts[key] = ()
                continue
            clauses = obj[key]
            if not isinstance(clauses, list):
                raise _invalid(f"'{key}' must be an array of conditions or groups.", f"{path}.{key}")
            parts[key] = tuple(self.clause(item, f"{path}.{key}[{i}]", depth) for i, item in enumerate(clauses))
        result = Group(and_=parts["and"], or_=parts["or"], not_=parts["not"])
        if depth > 0 and result.is_empty():
            raise _invalid("A nested group must contain at least one condition.", path)
        return result

    def clause(self, item: Any, path: str, depth: int) -> Node:
        if isinstance(item, dict):
            if any(key in item for key in CONDITION_KEYS):
                return self.condition(item, path)
            if any(key in item for key in GROUP_KEYS):
                return self.group(item, path, depth + 1)
            if item:
                key = next(iter(item))
                raise _invalid(
                    f"Unknown key {_show(key)}; a condition has operation, field_name and field_values, "
                    "a group has and, or and not.",
                    f"{path}.{key}",
                )
        raise _invalid(
            "A clause must be a condition (operation, field_name, field_values) or a group (and, or, not).", path
        )

    def condition(self, item: dict, path: str) -> Condition:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _invalid(f"A query has at most {MAX_CONDITIONS} conditions.", path, limit=MAX_CONDITIONS)
        for key in item:
            if key not in CONDITION_KEYS:
                raise _invalid(
                    f"Unknown key {_show(key)} in a condition; a condition has operation, field_name and field_values.",
                    f"{path}.{key}",
                )
        for key in CONDITION_KEYS:
            if key not in item:
                raise _invalid(f"The condition lacks '{key}'.", f"{path}.{key}")

        operation = item["operation"]
        if operation not in OPERATIONS:
            hint = (
                " Operations are upper case." if isinstance(operation, str) and operation.upper() in OPERATIONS else ""
            )
            raise _invalid(
                f"Unknown operation {_show(operation)}; use one of: {', '.join(OPERATIONS)}.{hint}",
                f"{path}.operation",
                allowed=list(OPERATIONS),
            )

        name = item["field_name"]
        if not isinstance(name, str) or name not in self.fields:
            raise _unknown_field(name, self.fields, f"{path}.field_name", filterable_only=True)
        fld = self.fields[name]
        _check_filterable(fld, f"{path}.field_name")
        _check_operation(fld, operation, f"{path}.operation")

        raw_values = item["field_values"]
        values_path = f"{path}.field_values"
        if not isinstance(raw_values, list):
            raise _invalid("'field_values' must be an array.", values_path)
        if not raw_values:
            raise _invalid("'field_values' must not be empty.", values_path)
        if operation == "IN":
            if len(raw_values) > MAX_IN_VALUES:
                raise _invalid(f"IN takes at most {MAX_IN_VALUES} values.", values_path, limit=MAX_IN_VALUES)
        elif len(raw_values) != 1:
            raise _invalid(f"{operation} takes exactly one value; use IN for several.", values_path)
        values = []
        for i, raw in enumerate(raw_values):
            try:
                values.append(_parse_value(fld, raw, from_get=False))
            except _BadValue as exc:
                raise _value_error(exc, fld, raw, f"{values_path}[{i}]", self.codebook_ref, "Invalid value: ") from None
        return Condition(operation, name, tuple(values))


def parse_body_query(
    query: dict | None, fields: Mapping[str, Field], *, codebook_ref: str = DEFAULT_CODEBOOK_REF
) -> Group:
    """Validate the POST form of a query against ``fields`` and return its canonical tree; errors name ``query...``.

    ``codebook_ref`` says where a refused value's field lists its allowed values.
    """
    if query is None:
        return Group()
    return canonical(_BodyParser(fields, codebook_ref).group(query, "query", 0))


# --- GET form ---------------------------------------------------------------------------------


def _param_lists(params: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    lists = getattr(params, "lists", None)  # Django's QueryDict / MultiValueDict keep repeated values
    if callable(lists):
        return [(key, list(values)) for key, values in lists()]
    return [(key, list(value) if isinstance(value, list | tuple) else [value]) for key, value in params.items()]


def _resolve_param(key: str, fields: Mapping[str, Field]) -> tuple[Field, str] | None:
    if key in fields:
        return fields[key], "EQ"
    name, sep, lookup = key.rpartition("__")
    if sep and name in fields and lookup in GET_LOOKUPS:
        return fields[name], GET_LOOKUPS[lookup]
    return None


def _unknown_parameters(unknown: list[str], fields: Mapping[str, Field]) -> InvalidQuery:
    lookups = ", ".join(f"__{suffix}" for suffix in GET_LOOKUPS)
    hints, suggestions = [], {}
    filterable = [n for n, f in fields.items() if f.filterable]
    for key in unknown:
        name, sep, lookup = key.rpartition("__")
        base = name if sep and lookup in GET_LOOKUPS else key
        foreign = crosswalk.parameter_equivalent(base)
        if foreign is not None:
            hints.append(foreign.explain())
            if foreign.target:
                suggestions[key] = foreign.target
            continue
        suggestion, foreign_note = _suggest_field(base, fields, filterable)
        if suggestion:
            suggestions[key] = suggestion + (key[len(base) :] if base != key else "")
            hints.append(f"{key!r}: did you mean {suggestions[key]!r}?{foreign_note}")
        elif foreign_note:
            hints.append(foreign_note.strip())
    return _invalid(
        f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
        + (" ".join(hints) + " " if hints else "")
        + f"Filter with a field name, optionally followed by {lookups}; fields you can filter on: "
        + f"{', '.join(filterable)}.",
        unknown[0],
        unknown=unknown,
        **({"suggestions": suggestions} if suggestions else {}),
    )


def parse_get_query(
    params: Mapping[str, Any],
    fields: Mapping[str, Field],
    *,
    reserved: tuple[str, ...] | frozenset[str] = ("fields", "page_size", "cursor"),
    codebook_ref: str = DEFAULT_CODEBOOK_REF,
) -> Group:
    """Validate GET parameters (``?field=v``, ``?field__in=a,b``, ``__gt``...) as one AND; errors name the parameter."""
    resolved: list[tuple[str, Field, str, list[Any]]] = []
    unknown: list[str] = []
    for key, values in _param_lists(params):
        if key in reserved:
            continue
        found = _resolve_param(key, fields)
        if found is None:
            unknown.append(key)
        else:
            resolved.append((key, *found, values))
    if unknown:
        raise _unknown_parameters(unknown, fields)

    conditions: list[Condition] = []
    for key, fld, operation, values in resolved:
        _check_filterable(fld, key)
        _check_operation(fld, operation, key)
        for raw in values:
            if len(conditions) >= MAX_CONDITIONS:
                raise _invalid(f"A query has at most {MAX_CONDITIONS} conditions.", key, limit=MAX_CONDITIONS)
            if not isinstance(raw, str):
                raise _invalid("Query parameters are strings.", key)
            items = raw.split(",") if operation == "IN" else [raw]
            if len(items) > MAX_IN_VALUES:
                raise _invalid(f"IN takes at most {MAX_IN_VALUES} values.", key, limit=MAX_IN_VALUES)
            parsed = []
            for item in items:
                try:
                    parsed.append(_parse_value(fld, item, from_get=True))
                except _BadValue as exc:
                    raise _value_error(exc, fld, item, key, codebook_ref, f"Invalid value for {key}: ") from None
            conditions.append(Condition(operation, fld.name, tuple(parsed)))
    return canonical(Group(and_=tuple(conditions)))


# --- canonical form and fingerprint ------------------------------------------------------------


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else value


def _sort_key(node: Node) -> str:
    return json.dumps(_to_json(node), sort_keys=True, separators=(",", ":"))


def _unique_sorted(nodes: list[Node]) -> tuple[Node, ...]:
    by_key = {_sort_key(node): node for node in nodes}
    return tuple(by_key[key] for key in sorted(by_key))


def _canonical_condition(node: Condition) -> Condition:
    values = tuple(sorted(set(node.values), key=lambda v: (type(v).__name__, v)))
    if node.operation == "IN" and len(values) == 1:
        return Condition("EQ", node.field_name, values)  # IN [v] is EQ v
    return Condition(node.operation, node.field_name, values)


def canonical(node: Node) -> Node:
    """An equivalent tree in one canonical shape: children sorted and deduplicated, trivial groups flattened.

    Only rewrites that hold in the two-valued logic above: ``and`` of an ``and`` is spliced, an
    ``or`` of one clause is an ``and``, ``not`` of an ``or`` is several ``not``, ``not`` of ``not a``
    is ``a``, ``NE v`` is ``not EQ v``, ``IN [v]`` is ``EQ v``.
    """
    if isinstance(node, Condition):
        return _canonical_condition(node)
    and_ = [canonical(child) for child in node.and_]
    or_ = [canonical(child) for child in node.or_]
    not_ = [canonical(child) for child in node.not_]
    changed = True
    while changed:
        changed = False
        or_ = list(_unique_sorted(or_))
        if len(or_) == 1:
            and_.append(or_.pop())
            changed = True
        new_and: list[Node] = []
        for child in and_:
            if isinstance(child, Group) and not child.or_:
                new_and.extend(child.and_)
                not_.extend(child.not_)
                changed = True
            elif isinstance(child, Condition) and child.operation == "NE":
                not_.append(Condition("EQ", child.field_name, child.values))
                changed = True
            else:
                new_and.append(child)
        and_ = new_and
        new_not: list[Node] = []
        for child in not_:
            if isinstance(child, Group) and child.or_ and not child.and_ and not child.not_:
                new_not.extend(child.or_)  # not (a or b) = not a, not b
                changed = True
            elif isinstance(child, Group) and len(child.and_) == 1 and not child.or_ and not child.not_:
                new_not.append(child.and_[0])
                changed = True
            elif isinstance(child, Group) and len(child.not_) == 1 and not child.and_ and not child.or_:
                and_.append(child.not_[0])  # not (not a) = a
                changed = True
            elif isinstance(child, Condition) and child.operation == "NE":
                and_.append(Condition("EQ", child.field_name, child.values))
                changed = True
            else:
                new_not.append(child)
        not_ = new_not
        new_or: list[Node] = []
        for child in or_:
            if isinstance(child, Group) and child.or_ and not child.and_ and not child.not_:
                new_or.extend(child.or_)
                changed = True
            elif isinstance(child, Group) and len(child.and_) == 1 and not child.or_ and not child.not_:
                new_or.append(child.and_[0])
                changed = True
            else:
                new_or.append(child)
        or_ = new_or
    return Group(and_=_unique_sorted(and_), or_=_unique_sorted(or_), not_=_unique_sorted(not_))


def normalise(node: Node) -> dict:
    """The canonical JSON form of a query: itself a valid POST query, the same for every equivalent spelling."""
    return _to_json(canonical(node))


def _to_json(node: Node) -> dict:
    if isinstance(node, Condition):
        return {
            "operation": node.operation,
            "field_name": node.field_name,
            "field_values": [_json_value(value) for value in node.values],
        }
    out: dict[str, list] = {}
    for key, children in (("and", node.and_), ("or", node.or_), ("not", node.not_)):
        if children:
            out[key] = [_to_json(child) for child in children]
    return out


def query_fingerprint(node: Node, extra: dict) -> str:
    """sha256 (hex) of the canonical query plus ``extra`` (e.g. the selected fields): what a cursor is bound to."""
    document = {"query": normalise(node), "extra": extra}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_value)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# --- SQL ---------------------------------------------------------------------------------------


def _quote_column(column: str) -> str:
    return ".".join(f'"{part}"' for part in column.split("."))


def _join(operator: str, parts: list[str], empty: str) -> str:
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else "(" + f" {operator} ".join(parts) + ")"


def compile_sql(node: Node, fields: Mapping[str, Field]) -> tuple[str, list]:
    """A parameterised WHERE fragment (``%s`` placeholders) selecting exactly the rows the query matches.

    Values only ever travel as parameters; columns come from ``Field.column`` (validated identifiers,
    quoted). Negations are pushed down to the conditions, so the positive conditions stay sargable
    (``col = %s``, ``col = ANY(%s)``, ``col && %s``) and a negated one is ``(...) IS NOT TRUE``, which
    keeps the logic two-valued when a column is NULL.
    """
    params: list = []
    sql = _compile(node, fields, negate=False, params=params)
    return sql, params


def _compile(node: Node, fields, *, negate: bool, params: list) -> str:
    if isinstance(node, Condition):
        return _compile_condition(node, fields[node.field_name], negate=negate, params=params)

    def sub(child: Node, child_negate: bool) -> str:
        return _compile(child, fields, negate=child_negate, params=params)

    # Build in text order so the parameters line up with their placeholders.
    parts = [sub(child, negate) for child in node.and_]
    if node.or_:
        alternatives = [sub(child, negate) for child in node.or_]
        parts.append(_join("AND", alternatives, "TRUE") if negate else _join("OR", alternatives, "FALSE"))
    parts += [sub(child, not negate) for child in node.not_]
    # not (A and B and not C) = (not A) or (not B) or C
    return _join("OR", parts, "FALSE") if negate else _join("AND", parts, "TRUE")


def _bucket_range(fld: Field, operation: str, value: str) -> list[str]:
    index = fld.values.index(value)
    keep = {
        "GT": lambda i: i > index,
        "GTE": lambda i: i >= index,
        "LT": lambda i: i < index,
        "LTE": lambda i: i <= index,
    }[operation]
    return [v for i, v in enumerate(fld.values) if keep(i)]


def _compile_condition(node: Condition, fld: Field, *, negate: bool, params: list) -> str:
    column = _quote_column(fld.column)
    # NE v is the complement of EQ v (missing values included).
    operation = "EQ" if node.operation == "NE" else node.operation
    negate = negate != (node.operation == "NE")
    values = list(node.values)

    if fld.type == "list":
        # Lists match when any element matches; a plain list parameter adapts to text[] and varchar[] alike.
        sql, value_params = f"{column} && %s", [values]
    elif fld.type == "bucket" and operation in ORDERING_OPERATIONS:
        qualifying = _bucket_range(fld, operation, values[0])
        sql, value_params = (f"{column} = ANY(%s)", [qualifying]) if qualifying else ("FALSE", [])
    elif operation == "IN":
        sql, value_params = f"{column} = ANY(%s)", [values]
    else:
        sql, value_params = f"{column} {_SQL_COMPARISON[operation]} %s", [values[0]]

    if sql != "FALSE":
        params.extend(value_params)
    return f"({sql}) IS NOT TRUE" if negate else sql


# --- field selection ---------------------------------------------------------------------------


def parse_fields(requested: list[str] | str | None, fields: Mapping[str, Field], *, default: list[str]) -> list[str]:
    """The selected field names (``fields=a,b`` or an array), duplicates dropped in order; errors name ``fields[i]``."""
    if requested is None:
        names: list[Any] = list(default)
    elif isinstance(requested, str):
        names = requested.split(",")
    elif isinstance(requested, list | tuple):
        names = list(requested)
    else:
        raise _invalid("'fields' must be an array of field names or a comma-separated string.", "fields")
    if not names:
        raise _invalid("Select at least one field.", "fields")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in fields:
            raise _unknown_field(name, fields, f"fields[{i}]", filterable_only=False)
    return list(dict.fromkeys(names))


# --- cursors ---------------------------------------------------------------------------------
# Opaque, grant-bound cursors live in moderation_data.query.cursors (docs/pseudonyms.md).
from moderation_data.query.cursors import cursor_key, decode_cursor, encode_cursor  # noqa: E402

__all__ = [
    "FIELD_TYPES",
    "GET_LOOKUPS",
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_IN_VALUES",
    "OPERATIONS",
    "OPERATIONS_BY_TYPE",
    "Condition",
    "Field",
    "Group",
    "Node",
    "canonical",
    "compile_sql",
    "cursor_key",
    "decode_cursor",
    "encode_cursor",
    "normalise",
    "parse_body_query",
    "parse_fields",
    "parse_get_query",
    "query_fingerprint",
]
