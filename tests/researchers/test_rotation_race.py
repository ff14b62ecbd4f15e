"""A token request whose client was authenticated just before staff rotated its secret or suspended
its grant must not end with a working token: the request is paused between the secret check and the
token's save (events, no sleeps), the change commits in the gap, then the request goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from oauth2_provider.models import AccessToken

from researchers import services
from researchers.oauth import GrantOAuth2Validator
from tests.researchers.conftest import obtain_token

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30


def _request_token_across(monkeypatch, issued, change: Callable[[], None]):
    """POST /oauth/token; once the client is authenticated, run ``change`` (committed) before the save."""
    _, client_id, secret = issued
    authenticated, resume = threading.Event(), threading.Event()
    original = GrantOAuth2Validator.authenticate_client

    def paused(self, request, *args, **kwargs):
        result = original(self, request, *args, **kwargs)
        authenticated.set()
        assert resume.wait(TIMEOUT)
        return result

    monkeypatch.setattr(GrantOAuth2Validator, "authenticate_client", paused)
    outcome: dict[str, object] = {}

    def request_token() -> None:
        try:
            outcome["response"] = obtain_token(Client(), client_id, secret)
        except Exception as exc:  # asserted below
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=request_token)
    thread.start()
    try:
        assert authenticated.wait(TIMEOUT), "the token request never reached client authentication"
        change()  # services are atomic: committed when they return
    finally:
        resume.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    monkeypatch.setattr(GrantOAuth2Validator, "authenticate_client", original)
    return outcome["response"]


def _assert_no_working_token(response, client_id: str) -> None:
    if response.status_code == 200:
        token = response.json()["access_token"]
        me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert me.status_code == 401, f"a token minted across the change still works: {me.content!r}"
        return
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert error["code"] == "authentication_failed"
    assert error["detail"]["oauth_error"] == "invalid_client"
    assert not AccessToken.objects.filter(application__client_id=client_id).exists()


def test_a_token_request_racing_a_secret_rotation_gets_no_working_token(monkeypatch, issued):
    grant, client_id, old_secret = issued
    new_secret: list[str] = []

    response = _request_token_across(
        monkeypatch, issued, lambda: new_secret.append(services.rotate_client_secret(grant, actor=None))
    )

    _assert_no_working_token(response, client_id)
    # The old secret is refused from now on, and the new one works.
    assert obtain_token(Client(), client_id, old_secret).status_code == 401
    assert obtain_token(Client(), client_id, new_secret[0]).status_code == 200


def test_a_token_request_racing_a_suspension_gets_no_token_that_works_after_reinstatement(monkeypatch, issued):
    grant, client_id, secret = issued

    response = _request_token_across(
        monkeypatch, issued, lambda: services.suspend_grant(grant, actor=None, reason="incident")
    )
    services.reinstate_grant(grant, actor=None, reason="resolved")

    _assert_no_working_token(response, client_id)
    # After reinstatement the same secret gets a new, working token.
    fresh = obtain_token(Client(), client_id, secret)
    assert fresh.status_code == 200, fresh.content
    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {fresh.json()['access_token']}")
    assert me.status_code == 200, me.content
