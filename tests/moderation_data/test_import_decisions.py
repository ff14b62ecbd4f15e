"""import_decisions (docs/data.md): both DSA schemas, JSONL, idempotence, precise error reports."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from moderation_data.ingest import services as import_services
from moderation_data.ingest.models import Appeal, Decision, ImportRun

from .conftest import DSA_V1, DSA_V2, import_file

pytestmark = pytest.mark.django_db


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.mark.embedded
def test_the_real_v1_sample_imports_every_row_with_dsa_keys_verbatim():
    run = import_file(DSA_V1)
    assert (run.status, run.rows_read, run.rows_imported, run.rows_rejected) == ("succeeded", 5, 5, 0)
    tiktok = Decision.objects.get(platform_decision_id="7345617503298525984")
    assert tiktok.uuid is not None and str(tiktok.uuid) == "03b1b1c9-a860-4bf6-afff-0d8f0d944871"
    assert tiktok.decision_visibility == ["DECISION_VISIBILITY_OTHER"]
    assert tiktok.category == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert tiktok.automated_decision == "AUTOMATED_DECISION_FULLY"
    assert "AT" in tiktok.territorial_scope and len(tiktok.territorial_scope) == 29
    assert tiktok.content_id_ean is None  # v1 has no such column
    # Platform fields a DSA row implies are derived; the others stay null.
    assert tiktok.policy == "minor_safety"
    assert tiktok.detection_source == "automated_classifier"
    assert tiktok.account_id is None and tiktok.uploader_country is None
    pinterest = Decision.objects.get(platform_name="Pinterest")
    assert pinterest.category == "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"  # a v1-only category
    assert pinterest.policy == "adult_nudity_sexual_activity"
    assert pinterest.detection_source == "internal_investigation"  # voluntary, not automated


def test_the_real_v2_sample_imports_every_row():
    run = import_file(DSA_V2)
    assert (run.status, run.rows_read, run.rows_imported, run.rows_rejected) == ("succeeded", 5, 5, 0)
    account = Decision.objects.get(platform_uid="user-e5638212-ac0f-4879-b54d-a194bcb0ae72")
    assert account.decision_account == "DECISION_ACCOUNT_TERMINATED"
    assert account.decision_provision == "DECISION_PROVISION_TOTAL_TERMINATION"
    assert account.policy == "integrity_authenticity"
    assert Decision.objects.get(platform_name="Hotel Hideaway", category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
                                ).incompatible_content_illegal == "No"  # fmt: skip


def test_reimporting_a_file_changes_nothing():
    import_file(DSA_V2)
    before = list(Decision.objects.order_by("id").values())
    run = import_file(DSA_V2)
    assert (run.rows_imported, run.rows_updated, run.rows_unchanged, run.rows_rejected) == (0, 0, 5, 0)
    assert list(Decision.objects.order_by("id").values()) == before


def test_a_duplicate_uuid_in_one_dump_is_imported_once(tmp_path):
    lines = _lines(DSA_V2)
    path = tmp_path / "dup.csv"
    path.write_bytes(b"".join([lines[0], lines[1], lines[2], lines[1]]))
    run = import_file(path)
    assert (run.rows_read, run.rows_imported, run.rows_unchanged, run.rows_rejected) == (3, 2, 1, 0)
    assert Decision.objects.filter(uuid="f1e5d3be-e95d-4e51-bb38-6cf13225b2af").count() == 1


def _bad_file(tmp_path: Path) -> Path:
    lines = _lines(DSA_V2)
    header, good = lines[0], lines[1:]
    rows = [
        good[0],  # line 2: good
        good[1].replace(b"STATEMENT_CATEGORY_SCAMS_AND_FRAUD", b"STATEMENT_CATEGORY_NOPE"),  # 3: bad enum
        good[2]
        .replace(b'"2025-07-01 00:00:00",,"[""AT""', b'"2025-07-01 00:00:00",,"[""AT""')
        .replace(b'"2025-07-01 00:03:33"', b'"2025-13-45 99:00:00"'),  # 4: bad date (created_at)
        good[3].replace(b",DECISION_GROUND_INCOMPATIBLE_CONTENT,", b",,"),  # 5: missing required field
        b"only,three,columns\r\n",  # 6: wrong column count
        good[4].replace(b'"[""DE""]"', b'"[""DE"""'),  # 7: bad JSON in an array cell
    ]
    non_utf8 = good[0].replace(b"Wallapop", b"Wallap\xf6p").replace(b"df46338b", b"df46338c")  # 8: latin-1 byte
    path = tmp_path / "bad.csv"
    path.write_bytes(header + b"".join(rows) + non_utf8)
    return path


