"""A real browser (Debian's Chromium driven by Playwright) through the portal and the admin.

Each test saves a screenshot of every page it checks under ``.local/test-artifacts/browser/``
(CI keeps them as artifacts): registration, draft, credentials, dashboard, audit list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connections

from researchers import services
from researchers.models import AccessGrant, ResearchApplication, Researcher
from tests.browser import CHROMIUM, LAUNCH_ARGS, requires_chromium
from tests.researchers.conftest import assert_nowhere_in_the_database
from tests.researchers.factories import ResearcherFactory, StaffFactory, ensure_datasets, make_application

PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / ".local" / "test-artifacts" / "browser"

pytestmark = [
    pytest.mark.browser,
    requires_chromium,
]


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def _chromium() -> Iterator:
    """One Chromium for the module (launching it takes about 1 s of CPU); each test opens its own contexts."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    # Playwright's sync API runs an event loop in this thread; our ORM calls here are still synchronous.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        # Connections opened while Playwright runs (e.g. by module fixtures' teardown) belong to its
        # context: closed before it stops, or the test database could not be dropped at the end.
        connections.close_all()
        playwright.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before
        connections.close_all()


@pytest.fixture
def browser(_chromium, settings):
    """The module's Chromium; the contexts (cookies, storage) a test opens are closed after it."""
    # The live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    before = set(_chromium.contexts)
    try:
        yield _chromium
    finally:
        for context in _chromium.contexts:
            if context not in before:
                context.close()
        # The sync API runs the test in a greenlet with its own context, hence its own database
        # connection: close it here, or the test database could not be dropped at the end.
        connections.close_all()


