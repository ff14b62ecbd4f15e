import pytest
from tests.api_fixtures import make_research_client

URL = "/api/v1/datasets/moderation-decisions/releases/latest/aggregate"

@pytest.mark.django_db
def test_smoke(release):
    r = make_research_client(modality="aggregate")
    resp = r.post(URL, {"group_by": ["policy", "detection_source"], "epsilon": 0.5})
    print(resp.status_code, resp.json() if resp.status_code != 200 else {k: v for k, v in resp.json().items() if k != "data"})
    print(resp.json()["data"][:3] if resp.status_code == 200 else "")
    resp = r.post(URL, {"group_by": ["country"], "query": {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["spam_fake_engagement"]}]}, "epsilon": 0.5, "measure": "accounts"})
    print(resp.status_code, resp.json()["data"][:3] if resp.status_code == 200 else resp.json())
    resp = r.post(URL, {"group_by": ["policy"], "epsilon": 0.5, "measure": "mean", "value": "views_before_action", "query": {"and": [{"operation": "EQ", "field_name": "appealed", "field_values": [False]}]}})
    print(resp.status_code, resp.json()["data"][:3] if resp.status_code == 200 else resp.json())
    resp = r.post(URL + "/estimate", {"group_by": ["policy"], "ci95_width": 20})
    print(resp.status_code, resp.json())
    assert 0