def test_malformed_rows_are_reported_precisely_and_the_good_rows_imported(tmp_path):
    path = _bad_file(tmp_path)
    run = import_file(path)
    assert run.status == ImportRun.Status.PARTIAL
    assert (run.rows_read, run.rows_imported, run.rows_rejected) == (7, 1, 6)
    report = {(p.line, p.field): p.reason for p in run.problems.all()}
    assert "not a valid Category value" in report[(3, "category")]
    assert "is not a date-time" in report[(4, "created_at")]
    assert report[(5, "decision_ground")] == "required field is missing"
    assert report[(6, "(row)")] == "expected 38 columns, found 3"
    assert "not a JSON array" in report[(7, "territorial_scope")]
    assert report[(8, "platform_name")] == "not valid UTF-8 (byte 0xF6)"
    assert len(report) == 6
    assert list(Decision.objects.values_list("platform_uid", flat=True)) == ["df46338b-e2bd-4ce7-a3e2-7159734bbe27"]


def test_the_command_prints_the_report_and_summary_and_exits_non_zero(tmp_path, capsys):
    path = _bad_file(tmp_path)
    with pytest.raises(CommandError) as excinfo:
        call_command("import_decisions", str(path))
    assert excinfo.value.returncode == 1
    out, err = capsys.readouterr()
    assert "read 7, imported 1, updated 0, unchanged 0, rejected 6" in out
    assert "line 3, field category:" in err and "line 8, field platform_name: not valid UTF-8" in err


def test_strict_imports_nothing_when_any_row_is_bad(tmp_path, capsys):
    path = _bad_file(tmp_path)
    with pytest.raises(CommandError):
        call_command("import_decisions", str(path), "--strict")
    assert Decision.objects.count() == 0
    run = ImportRun.objects.get()
    assert (run.status, run.rows_imported, run.rows_rejected) == ("failed", 0, 6)
    assert run.problems.count() == 6
    assert "(--strict: nothing imported)" in capsys.readouterr().out


def test_a_clean_file_exits_zero_through_the_command(capsys):
    call_command("import_decisions", str(DSA_V1), "--format", "dsa-csv")
    assert "read 5, imported 5" in capsys.readouterr().out


def test_an_unknown_header_fails_the_whole_file(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("id,name\n1,x\n")
    run = import_file(path)
    assert run.status == "failed" and "neither the DSA v1" in run.error and Decision.objects.count() == 0


def _jsonl_row(**overrides) -> dict:
    row = {
        "platform_decision_id": "d-1", "account_id": "acct-1", "content_id": "c-1", "subject_type": "content",
        "policy": "violent_extremism", "detection_source": "partner_alert",
        "detected_at": "2025-03-01T10:00:00Z", "actioned_at": "2025-03-01T12:30:00Z",
        "content_created_at": "2025-02-27T08:00:00Z", "views_before_action": 345, "uploader_country": "DE",
        "off_platform_behavior_considered": True, "reported_to_law_enforcement": True,
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT", "illegal_content_legal_ground": "§ 129a StGB",
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "category_specification": ["KEYWORD_TERRORIST_CONTENT"], "content_type": ["CONTENT_TYPE_VIDEO"],
        "content_language": "DE", "territorial_scope": ["DE"], "application_date": "2025-03-01 12:30:00",
        "source_type": "SOURCE_TYPE_OTHER_NOTIFICATION", "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED", "account_type": "ACCOUNT_TYPE_PRIVATE",
    }  # fmt: skip
    row.update(overrides)
    return row


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))
    return path


