"""The credentials hand-off: the secret once, in the answer to the POST that creates it, with downloads
built in that page; and nowhere else afterwards (not the session, messages, cache, database or logs)."""

from __future__ import annotations

import html
import json
import logging
import re
from urllib.parse import unquote

import pytest
import redis
from django.conf import settings
from django.test import Client

from researchers import services
from tests.researchers.conftest import assert_nowhere_in_the_database, obtain_token
from tests.researchers.factories import StaffFactory, make_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(db):
    """An approved grant whose secret has not been collected yet, and its researcher logged in."""
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory())
    http = Client()
    http.force_login(application.principal_researcher.user)
    return grant, http


def secret_in(page) -> str:
    return html.unescape(re.search(r'id="client-secret"[^>]*>([^<]+)</textarea>', page.text).group(1))


def data_url(page, element_id: str) -> tuple[str, str]:
    """The media type and decoded content of a download link's data: URL."""
    href = html.unescape(re.search(rf'id="{element_id}" href="([^"]+)"', page.text).group(1))
    header, _, payload = href.partition(",")
    assert header.startswith("data:")
    return header[len("data:") :], unquote(payload)


def parse_env(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def test_revealing_answers_the_post_with_the_secret_downloads_and_examples(approved, settings):
    settings.PUBLIC_BASE_URL = "https://research.example.org"
    grant, http = approved
    page = http.post(f"/portal/grants/{grant.pk}/credentials/")
    assert page.status_code == 200  # the page itself, not a redirect to a page that reads it back
    assert "no-store" in page["Cache-Control"]
    secret = secret_in(page)
    client_id = grant.oauth_client.client_id
    assert "it is shown only this once" in page.text
    assert 'data-copy="client-secret"' in page.text and "Copy the secret" in page.text

    media, env_text = data_url(page, "download-env")
    assert media.startswith("text/plain")
    assert parse_env(env_text) == {
        "MODRESEARCH_URL": "https://research.example.org",
        "MODRESEARCH_CLIENT_ID": client_id,
        "MODRESEARCH_CLIENT_SECRET": secret,
    }
    assert 'download="modresearch.env"' in page.text
    media, json_text = data_url(page, "download-json")
    assert media.startswith("application/json")
    assert json.loads(json_text) == {
        "url": "https://research.example.org",
        "client_id": client_id,
        "client_secret": secret,
    }

    assert "from modresearch import Client" in page.text and "Client.from_env()" in page.text
    assert "curl" in page.text


def test_the_downloaded_credentials_obtain_a_token(approved):
    grant, http = approved
    page = http.post(f"/portal/grants/{grant.pk}/credentials/")
    env = parse_env(data_url(page, "download-env")[1])
    response = obtain_token(Client(), env["MODRESEARCH_CLIENT_ID"], env["MODRESEARCH_CLIENT_SECRET"])
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


def test_the_secret_is_shown_once_a_reload_or_second_post_never_shows_one(approved):
    grant, http = approved
    secret = secret_in(http.post(f"/portal/grants/{grant.pk}/credentials/"))
    again = http.get(f"/portal/grants/{grant.pk}/credentials/")
    assert secret not in again.text and 'id="client-secret"' not in again.text
    assert 'id="reveal-secret"' not in again.text
    resubmitted = http.post(f"/portal/grants/{grant.pk}/credentials/", follow=True)
    assert 'id="client-secret"' not in resubmitted.text
    # The first secret still works: the second POST issued nothing.
    assert obtain_token(Client(), grant.oauth_client.client_id, secret).status_code == 200


def _redis_values(client: redis.Redis) -> list[bytes]:
    """Every value of every key in the cache's Redis database, whatever its type."""
    values: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key) or b"")
        elif kind == b"hash":
            values.extend(v for pair in client.hgetall(key).items() for v in pair)
        elif kind == b"list":
            values.extend(client.lrange(key, 0, -1))
        elif kind == b"set":
            values.extend(client.smembers(key))
        elif kind == b"zset":
            values.extend(client.zrange(key, 0, -1))
        values.append(key)
    return values


def test_after_reveal_and_rotation_no_secret_is_left_in_session_messages_cache_database_or_logs(approved, caplog):
    grant, http = approved
    caplog.set_level(logging.DEBUG)
    first = secret_in(http.post(f"/portal/grants/{grant.pk}/credentials/"))
    # Right after the answer, before any other request: nothing kept it for a later page to read.
    assert_nowhere_in_the_database([first])
    http.get(f"/portal/grants/{grant.pk}/rotate/")
    second = secret_in(http.post(f"/portal/grants/{grant.pk}/rotate/"))
    assert first != second
    for path in ("/portal/", "/portal/dashboard/", "/portal/grants/", f"/portal/grants/{grant.pk}/credentials/"):
        assert http.get(path).status_code == 200
    secrets = [first, second]

    # The session table (decoded: session data is signed, not encrypted) and every table.
    assert_nowhere_in_the_database(secrets)
    # Messages ride in a cookie (or the session, checked above): none holds a secret.
    for morsel in http.cookies.values():
        assert not any(s in unquote(morsel.value) for s in secrets), f"cookie {morsel.key} holds the secret"
    # The cache (Redis): every key and value, pickled or not.
    cache = redis.Redis.from_url(settings.REDIS_URL)
    try:
        values = _redis_values(cache)
    finally:
        cache.close()
    assert values, "the scan saw the cache's keys"
    assert not any(s.encode() in value for value in values for s in secrets)
    # The logs of the whole flow.
    assert not any(s in record.getMessage() or s in str(record.__dict__) for record in caplog.records for s in secrets)


def test_rotating_answers_with_the_new_secret_and_its_downloads(approved):
    grant, http = approved
    first = secret_in(http.post(f"/portal/grants/{grant.pk}/credentials/"))
    page = http.post(f"/portal/grants/{grant.pk}/rotate/")
    assert page.status_code == 200
    second = secret_in(page)
    assert parse_env(data_url(page, "download-env")[1])["MODRESEARCH_CLIENT_SECRET"] == second
    assert obtain_token(Client(), grant.oauth_client.client_id, first).status_code == 401
    assert obtain_token(Client(), grant.oauth_client.client_id, second).status_code == 200


def test_a_revoked_grant_cannot_rotate_and_shows_no_secret(approved):
    grant, http = approved
    services.revoke_grant(grant, actor=StaffFactory(), reason="ended")
    response = http.post(f"/portal/grants/{grant.pk}/rotate/", follow=True)
    assert 'id="client-secret"' not in response.text
    assert "This grant is revoked" in response.text
