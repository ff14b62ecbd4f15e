"""Release reads go to a real streaming replica: a hot standby of the primary (platform_api.replicas).

The module starts a throwaway PostgreSQL cluster (the primary) and, before anything is written
to it, a hot standby made from its base backup (``pg_basebackup -R``: it streams the primary's
WAL and replays it; tests/reliability/servers.py). The machine's own server is never touched.
The primary gets a copy of the (migrated) test database; then every step runs in a subprocess
configured as a deployment would be, ``DATABASE_URL`` naming the primary: ``seed_demo`` (3,000
demo decisions, a release built and published, the demo researcher's grant), and the same API
requests twice, through Django's test client: once without replicas (the reference answers),
then, once the standby has replayed the primary's WAL up to that point
(``pg_last_wal_replay_lsn()`` on the standby reaches ``pg_current_wal_lsn()`` on the primary),
with ``DATABASE_REPLICA_URLS`` naming the standby. The queries each request ran are captured per
connection, and the replica connection reports that it is in recovery in the standby's data
directory: the proof that the rows were read there. (A copy instead of ``migrate``: the
migrations alone take most of a minute on a loaded 2-core machine; the copy is streamed to the
standby all the same.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from django.db import connection

from tests.conftest import BASE_DIR, database_url_of, subprocess_env
from tests.reliability.servers import ThrowawayPostgres, ThrowawayStandby

# django_db: the conftest's module fixtures use the test database (this module never writes to it).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DEMO_ROWS = "3000"
RELEASE = "/api/v1/datasets/moderation-decisions/releases/latest"
POLICY_QUERY = {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]}]}
# (name, path, body): a plain page, a page with pseudonyms, a count by a filter, a count of every row.
REQUESTS = [
    ("page", f"{RELEASE}/records", {"page_size": 20, "fields": ["decided_on", "policy", "country"]}),
    ("pseudonymous page", f"{RELEASE}/records", {"page_size": 20, "fields": ["decided_on", "account_id"]}),
    ("count by policy", f"{RELEASE}/count", {"query": POLICY_QUERY}),
    ("count of every row", f"{RELEASE}/count", {}),
]

SCRIPT = """
import base64, contextlib, json, sys
import django
django.setup()
from django.conf import settings
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from moderation_data.catalog.models import Dataset
from moderation_data.releases.selectors import get_release

seed_rows, credentials, requests = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
if seed_rows:  # seed_demo in this process: one Django start-up fewer
    import io
    from django.core.management import call_command

    out = io.StringIO()
    call_command("seed_demo", "--rows", seed_rows, "--json", stdout=out, stderr=io.StringIO())
    credentials = json.loads(out.getvalue())
aliases = ["default", *sorted(alias for alias in settings.DATABASES if alias != "default")]
servers = {}
for alias in aliases:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_setting('data_directory')")
        servers[alias] = list(cursor.fetchone())
