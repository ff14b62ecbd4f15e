"""The DSC route end to end: staff record a reasoned request in the admin, the named researcher creates
their account through the invitation link, staff approve, the researcher collects the secret (all in a
real Chromium), then reads records and exports a file (a real worker), with the request's reference in
/me, in the export manifest and in every access event."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from platform_api.audit import verify_chain
from platform_api.models import AccessEvent
from researchers.models import AccessGrant
from researchers.reasoned_requests.models import ReasonedRequest
from tests.api_fixtures import ResearchClient
from tests.browser import CHROMIUM, LAUNCH_ARGS, requires_chromium
from tests.moderation_data.exports_support import (
    download,
    request_export,
    use_private_export_dir,
    wait_for_export,
)
from tests.researchers.conftest import basic
from tests.researchers.dsc_support import invitation_links
from tests.researchers.factories import StaffFactory

PASSWORD = "correct horse battery staple"
REFERENCE = "IE-CNAM-2026-0042"

pytestmark = [
    pytest.mark.browser,
    requires_chromium,
]


@pytest.fixture
def browser(monkeypatch, settings):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            from django.db import connections

            connections.close_all()


@pytest.fixture(scope="module")
def export_worker(celery_worker_process):
    """The test process's shared worker (tests.conftest.SharedWorker): these tests only need a running one."""
    return celery_worker_process


def test_a_reasoned_request_goes_from_the_admin_through_an_invitation_to_records_and_exports(
    browser, live_server, release, export_worker, settings, tmp_path
):
    settings.DSC_DOCUMENT_DIR = tmp_path
    use_private_export_dir(settings)
    staff = StaffFactory()
    base = live_server.url
    today = timezone.localdate()
    received = timezone.now().astimezone(dt.timezone(dt.timedelta(hours=1))) - dt.timedelta(hours=2)

    # --- Staff record the request in the admin.
    admin = browser.new_context().new_page()
    admin.goto(f"{base}/admin/login/?next=/admin/researchers/reasonedrequest/add/")
    admin.get_by_label("Username").fill(staff.username)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.get_by_label("Reference").fill(REFERENCE)
    admin.get_by_label("DSC member state").select_option("IE")
    admin.get_by_label("DSC authority").fill("Coimisiún na Meán")
    admin.get_by_label("Received at").fill(received.strftime("%Y-%m-%dT%H:%M"))
    admin.get_by_label("Project title").fill("Appeals and reinstatements of terrorist content removals")
    admin.get_by_label("Research purpose").fill("How often are removals of terrorist content reversed on appeal?")
    admin.get_by_label("Public security").check()
    admin.get_by_label("Research organisation").fill("Trinity College Dublin")
    admin.get_by_label("Organisation's country").select_option("IE")
    admin.get_by_label("Vetted researchers").fill(
        "Aoife Byrne; aoife@tcd.example; School of Computer Science\nCiarán Walsh; ciaran@tcd.example"
    )
    admin.get_by_label("Moderation decisions").check()
    admin.get_by_label("Decisions from").fill(str(release.period_start))
    admin.get_by_label("Decisions until").fill(str(release.period_end))
    admin.get_by_label("Row-level records and bulk exports").check()
    admin.get_by_label("Access from").fill(today.isoformat())
    admin.get_by_label("Access until").fill((today + dt.timedelta(days=180)).isoformat())
    admin.get_by_label("Request document").set_input_files(
        files=[{"name": "request.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 reasoned request"}]
    )
    admin.locator("#confirm-action").click()
    admin.wait_for_url("**/admin/researchers/reasonedrequest/*/change/")
    assert "The amendment window closes at" in admin.locator(".messagelist").inner_text()
    request = ReasonedRequest.objects.get(reference=REFERENCE)
    assert request.time_zone == "Europe/Dublin" and request.request_document_sha256
    assert admin.locator("#dsc-request-amendment").is_visible()

    # --- The principal researcher follows the invitation link and creates the account.
    (link,) = invitation_links("aoife@tcd.example")
    assert [m.to for m in mail.outbox if "Invitation" in m.subject] == [["aoife@tcd.example"], ["ciaran@tcd.example"]]
    researcher = browser.new_context().new_page()
    researcher.goto(f"{base}{link}")
    assert researcher.locator("#request-reference").inner_text() == REFERENCE
    assert researcher.locator("#id_first_name").input_value() == "Aoife"
    researcher.locator("#id_password1").fill(PASSWORD)
    researcher.locator("#id_password2").fill(PASSWORD)
    researcher.locator("#id_country").select_option("IE")
    researcher.get_by_role("button", name="Create account").click()
    researcher.wait_for_url(f"{base}/portal/")
    assert "Welcome" in researcher.locator(".messages").inner_text()
    # The link worked once.
    again = browser.new_context().new_page()
    again.goto(f"{base}{link}")
    assert "does not work" in again.locator("h1").inner_text()

    # --- Staff approve with the request's terms.
    admin.goto(f"{base}/admin/researchers/reasonedrequest/{request.pk}/change/")
    admin.locator("#dsc-approve").click()
    assert admin.get_by_label("Moderation decisions").is_checked()
    admin.get_by_label("Reason").fill("Accepted as requested.")
    admin.locator("#confirm-action").click()
    admin.wait_for_url("**/admin/researchers/accessgrant/*/change/")
    grant = AccessGrant.objects.get(dsc_reference=REFERENCE)
    assert REFERENCE in admin.content()

    # --- The researcher collects the secret, exactly as on the platform-vetted route.
    researcher.goto(f"{base}/portal/grants/{grant.pk}/credentials/")
    researcher.get_by_role("button", name="Show my client secret").click()
    secret = researcher.get_by_role("textbox", name="Client secret").input_value()
    assert len(secret) > 30

    # --- Records and an export through the API, with the reference everywhere.
    http = Client()
    token = http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic(grant.oauth_client.client_id, secret),
    ).json()["access_token"]
    api = ResearchClient(grant=grant, client_id=grant.oauth_client.client_id, secret=secret, token=token, http=http)
    me = api.get("/api/v1/me").json()
    assert me["dsc_reference"] == REFERENCE and me["modality"] == "records_and_exports"
    assert me["researchers"][0]["name"] == "Aoife Byrne"
    page = api.post(
        "/api/v1/datasets/moderation-decisions/releases/latest/records",
        {"page_size": 20, "fields": ["decided_on", "policy"]},
    ).json()
    assert len(page["data"]) == 20
    created = request_export(api, format="jsonl", fields=["decision_id", "decided_on", "policy"])
    assert created.status_code == 202, created.content
    assert created.json()["manifest"]["dsc_reference"] == REFERENCE
    export = wait_for_export(api, created.json()["id"])
    status, content, _ = download(api, export["id"])
    assert status == 200 and hashlib.sha256(content).hexdigest() == export["sha256"]
    events = AccessEvent.objects.of_grant(grant)
    assert events.count() >= 5
    assert set(events.values_list("reference", flat=True)) == {REFERENCE}
    assert verify_chain().ok
