from __future__ import annotations

import base64

import pytest

from researchers import services
from tests.researchers.factories import StaffFactory, ensure_datasets, make_application


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 with a million rounds is right for production and needlessly slow for tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def datasets(db):
    return ensure_datasets()


@pytest.fixture
def issued(db, staff):
    """An approved application with an active records_and_exports grant and a collected secret."""
    application = make_application(status="submitted", datasets=ensure_datasets())
    grant = services.approve_application(application, reviewer=staff, reason="fine")
    secret = services.rotate_client_secret(grant, actor=application.principal_researcher.user)
    grant.refresh_from_db()
    return grant, grant.oauth_client.client_id, secret


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def obtain_token(client, client_id: str, secret: str, *, remote_addr: str = "127.0.0.1", **data):
    return client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", **data},
        HTTP_AUTHORIZATION=basic(client_id, secret),
        REMOTE_ADDR=remote_addr,
    )


def backdate(grant, *, days_past_end: int = 1) -> None:
    """Make a grant's validity end ``days_past_end`` days ago (as if time had passed)."""
    import datetime as dt

    from researchers.models import AccessGrant

    end = dt.date.today() - dt.timedelta(days=days_past_end)
    AccessGrant.objects.filter(pk=grant.pk).update(valid_from=end - dt.timedelta(days=30), valid_until=end)


def text_columns() -> list[tuple[str, str]]:
    """Every text-like column of every table in the database (from information_schema)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
            WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
            """
        )
        return cursor.fetchall()


def assert_nowhere_in_the_database(needles: list[str]) -> None:
    """No column of any table, and no decoded session, contains any of ``needles``."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import connection

    columns = text_columns()
    assert ("oauth2_provider_application", "client_secret") in columns
    assert ("oauth2_provider_accesstoken", "token") in columns
    with connection.cursor() as cursor:
        for table, column in columns:
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE %s',
                    ["%" + needle + "%"],
                )
                assert cursor.fetchone()[0] == 0, f"{table}.{column} holds a plaintext credential"
    # Session data is signed and encoded, not encrypted: look inside it too.
    for session in Session.objects.all():
        decoded = str(SessionStore().decode(session.session_data))
        assert not any(needle in decoded for needle in needles), "a session still holds a plaintext credential"
