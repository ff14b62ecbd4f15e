"""The admin finishes the job: branded, read-only pages without Save buttons, datasets safe from bulk delete."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from moderation_data.catalog.models import Dataset
from researchers import services
from tests.researchers.factories import StaffFactory, ensure_datasets, make_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_the_admin_header_and_titles_carry_the_site_name(staff_client, settings):
    settings.SITE_NAME = "Example Platform research access"
    page = staff_client.get("/admin/").text
    assert '<div id="site-name"><a href="/admin/">Example Platform research access · staff</a></div>' in page
    assert "| Example Platform research access staff</title>" in page
    assert "Django administration" not in page
    assert 'href="/portal/"' in page  # "View site" goes to the researcher portal
    assert "platform_api/admin.css" in page
    staff_client.logout()
    login = staff_client.get("/admin/login/")
    assert "Example Platform research access · staff" in login.text


def test_the_portal_carries_the_site_name_too(client, settings):
    settings.SITE_NAME = "Example Platform research access"
    page = client.get("/portal/login/").text
    assert "<title>Log in · Example Platform research access</title>" in page
    assert '<a class="brand" href="/portal/">Example Platform research access</a>' in page


def test_a_read_only_application_page_has_no_save_buttons(staff_client):
    application = make_application(status="submitted")
    page = staff_client.get(f"/admin/researchers/researchapplication/{application.pk}/change/").text
    assert 'name="_save"' not in page and 'name="_continue"' not in page and 'name="_addanother"' not in page
    assert 'class="closelink"' in page
    assert 'id="review-approve"' in page  # what staff can do here are the buttons


def test_an_editable_grant_page_keeps_its_save_button(staff_client):
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory())
    page = staff_client.get(f"/admin/researchers/accessgrant/{grant.pk}/change/").text
    assert 'name="_save"' in page


def test_a_read_only_release_page_has_no_save_buttons(staff_client, release):
    page = staff_client.get(f"/admin/moderation_data/release/{release.pk}/change/").text
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert 'class="closelink"' in page


def test_datasets_cannot_be_deleted_in_bulk(staff_client):
    datasets = ensure_datasets()
    listing = staff_client.get("/admin/moderation_data/dataset/")
    assert "delete_selected" not in listing.text
    response = staff_client.post(
        "/admin/moderation_data/dataset/",
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [d.pk for d in datasets], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert Dataset.objects.count() == len(datasets)


def test_a_dataset_that_grants_use_cannot_be_deleted_from_its_page_either(staff_client):
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=StaffFactory())
    dataset = grant.datasets.get()
    assert staff_client.get(f"/admin/moderation_data/dataset/{dataset.pk}/delete/").status_code == 403
    page = staff_client.get(f"/admin/moderation_data/dataset/{dataset.pk}/change/").text
    assert 'class="deletelink"' not in page
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_an_unused_dataset_can_still_be_deleted_from_its_page(staff_client):
    dataset = Dataset.objects.create(slug="mistake", title="Created by mistake")
    response = staff_client.post(f"/admin/moderation_data/dataset/{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Dataset.objects.filter(slug="mistake").exists()
