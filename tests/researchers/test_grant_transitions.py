from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from oauth2_provider.models import AccessToken

from platform_api.errors import InvalidRequest
from researchers import services
from researchers.errors import InvalidTransition
from researchers.models import AccessGrant, GrantEvent
from tests.researchers.conftest import backdate, obtain_token
from tests.researchers.factories import StaffFactory

pytestmark = pytest.mark.django_db
G = AccessGrant.Status


def test_suspending_records_who_and_why_revokes_tokens_and_emails(issued, client, django_capture_on_commit_callbacks):
    grant, client_id, secret = issued
    assert obtain_token(client, client_id, secret).status_code == 200
    admin = StaffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend_grant(grant, actor=admin, reason="Data leak under investigation")
    grant.refresh_from_db()
    assert grant.status == G.SUSPENDED
    event = grant.history.last()
    assert (event.kind, event.actor, event.from_status, event.to_status) == ("suspended", admin, "active", "suspended")
    assert event.reason == "Data leak under investigation"
    assert not AccessToken.objects.filter(application=grant.oauth_client).exists()
    assert "Data leak under investigation" in mail.outbox[-1].body


def test_a_suspended_grant_can_be_reinstated_and_then_suspended_again(issued):
    grant, *_ = issued
    admin = StaffFactory()
    services.suspend_grant(grant, actor=admin, reason="check")
    services.reinstate_grant(grant, actor=admin, reason="cleared")
    grant.refresh_from_db()
    assert grant.status == G.ACTIVE
    services.suspend_grant(grant, actor=admin, reason="again")
    assert [e.kind for e in grant.history.all()] == [
        "created",
        "secret_rotated",
        "suspended",
        "reinstated",
        "suspended",
    ]


def test_a_revoked_grant_stays_revoked(issued):
    grant, *_ = issued
    admin = StaffFactory()
    services.revoke_grant(grant, actor=admin, reason="Breach of terms")
    for action in (
        lambda: services.reinstate_grant(grant, actor=admin),
        lambda: services.suspend_grant(grant, actor=admin, reason="x"),
        lambda: services.revoke_grant(grant, actor=admin, reason="x"),
        lambda: services.rotate_client_secret(grant, actor=admin),
        lambda: services.update_grant(grant, actor=admin, modality="aggregate"),
    ):
        with pytest.raises(InvalidTransition):
            action()
    grant.refresh_from_db()
    assert grant.status == G.REVOKED


def test_an_active_grant_cannot_be_reinstated_and_suspension_needs_a_reason(issued):
    grant, *_ = issued
    with pytest.raises(InvalidTransition):
        services.reinstate_grant(grant, actor=None)
    with pytest.raises(InvalidRequest):
        services.suspend_grant(grant, actor=None, reason="")


def test_expire_grants_expires_only_grants_past_their_end_date_and_is_idempotent(
    issued, django_capture_on_commit_callbacks
):
    grant, *_ = issued
    backdate(grant)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.expire_grants() == 1
    assert services.expire_grants() == 0
    grant.refresh_from_db()
    assert grant.status == G.EXPIRED
    event = grant.history.last()
    assert (event.kind, event.actor, event.to_status) == (GrantEvent.Kind.EXPIRED, None, "expired")
    assert "expired" in mail.outbox[-1].body


def test_an_expired_grant_is_reinstated_only_after_its_end_date_is_extended(issued):
    grant, *_ = issued
    backdate(grant)
    services.expire_grants()
    admin = StaffFactory()
    with pytest.raises(InvalidRequest):
        services.reinstate_grant(grant, actor=admin)
    services.update_grant(grant, actor=admin, valid_until=dt.date.today() + dt.timedelta(days=10))
    services.reinstate_grant(grant, actor=admin, reason="extended")
    grant.refresh_from_db()
    assert grant.status == G.ACTIVE


def test_updating_a_grant_records_what_changed(issued):
    grant, *_ = issued
    services.update_grant(grant, actor=StaffFactory(), modality="records", quotas={"records_per_day": 10})
    grant.refresh_from_db()
    assert grant.modality == "records"
    assert grant.records_per_day == 10
    event = grant.history.last()
    assert event.kind == "updated"
    assert "modality: records_and_exports → records" in event.reason
    assert "records_per_day: 100000 → 10" in event.reason
    assert "exports" not in grant.scope_names()


def test_rotating_the_secret_returns_a_new_one_and_revokes_tokens(issued, client):
    grant, client_id, secret = issued
    assert obtain_token(client, client_id, secret).status_code == 200
    new_secret = services.rotate_client_secret(grant, actor=None)
    assert new_secret != secret
    assert not AccessToken.objects.filter(application=grant.oauth_client).exists()
    assert obtain_token(client, client_id, secret).status_code == 401
    assert obtain_token(client, client_id, new_secret).status_code == 200


def test_the_expire_grants_task_is_scheduled_daily():
    from platform_api.celery import app

    entry = app.conf.beat_schedule["expire-grants-daily"]
    assert entry["task"] == "researchers.expire_grants"
    assert entry["schedule"].hour == {0}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_expire_grants_task_runs_on_a_real_worker(celery_worker_process):
    from researchers.tasks import expire_grants_task
    from tests.researchers.factories import make_application

    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory())
    backdate(grant)
    assert expire_grants_task.delay().get(timeout=60) == 1
    grant.refresh_from_db()
    assert grant.status == G.EXPIRED
