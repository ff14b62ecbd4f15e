"""Stateful schema fuzzing: Schemathesis walks the API along its OpenAPI links with a valid token.

Where tests/security/test_schema_fuzzing.py sends each operation cases of its own, here each
scenario is a sequence of calls in which one response feeds the next request, along the links
the schema declares (platform_api/openapi.py, ``LINKS``): the dataset list gives a slug, the
dataset its latest release, the release its records, counts, aggregates, citation and an export,
the export its status, file and cancellation, a page its next page. So the calls reach real
objects (an export this client created, the page after a real cursor), not only 404s.

Bounded for CI: a fixed seed, ``SCENARIOS`` scenarios of at most ``STEPS`` calls each, every
check Schemathesis has (positive and negative data; stateful checks such as use-after-free and
resource availability included). Only the explicit links are used (link inference is off), so the
walk is the one the schema documents. The app is the WSGI application in this process, with real
PostgreSQL and Redis behind it.
"""

from __future__ import annotations

import collections
import time

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

from tests.api_fixtures import make_research_client
from tests.security.figures import record

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SEED = 20261130
SCENARIOS = 25  # Hypothesis examples: each one a scenario (see docs/security.md)
STEPS = 8  # calls per scenario at most
# Operations whose bodies or parameters carry the codebook-dependent query language, field lists or groupings.
GENEROUS = {"requests_per_minute": 1_000_000, "requests_per_day": 10_000_000, "records_per_day": 100_000_000}


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
    """The schema /api/schema serves, driven against the WSGI app itself; explicit links only."""
    from tests.security.support import accept_semantic_400, api_schema

    loaded = schemathesis.openapi.from_dict(api_schema())
    loaded.app = WSGIHandler()
    loaded.config.seed = SEED
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
    loaded.config.phases.stateful.inference.algorithms = []
    # A valid request may meet an object's state, not only its absence: Schemathesis accepts 404 and 409
    # for valid data; a link also reaches exports that were cancelled (their file answers 410 `gone`,
    # documented on that operation). Every other check and status is as Schemathesis ships it.
    acceptance = loaded.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "410"]
    # A well-formed request may still be refused with a documented 400 naming the field, where the
    # codebook or another parameter decides (tests/security/support.py, docs/security.md).
    accept_semantic_400(loaded, acceptance.expected_statuses)
    return loaded


class Tally:
    """What the scenarios did: calls per operation, statuses, and the links they followed."""

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()
        self.statuses: collections.Counter = collections.Counter()
        self.links: collections.Counter = collections.Counter()
        self.scenarios = 0


def workflow(token: str, tally: Tally) -> type:
    """The schema's state machine, calling with the token and counting what it does."""
    base = load_schema().as_state_machine()

    class Workflow(base):
        rule_order_seed = SEED

        def setup(self) -> None:
            tally.scenarios += 1

        def get_call_kwargs(self, case):
            # Identity bodies: Schemathesis' WSGI transport does not decode a gzip response.
            return {"headers": {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}}

        def step(self, input):
            output = super().step(input)  # calls, then runs every check (raises on a failure)
            tally.calls[input.case.operation.label] += 1
            tally.statuses[output.response.status_code] += 1
            # A link counts as followed when the step's request used at least one value it extracted.
            if input.transition is not None and input.applied_parameters:
                tally.links[input.transition.id] += 1
            return output

    return hypothesis.seed(SEED)(Workflow)


def test_linked_scenarios_survive_stateful_fuzzing_without_server_errors_or_schema_violations(token):
    tally = Tally()
    machine = workflow(token, tally)
    started = time.monotonic()
    machine.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            phases=[Phase.generate],
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    elapsed = time.monotonic() - started
    calls = sum(tally.calls.values())
    followed = sum(tally.links.values())
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    print(
        f"\nSchemathesis stateful: {tally.scenarios} scenarios, {calls} calls over {len(tally.calls)} operations, "
        f"{followed} link transitions over {len(tally.links)} links in {elapsed:.1f} s; statuses {dict(tally.statuses)}"
    )
    for link, count in sorted(tally.links.items()):
        print(f"  {count:4d}  {link}")
    record("Schemathesis stateful scenarios", tally.scenarios)
    record("Schemathesis stateful calls", calls)
    record("Schemathesis stateful links followed", followed)
    record("Schemathesis stateful distinct links followed", len(tally.links))
    record("Schemathesis stateful server errors", server_errors)
    assert server_errors == 0
    assert followed > 0
    # The walk goes past the first hop: a release reached by a link, and an export created from one.
    assert any("releases/{version}" in link and "->" in link for link in tally.links), tally.links
