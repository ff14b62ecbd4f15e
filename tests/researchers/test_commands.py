from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from researchers.models import AccessGrant, ResearchApplication
from tests.researchers.conftest import obtain_token
from tests.researchers.factories import ensure_datasets

pytestmark = pytest.mark.django_db


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def test_grant_access_onboards_a_researcher_with_working_credentials(client):
    ensure_datasets()
    result = run(
        "grant_access",
        "--email",
        "Jane.Doe@Uni.example",
        "--project",
        "Election integrity 2025",
        "--datasets",
        "moderation-decisions",
        "--modality",
        "records_and_exports",
        "--valid-until",
        "2099-12-31",
        "--requests-per-day",
        "500",
        "--records-per-day",
        "20000",
    )
    grant = AccessGrant.objects.get(oauth_client__client_id=result["client_id"])
    assert grant.status == "active"
    assert grant.application.status == ResearchApplication.Status.APPROVED
    assert grant.application.principal_researcher.user.email == "jane.doe@uni.example"
    assert [(t.from_status, t.to_status) for t in grant.application.history.all()] == [("", "approved")]
    assert grant.requests_per_day == 500 and grant.records_per_day == 20000 and grant.requests_per_minute == 60
    assert str(grant.valid_until) == "2099-12-31"
    assert result["scopes"] == ["dataset:moderation-decisions", "exports"]
    token = obtain_token(client, result["client_id"], result["client_secret"])
    assert token.status_code == 200
    assert set(token.json()["scope"].split()) == {"dataset:moderation-decisions", "exports"}


def test_grant_access_twice_reuses_the_grant_and_replaces_the_secret(client):
    ensure_datasets()
    args = ["grant_access", "--email", "a@b.example", "--project", "P", "--datasets", "moderation-decisions"]
    first = run(*args)
    second = run(*args[:-1], "moderation-decisions,enforcement-summary", "--modality", "aggregate")
    assert first["client_id"] == second["client_id"]
    assert first["client_secret"] != second["client_secret"]
    assert AccessGrant.objects.count() == 1
    grant = AccessGrant.objects.get()
    assert grant.modality == "aggregate"
    assert obtain_token(client, first["client_id"], first["client_secret"]).status_code == 401
    assert obtain_token(client, second["client_id"], second["client_secret"]).status_code == 200


def test_grant_access_refuses_unknown_datasets():
    ensure_datasets()
    with pytest.raises(CommandError, match="Unknown dataset"):
        call_command("grant_access", "--email", "a@b.example", "--project", "P", "--datasets", "nope")


def test_grant_access_prints_plain_text_without_json():
    ensure_datasets()
    out = io.StringIO()
    call_command(
        "grant_access", "--email", "a@b.example", "--project", "P", "--datasets", "moderation-decisions", stdout=out
    )
    assert "client_id: " in out.getvalue() and "client_secret: " in out.getvalue()


def test_seed_demo_is_idempotent_and_keeps_the_demo_clients_secret(client, tmp_path, monkeypatch):
    from platform_api.management.commands import seed_demo

    saved = tmp_path / "demo-client.json"
    monkeypatch.setattr(seed_demo, "demo_client_file", lambda: saved)
    ensure_datasets()
    first = run("seed_demo", "--rows", "0")
    token = obtain_token(client, first["client_id"], first["client_secret"])
    assert token.status_code == 200
    second = run("seed_demo", "--rows", "0")
    # The same credentials, so a saved notebook keeps working; its token too (nothing was rotated).
    assert (second["client_id"], second["client_secret"]) == (first["client_id"], first["client_secret"])
    assert json.loads(saved.read_text()) == {"client_id": first["client_id"], "client_secret": first["client_secret"]}
    assert saved.stat().st_mode & 0o777 == 0o600
    assert {"admin_username", "admin_password", "client_id", "client_secret"} <= set(second)
    assert AccessGrant.objects.count() == 1
    grant = AccessGrant.objects.get()
    assert grant.modality == "records_and_exports"
    assert grant.datasets.count() == len(ensure_datasets())
    assert "exports" in token.json()["scope"].split()
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    assert me.status_code == 200
    # Without the saved file (e.g. `make wipe`), a fresh secret is issued and the old one stops working.
    saved.unlink()
    third = run("seed_demo", "--rows", "0")
    assert third["client_secret"] != first["client_secret"]
    assert obtain_token(client, third["client_id"], third["client_secret"]).status_code == 200
    assert obtain_token(client, first["client_id"], first["client_secret"]).status_code == 401
