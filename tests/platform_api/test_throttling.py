import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.urls import path
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from platform_api.ratelimit import Window, admit
from platform_api.throttling import PublicAnonThrottle

pytestmark = pytest.mark.embedded


def test_concurrent_requests_admit_exactly_the_limit():
    scope = f"test-{uuid.uuid4().hex}"

    def one(_):
        return admit([Window.fixed(name="minute", limit=50, seconds=3600, scope=scope)]).admitted

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(200)))
    assert results.count(True) == 50


def test_a_request_is_counted_in_no_window_when_any_window_refuses():
    scope = f"test-{uuid.uuid4().hex}"
    minute = Window.fixed(name="minute", limit=10, seconds=3600, scope=scope)
    day = Window.fixed(name="day", limit=2, seconds=86_400, scope=scope)
    assert admit([minute, day]).admitted
    assert admit([minute, day]).admitted
    refused = admit([minute, day])
    assert not refused.admitted
    # The refused request did not eat into the minute window.
    counts = {w.name: count for w, count, _ in refused.windows}
    assert counts == {"minute": 2, "day": 2}
    assert refused.retry_after >= 1


def test_headers_describe_every_policy_and_the_tightest_window():
    scope = f"test-{uuid.uuid4().hex}"
    decision = admit(
        [
            Window.fixed(name="minute", limit=60, seconds=60, scope=scope),
            Window.fixed(name="day", limit=3, seconds=86_400, scope=scope),
        ]
    )
    headers = decision.headers()
    assert headers["RateLimit-Policy"] == '"minute";q=60;w=60, "day";q=3;w=86400'
    assert headers["RateLimit"].startswith('"day";r=2;t=')


@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([PublicAnonThrottle])
def public_view(request):
    return Response({"ok": True})


urlpatterns = [path("api/v1/test/public", public_view)]
handler404 = "platform_api.errors.handler404"


@pytest.mark.django_db
@pytest.mark.urls("tests.platform_api.test_throttling")
def test_public_endpoint_is_limited_per_ip_with_headers_and_envelope(client, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 3
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    responses = [client.get("/api/v1/test/public", REMOTE_ADDR=ip) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0]["RateLimit-Policy"].startswith('"minute";q=3;w=60')
    assert responses[2]["RateLimit"].startswith('"minute";r=0;')
    refused = responses[3]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert "RateLimit" in refused
    # Another address has its own allowance.
    assert client.get("/api/v1/test/public", REMOTE_ADDR="192.0.2.77").status_code == 200
