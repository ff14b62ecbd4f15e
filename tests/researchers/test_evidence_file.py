"""The evidence file of a grant with real activity (records, a refused request, an export written by a
real worker): its event range passes the chain check, its export hashes match the files, an auditor
can re-check both from the zip alone, and it holds no secret or token."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from moderation_data.exports.services import export_storage
from moderation_data.query.records import _bucket_end
from platform_api.models import AccessEvent
from researchers import evidence
from researchers import services as vetting
from researchers.reasoned_requests.models import ReasonedRequestEvent
from tests.api_fixtures import make_research_client
from tests.moderation_data.exports_support import (
    GENEROUS,
    download,
    read_export,
    request_export,
    use_private_export_dir,
    wait_for_export,
)
from tests.researchers.dsc_support import dsc_research_client
from tests.researchers.factories import StaffFactory

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _private_export_dir(settings):
    use_private_export_dir(settings)


@pytest.fixture(scope="module")
def export_worker(celery_worker_process):
    """The test process's shared worker (tests.conftest.SharedWorker): these tests only need a running one."""
    return celery_worker_process


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def active(release, export_worker) -> dict:
    """A DSC grant that read records, was refused once, exported a period-limited file, rotated its secret."""
    # The limits follow the buckets of the release's decided_on precision (one per release, docs/privacy.md):
    # from a bucket's first day (a later one when the release has several) to the end of the last bucket, so
    # the rows from there on lie wholly within the limits and the export holds them.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT decided_on FROM {release.rows_table} ORDER BY 1")
        buckets = [day for (day,) in cursor.fetchall()]
    precision = next(f for f in release.codebook if f["name"] == "decided_on").get("precision", "day")
    start = buckets[len(buckets) // 3]
    until = max(release.period_end, _bucket_end(buckets[-1], precision))
    researcher = dsc_research_client(data_from=start, data_until=until, quotas=GENEROUS)
    other = make_research_client()  # another grant's events interleave in the chain
    researcher.post(RECORDS, {"page_size": 50})
    other.post(RECORDS, {"page_size": 5})
    researcher.post(RECORDS, {"fields": ["nope"]})
    response = request_export(researcher, format="csv", fields=["decision_id", "decided_on", "policy"])
    assert response.status_code == 202, response.content
    export = wait_for_export(researcher, response.json()["id"])
    status, content, _ = download(researcher, export["id"])
    assert status == 200
    other.get("/api/v1/me")
    researcher.get("/api/v1/me")
    old_secret = researcher.secret
    new_secret = vetting.rotate_client_secret(researcher.grant, actor=StaffFactory(), reason="leaked laptop")
    return {
        "researcher": researcher,
        "other": other,
        "export": export,
        "content": content,
        "start": start,
        "secrets": [old_secret, new_secret],
    }


def test_the_evidence_of_a_grant_with_real_activity_verifies(release, export_worker):
    world = active(release, export_worker)
    researcher = world["researcher"]
    grant = researcher.grant
    request, resolved = evidence.resolve(grant.dsc_reference)
    assert resolved == grant
    built = evidence.build_evidence_file(reasoned_request=request, actor=StaffFactory())
    assert built.verified
    files = unzip(built.content)
    manifest = json.loads(files["manifest.json"])
    assert set(files) == {"manifest.json", "summary.html", "access-events.jsonl", "audit-chain.jsonl"}

    # The path: request, decision, deadlines, grant and its changes, credentials (ids only).
    assert manifest["reasoned_request"]["reference"] == grant.dsc_reference
    assert manifest["decision"]["status"] == "approved"
    assert [t["to"] for t in manifest["decision"]["history"]] == ["submitted", "under_review", "approved"]
    assert manifest["deadlines"]["amendment_window_closes_at"]
    assert manifest["grant"]["data_limits"]["from"] == str(world["start"])
    assert manifest["credentials"]["client_id"] == researcher.client_id
    assert [e["reason"] for e in manifest["credentials"]["secret_events"]] == [
        "collected in the portal",
        "leaked laptop",
    ]

    # Every access event of the grant, and the chain check of their range.
    events = manifest["access_events"]
    own = list(AccessEvent.objects.of_grant(grant).order_by("id"))
    assert events["count"] == len(own) >= 5
    assert events["verification"]["ok"] and events["verification"]["anchored"]
    rows = [json.loads(line) for line in files["access-events.jsonl"].decode().splitlines()]
    assert [r["id"] for r in rows] == [e.pk for e in own]
    assert {r["reference"] for r in rows} == {grant.dsc_reference}
    assert any(r["status"] == 400 for r in rows)

    # An auditor re-checks it from the zip alone: each own event's hash, and every link of the range.
    for row in rows:
        covered = {k: v for k, v in row.items() if k not in ("id", "prev_hash", "hash")}
        text = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256((row["prev_hash"] + text).encode()).hexdigest() == row["hash"]
    chain = [json.loads(line) for line in files["audit-chain.jsonl"].decode().splitlines()]
    assert chain[0]["id"] == events["first_id"] and chain[-1]["id"] == events["last_id"]
    for before, after in itertools.pairwise(chain):
        assert after["prev_hash"] == before["hash"]
    assert {c["id"] for c in chain if c["own"]} == {r["id"] for r in rows}
    assert any(not c["own"] for c in chain), "the other grant's events are in the range, as hashes only"
    other_events = set(AccessEvent.objects.of_grant(world["other"].grant).values_list("request_id", flat=True))
    assert not any(request_id in files["audit-chain.jsonl"].decode() for request_id in other_events)

    # Exports: the sha256 in the manifest is the file's, checked against the stored file too.
    (export,) = manifest["exports"]
    assert export["sha256"] == world["export"]["sha256"] == hashlib.sha256(world["content"]).hexdigest()
    assert export["file"] == {"present": True, "sha256": export["sha256"], "matches": True}
    assert export["manifest"]["dsc_reference"] == grant.dsc_reference
    assert export["manifest"]["data_limits"]["from"] == str(world["start"])
    exported = read_export("csv", world["content"], {f["name"]: f for f in release.codebook})
    assert exported and min(row["decided_on"] for row in exported) >= str(world["start"])

    # Every other file of the zip is pinned in the manifest.
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    html = files["summary.html"].decode()
    assert grant.dsc_reference in html and "passed" in html and "matches" in html
    assert request.history.filter(kind=ReasonedRequestEvent.Kind.EVIDENCE_EXPORTED).count() == 1


def test_the_evidence_file_holds_no_secret_or_token(release, export_worker):
    world = active(release, export_worker)
    researcher = world["researcher"]
    grant = researcher.grant
    grant.oauth_client.refresh_from_db()
    user = grant.application.principal_researcher.user
    needles = [
        *world["secrets"],
        researcher.token,
        world["other"].token,
        world["other"].secret,
        grant.oauth_client.client_secret,  # the stored hash of the secret
        user.password,  # the password hash
        settings.SECRET_KEY,
        settings.PSEUDONYM_KEY,
    ]
    built = evidence.build_evidence_file(reasoned_request=evidence.resolve(grant.dsc_reference)[0])
    text = b"".join(unzip(built.content).values()).decode("utf-8", errors="replace")
    for needle in needles:
        assert needle and needle not in text
    assert not re.search(r"(pbkdf2_sha256|md5)\$", text), "a password hash"
    assert "invitation_digest" not in text and "/portal/invitations/" not in text


def test_a_tampered_event_or_export_file_fails_the_evidence_and_the_command(release, export_worker, tmp_path):
    world = active(release, export_worker)
    grant = world["researcher"].grant
    call_command("evidence_file", grant.dsc_reference, output=str(tmp_path))  # intact: exits 0
    assert len(list(tmp_path.iterdir())) == 1

    event = AccessEvent.objects.of_grant(grant).order_by("id")[1]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE platform_api_accessevent DISABLE TRIGGER access_event_append_only")
        cursor.execute(
            "UPDATE platform_api_accessevent SET rows_returned = rows_returned + 1 WHERE id = %s", [event.pk]
        )
        cursor.execute("ALTER TABLE platform_api_accessevent ENABLE TRIGGER access_event_append_only")
    built = evidence.build_evidence_file(grant=grant)
    assert not built.verified
    assert built.manifest["access_events"]["verification"]["first_broken_id"] == event.pk
    with pytest.raises(CommandError, match="does not verify"):
        call_command("evidence_file", str(grant.pk), output=str(tmp_path / "tampered.zip"))
    assert (tmp_path / "tampered.zip").exists()  # written all the same, for the investigation

    (file,) = Path(export_storage().path(f"files/{world['export']['id']}")).iterdir()
    file.write_bytes(file.read_bytes() + b"extra row\r\n")
    (export,) = evidence.build_evidence_file(grant=grant).manifest["exports"]
    assert export["file"]["matches"] is False


def test_a_platform_vetted_grant_has_an_evidence_file_too(release, export_worker):
    researcher = make_research_client()
    researcher.post(RECORDS, {"page_size": 3})
    built = evidence.build_evidence_file(grant=evidence.resolve(f"grant:{researcher.grant.pk}")[1])
    assert built.verified and built.manifest["route"] == "platform_vetted"
    assert built.manifest["reasoned_request"] is None and built.manifest["access_events"]["count"] == 1


def test_an_unknown_reference_is_refused_by_the_command(db):
    with pytest.raises(CommandError, match="No reasoned request or grant"):
        call_command("evidence_file", "XX-NOPE-1")