def screenshot(page, name: str) -> Path:
    """Save the whole page as an artifact (``.local/test-artifacts/browser/NAME.png``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/portal/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/portal/")


def test_a_researcher_applies_in_the_browser_and_an_admin_approves_with_the_button(browser, live_server):
    ensure_datasets()
    researcher = ResearcherFactory()
    staff = StaffFactory()
    base = live_server.url

    # --- The researcher fills the application form.
    page = browser.new_page()
    page.goto(f"{base}/portal/login/")
    page.get_by_label("Email").fill(researcher.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Start a new application").click()

    # Submitting an empty form shows the errors next to the fields, tied to them for screen readers.
    page.get_by_role("button", name="Save and submit").click()
    title = page.get_by_label("Title")
    assert title.get_attribute("aria-invalid") == "true"
    assert "id_title_error" in title.get_attribute("aria-describedby")
    assert page.locator("#id_title_error").inner_text() == "This field is required."
    assert page.get_by_role("alert").is_visible()

    today = dt.date.today()
    title.fill("Reinstatements after appeal")
    page.get_by_label("Public summary").fill("How often are removals reversed on appeal, and how quickly?")
    page.get_by_label("Research questions").fill("What share of appealed removals is reinstated?")
    page.get_by_label("Methodology").fill("Descriptive statistics and survival analysis.")
    page.get_by_label("Public security").check()
    page.get_by_label("Start of the project").fill(today.isoformat())
    page.get_by_label("End of the project").fill((today + dt.timedelta(days=180)).isoformat())
    page.get_by_label("Ethics body").fill("University Ethics Board")
    page.get_by_label("I declare that this research is independent of commercial interests").check()
    page.get_by_label("Moderation decisions").check()
    page.get_by_label("Row-level records", exact=True).check()
    page.get_by_label("Data security measures").fill("Encrypted laptop; no copies.")
    page.get_by_role("button", name="Save and submit").click()
    assert page.locator("#application-status").inner_text() == "Submitted"
    application = ResearchApplication.objects.get(title="Reinstatements after appeal")
    assert application.status == "submitted"
    assert application.modality_requested == "records"

    # --- The admin approves it with the button, keeping the requested terms.
    admin = browser.new_page()
    admin.goto(f"{base}/admin/login/?next=/admin/researchers/researchapplication/{application.pk}/change/")
    admin.get_by_label("Username").fill(staff.username)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.locator("#review-approve").click()
    assert admin.get_by_label("Moderation decisions").is_checked()
    admin.get_by_label("Reason").fill("Sound methodology.")
    admin.locator("#confirm-action").click()
    admin.wait_for_url("**/admin/researchers/accessgrant/*/change/")
    grant = AccessGrant.objects.get(application=application)
    assert grant.modality == "records"
    assert [d.slug for d in grant.datasets.all()] == ["moderation-decisions"]

    # --- The researcher sees the approval and collects the secret once.
    page.goto(f"{base}/portal/grants/{grant.pk}/credentials/")
    page.get_by_role("button", name="Show my client secret").click()
    secret = page.get_by_role("textbox", name="Client secret").input_value()
    assert len(secret) > 30
    page.reload()
    assert page.get_by_role("textbox", name="Client secret").count() == 0


def test_a_new_researcher_registers_with_country_names_confirms_the_address_and_saves_a_draft_with_only_a_title(
    browser, live_server, settings, mailoutbox
):
    ensure_datasets()
    base = live_server.url
    settings.PUBLIC_BASE_URL = base
    page = browser.new_page()
    page.goto(f"{base}/portal/register/")
    page.get_by_label("First name").fill("Rosalind")
    page.get_by_label("Last name").fill("Franklin")
    page.get_by_label("Email").fill("r.franklin@uni.example")
    page.get_by_label("Your country").select_option(label="Netherlands")
    page.get_by_label("Research organisation").fill("Universiteit van Amsterdam")
    page.get_by_label("Type of organisation").select_option(label="University")
    page.get_by_label("Organisation's country").select_option(label="Netherlands")
    page.locator("#id_password1").fill("a-long-Unusual-passphrase-42")
    page.get_by_label("Password again").fill("a-long-Unusual-passphrase-42")
    screenshot(page, "01-register")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/portal/")
    assert page.locator("#verify-notice").is_visible()
    screenshot(page, "02-home-verify-notice")
    researcher = Researcher.objects.get(user__email="r.franklin@uni.example")
    assert researcher.country == "NL" and researcher.organisation.country == "NL"  # not NE (Niger)

    # "Save draft" with nothing but a title.
    page.get_by_role("link", name="Start a new application").click()
    page.get_by_label("Title").fill("Reinstatements after appeal")
    page.get_by_role("button", name="Save draft").click()
    assert page.locator("#application-status").inner_text() == "Draft"
    assert "Draft saved" in page.locator(".messages").inner_text()
    screenshot(page, "03-draft-saved")
    application = ResearchApplication.objects.get(title="Reinstatements after appeal")
    assert application.status == "draft" and application.start_date is None

    # The link from the e-mail confirms the address.
    link = re.search(r"(http://\S+/portal/verify-email/\S+/)", mailoutbox[-1].body).group(1)
    assert link.startswith(base)
    page.goto(link)
    page.click("#confirm-address")
    assert page.locator("#verified-message").is_visible()
    screenshot(page, "04-address-confirmed")
    researcher.refresh_from_db()
    assert researcher.email_verified_at is not None


def test_the_researcher_reveals_copies_and_downloads_credentials_that_work(browser, live_server, settings):
    base = live_server.url
    settings.PUBLIC_BASE_URL = base
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory())
    context = browser.new_context(accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    log_in(page, base, application.principal_researcher.user.email)
    page.goto(f"{base}/portal/grants/{grant.pk}/credentials/")
    page.get_by_role("button", name="Show my client secret").click()
    secret = page.get_by_role("textbox", name="Client secret").input_value()
    assert len(secret) > 30
    assert "shown only this once" in page.locator("#secret-box").inner_text()
    screenshot(page, "05-credentials-revealed")

    page.get_by_role("button", name="Copy the secret").click()
    page.locator('[data-copy-status="client-secret"]').filter(has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    with page.expect_download() as env_download:
        page.get_by_role("link", name="Download as .env").click()
    assert env_download.value.suggested_filename == "modresearch.env"
    env_text = Path(env_download.value.path()).read_text()
    env = dict(line.split("=", 1) for line in env_text.splitlines() if line and not line.startswith("#"))
    assert env == {
        "MODRESEARCH_URL": base,
        "MODRESEARCH_CLIENT_ID": grant.oauth_client.client_id,
        "MODRESEARCH_CLIENT_SECRET": secret,
    }
    with page.expect_download() as json_download:
        page.get_by_role("link", name="Download as JSON").click()
    assert json_download.value.suggested_filename == "modresearch.json"  # the name the Python client looks for
    credentials = json.loads(Path(json_download.value.path()).read_text())
    assert credentials == {"url": base, "client_id": grant.oauth_client.client_id, "client_secret": secret}
    assert "Client.from_env()" in page.locator("#python-example").inner_text()

    # The downloaded file is all a script needs.
    token = httpx.post(
        f"{env['MODRESEARCH_URL']}/oauth/token/",
        data={"grant_type": "client_credentials"},
        auth=(env["MODRESEARCH_CLIENT_ID"], env["MODRESEARCH_CLIENT_SECRET"]),
    )
    assert token.status_code == 200
    me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["project"]["title"] == application.title

    # Shown once: the page opened again has no secret, and no copy of it was kept anywhere.
    page.goto(f"{base}/portal/grants/{grant.pk}/credentials/")
    assert page.get_by_role("textbox", name="Client secret").count() == 0
    screenshot(page, "06-credentials-after")
    assert_nowhere_in_the_database([secret])
    context.close()


@pytest.fixture(scope="module")
def export_worker(celery_worker_process):
    """The test process's shared worker (tests.conftest.SharedWorker): these tests only need a running one."""
    return celery_worker_process