http = Client()
basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
token = http.post("/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
assert token.status_code == 200, token.content
auth = {"HTTP_AUTHORIZATION": f"Bearer {token.json()['access_token']}"}
answers = {}
for name, path, body in requests:
    with contextlib.ExitStack() as stack:
        captures = [stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in aliases]
        response = http.post(path, body, content_type="application/json", **auth)
    answers[name] = {
        "status": response.status_code,
        "body": response.json(),
        "queries": {alias: [q["sql"] for q in c.captured_queries] for alias, c in zip(aliases, captures)},
    }
release = get_release(Dataset.objects.get(slug="moderation-decisions"), "latest")
print(json.dumps({"servers": servers, "rows_table": release.rows_table, "answers": answers,
                  "credentials": credentials}))
"""


def run(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, *args], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def ask(env: dict[str, str], credentials: dict | None = None, *, seed_rows: str = "") -> dict:
    """The answers to REQUESTS as the demo researcher (after seed_demo with ``seed_rows`` rows, if given)."""
    out = run(env, "-c", SCRIPT, seed_rows, json.dumps(credentials or {}), json.dumps(REQUESTS))
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def replicated(django_db_setup, tmp_path_factory):
    """(the primary, its standby, the reference answers without replicas, the answers with the standby)."""
    primary = ThrowawayPostgres()
    standby = None
    try:
        # initdb's defaults make a cluster a primary a standby can stream from (servers.ThrowawayStandby).
        assert primary.query("SHOW wal_level") == ("replica",)
        standby = ThrowawayStandby(primary)  # before anything is written: all of it reaches the standby by WAL
        primary_url = primary.copy_database(database_url_of(connection.settings_dict), "platform_replica")
        run_id = uuid.uuid4().hex[:8]
        env = subprocess_env(
            DATABASE_URL=primary_url,
            DJANGO_SETTINGS_MODULE="platform_api.settings",
            # Its own keys in the test run's Redis: ids in this cluster repeat the test database's.
            CACHE_KEY_PREFIX=f"replica-{run_id}",
            RATELIMIT_KEY_PREFIX=f"replica-{run_id}:rl",
            PLATFORM_LOCAL_DIR=str(tmp_path_factory.mktemp("replica-local")),  # seed_demo saves its client there
        )
        env.pop("DATABASE_REPLICA_URLS", None)
        # seed_demo (a release built and published), then the reference answers (which make the count cube).
        without = ask(env, seed_rows=DEMO_ROWS)
        standby.wait_replayed(primary)
        replicas = standby.url("platform_replica")
        with_standby = ask({**env, "DATABASE_REPLICA_URLS": replicas}, without["credentials"])
        yield primary, standby, without, with_standby
    finally:
        if standby is not None:
            standby.cleanup()
        primary.cleanup()


def same_answer(seen: dict, reference: dict) -> None:
    """The same rows and release; cursors are encrypted with a fresh nonce each time, so only both exist."""
    body, expected = dict(seen["body"]), dict(reference["body"])
    assert bool(body.pop("next_cursor", None)) == bool(expected.pop("next_cursor", None))
    assert body == expected


def read_from(answer: dict, alias: str, rows_table: str) -> bool:
    """Whether the request read the release's rows (or a count cube of them) on ``alias``."""
    return any(rows_table in sql for sql in answer["queries"].get(alias, []))


def test_the_replica_connection_is_the_streaming_standby_in_recovery(replicated):
    primary, standby, without, seen = replicated
    assert seen["servers"]["default"][0] is False
    in_recovery, data_directory = seen["servers"]["replica_0"]
    assert in_recovery is True
    assert data_directory == standby.query("SHOW data_directory")[0] != seen["servers"]["default"][1]
    (state,) = primary.query("SELECT state FROM pg_stat_replication")
    assert state == "streaming"
    # The release was published after the base backup: its rows reached the standby by WAL replay.
    assert standby.query(f"SELECT count(*) FROM {seen['rows_table']}", "platform_replica")[0] > 0
    assert set(without["servers"]) == {"default"}


def test_a_records_page_is_read_from_the_standby_and_equals_the_answer_without_replicas(replicated):
    _, _, without, seen = replicated
    page, reference = seen["answers"]["page"], without["answers"]["page"]
    assert page["status"] == reference["status"] == 200
    assert len(page["body"]["data"]) == 20
    assert read_from(page, "replica_0", seen["rows_table"])
    assert not read_from(page, "default", seen["rows_table"])
    assert read_from(reference, "default", seen["rows_table"])
    same_answer(page, reference)


@pytest.mark.parametrize("name", ["count by policy", "count of every row"])
def test_a_count_is_read_from_the_standby_and_equals_the_answer_without_replicas(replicated, name):
    _, _, without, seen = replicated
    count, reference = seen["answers"][name], without["answers"][name]
    assert count["status"] == reference["status"] == 200
    assert read_from(count, "replica_0", seen["rows_table"])
    reads_on_primary = [sql for sql in count["queries"]["default"] if "SELECT coalesce(sum(n)" in sql or
                        f"FROM {seen['rows_table']}" in sql]  # fmt: skip
    assert reads_on_primary == []
    assert count["body"] == reference["body"]
    assert 0 < count["body"]["count"] <= int(DEMO_ROWS)


def test_pages_with_pseudonyms_are_read_from_the_primary_and_equal_the_answer_without_replicas(replicated):
    # A hot standby cannot create the session temp table that holds the pads (docs/pseudonyms.md).
    _, _, without, seen = replicated
    page, reference = seen["answers"]["pseudonymous page"], without["answers"]["pseudonymous page"]
    assert page["status"] == reference["status"] == 200
    assert not read_from(page, "replica_0", seen["rows_table"])
    assert read_from(page, "default", seen["rows_table"])
    assert len(page["body"]["data"]) == 20 and all(row["account_id"] for row in page["body"]["data"])
    same_answer(page, reference)
