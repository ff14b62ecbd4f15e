"""The audit log records what the request carried, whatever its length, and never loses an event silently."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from platform_api import audit
from platform_api.models import AccessEvent
from tests.api_fixtures import make_research_client

pytestmark = pytest.mark.django_db


def test_a_refused_request_with_an_overlong_slug_is_answered_and_audited():
    """A URL's slug has no length limit; the event's column has one: the refusal must still be recorded
    (it raised a database error on insert: a 500, and the probe went unaudited)."""
    researcher = make_research_client()
    slug = "x" * 70
    response = researcher.get(f"/api/v1/datasets/{slug}")
    assert response.status_code in (403, 404) and response.json()["error"]["code"]
    event = AccessEvent.objects.get(endpoint=f"/api/v1/datasets/{slug}")
    assert event.status == response.status_code and event.dataset == slug[:64]
    assert event.grant_id == researcher.grant.pk


def test_an_event_that_cannot_be_written_after_a_streamed_body_is_logged_not_swallowed(monkeypatch, caplog):
    def fails(**event):
        raise OperationalError("the database went away")

    monkeypatch.setattr(audit, "record_access_event", fails)
    caplog.set_level("ERROR", logger="platform_api.audit")
    audit.record_after_send({"request_id": "r-1234567890", "endpoint": "/api/v1/exports/x/file"})
    [record] = [r for r in caplog.records if r.name == "platform_api.audit"]
    assert "could not be written" in record.getMessage() and record.exc_info
    assert record.request_id == "r-1234567890"
