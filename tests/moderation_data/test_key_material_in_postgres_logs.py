"""No key material in PostgreSQL's text: statement logs, error STATEMENT lines, pg_stat_activity.

The attack replayed (issue 10): the HMAC pads were bound client-side as literals, so every statement
log, every ``STATEMENT:`` line of an error (a statement timeout) and ``pg_stat_activity`` held
``key XOR 0x36``, i.e. the project key. Here the test database logs every statement
(``log_statement = all``, ``log_min_error_statement = error``, set by a superuser), a release is
built, a records walk is made, a records request is forced into a statement timeout while
``pg_stat_activity`` is sampled, and an export runs on a worker; then the server log (found from
``pg_current_logfile()``, else the backend's stderr) is searched for every key, derived key and pad,
as hex, escaped bytea and base64. A decoy pad sent the old way proves the search would find one.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection

from moderation_data.releases import pseudonyms
from moderation_data.releases.project_keys import project_key
from moderation_data.releases.pseudonyms import derive_key, hmac_pads
from tests.api_fixtures import build_published_release, make_research_client
from tests.conftest import database_url_of
from tests.moderation_data.exports_support import (
    GENEROUS,
    request_export,
    start_worker,
    use_private_export_dir,
    wait_for_export,
)

pytestmark = pytest.mark.django_db(transaction=True)

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


def server_log(cursor) -> Path:
    """The file the server writes its log to: the collector's current file, else the backend's stderr."""
    cursor.execute("SELECT pg_current_logfile(), current_setting('data_directory'), pg_backend_pid()")
    current, data_directory, pid = cursor.fetchone()
    candidates = []
    if current:
        candidates.append(Path(current) if os.path.isabs(current) else Path(data_directory) / current)
    stderr = Path(f"/proc/{pid}/fd/2")
    if stderr.exists():
        candidates.append(stderr.resolve())
    for path in candidates:
        if path.is_file() and os.access(path, os.R_OK):
            return path
    pytest.fail(f"no readable PostgreSQL server log (tried {candidates}): this test must read one, never skip")


@pytest.fixture
def statement_log(settings):
    """Every statement of the test database logged from now on; yields a reader of what was logged since."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        path = server_log(cursor)
        start = path.stat().st_size
        for statement in (
            f"ALTER DATABASE \"{name}\" SET log_statement = 'all'",
            f"ALTER DATABASE \"{name}\" SET log_min_error_statement = 'error'",
            "SET log_statement = 'all'",
            "SET log_min_error_statement = 'error'",
        ):
            cursor.execute(statement)

    def read() -> str:
        with path.open("rb") as file:
            file.seek(start)
            return file.read().decode("utf-8", errors="replace")

    yield read
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" RESET log_statement')
        cursor.execute(f'ALTER DATABASE "{name}" RESET log_min_error_statement')
        cursor.execute("RESET log_statement")
        cursor.execute("RESET log_min_error_statement")


def spellings(secret: bytes) -> set[str]:
    """How a secret (its first 16 bytes suffice) could appear in a log: hex, escaped bytea, base64."""
    head = secret[:16]
    return {
        head.hex(),
        head.hex().upper(),
        "".join(f"\\{b:03o}" for b in head[:8]),  # bytea escape output
        base64.b64encode(head).decode()[:20],
        base64.urlsafe_b64encode(head).decode()[:20],
    }


def key_material(grant) -> dict[str, bytes]:
    settings = django_settings
    version = settings.PSEUDONYM_KEY_VERSION
    keys = {
        "master": pseudonyms.master_key(),
        "PSEUDONYM_KEY text": settings.PSEUDONYM_KEY.encode(),
        "project key": project_key(grant)[0],
        "project key wrapping": derive_key(f"project-key-wrap:v{version}"),
        "cursor key": derive_key(f"cursor:v{version}"),
        **{f"base key {kind}": pseudonyms.base_key(kind, version) for kind in pseudonyms.KINDS},
    }
    for name, key in list(keys.items()):
        if name != "PSEUDONYM_KEY text":
            inner, outer = hmac_pads(key)
            keys[f"{name} inner pad"], keys[f"{name} outer pad"] = inner, outer
    return keys


