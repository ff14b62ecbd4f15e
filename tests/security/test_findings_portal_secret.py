"""Red-team finding (issue 15): a working client secret sat in plaintext in ``django_session`` until the
researcher reloaded the credentials page. Replayed: create and rotate credentials in the portal, then
look for any 16-character piece of either secret in the sessions, the messages, the cache."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import pytest
import redis
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client

from researchers import services
from tests.researchers.factories import StaffFactory, make_application

pytestmark = pytest.mark.django_db


def secret_in(page) -> str:
    return html.unescape(re.search(r'id="client-secret"[^>]*>([^<]+)</textarea>', page.text).group(1))


def pieces(secret: str, size: int = 16) -> list[str]:
    return [secret[i : i + size] for i in range(0, len(secret) - size + 1, 4)]


def test_no_piece_of_a_revealed_or_rotated_secret_is_kept_in_sessions_messages_or_cache():
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory())
    http = Client()
    http.force_login(application.principal_researcher.user)
    first = secret_in(http.post(f"/portal/grants/{grant.pk}/credentials/"))
    second = secret_in(http.post(f"/portal/grants/{grant.pk}/rotate/"))
    needles = pieces(first) + pieces(second)
    assert len(needles) > 10
    sessions = [str(SessionStore().decode(s.session_data)) for s in Session.objects.all()]
    assert sessions, "the researcher's session exists"
    assert not any(n in s for s in sessions for n in needles)
    assert not any(n in unquote(m.value) for m in http.cookies.values() for n in needles)
    cache = redis.Redis.from_url(settings.REDIS_URL)
    try:
        values = [cache.dump(key) or b"" for key in cache.scan_iter(count=1000)]
    finally:
        cache.close()
    assert not any(n.encode() in v for v in values for n in needles)