def test_jsonl_imports_platform_fields_and_appeals_and_a_later_line_updates_the_decision(tmp_path):
    path = _write_jsonl(tmp_path / "a.jsonl", [_jsonl_row(), _jsonl_row(platform_decision_id="d-2")])
    run = import_file(path)
    assert (run.format, run.rows_imported) == ("jsonl", 2)
    decision = Decision.objects.get(platform_decision_id="d-1")
    assert (decision.policy, decision.detection_source, decision.views_before_action) == (
        "violent_extremism", "partner_alert", 345)  # fmt: skip
    assert decision.reported_to_law_enforcement is True and decision.uploader_country == "DE"
    appeal = {"submitted_at": "2025-03-02T09:00:00Z", "resolved_at": "2025-03-04T09:00:00Z",
              "outcome": "reversed", "reinstated_at": "2025-03-04T09:05:00Z"}  # fmt: skip
    later = _write_jsonl(tmp_path / "b.jsonl", [_jsonl_row(appeal=appeal), _jsonl_row(platform_decision_id="d-2")])
    run = import_file(later)
    assert (run.rows_imported, run.rows_updated, run.rows_unchanged) == (0, 1, 1)
    assert Appeal.objects.get(decision=decision).outcome == "reversed"
    run = import_file(later)
    assert (run.rows_imported, run.rows_updated, run.rows_unchanged) == (0, 0, 2)


def test_malformed_jsonl_lines_are_reported_with_line_and_field(tmp_path):
    rows = [
        _jsonl_row(),
        _jsonl_row(platform_decision_id="d-2", policy="nonsense"),
        b'{"platform_decision_id": "d-3", ',
        _jsonl_row(platform_decision_id="d-4", detected_at="yesterday"),
        _jsonl_row(platform_decision_id="d-5", category_specification="KEYWORD_TERRORIST_CONTENT"),
        b'{"platform_decision_id": "d-6\xff"}',
        _jsonl_row(platform_decision_id="d-7", appeal={"outcome": "won"}),
        _jsonl_row(platform_decision_id="d-8", unexpected=1),
    ]
    run = import_file(_write_jsonl(tmp_path / "bad.jsonl", rows))
    assert (run.rows_read, run.rows_imported, run.rows_rejected) == (8, 1, 7)
    report = {(p.line, p.field): p.reason for p in run.problems.all()}
    assert "not a valid Policy value" in report[(2, "policy")]
    assert report[(3, "(line)")].startswith("not valid JSON")
    assert "is not a date-time" in report[(4, "detected_at")]
    assert report[(5, "category_specification")] == "expected a list"
    assert report[(6, "(line)")] == "not valid UTF-8 (byte 0xFF at position 30)"
    assert report[(7, "appeal.submitted_at")] == "required field is missing"
    assert "not a valid AppealOutcome value" in report[(7, "appeal.outcome")]
    assert report[(8, "unexpected")] == "unknown field"


def test_import_memory_stays_flat_on_a_large_file(tmp_path, monkeypatch):
    # Long statements (8 kB of facts each) make a 20+ MB file of few rows; small batches keep the
    # test quick while the file is still many batches long.
    monkeypatch.setattr(import_services, "BATCH_SIZE", 250)
    facts = "The account posted propaganda of a proscribed organisation. " * 135
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for i in range(2_500):
            row = _jsonl_row(platform_decision_id=f"d-{i}", account_id=f"a-{i % 997}", decision_facts=facts)
            out.write(json.dumps(row) + "\n")
    assert path.stat().st_size > 20_000_000
    tracemalloc.start()
    run = import_file(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert run.rows_imported == 2_500
    # One batch in memory at a time, not the 20+ MB file.
    assert peak < 20_000_000, peak
