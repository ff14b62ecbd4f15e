"""Red-team finding (issue 15): the token endpoint's lockout was a denial of service. 10 wrong secrets
for a client id locked its owner's correct secret out for 300 s from anywhere; 50 made-up ids blocked
every client from that IP; and unknown ids were refused faster than known ones (no PBKDF2)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from platform_api import ratelimit
from researchers import services
from tests.researchers.conftest import obtain_token
from tests.researchers.factories import StaffFactory, make_application

pytestmark = pytest.mark.django_db
OWNER_IP, STRANGER_IP = "10.20.0.1", "10.30.0.1"


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast) that counts verifications: the work a refusal costs, without timing anything."""

    verified = 0

    def verify(self, password, encoded):
        type(self).verified += 1
        return super().verify(password, encoded)


def new_client() -> tuple[str, str]:
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory(), reason="test")
    secret = services.rotate_client_secret(grant, actor=application.principal_researcher.user)
    return grant.oauth_client.client_id, secret


@pytest.fixture
def limits(settings):
    settings.OAUTH_TOKEN_BRUTE_FORCE = {"WINDOW_SECONDS": 300, "FAILURES_PER_CLIENT": 10, "FAILURES_PER_IP": 50}


def test_a_strangers_failures_never_lock_out_the_owner_from_another_ip(limits):
    client_id, secret = new_client()
    http = Client()
    statuses = [obtain_token(http, client_id, "wrong", remote_addr=STRANGER_IP).status_code for _ in range(15)]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert obtain_token(http, client_id, secret, remote_addr=STRANGER_IP).status_code == 429
    assert obtain_token(http, client_id, secret, remote_addr=OWNER_IP).status_code == 200


def test_made_up_ids_get_that_ip_throttled_not_every_client(limits):
    client_id, secret = new_client()
    http = Client()
    statuses = [obtain_token(http, f"made-up-{n}", "x", remote_addr=STRANGER_IP).status_code for n in range(55)]
    assert statuses[:50] == [401] * 50 and set(statuses[50:]) == {429}
    assert obtain_token(http, client_id, secret, remote_addr=STRANGER_IP).status_code == 429
    assert obtain_token(http, client_id, secret, remote_addr=OWNER_IP).status_code == 200


def test_the_wait_doubles_with_each_failure_after_the_allowance(limits, monkeypatch):
    client_id, _ = new_client()
    http = Client()
    now = [1_800_000_000.0]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    for _ in range(10):
        assert obtain_token(http, client_id, "wrong", remote_addr=STRANGER_IP).status_code == 401
    waits = []
    for _ in range(4):
        refused = obtain_token(http, client_id, "wrong", remote_addr=STRANGER_IP)
        assert refused.status_code == 429
        waits.append(int(refused["Retry-After"]))
        now[0] += waits[-1]  # wait exactly as told, then fail once more
        assert obtain_token(http, client_id, "wrong", remote_addr=STRANGER_IP).status_code == 401
    assert waits == [10, 20, 40, 80]


def test_unknown_and_known_client_ids_cost_the_same_verification(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    client_id, _ = new_client()
    http = Client()
    CountingHasher.verified = 0
    assert obtain_token(http, client_id, "wrong-secret", remote_addr=OWNER_IP).status_code == 401
    known = CountingHasher.verified
    CountingHasher.verified = 0
    assert obtain_token(http, "no-such-client-id-0123456789", "wrong-secret", remote_addr=OWNER_IP).status_code == 401
    unknown = CountingHasher.verified
    assert known == unknown >= 1  # the same PBKDF2 work either way
