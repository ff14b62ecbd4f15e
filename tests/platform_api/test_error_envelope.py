import pytest

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


def assert_envelope(response, *, status, code):
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


def test_unknown_api_path_answers_enveloped_404(client):
    error = assert_envelope(client.get("/api/v1/no-such-endpoint"), status=404, code="not_found")
    assert "no-such-endpoint" in error["message"]


def test_unknown_path_outside_v1_under_api_is_also_enveloped(client):
    assert_envelope(client.get("/api/v2/anything"), status=404, code="not_found")


def test_wrong_method_answers_enveloped_405_with_allow_header(client):
    response = client.delete("/api/v1/")
    assert_envelope(response, status=405, code="invalid_request")
    assert "GET" in response["Allow"]


@pytest.mark.urls("tests.platform_api.urls")
def test_validation_error_lists_each_field(client):
    response = client.post(
        "/api/v1/test/validating", {"name": "far too long", "count": 0}, content_type="application/json"
    )
    error = assert_envelope(response, status=400, code="invalid_request")
    assert set(error["detail"]) == {"name", "count"}
    assert all(isinstance(messages, list) and messages for messages in error["detail"].values())


@pytest.mark.urls("tests.platform_api.urls")
def test_malformed_json_is_an_invalid_request(client):
    response = client.post("/api/v1/test/validating", "{not json", content_type="application/json")
    assert_envelope(response, status=400, code="invalid_request")


@pytest.mark.urls("tests.platform_api.urls")
def test_unhandled_exception_answers_500_without_internals(client, caplog):
    client.raise_request_exception = False
    response = client.get("/api/v1/test/exploding")
    error = assert_envelope(response, status=500, code="server_error")
    text = response.content.decode()
    assert "secret-internal-detail" not in text
    assert "Traceback" not in text
    assert "SELECT" not in text
    # ...but the traceback is in the log, under the same request id.
    logged = [r for r in caplog.records if r.name == "platform_api.errors"]
    assert logged and logged[0].request_id == error["request_id"]
    assert logged[0].exc_info is not None


@pytest.mark.urls("tests.platform_api.urls")
def test_unhandled_exception_in_a_plain_api_path_view_is_enveloped_too(client, settings):
    client.raise_request_exception = False
    response = client.get("/plain/exploding", HTTP_ACCEPT="application/json")
    assert_envelope(response, status=500, code="server_error")
    assert "secret-internal-detail" not in response.content.decode()


def test_html_pages_get_an_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.platform_api.urls")
def test_oversized_body_answers_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post("/api/v1/test/validating", "x" * 4096, content_type="application/json")
    assert_envelope(response, status=413, code="payload_too_large")
