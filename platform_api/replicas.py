"""Read replicas: reads of published releases' rows go to a replica when ``DATABASE_REPLICA_URLS`` is set.

A published release never changes, so any streaming replica that has replayed it can serve its
rows exactly as the primary would: record pages and counts (of the rows or of a count cube) are read
there. Everything else (grants, tokens, quotas, the audit log, exports' bookkeeping, the making of
count cubes on first use) stays on ``default``. A replica that has not yet received a just-published
release's rows table or a just-made cube (replication lag) is skipped for that read: the primary
answers it. ``tests/speed/test_streaming_replica.py`` proves it against a real hot standby.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import ProgrammingError, connections

_counter = itertools.count()
_lock = threading.Lock()


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


def release_read_aliases() -> list[str]:
    """Where to read release rows, in order of preference: one replica (round robin), then the primary."""
    replicas = replica_aliases()
    if not replicas:
        return ["default"]
    with _lock:
        index = next(_counter) % len(replicas)
    return [replicas[index], "default"]


def release_read(
    sql: str, params: list, fetch: Callable[[Any], Any], *, prepare: Callable[[Any], None] | None = None
) -> Any:
    """Run a read of release rows (under the statement timeout) where :func:`release_read_aliases` says.

    ``prepare(cursor)`` runs first on the same connection; a read that needs it (pseudonym pads
    loaded into a session temp table, docs/pseudonyms.md) goes to the primary, since a hot
    standby cannot create temp tables.
    """
    from platform_api.dataapi import statement_timeout

    aliases = ["default"] if prepare is not None else release_read_aliases()
    for alias in aliases:
        try:
            with statement_timeout(using=alias), connections[alias].cursor() as cursor:
                if prepare is not None:
                    prepare(cursor)
                cursor.execute(sql, params)
                return fetch(cursor)
        except ProgrammingError as exc:
            lagging = getattr(exc.__cause__, "sqlstate", None) == "42P01"  # undefined_table: not replayed yet
            if alias == aliases[-1] or not lagging:
                raise
    raise AssertionError("unreachable")


class ReleaseReadRouter:
    """ORM reads stay on the primary (grants and releases' status must be current); see release_read()."""

    def db_for_read(self, model, **hints):
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
