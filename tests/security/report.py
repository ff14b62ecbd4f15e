"""Render the figures of the security suite's last run into docs/security.md.

    .venv/bin/python -m tests.security.report          # rewrite the table between the markers
    .venv/bin/python -m tests.security.report --check  # exit 1 when the table is out of date

The figures come from ``.local/security-figures.jsonl``, written by the tests themselves
(:mod:`tests.security.figures`); nothing in the table is typed by hand.
"""

from __future__ import annotations

import argparse
import sys

from tests.security.figures import BASE_DIR, latest

DOC = BASE_DIR / "docs" / "security.md"
START = "<!-- security-figures:start (written by python -m tests.security.report) -->"
END = "<!-- security-figures:end -->"


def render(figures: dict[str, dict]) -> str:
    if not figures:
        return "_No figures yet: run `make test`, then `python -m tests.security.report`._"
    lines = ["| figure | value | measured by | run (UTC) |", "| --- | --- | --- | --- |"]
    for name in sorted(figures):
        fig = figures[name]
        value = f"{fig['value']} {fig['unit']}".strip()
        lines.append(f"| {name} | {value} | `{fig['source']}` | {fig['at']} |")
    return "\n".join(lines)


def updated(text: str, table: str) -> str:
    head, sep, rest = text.partition(START)
    if not sep or END not in rest:
        raise SystemExit(f"{DOC} lacks the markers {START!r} … {END!r}")
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/security.md is not up to date")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    new = updated(text, render(latest()))
    if args.check:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    print(f"{DOC.relative_to(BASE_DIR)}: {len(latest())} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
