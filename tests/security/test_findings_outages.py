"""Red-team finding (issue 15): outages answered 500. While Redis was down every API route answered 500;
while PostgreSQL was down data endpoints did too. Both are now 503 ``unavailable`` with ``Retry-After``,
logged once without a traceback, and rate limiting fails closed (no request is served unlimited)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api_fixtures import http_client, make_research_client
from tests.conftest import BASE_DIR, subprocess_env

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response["Retry-After"]) > 0


def test_while_redis_is_down_every_api_route_answers_503_logged_once(release, settings, caplog):
    client = make_research_client()  # its token, obtained while Redis was up
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 1000
    url = f"redis://127.0.0.1:{closed_port()}/0"
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    caplog.set_level(logging.INFO)
    routes = [
        client.get("/api/v1/me"),
        client.post("/api/v1/datasets/moderation-decisions/releases/latest/records", {"page_size": 1}),
        client.get("/api/v1/public/enforcement-summary"),
        client.http.post("/oauth/token/", {"grant_type": "client_credentials"}),
    ]
    for response in routes:
        assert_unavailable(response)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == len(routes)  # one line per refused request
    assert all(r.exc_info is None and "redis unavailable" in r.getMessage() for r in problems)


def test_while_postgresql_is_down_data_endpoints_answer_503():
    """A real gunicorn whose database does not answer (its port refuses connections)."""
    port = closed_port()
    env = subprocess_env(LOG_LEVEL="WARNING", DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port()}/gone")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "platform_api.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        cwd=BASE_DIR,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with http_client(timeout=30) as http:
            while True:
                try:
                    http.get(f"{base}/healthz", timeout=5)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
            bearer = {"Authorization": "Bearer some-token-of-a-client"}
            responses = [
                http.get(f"{base}/api/v1/me", headers=bearer),
                http.post(
                    f"{base}/api/v1/datasets/moderation-decisions/releases/latest/records",
                    json={"page_size": 1},
                    headers=bearer,
                ),
                http.get(f"{base}/api/v1/exports", headers=bearer),
            ]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in stderr
    assert stderr.count("database unavailable; answered 503") == len(responses)
