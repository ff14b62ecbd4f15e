"""PostgreSQL restarted in the middle of a page walk, under a real gunicorn.

The module copies its test database (a published release, a research client) into a throwaway
PostgreSQL cluster of its own and serves it with gunicorn; the machine's server is never touched.
A client walks the release page by page; between two pages the cluster stops (immediate
shutdown: every connection dies). While it is down data requests answer 503 ``unavailable``
with Retry-After and no data; once it is back the walk resumes with the cursor it held, and
every row comes exactly once.
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.db import connection

from tests.api_fixtures import GunicornServer, make_research_client
from tests.conftest import database_url_of
from tests.reliability.servers import ThrowawayPostgres
from tests.security.figures import record

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


@pytest.fixture(scope="module")
def served_copy(shared_release, django_db_blocker):
    """(gunicorn on a throwaway copy of the test database, its cluster, a token, the release's row count)."""
    from tests.conftest import _empty_tables_but_shared

    with django_db_blocker.unblock():
        research = make_research_client(records_per_day=10**9, requests_per_minute=10**6, requests_per_day=10**9)
        source = database_url_of(connection.settings_dict)
        cluster = ThrowawayPostgres()
        try:
            target = cluster.copy_database(source, "platform_fault")
            server = GunicornServer(workers=2, extra_env={"DATABASE_URL": target}).start()
        except BaseException:
            cluster.cleanup()
            raise
        # The research client lives on in the copy only; none of its rows stay for later modules.
        _empty_tables_but_shared()
    yield server, cluster, research.token, shared_release.row_count
    server.stop()
    cluster.cleanup()


def test_a_page_walk_survives_a_postgres_restart_with_its_cursor(served_copy):
    server, cluster, token, total = served_copy
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    seen, cursor, pages = [], None, 0
    while True:
        body = {"page_size": 200, "fields": ["decision_id"], "cursor": cursor}
        if pages == 2:
            cluster.stop()
            down = http.post(RECORDS, json=body)
            assert down.status_code == 503, down.status_code  # no data without the database
            assert down.json()["error"]["code"] == "unavailable" and b"Traceback" not in down.content
            assert int(down.headers["Retry-After"]) >= 1
            stopped_at = time.monotonic()
            cluster.start()
        response = http.post(RECORDS, json=body)
        if pages == 2:
            recovered = time.monotonic() - stopped_at
        assert response.status_code == 200, response.content[:300]
        page = response.json()
        seen += [row["decision_id"] for row in page["data"]]
        pages += 1
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == total and len(set(seen)) == total
    assert http.get("/healthz").status_code == 200
    record("PostgreSQL restart: first request served after the cluster is back", round(recovered, 2), "s")
    record("PostgreSQL restart: rows walked across the restart (each exactly once)", total)
