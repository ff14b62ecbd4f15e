import json
import logging
import re

import pytest

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


def test_every_response_carries_a_generated_request_id(client):
    first, second = client.get("/api/v1/"), client.get("/no-such-page/")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept(client):
    response = client.get("/api/v1/", HTTP_X_REQUEST_ID="trace-4bf92f3577b34da6")
    assert response["X-Request-ID"] == "trace-4bf92f3577b34da6"


@pytest.mark.parametrize("incoming", ["short", "x" * 200, "evil\r\nSet-Cookie: a=b", "<script>alert(1)</script>"])
def test_an_unsafe_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/api/v1/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_one_json_log_line_per_request_without_query_string_or_credentials(client, caplog):
    caplog.set_level(logging.INFO, logger="platform_api.request")
    client.get(
        "/api/v1/?access_token=supersecrettoken123",
        HTTP_AUTHORIZATION="Bearer supersecrettoken123",
        HTTP_X_REQUEST_ID="req-0123456789",
    )
    records = [r for r in caplog.records if r.name == "platform_api.request"]
    assert len(records) == 1
    record = records[0]
    assert (record.request_id, record.path, record.status, record.method) == ("req-0123456789", "/api/v1/", 200, "GET")
    assert record.client == "anonymous"
    assert record.duration_ms >= 0
    from platform_api.logging import JSONFormatter

    line = JSONFormatter().format(record)
    assert "supersecrettoken123" not in line
    assert json.loads(line)["request_id"] == "req-0123456789"


def test_log_formatter_redacts_secret_fields_passed_as_extra():
    from platform_api.logging import JSONFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "issued", (), None)
    record.client_secret = "s3cr3t-value"
    record.client_id = "abc"
    parsed = json.loads(JSONFormatter().format(record))
    assert parsed["client_secret"] == "[redacted]"
    assert parsed["client_id"] == "abc"
