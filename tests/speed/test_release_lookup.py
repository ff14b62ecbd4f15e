"""The row endpoints read a published release's codebook once per process, not per request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", RECORDS, {"page_size": 10}),
    ("post", RECORDS, {"query": {"and": [{"operation": "GTE", "field_name": "decided_on",
                                          "field_values": ["2025-01-01"]}]}, "page_size": 10}),
    ("post", COUNT, {"query": {"and": [{"operation": "EQ", "field_name": "appealed", "field_values": [True]}]}}),
])  # fmt: skip
def test_a_repeated_request_loads_no_codebook_or_report_json(release, researcher, method, path, body):
    assert getattr(researcher, method)(path, body).status_code == 200  # the first request of the process may
    with CaptureQueriesContext(connection) as queries:
        assert getattr(researcher, method)(path, body).status_code == 200
    release_reads = [q["sql"] for q in queries.captured_queries if 'FROM "moderation_data_release"' in q["sql"]]
    assert release_reads, "the release is still looked up (its status may change)"
    for sql in release_reads:
        for heavy in ("codebook", "privacy_report", "control_totals", "anonymization"):
            assert f'"moderation_data_release"."{heavy}"' not in sql, sql
