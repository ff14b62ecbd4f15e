"""Read replicas (platform_api.replicas): release rows are read from DATABASE_REPLICA_URLS when set.

Each test runs a fresh process configured with a replica: a second connection to the test
database (which holds the committed shared release, as a streaming replica would), or a database
that lacks the release's rows table (a replica lagging behind a new release).
"""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.conftest import BASE_DIR, database_url_of, subprocess_env

pytestmark = pytest.mark.django_db

SCRIPT = """
import json, os, sys
import django
django.setup()
from django.db import connections
from django.test.utils import CaptureQueriesContext
from moderation_data.query import records
from moderation_data.releases.models import Release
from moderation_data.releases.pseudonyms import ProjectPseudonyms

release = Release.objects.get(pk=int(sys.argv[1]))
fields = sys.argv[2].split(",")
query = records.build_query(release, body_query=None, requested_fields=fields)
scope = f"release:{release.pk}"
project = ProjectPseudonyms(key=os.urandom(32), generation=1, release_scope=scope, account_scope=scope)
replica, primary = CaptureQueriesContext(connections["replica_0"]), CaptureQueriesContext(connections["default"])
with replica, primary:
    page = records.fetch_page(query, after=0, limit=5, project=project)
print(json.dumps({
    "data": page.data_json,
    "replica": [q["sql"] for q in replica.captured_queries],
    "primary": [q["sql"] for q in primary.captured_queries],
}))
"""


PLAIN_FIELDS = "decided_on,policy,country,territorial_scope"


def run_with_replica(release, replica_url: str, fields: str = PLAIN_FIELDS) -> dict:
    env = subprocess_env(DATABASE_REPLICA_URLS=replica_url, DJANGO_SETTINGS_MODULE="platform_api.settings")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(release.pk), fields], env=env, cwd=BASE_DIR, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows_on_primary(release) -> str:
    from moderation_data.query import records

    query = records.build_query(release, body_query=None, requested_fields=PLAIN_FIELDS.split(","))
    return records.fetch_page(query, after=0, limit=5, project=None).data_json


def test_release_rows_are_read_from_the_replica_and_equal_the_primarys(shared_release):
    seen = run_with_replica(shared_release, database_url_of(connection.settings_dict))
    assert any(shared_release.rows_table in sql for sql in seen["replica"])
    assert not any(shared_release.rows_table in sql for sql in seen["primary"])
    assert json.loads(seen["data"]) == json.loads(rows_on_primary(shared_release))


def test_a_replica_without_the_release_yet_falls_back_to_the_primary(shared_release):
    parts = urlsplit(database_url_of(connection.settings_dict))
    lagging = urlunsplit(parts._replace(path="/postgres"))  # a real database without the rows table
    seen = run_with_replica(shared_release, lagging)
    assert any(shared_release.rows_table in sql for sql in seen["replica"])  # tried first
    assert any(shared_release.rows_table in sql for sql in seen["primary"])  # answered
    assert json.loads(seen["data"]) == json.loads(rows_on_primary(shared_release))


def test_pages_with_pseudonyms_are_read_from_the_primary_where_their_pads_are_loaded(shared_release):
    # A hot standby cannot create the session temp table that holds the pads (docs/pseudonyms.md).
    seen = run_with_replica(shared_release, database_url_of(connection.settings_dict), fields="decided_on,account_id")
    assert not any(shared_release.rows_table in sql for sql in seen["replica"])
    assert any(shared_release.rows_table in sql for sql in seen["primary"])
    assert len(json.loads(seen["data"])) == 5
