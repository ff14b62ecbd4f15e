"""Two web servers (gunicorn, two processes each) and two Celery workers on one database and Redis
behave as one: concurrent export requests spread over both servers admit exactly the grant's
concurrent-export limit, the daily record quota is exact across both, and each accepted export is
written once, by whichever worker takes it. (The per-minute request limit across both servers is
tests/moderation_data/test_query_api_limits.py.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings

from moderation_data.exports.models import Export
from tests.api_fixtures import http_client, make_research_client
from tests.conftest import WorkerProcess
from tests.moderation_data.exports_support import EXPORT_DIR, WORKER_ENV, use_private_export_dir, wait_for_export
from tests.security.figures import record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


@pytest.fixture(autouse=True)
def _private_export_dir(settings):
    use_private_export_dir(settings)


@pytest.fixture(scope="module")
def two_workers(django_db_setup):
    extra = {**WORKER_ENV, "EXPORT_STORAGE_DIR": str(EXPORT_DIR)}
    workers = [WorkerProcess(queue=settings.CELERY_TASK_DEFAULT_QUEUE, extra_env=extra).start() for _ in range(2)]
    yield workers
    for worker in workers:
        worker.stop()


def burst(servers, token: str, method: str, path: str, body: dict, n: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}

    def one(i: int) -> httpx.Response:
        return http.request(method, f"{servers[i % 2].url}{path}", json=body, headers=headers)

    with http_client(n, timeout=60) as http, ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_two_webs_and_two_workers_admit_exactly_the_limits_and_write_each_export_once(
    two_gunicorns, two_workers, release
):
    research = make_research_client(
        concurrent_exports=2, records_per_day=500, requests_per_minute=10_000, requests_per_day=100_000
    )
    answers = burst(two_gunicorns, research.token, "POST", "/api/v1/exports",
                    {"dataset": "moderation-decisions", "format": "jsonl"}, 16)  # fmt: skip
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {202, 429} and statuses.count(202) >= 2, statuses
    accepted = [a.json()["id"] for a in answers if a.status_code == 202]
    for export_id in accepted:
        body = wait_for_export(research, export_id, timeout=180)
        assert body["row_count"] == release.row_count
    exports = list(Export.objects.filter(grant=research.grant).values_list("created_at", "finished_at"))
    assert len(exports) == len(accepted)
    # The limit is on exports at the same time: a small release's export can finish within the burst,
    # and the slot it frees may be taken again. Never more than 2 were admitted and unfinished at once.
    for created, _ in exports:
        assert sum(1 for c, f in exports if c <= created and (f is None or f > created)) <= 2

    pages = burst(two_gunicorns, research.token, "POST", RECORDS, {"page_size": 50}, 20)
    served = sum(len(p.json()["data"]) for p in pages if p.status_code == 200)
    assert served == 500, [p.status_code for p in pages]
    record("Two webs × two workers: exports admitted of 16 concurrent (limit 2)", statuses.count(202))
    record("Two webs: rows served by 20 concurrent pages of 50 (quota 500)", served, "rows")
