"""Figures the security and reliability suites measure, kept for docs/security.md.

A test calls :func:`record` with a figure's name, value and unit; each call appends one JSON line
to ``.local/security-figures.jsonl`` (appends of one short line are atomic, so pytest-xdist
workers can share the file). ``python -m tests.security.report`` renders the latest value of each
figure into the table of docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
FIGURES_FILE = BASE_DIR / ".local" / "security-figures.jsonl"


def record(name: str, value: float | int | str, unit: str = "", *, source: str = "") -> None:
    """Remember one measured figure (the latest run's value wins in the report)."""
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "name": name,
        "value": value,
        "unit": unit,
        # PYTEST_CURRENT_TEST is "<node id> (<phase>)"; a node id may hold spaces ("[GET /api/v1/me]").
        "source": source or os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with open(FIGURES_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")
    print(f"[figure] {name}: {value} {unit}".rstrip())


def latest() -> dict[str, dict]:
    """The most recent value of every figure recorded so far."""
    figures: dict[str, dict] = {}
    if not FIGURES_FILE.exists():
        return figures
    for raw in FIGURES_FILE.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        previous = figures.get(line["name"])
        if previous is None or line["at"] >= previous["at"]:
            figures[line["name"]] = line
    return figures
