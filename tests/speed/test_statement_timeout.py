"""The query timeout of web processes is the session's default: no transaction per query, same 503."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from platform_api.dataapi import _session_timeout, statement_timeout
from platform_api.errors import Unavailable

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session_timeout(settings):
    settings.QUERY_STATEMENT_TIMEOUT_MS = 200
    connection.ensure_connection()
    _session_timeout(None, connection)
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    del connection.session_statement_timeout


def test_with_a_session_timeout_a_query_runs_without_set_local_or_a_transaction(session_timeout):
    with CaptureQueriesContext(connection) as queries, statement_timeout(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert connection.get_autocommit()
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 1"]


def test_with_a_session_timeout_a_slow_query_is_still_cancelled_as_unavailable(session_timeout):
    with pytest.raises(Unavailable), statement_timeout(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(2)")


def test_another_timeout_than_the_sessions_still_sets_its_own(session_timeout):
    with CaptureQueriesContext(connection) as queries, statement_timeout(5000), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.4)")  # longer than the session's 200 ms, within its own 5 s
    assert any("SET LOCAL statement_timeout = 5000" in q["sql"] for q in queries.captured_queries)
