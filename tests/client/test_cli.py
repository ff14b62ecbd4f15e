"""The `modresearch` command line against a live platform: the same rows as the library, resumable output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.django_db

DATASET = "moderation-decisions"
# Fields the shared release keeps at a precision a filter can use (k-anonymity withholds automated_detection
# and gives decided_on a month precision): a real, non-empty selection.
WHERE = ["--where", "decided_on__gte=2025-01-01", "--where", "appealed=true"]
FIELDS = "decision_id,decided_on,policy,detection_source,territorial_scope,appealed,views_before_action"


def cli(live, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "modresearch"), "--no-progress", *args]
    result = subprocess.run(command, env=live.env(), cwd=cwd, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def library_rows(live) -> pd.DataFrame:
    rows = live.client().records(DATASET, where={"decided_on__gte": "2025-01-01", "appealed": True}, fields=FIELDS)
    assert 0 < len(rows) < live.release.row_count
    return rows


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_cli_records_writes_the_same_rows_as_the_library(live, tmp_workdir, library_rows, suffix):
    from modresearch.exports import read_export

    out = tmp_workdir / f"rows.{suffix}"
    result = cli(
        live, "records", DATASET, *WHERE, "--fields", FIELDS, "--page-size", "37", "--out", str(out), cwd=tmp_workdir
    )
    assert f"{len(library_rows):,} rows" in result.stderr
    assert not Path(f"{out}.state").exists() and not Path(f"{out}.pages").exists()
    codebook = live.client().dataset(DATASET)["codebook"]
    frame = read_export(out, suffix, codebook, FIELDS.split(","))
    pd.testing.assert_frame_equal(frame, library_rows)


def test_a_killed_cli_walk_continues_where_it_stopped(live, tmp_workdir):
    out = tmp_workdir / "all.jsonl"
    state = Path(f"{out}.state")
    command = [str(Path(sys.executable).parent / "modresearch"), "--no-progress", "records", DATASET,
               "--fields", "decision_id,policy", "--page-size", "10", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(command, env=live.env(), cwd=tmp_workdir)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if state.exists() and json.loads(state.read_text())["rows"] >= 300:
                break
            time.sleep(0.02)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert state.exists()
    cli(
        live,
        "records",
        DATASET,
        "--fields",
        "decision_id,policy",
        "--page-size",
        "10",
        "--out",
        str(out),
        cwd=tmp_workdir,
    )
    ids = [json.loads(line)["decision_id"] for line in out.read_text().splitlines()]
    expected = live.client().records(DATASET, fields=["decision_id"])["decision_id"].tolist()
    assert ids == expected


def test_cli_catalog_count_usage_cite_and_export(live, tmp_workdir, library_rows):
    assert DATASET in cli(live, "datasets", cwd=tmp_workdir).stdout
    assert "views_before_action" in cli(live, "codebook", DATASET, cwd=tmp_workdir).stdout
    counted = cli(live, "count", DATASET, *WHERE, cwd=tmp_workdir)
    assert int(counted.stdout) == len(library_rows) and "generalized_overlap" not in counted.stderr
    undecided = cli(live, "count", DATASET, "--where", "decided_on__gte=2025-01-08", cwd=tmp_workdir)
    assert int(undecided.stdout) == 0
    assert f"{live.release.row_count} rows have generalized values" in undecided.stderr
    assert f"within 0 ± {live.release.row_count}" in undecided.stderr
    assert "records_remaining" in json.loads(cli(live, "usage", cwd=tmp_workdir).stdout)["today"]
    assert cli(live, "cite", DATASET, "--format", "bibtex", cwd=tmp_workdir).stdout.startswith("@")
    out = tmp_workdir / "export.parquet"
    result = cli(
        live, "export", DATASET, *WHERE, "--fields", FIELDS, "--format", "parquet", "--out", str(out), cwd=tmp_workdir
    )
    assert "verified" in result.stderr
    from modresearch.exports import read_parquet

    pd.testing.assert_frame_equal(read_parquet(out, live.client().dataset(DATASET)["codebook"], None), library_rows)


def test_cli_errors_exit_non_zero_with_the_servers_code(live, tmp_workdir):
    result = cli(live, "count", DATASET, "--where", "no_such_field=1", cwd=tmp_workdir, check=False)
    assert result.returncode == 1 and "[invalid_query]" in result.stderr and "request_id" in result.stderr
    result = cli(live, "records", DATASET, "--out", "rows.xlsx", cwd=tmp_workdir, check=False)
    assert result.returncode == 2
