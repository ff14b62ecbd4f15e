"""OWASP API10:2023 Unsafe Consumption of APIs: the data the platform takes in from elsewhere.

The platform consumes one outside source: statement-of-reasons dumps (DSA Transparency Database
CSV, platform JSONL) given to the importer. Malformed and oversized input is refused with a
report, never half-written: a file-level problem (unknown header, a field over the size limit,
binary garbage) imports nothing; a strict import with any bad row imports nothing; a pathological
line (deeply nested JSON, a huge line) is a reported row error, not a crash.
"""

from __future__ import annotations

import csv
import gzip
import json

import pytest

from moderation_data.ingest.models import Decision, ImportRun
from tests.moderation_data.conftest import DSA_V1, import_file
from tests.security.figures import record

pytestmark = pytest.mark.django_db


def good_then(tmp_path, bad_line: bytes, name: str = "dump.csv"):
    """The real DSA v1 sample with one bad line appended (the good rows come first)."""
    path = tmp_path / name
    path.write_bytes(DSA_V1.read_bytes().rstrip(b"\n") + b"\n" + bad_line + b"\n")
    return path


def test_a_field_over_the_size_limit_fails_the_file_and_writes_nothing(tmp_path):
    limit = csv.field_size_limit()
    huge = b'"' + b"x" * (limit + 1) + b'"'
    run = import_file(good_then(tmp_path, huge))
    assert run.status == ImportRun.Status.FAILED, (run.status, run.error)
    assert run.rows_imported == 0
    assert Decision.objects.count() == 0
    record("API10 importer field size limit", limit // (1024 * 1024), "MiB")


@pytest.mark.parametrize(
    "content",
    [gzip.compress(b"x" * 1000), b"\x00" * 512, b"\xff\xfe" + "id,x\n".encode("utf-16-le"), b"", b"id\n" + b"," * 5000],
    ids=["gzip", "nul-bytes", "utf16", "empty", "commas"],
)
def test_binary_or_foreign_files_import_nothing(tmp_path, content):
    path = tmp_path / "dump.csv"
    path.write_bytes(content)
    run = import_file(path)
    assert run.status in (ImportRun.Status.FAILED, ImportRun.Status.SUCCEEDED)
    assert run.rows_imported == 0
    assert Decision.objects.count() == 0


def test_a_strict_import_with_one_malformed_row_writes_nothing(tmp_path):
    run = import_file(good_then(tmp_path, b"not,a,statement,of,reasons"), strict=True)
    assert (run.status, run.rows_imported) == (ImportRun.Status.FAILED, 0)
    assert Decision.objects.count() == 0
    assert run.problems.count() >= 1


@pytest.mark.parametrize(
    "line",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, b'"' + b"y" * 2_000_000 + b'"',
     json.dumps({"policy": "x" * 100_000}).encode(), b"\xc3\x28", b"{\x00}"],
    ids=["deep-array", "deep-object", "huge-string", "huge-value", "bad-utf8", "nul"],
)  # fmt: skip
def test_pathological_jsonl_lines_are_reported_row_errors_not_crashes(tmp_path, line):
    path = tmp_path / "dump.jsonl"
    path.write_bytes(line + b"\n")
    run = import_file(path, strict=True)
    assert run.status == ImportRun.Status.FAILED
    assert (run.rows_read, run.rows_rejected, run.rows_imported) == (1, 1, 0)
    assert Decision.objects.count() == 0
    reasons = [p.reason for p in run.problems.all()]
    assert reasons and all(len(reason) < 500 for reason in reasons), reasons
