"""Release build time for 1,000,000 demo rows vs a plain copy of the same raw rows (`make bench`).

Baseline, measured in the same run: `CREATE TABLE ... AS SELECT` of the raw decisions, i.e. what
moving the rows costs without anonymization, k-anonymity, indexes, checksum or summary.
Target (issue 4): the build finishes in under 5 minutes on this 2-core machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time

import psycopg

from benchmarks.common import (
    BASE_DIR,
    PY,
    bench_database_url,
    bench_env,
    discard_releases,
    machine,
    manage,
    write_results,
)

TARGET_SECONDS = 300


def main() -> int:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    env = bench_env(bench_database_url())
    manage(env, "migrate", "--noinput", "-v", "0")
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        raw = conn.execute("SELECT count(*) FROM moderation_data_decision").fetchone()[0]
    generate_seconds = None
    if raw != rows:
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("TRUNCATE moderation_data_decision CASCADE")
        started = time.perf_counter()
        manage(env, "generate_demo_data", "--rows", str(rows), "--seed", "7")
        generate_seconds = time.perf_counter() - started

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_copy")
        started = time.perf_counter()
        conn.execute("CREATE TABLE bench_raw_copy AS SELECT * FROM moderation_data_decision")
        copy_seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_copy")

    # The build is measured from scratch: an earlier run's release would leave nothing to release.
    discard_releases(env["DATABASE_URL"])
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    # INFO: the build logs its stage timings ("release build stages"), reported below.
    result = subprocess.run(
        [PY, str(BASE_DIR / "manage.py"), "build_release", "moderation-decisions"],
        env={**env, "LOG_LEVEL": "INFO"}, cwd=BASE_DIR, check=True, capture_output=True, text=True,
    )  # fmt: skip
    build_seconds = time.perf_counter() - started
    # The build's own process (the largest child reaped so far: generation and migrate are smaller).
    build_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    load_after = os.getloadavg()[0]
    stages = {}
    for line in (result.stderr + result.stdout).splitlines():
        if "release build stages" in line:
            with contextlib.suppress(ValueError):
                stages = json.loads(line[line.index("{") :]).get("stages", {})
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row_count, anonymization = conn.execute(
            "SELECT r.row_count, r.anonymization FROM moderation_data_release r JOIN moderation_data_dataset d "
            "ON d.id = r.dataset_id WHERE d.slug = 'moderation-decisions' ORDER BY r.id DESC LIMIT 1"
        ).fetchone()

    ok = build_seconds < TARGET_SECONDS
    lines = [
        "| measure | value |",
        "| --- | --- |",
        f"| raw decisions | {rows:,} |",
        *([f"| generate_demo_data | {generate_seconds:.1f} s |"] if generate_seconds else []),
        f"| baseline: plain copy of the raw rows (CREATE TABLE AS) | {copy_seconds:.1f} s |",
        f"| build_release (anonymize, k-anonymity, indexes, checksum, summary, publish) | {build_seconds:.1f} s "
        f"({build_seconds / copy_seconds:.1f}x the copy) |",
        f"| peak RSS of the build process | {build_peak_mb:,.0f} MB |",
        f"| release rows / suppressed | {row_count:,} / {anonymization.get('suppressed_rows', '?')} |",
        f"| load average (1 min) before / after the build | {load_before:.1f} / {load_after:.1f} |",
        *[f"| stage: {name} | {seconds:.1f} s |" for name, seconds in stages.items()],
        f"| target: build under {TARGET_SECONDS} s | {'PASS' if ok else 'FAIL'} |",
    ]
    body = f"## Release build (`benchmarks/release_build.py`)\n\n{dt.date.today()} on {machine()}.\n\n" + "\n".join(
        lines
    )
    write_results("release_build", body)
    print(body)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