def test_the_dashboard_shows_usage_exports_and_releases_and_downloads_an_export(
    browser, live_server, settings, shared_release, export_worker
):
    from tests.api_fixtures import make_research_client
    from tests.moderation_data.exports_support import (
        GENEROUS,
        RECORDS,
        request_export,
        use_private_export_dir,
        wait_for_export,
    )

    use_private_export_dir(settings)
    base = live_server.url
    settings.PUBLIC_BASE_URL = base
    researcher = make_research_client(**GENEROUS)
    for _ in range(3):
        assert researcher.post(RECORDS, {"page_size": 100, "fields": ["decision_id", "policy"]}).status_code == 200
    export = request_export(researcher, format="csv", fields=["decision_id", "policy", "decided_on"]).json()
    export = wait_for_export(researcher, export["id"])

    page = browser.new_context(accept_downloads=True).new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, researcher.grant.application.principal_researcher.user.email)
    page.get_by_role("link", name="Dashboard", exact=True).click()
    page.wait_for_url(f"{base}/portal/dashboard/")
    card = page.locator(f"#grant-{researcher.grant.pk}")
    row = card.locator(f'tr[data-export="{export["id"]}"]')
    assert "ready" in row.inner_text() and export["sha256"] in row.inner_text()
    assert card.locator(f"#chart-{researcher.grant.pk}-records rect.bar").count() == 30
    from platform_api.models import AccessEvent

    counted = AccessEvent.objects.of_grant(researcher.grant).filter(status__lt=400).count()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert re.search(rf"{today}\s*{counted}\s*300\b", card.locator("table.usage-table").text_content())
    assert card.locator(f"#release-{shared_release.pk}").is_visible()
    assert shared_release.sha256 in card.locator(f"#release-{shared_release.pk}").inner_text()
    assert "last issued" in card.locator(f"#token-age-{researcher.grant.pk}").inner_text()
    screenshot(page, "07-dashboard")

    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    content = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(content).hexdigest() == export["sha256"] and len(content) == export["bytes"]
    assert content.startswith(b"decision_id,policy,decided_on")


def test_staff_read_the_audit_list_at_1280_pixels_filter_it_by_grant_and_verify_the_chain(browser, live_server):
    from tests.api_fixtures import make_research_client

    ensure_datasets()
    first = make_research_client()
    second = make_research_client()
    for client in (first, second, first):
        assert client.get("/api/v1/usage").status_code == 200
    staff = StaffFactory()
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{base}/admin/login/?next=/admin/platform_api/accessevent/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/platform_api/accessevent/")
    assert page.locator("#site-name").inner_text().endswith("· staff")
    # Readable at 1280 px: nothing sticks out sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator("#result_list tbody tr").count() == 3
    screenshot(page, "08-audit-list-1280")

    page.get_by_role("link", name=re.compile(rf"^Grant #{first.grant.pk}:")).click()
    page.wait_for_url(f"**/admin/platform_api/accessevent/?grant__id__exact={first.grant.pk}")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Verify the whole audit chain").click()
    expect(page.locator(".messagelist")).to_contain_text("The audit chain is intact: 3 events verified")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "09-audit-verified")


def test_publishing_a_release_in_the_admin_asks_for_confirmation_then_confirms_it(browser, live_server):
    from moderation_data.catalog.models import Dataset
    from moderation_data.ingest.demo import generate_demo_data
    from moderation_data.releases.models import Release
    from moderation_data.releases.services import build_release, start_release

    ensure_datasets()
    # Eight weeks: releases cover disjoint periods (docs/privacy.md), so with the module's published release
    # (the first four weeks) this one takes the next four.
    generate_demo_data(rows=1500, seed=5, days=56)
    release = build_release(start_release(Dataset.objects.get(slug="moderation-decisions")).pk, publish=False)
    assert release.status == "built"
    staff = StaffFactory()
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/admin/login/?next=/admin/moderation_data/release/{release.pk}/change/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/admin/moderation_data/release/{release.pk}/change/")
    assert page.locator('input[name="_save"]').count() == 0  # a read-only page: no Save button

    # Cancelling the question publishes nothing.
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Publish").click()
    assert questions and f"Publish release {release.version} of moderation-decisions" in questions[0]
    assert "never changes" in questions[0]
    release.refresh_from_db()
    assert release.status == "built"

    # Accepting it publishes, and the page confirms what happened.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".messagelist")).to_contain_text(f"{release.version} is published")
    screenshot(page, "10-release-published")
    assert Release.objects.get(pk=release.pk).status == "published"


def test_a_researcher_reads_the_documentation_and_a_codebook_from_the_portal(browser, live_server, shared_release):
    researcher = ResearcherFactory()
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, base, researcher.user.email)
    page.get_by_role("link", name="Documentation", exact=True).click()
    page.wait_for_url(f"{base}/portal/docs/")
    screenshot(page, "11-docs-index")
    page.locator('a[href="/portal/docs/query"]').first.click()
    page.wait_for_url(f"{base}/portal/docs/query")
    expect(page.locator("h1").first).to_be_visible()
    screenshot(page, "12-docs-query")

    # From the application form, a dataset's codebook is one click away.
    page.goto(f"{base}/portal/applications/new/")
    page.get_by_role("link", name="Codebook of Moderation decisions").click()
    page.wait_for_url(f"{base}/portal/docs/codebook/moderation-decisions")
    expect(page.locator("#field-decided_on")).to_be_visible()
    assert shared_release.version in page.content()
    screenshot(page, "13-docs-codebook")
