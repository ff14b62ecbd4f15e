"""Admin: import uploads run by a real Celery worker; release build, publish and withdraw buttons."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from moderation_data.ingest.demo import generate_demo_data
from moderation_data.ingest.models import Decision, ImportRun
from moderation_data.releases.models import Release
from moderation_data.releases.services import build_release, start_release

from .conftest import DSA_V2, ensure_datasets


def _wait_for(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_admin_upload_is_imported_by_a_worker_with_its_report(admin_client, celery_worker_process):
    lines = DSA_V2.read_bytes().splitlines(keepends=True)
    content = b"".join(lines[:3]) + lines[3].replace(b"DECISION_GROUND_INCOMPATIBLE_CONTENT", b"NOPE")
    upload = SimpleUploadedFile("dump.csv", content, content_type="text/csv")
    response = admin_client.post(
        reverse("admin:moderation_data_importrun_add"), {"file": upload, "format": "dsa-csv", "strict": ""}
    )
    assert response.status_code == 302, response.content[:2000]
    run = ImportRun.objects.get()
    run = _wait_for(lambda: ImportRun.objects.filter(pk=run.pk, finished_at__isnull=False).first())
    assert (run.status, run.rows_read, run.rows_imported, run.rows_rejected) == ("partial", 3, 2, 1)
    assert [(p.line, p.field) for p in run.problems.all()] == [(4, "decision_ground")]
    assert Decision.objects.count() == 2
    page = admin_client.get(reverse("admin:moderation_data_importrun_change", args=[run.pk]))
    assert b"decision_ground" in page.content and b"is not a valid DecisionGround value" in page.content


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_admin_build_button_builds_a_release_on_a_worker(admin_client, celery_worker_process):
    decisions, _ = ensure_datasets()
    generate_demo_data(rows=800, seed=9, days=10)
    response = admin_client.post(reverse("admin:moderation_data_dataset_build", args=[decisions.pk]))
    assert response.status_code == 302
    release = Release.objects.get(dataset=decisions)
    release = _wait_for(lambda: Release.objects.filter(pk=release.pk, status="built").first())
    assert release.row_count > 0 and release.companion.status == "built"


@pytest.mark.django_db
def test_the_admin_publish_and_withdraw_buttons_call_the_services(admin_client):
    decisions, _ = ensure_datasets()
    generate_demo_data(rows=400, seed=10, days=7)
    release = build_release(start_release(decisions).pk, publish=False)
    change = reverse("admin:moderation_data_release_change", args=[release.pk])
    page = admin_client.get(change)
    assert b"Publish" in page.content and b"Anonymization statistics" in page.content
    assert b"suppressed_rows" in page.content
    admin_client.post(reverse("admin:moderation_data_release_publish", args=[release.pk]))
    release.refresh_from_db()
    assert release.status == "published"
    assert b"Withdraw" in admin_client.get(change).content
    admin_client.post(reverse("admin:moderation_data_release_withdraw", args=[release.pk]), {"reason": "typo"})
    release.refresh_from_db()
    assert (release.status, release.withdrawn_reason) == ("withdrawn", "typo")
    assert admin_client.get(reverse("admin:moderation_data_release_publish", args=[release.pk])).status_code == 405


@pytest.mark.django_db
def test_admin_lists_datasets_releases_and_imports(admin_client, django_capture_on_commit_callbacks):
    decisions, _ = ensure_datasets()
    for name in ("dataset", "release", "importrun"):
        assert admin_client.get(reverse(f"admin:moderation_data_{name}_changelist")).status_code == 200
    assert (
        b"Build a new release"
        in admin_client.get(reverse("admin:moderation_data_dataset_change", args=[decisions.pk])).content
    )
    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(reverse("admin:moderation_data_dataset_build", args=[decisions.pk]))
    assert len(callbacks) == 1 and Release.objects.get(dataset=decisions).status == "building"


@pytest.mark.django_db
def test_a_non_staff_user_cannot_use_the_buttons(client, django_user_model):
    decisions, _ = ensure_datasets()
    user = django_user_model.objects.create_user("someone", password="pw-123456789")
    client.force_login(user)
    response = client.post(reverse("admin:moderation_data_dataset_build", args=[decisions.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Release.objects.exists()


def staff_who_may_only_view(*codenames: str):
    from django.contrib.auth.models import Permission

    from tests.researchers.factories import StaffFactory

    user = StaffFactory(is_superuser=False)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="moderation_data", codename__in=codenames)
    )
    return user


@pytest.mark.django_db
def test_bulk_release_actions_need_the_change_permission_and_say_what_they_did(client, admin_client):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    decisions, _ = ensure_datasets()
    generate_demo_data(rows=400, seed=12, days=7)
    release = build_release(start_release(decisions).pk, publish=False)
    releases = reverse("admin:moderation_data_release_changelist")
    datasets = reverse("admin:moderation_data_dataset_changelist")

    def act(http, name, target=release, url=releases):
        response = http.post(url, {"action": name, ACTION_CHECKBOX_NAME: [target.pk]}, follow=True)
        assert response.status_code == 200
        return [str(m) for m in response.context["messages"]]

    # Staff who may only view: the actions are not offered, and posting them changes nothing.
    client.force_login(staff_who_may_only_view("view_release", "view_dataset"))
    assert b"publish_action" not in client.get(releases).content
    assert b"build_release_action" not in client.get(datasets).content
    act(client, "publish_action")
    release.refresh_from_db()
    assert release.status == "built"
    act(client, "build_release_action", decisions, datasets)
    assert Release.objects.filter(dataset=decisions).count() == 1

    assert act(admin_client, "publish_action") == [f"Published 1 release(s): {release}."]
    release.refresh_from_db()
    assert release.status == "published"
    act(client, "withdraw_action")
    release.refresh_from_db()
    assert release.status == "published"
    assert act(admin_client, "withdraw_action") == [f"Withdrew 1 release(s): {release}."]
    release.refresh_from_db()
    assert (release.status, release.withdrawn_reason) == ("withdrawn", "withdrawn by admin")
    refused = act(admin_client, "publish_action")
    assert len(refused) == 1 and refused[0].startswith(f"{release}: ")
    release.refresh_from_db()
    assert release.status == "withdrawn"


@pytest.mark.django_db
def test_only_staff_who_may_delete_releases_can_delete_a_failed_build(client, admin_client):
    decisions, _ = ensure_datasets()
    release = start_release(decisions)
    Release.objects.filter(pk=release.pk).update(status="failed", error="the build stopped")
    delete = reverse("admin:moderation_data_release_delete", args=[release.pk])
    client.force_login(staff_who_may_only_view("view_release"))
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Release.objects.filter(pk=release.pk, status="failed").exists()
    assert admin_client.get(delete).status_code == 200  # staff who may delete releases are asked to confirm
