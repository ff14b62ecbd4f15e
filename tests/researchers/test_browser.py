"""A real browser (Debian's Chromium driven by Playwright) through the portal's form and the admin's Approve button."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from researchers.models import AccessGrant, ResearchApplication
from tests.researchers.factories import ResearcherFactory, StaffFactory, ensure_datasets

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=(
            "Chromium is not installed at /usr/bin/chromium: `make test` installs Debian's chromium package "
            "when it runs as root with apt-get available; install it with `apt-get install chromium`."
        ),
    ),
]


@pytest.fixture
def browser(monkeypatch, settings):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    # Playwright's sync API runs an event loop in this thread; our ORM calls here are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()
            # The sync API runs the test in a greenlet with its own context, hence its own database
            # connection: close it here, or the test database could not be dropped at the end.
            from django.db import connections

            connections.close_all()


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
