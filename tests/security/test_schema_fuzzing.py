"""Schema fuzzing: Schemathesis drives every documented operation of the live app with a valid token.

The app is the real WSGI application in this process (real PostgreSQL and Redis behind it); the
schema is the one /api/schema serves. All of Schemathesis' checks run on every case, with
positive data (valid per the schema: every status and body must be documented, valid input must
not be refused as malformed) and negative data (invalid per the schema: must be refused with a
documented 4xx, never a 5xx). The seed is fixed, so a failure reproduces.

Every data class is generated, NUL bytes and lone surrogates included: the edge guard
(``platform_api/edge.py``) refuses them with a 400 before they reach PostgreSQL.
"""

from __future__ import annotations

import collections

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from tests.api_fixtures import make_research_client
from tests.security.figures import record

# Over a minute on a loaded 2-core machine: generating bodies of the recursive query language is slow.
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SEED = 20261130
MAX_EXAMPLES = 10  # per operation and generation mode, bounded for CI (see docs/security.md)
GENEROUS = {"requests_per_minute": 1_000_000, "requests_per_day": 10_000_000, "records_per_day": 100_000_000}
CASES: collections.Counter = collections.Counter()
STATUSES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def token(shared_release, django_db_blocker):
    """One research client with every scope and no practical limits, committed for the module."""
    from tests.conftest import _empty_tables_but_shared

    with django_db_blocker.unblock():
        client = make_research_client(concurrent_exports=1_000, export_rows_per_month=10**12, **GENEROUS)
    yield client.token
    with django_db_blocker.unblock():
        # The whole research client (grant, application, researcher, user), not just its grant:
        # committed rows left here would be seen by the later modules of this test process.
        _empty_tables_but_shared()


@pytest.fixture(autouse=True)
def _in_process_app(settings):
    """No public limits; and, as Django's test client does, the test's connection outlives each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 1_000_000
    settings.PUBLIC_RATE_LIMIT_PER_DAY = 10_000_000
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def load_schema():
    """The schema /api/schema serves (generated in-process), driven against the WSGI app itself."""
    from tests.security.support import accept_semantic_400, api_schema

    loaded = schemathesis.openapi.from_dict(api_schema())
    loaded.app = WSGIHandler()
    loaded.config.seed = SEED
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
    )
    # A well-formed request may still be refused with a documented 400 naming the field, where the
    # codebook or another parameter decides (tests/security/support.py, docs/security.md).
    accept_semantic_400(loaded, loaded.config.checks.positive_data_acceptance.expected_statuses)
    return loaded


# (Not schemathesis.pytest.from_fixture: its lazy loader breaks on pytest 9's node ids.)
schema = load_schema()


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)
def test_every_documented_operation_survives_fuzzing_without_server_errors_or_schema_violations(case, token):
    # Identity bodies: Schemathesis sends requests' default Accept-Encoding (gzip, ...) to the WSGI app
    # but its WSGI transport does not decode what it gets back (compression: tests/api/test_compression*).
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"})
    CASES[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    STATUSES[response.status_code] += 1
    assert response.status_code < 500


@pytest.fixture(scope="module", autouse=True)
def fuzzing_summary(request):
    """After every operation's fuzz test of the module: what was covered, printed and recorded.

    Every operation whose test was selected was driven (all of them in a whole run).
    """
    yield
    from tests.security.support import operations

    documented = {f"{method} {path}" for method, path, _ in operations()}
    selected = {
        item.operation_label
        for item in request.session.items
        if item.path == request.path and getattr(item, "operation_label", None)
    }
    cases = sum(CASES.values())
    print(f"\nSchemathesis: {cases} cases over {len(CASES)} of {len(documented)} operations; statuses {dict(STATUSES)}")
    module = request.node.nodeid
    record("Schemathesis cases", cases, source=module)
    record("Schemathesis operations driven", len(CASES), source=module)
    record("Schemathesis server errors", sum(n for status, n in STATUSES.items() if status >= 500), source=module)
    assert set(CASES) <= documented
    assert set(CASES) == selected, sorted(selected - set(CASES))
    assert all(status < 500 for status in STATUSES)
