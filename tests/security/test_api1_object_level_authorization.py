"""OWASP API1:2023 Broken Object Level Authorization.

Every route of the schema that names an object (an export id, a dataset slug, a release version)
is called with every documented method by a pair of research clients: the owner gets it, the
other gets 404 (another client's export) or 403 ``scope_missing`` (a dataset outside its grant),
and never data. Random export ids are never found. The portal's object pages (applications,
grants, credentials, export downloads) likewise answer 404 to another researcher.
"""

from __future__ import annotations

import uuid

import pytest

from tests.api_fixtures import make_research_client
from tests.security.figures import record
from tests.security.support import fill, needs_token, operations

pytestmark = pytest.mark.django_db

RECORDS_AND_ALL = ["moderation-decisions", "enforcement-summary"]
# The release every route names (the module's shared release), and a body each POST accepts from its owner.
VALUES = {"slug": "moderation-decisions", "version": "latest"}
BODIES = {
    "records": {"page_size": 1},
    "count": {},
    "aggregate": {"group_by": ["policy"], "epsilon": 0.1},
    "estimate": {"group_by": ["policy"], "epsilon": 0.1},
}
OBJECT_ROUTES = [(m, p) for m, p, op in operations() if "{" in p and needs_token(op)]


def call(client, method: str, path: str, body: dict | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"}
    if method == "GET":
        return client.http.get(path, **headers)
    if method == "DELETE":
        return client.http.delete(path, **headers)
    return client.http.generic(method, path, _json(body or {}), content_type="application/json", **headers)


def _json(body: dict) -> str:
    import json

    return json.dumps(body)


def assert_refused_without_data(response, statuses=(403, 404)) -> None:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"}, body


@pytest.fixture
def owner(release):
    return make_research_client(datasets=RECORDS_AND_ALL)


@pytest.fixture
def other(release):
    return make_research_client(datasets=["enforcement-summary"])


@pytest.fixture
def owners_export(owner):
    response = owner.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv"})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_the_object_routes_under_test_are_every_route_of_the_schema_with_an_id_or_slug():
    paths = {p for _, p in OBJECT_ROUTES}
    assert "/api/v1/exports/{export_id}/file" in paths
    assert "/api/v1/datasets/{slug}/releases/{version}/records" in paths
    assert len(OBJECT_ROUTES) >= 10


@pytest.mark.parametrize(("method", "template"), OBJECT_ROUTES, ids=[f"{m} {p}" for m, p in OBJECT_ROUTES])
def test_another_client_never_reaches_an_object_it_was_not_granted(owner, other, owners_export, method, template):
    path = fill(template, export_id=owners_export, **VALUES)
    body = BODIES.get(template.rsplit("/", 1)[-1], {})
    intruder = call(other, method, path, body)
    assert_refused_without_data(intruder)
    if "{export_id}" in template:
        assert intruder.status_code == 404  # another client's export does not exist for it
    else:
        assert intruder.json()["error"]["code"] == "scope_missing"
    # The same call works for the owner: the refusal is about the object, not the route.
    mine = call(owner, method, path, body)
    assert mine.status_code not in (401, 403, 404), (mine.status_code, mine.content[:300])


@pytest.mark.parametrize(
    ("method", "template"),
    [(m, p) for m, p in OBJECT_ROUTES if "{export_id}" in p],
    ids=[f"{m} {p}" for m, p in OBJECT_ROUTES if "{export_id}" in p],
)
def test_random_export_ids_are_never_found(owner, owners_export, method, template):
    tried = 0
    for guess in [uuid.uuid4() for _ in range(25)] + ["1", "0", "../exports", "%2e%2e", owners_export.upper()[:-1]]:
        response = call(owner, method, fill(template, export_id=guess))
        assert_refused_without_data(response, statuses=(404,))
        tried += 1
    record("API1 random export ids tried per route (all 404)", tried)


def test_a_dataset_the_grant_does_not_name_is_refused_on_every_dataset_route(other):
    for method, template in OBJECT_ROUTES:
        if "{slug}" not in template:
            continue
        for slug in ("moderation-decisions", "no-such-dataset", "MODERATION-DECISIONS"):
            response = call(other, method, fill(template, slug=slug, version="latest"))
            assert_refused_without_data(response, statuses=(403, 404))


def test_portal_object_pages_of_another_researcher_answer_404(owner, other, owners_export, client):
    from researchers.models import Researcher

    owners_user = owner.grant.application.principal_researcher.user
    others_user = other.grant.application.principal_researcher.user
    assert Researcher.objects.filter(user=others_user).exists()
    application, grant = owner.grant.application_id, owner.grant.pk
    targets = [
        ("get", f"/portal/applications/{application}/"),
        ("get", f"/portal/applications/{application}/edit/"),
        ("post", f"/portal/applications/{application}/submit/"),
        ("post", f"/portal/applications/{application}/withdraw/"),
        ("get", f"/portal/grants/{grant}/credentials/"),
        ("post", f"/portal/grants/{grant}/credentials/"),
        ("post", f"/portal/grants/{grant}/rotate/"),
        ("get", f"/portal/exports/{owners_export}/download/"),
        ("get", f"/portal/exports/{uuid.uuid4()}/download/"),
    ]
    client.force_login(others_user)
    for method, url in targets:
        response = getattr(client, method)(url)
        assert response.status_code == 404, (url, response.status_code)
        assert owner.client_id.encode() not in response.content
    # The owner's own pages exist (the 404s above are about ownership).
    client.force_login(owners_user)
    assert client.get(f"/portal/grants/{grant}/credentials/").status_code == 200
    assert client.get(f"/portal/applications/{application}/").status_code == 200
