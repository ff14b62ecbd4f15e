"""Admin of the privacy ledger (budgets and caps edited through the services; spending and answers read-only),
and the command that prepares releases built before aggregates existed."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from moderation_data.aggregates.models import AggregateAnswer, AggregationTable, ProjectBudget, ReleaseBudget
from tests.api_fixtures import make_research_client
from tests.researchers.factories import StaffFactory

URL = "/api/v1/datasets/moderation-decisions/releases/latest/aggregate"
pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_staff_raise_a_project_budget_and_the_project_can_spend_it(staff_client, release):
    researcher = make_research_client(modality="aggregate")
    researcher.post(URL, {"group_by": ["policy"], "epsilon": 1})
    budget = ProjectBudget.objects.get(release=release)
    page = staff_client.get(f"/admin/moderation_data/projectbudget/{budget.pk}/change/")
    assert page.status_code == 200 and 'name="total_epsilon"' in page.text and 'name="spent_epsilon"' not in page.text
    response = staff_client.post(
        f"/admin/moderation_data/projectbudget/{budget.pk}/change/", {"total_epsilon": "1.5", "spent_epsilon": "0"}
    )
    assert response.status_code == 302
    budget.refresh_from_db()
    assert (budget.total_epsilon, budget.spent_epsilon) == (Decimal("1.5"), Decimal("1"))  # spending untouched
    assert researcher.post(URL, {"group_by": ["country"], "epsilon": 0.5}).status_code == 200
    assert researcher.post(URL, {"group_by": ["appealed"], "epsilon": 0.1}).status_code == 403


def test_staff_set_a_release_cap_before_any_query(staff_client, release):
    response = staff_client.post(
        "/admin/moderation_data/releasebudget/add/", {"release": release.pk, "total_epsilon": "3"}
    )
    assert response.status_code == 302, response.content
    assert ReleaseBudget.objects.get(release=release).total_epsilon == Decimal("3")
    listing = staff_client.get("/admin/moderation_data/releasebudget/")
    assert listing.status_code == 200 and release.version in listing.text


def test_answers_are_read_only_in_admin(staff_client, release):
    make_research_client(modality="aggregate").post(URL, {"group_by": ["policy"], "epsilon": 0.2})
    answer = AggregateAnswer.objects.get()
    page = staff_client.get(f"/admin/moderation_data/aggregateanswer/{answer.pk}/change/")
    assert page.status_code == 200 and "violent_extremism" in page.text
    assert staff_client.post(f"/admin/moderation_data/aggregateanswer/{answer.pk}/delete/").status_code == 403
    assert AggregateAnswer.objects.filter(pk=answer.pk).exists()


def test_build_aggregation_tables_prepares_releases_that_predate_aggregates_once(release):
    table = AggregationTable.objects.get(release=release).table_name
    with connection.cursor() as cursor:  # as if the release had been built before aggregates existed
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(f"DROP TABLE {table}")
    AggregationTable.objects.filter(release=release).delete()
    out = StringIO()
    call_command("build_aggregation_tables", stdout=out)
    assert f"{release.version}: {table}" in out.getvalue() and "1 aggregation table(s) built." in out.getvalue()
    assert AggregationTable.objects.get(release=release).rows == release.row_count
    call_command("build_aggregation_tables", stdout=(again := StringIO()))
    assert "0 aggregation table(s) built." in again.getvalue()
