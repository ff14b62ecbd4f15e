"""import_decisions on hostile input, against the real PostgreSQL (docs/data.md, Importing).

Values PostgreSQL would refuse are row errors; an unexpected error, a dead worker or the time limit
never leaves a run 'running'; long JSONL lines are skipped one row error each; gzip is read as is.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import psycopg
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from moderation_data.ingest import parsing
from moderation_data.ingest import services as import_services
from moderation_data.ingest.models import Decision, ImportRun
from moderation_data.ingest.services import create_import_run
from moderation_data.ingest.tasks import run_import_task

from .conftest import DSA_V2, import_file
from .test_import_decisions import _jsonl_row, _lines, _write_jsonl

pytestmark = pytest.mark.django_db


def _report(run: ImportRun) -> dict:
    return {(p.line, p.field): p.reason for p in run.problems.all()}


# --------------------------------------------------------------------------- values PostgreSQL refuses


def _long_uid_csv(tmp_path: Path) -> Path:
    header, first, second = _lines(DSA_V2)[:3]
    long_uid = first.replace(b"df46338b-e2bd-4ce7-a3e2-7159734bbe27", b"p" * 300)  # fits platform_uid (500)
    path = tmp_path / "long-uid.csv"
    path.write_bytes(header + long_uid + second)
    return path


def test_a_dsa_platform_uid_longer_than_the_decision_key_is_a_row_error(tmp_path):
    run = import_file(_long_uid_csv(tmp_path))
    assert (run.status, run.rows_read, run.rows_imported, run.rows_rejected) == ("partial", 2, 1, 1)
    assert "longer than 255 characters" in _report(run)[(2, "platform_uid")]
    assert list(Decision.objects.values_list("platform_uid", flat=True)) == ["ad-5f6d8e2f-7fe0-41bb-b75e-ce579d751892"]


def test_strict_rejects_the_long_platform_uid_and_imports_nothing(tmp_path, capsys):
    with pytest.raises(CommandError):
        call_command("import_decisions", str(_long_uid_csv(tmp_path)), "--strict")
    run = ImportRun.objects.get()
    assert (run.status, run.rows_imported, run.rows_rejected, run.error) == ("failed", 0, 1, "")
    assert Decision.objects.count() == 0
    assert "line 2, field platform_uid: longer than 255" in capsys.readouterr().err


def _refused_jsonl(tmp_path: Path) -> Path:
    huge_number = json.dumps(_jsonl_row(platform_decision_id="d-6")).replace("345", "9" * 5000).encode()
    rows = [
        _jsonl_row(),
        _jsonl_row(platform_decision_id="d-2", account_id="a" * 256),
        _jsonl_row(platform_decision_id="d-3", views_before_action=10**20),
        _jsonl_row(platform_decision_id="d-4", decision_facts="a\u0000b"),
        _jsonl_row(platform_decision_id="d-5", decision_facts="\ud800"),  # json.dumps writes "\ud800"
        huge_number,
        _jsonl_row(platform_decision_id="d-7", account_id="a" * 255, views_before_action=2**63 - 1),
    ]
    return _write_jsonl(tmp_path / "refused.jsonl", rows)


def test_jsonl_values_postgresql_would_refuse_are_row_errors_with_line_and_field(tmp_path):
    run = import_file(_refused_jsonl(tmp_path))
    assert (run.status, run.rows_read, run.rows_imported, run.rows_rejected, run.error) == ("partial", 7, 2, 5, "")
    report = _report(run)
    assert report[(2, "account_id")] == "longer than 255 characters (256)"
    assert "out of range" in report[(3, "views_before_action")]
    assert "NUL" in report[(4, "decision_facts")]
    assert "surrogate" in report[(5, "decision_facts")]
    assert report[(6, "(line)")].startswith("not valid JSON")
    assert len(report) == 5
    assert sorted(Decision.objects.values_list("platform_decision_id", flat=True)) == ["d-1", "d-7"]


def test_strict_jsonl_with_refused_values_fails_and_imports_nothing(tmp_path):
    with pytest.raises(CommandError):
        call_command("import_decisions", str(_refused_jsonl(tmp_path)), "--strict")
    run = ImportRun.objects.get()
    assert (run.status, run.rows_imported, run.rows_rejected) == ("failed", 0, 5)
    assert Decision.objects.count() == 0


def test_an_unexpected_database_error_fails_the_run_and_the_command_answers_a_command_error(
    tmp_path, monkeypatch, capsys
):
    # Let a value through validation: PostgreSQL refuses it mid-import.
    strict_parse = parsing.parse_value

    def lenient(spec, value, *, from_csv):
        return value if spec.name == "account_id" else strict_parse(spec, value, from_csv=from_csv)

    monkeypatch.setattr(parsing, "parse_value", lenient)
    path = _write_jsonl(
        tmp_path / "a.jsonl", [_jsonl_row(), _jsonl_row(platform_decision_id="d-2", account_id="a" * 300)]
    )
    run = import_file(path)
    assert (run.status, run.rows_imported) == ("failed", 0) and run.finished_at is not None
    assert "value too long" in run.error
    assert Decision.objects.count() == 0
    with pytest.raises(CommandError):
        call_command("import_decisions", str(path))
    assert "error: the import stopped on an unexpected error" in capsys.readouterr().err
    assert not ImportRun.objects.filter(status="running").exists()


# --------------------------------------------------------------------------- interrupted imports


def _running_run(tmp_path: Path, *, age: dt.timedelta) -> ImportRun:
    path = _write_jsonl(tmp_path / "a.jsonl", [_jsonl_row(), _jsonl_row(platform_decision_id="d-2")])
    run = create_import_run(source_path=str(path))
    ImportRun.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now() - age)
    return run


def _redelivered(run_id: int) -> None:
    """Run the task as a worker does for a message the broker redelivered (its first worker died)."""
    run_import_task.push_request(delivery_info={"redelivered": True})
    try:
        run_import_task.run(run_id)
    finally:
        run_import_task.pop_request()


def test_an_import_claimed_longer_ago_than_the_task_time_limit_is_re_run(tmp_path):
    run = _running_run(tmp_path, age=dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60))
    run_import_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.rows_imported) == ("succeeded", 2) and run.finished_at is not None
    assert Decision.objects.count() == 2


def test_a_fresh_running_import_is_left_alone(tmp_path):
    run = _running_run(tmp_path, age=dt.timedelta(seconds=5))
    started = ImportRun.objects.get(pk=run.pk).started_at
    run_import_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.started_at, run.finished_at) == ("running", started, None)
    assert Decision.objects.count() == 0


def test_a_redelivered_message_resumes_the_import_of_its_dead_worker_at_once(tmp_path):
    run = _running_run(tmp_path, age=dt.timedelta(seconds=5))
    _redelivered(run.pk)
    run.refresh_from_db()
    assert (run.status, run.rows_imported) == ("succeeded", 2)


def test_a_redelivered_message_does_not_double_an_import_still_alive(tmp_path):
    run = _running_run(tmp_path, age=dt.timedelta(seconds=5))
    with psycopg.connect(**connection.get_connection_params()) as alive, alive.transaction():
        alive.execute("SELECT pg_advisory_xact_lock(%s, %s)", [import_services.LOCK_NAMESPACE, run.pk])
        _redelivered(run.pk)
    run.refresh_from_db()
    assert (run.status, run.finished_at) == ("running", None)
    assert Decision.objects.count() == 0


def test_the_soft_time_limit_finishes_the_run_as_failed(tmp_path, monkeypatch):
    def too_slow(stream):
        yield from ()
        raise SoftTimeLimitExceeded()

    monkeypatch.setitem(parsing.READERS, "jsonl", too_slow)
    path = _write_jsonl(tmp_path / "a.jsonl", [_jsonl_row()])
    run = create_import_run(source_path=str(path))
    run_import_task(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "time limit" in run.error and run.finished_at is not None


# --------------------------------------------------------------------------- long lines, gzip


def test_a_jsonl_line_over_the_cap_is_one_row_error_and_the_next_line_is_imported(tmp_path, monkeypatch):
    fitting = json.dumps(_jsonl_row(platform_decision_id="d-3")).encode()
    cap = len(fitting)
    monkeypatch.setattr(parsing, "MAX_LINE_BYTES", cap)
    just_over = json.dumps(_jsonl_row(platform_decision_id="d-02")).encode()
    assert len(just_over) == cap + 1
    rows = [_jsonl_row(), just_over, fitting, b"x" * (10 * cap), _jsonl_row(platform_decision_id="d-5")]
    run = import_file(_write_jsonl(tmp_path / "long.jsonl", rows))
    assert (run.status, run.rows_read, run.rows_imported, run.rows_rejected) == ("partial", 5, 3, 2)
    report = _report(run)
    assert report.keys() == {(2, "(line)"), (4, "(line)")}
    assert report[(2, "(line)")].startswith(f"longer than {cap} bytes")
    assert sorted(Decision.objects.values_list("platform_decision_id", flat=True)) == ["d-1", "d-3", "d-5"]


def test_gzip_files_are_decompressed_as_they_are_read(tmp_path):
    plain = _write_jsonl(tmp_path / "a.jsonl", [_jsonl_row(), _jsonl_row(platform_decision_id="d-2")])
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    run = import_file(packed)
    assert (run.format, run.status, run.rows_read, run.rows_imported) == ("jsonl", "succeeded", 2, 2)
    dump = tmp_path / "dump.csv.gz"
    dump.write_bytes(gzip.compress(DSA_V2.read_bytes()))
    run = import_file(dump)
    assert (run.format, run.status, run.rows_read, run.rows_imported) == ("dsa-csv", "succeeded", 5, 5)


def test_a_truncated_gzip_file_is_one_file_level_error_and_imports_nothing(tmp_path):
    plain = _write_jsonl(tmp_path / "a.jsonl", [_jsonl_row(), _jsonl_row(platform_decision_id="d-2")])
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes())[:-12])
    run = import_file(packed)
    assert run.status == "failed" and "gzip" in run.error and run.problems.count() == 0
    assert Decision.objects.count() == 0