def leaks(text: str, material: dict[str, bytes]) -> list[str]:
    return [name for name, secret in material.items() for form in spellings(secret) if form in text]


def sample_activity_while_blocked(url: str, requester: threading.Thread, found: list[str], table: str) -> bool:
    """Every query text in pg_stat_activity, until the blocked records query has been seen (or has ended).

    The blocked query is recognised by its rows table and its lock wait: pg_stat_activity keeps only the
    first ``track_activity_query_size`` bytes (1 kB by default) of a statement, and the records query
    names the pads after that (the pads' own statements show only while they run, too briefly to sample).
    """
    with psycopg.connect(url, autocommit=True) as watcher:
        while requester.is_alive():
            rows = watcher.execute(
                "SELECT query, wait_event_type FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchall()
            found.extend(query for query, _ in rows)
            if any(wait == "Lock" and table in query for query, wait in rows):
                return True
    return False


def test_no_key_pad_or_derived_key_reaches_the_statement_log_or_pg_stat_activity(statement_log, settings):
    use_private_export_dir(settings)
    marker = f"statement-log-marker-{uuid.uuid4().hex}"
    decoy_key = os.urandom(32)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", [marker])
        cursor.execute("SELECT %s::bytea", [hmac_pads(decoy_key)[0]])  # how pads were sent before

    # 1. A release build (base pseudonyms in SQL, pads by COPY); the only release of the demo period.
    from tests.conftest import purge_stale_releases

    purge_stale_releases()
    release = build_published_release(rows=600, seed=5, version="log-test")
    client = make_research_client(**GENEROUS)

    # 2. A records walk of several pages.
    cursor_token, pages = None, 0
    while True:
        params = {"page_size": 100, **({"cursor": cursor_token} if cursor_token else {})}
        body = client.get(RECORDS, params).json()
        pages += 1
        cursor_token = body["next_cursor"]
        if not body["has_more"]:
            break
    assert pages >= 2

    # 3. A records request forced into a statement timeout (its rows table locked), pg_stat_activity sampled.
    settings.QUERY_STATEMENT_TIMEOUT_MS = 3000
    url = database_url_of(connection.settings_dict)
    activity: list[str] = []
    with psycopg.connect(url) as locker:
        locker.execute(f"LOCK TABLE {release.rows_table} IN ACCESS EXCLUSIVE MODE")
        responses = []

        def blocked_request() -> None:
            try:
                responses.append(client.get(RECORDS, {"page_size": 50}))
            finally:
                connection.close()

        requester = threading.Thread(target=blocked_request)
        requester.start()
        blocked_seen = sample_activity_while_blocked(url, requester, activity, release.rows_table)
        requester.join(timeout=60)
        locker.rollback()
    assert responses and responses[0].status_code == 503, responses
    assert blocked_seen, sorted(set(activity))  # the blocked records query was sampled while it waited

    # 4. An export written by a worker (its own connections log too).
    worker = start_worker()
    try:
        response = request_export(client, format="csv")
        assert response.status_code == 202, response.content
        export = wait_for_export(client, response.json()["id"])
    finally:
        worker.stop()
    assert export["row_count"] > 0
    assert export["manifest"]["key_fingerprint"] == pseudonyms.key_fingerprint()

    log = statement_log()
    assert marker in log, "the server log did not record our statements"
    assert "canceling statement due to statement timeout" in log and "STATEMENT:" in log
    assert "COPY pg_temp.pseudonym_pads" in log  # the pads went in as COPY data
    material = key_material(client.grant)
    assert set(leaks(log, {"decoy inner pad": hmac_pads(decoy_key)[0]})) == {"decoy inner pad"}  # the search works
    assert leaks(log, material) == []
    assert leaks("\n".join(activity), material) == []
