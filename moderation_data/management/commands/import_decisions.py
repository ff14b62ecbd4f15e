"""import_decisions PATH [--format dsa-csv|jsonl] [--strict] (docs/data.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation_data.ingest.models import ImportRun
from moderation_data.ingest.services import create_import_run, run_import

MAX_PRINTED_PROBLEMS = 200


class Command(BaseCommand):
    help = "Import raw moderation decisions from a DSA Transparency Database CSV (v1/v2) or a JSONL file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="file to import")
        parser.add_argument("--format", choices=[c for c, _ in ImportRun.Format.choices], default=None,
                            help="dsa-csv or jsonl (default: from the file name, .jsonl → jsonl)")  # fmt: skip
        parser.add_argument("--strict", action="store_true", help="import nothing if any row is bad")

    def handle(self, *args, path: str, format: str | None, strict: bool, **options) -> None:
        source = Path(path)
        if not source.is_file():
            raise CommandError(f"{path}: no such file")
        run = run_import(create_import_run(source_path=str(source.resolve()), format=format, strict=strict).pk)
        problems = list(run.problems.all()[:MAX_PRINTED_PROBLEMS])
        for problem in problems:
            self.stderr.write(f"line {problem.line}, field {problem.field or '-'}: {problem.reason}")
        if run.rows_rejected and len(problems) == MAX_PRINTED_PROBLEMS:
            self.stderr.write(f"... see import run #{run.pk} in admin for the full report")
        if run.error:
            self.stderr.write(f"error: {run.error}")
        summary = (
            f"read {run.rows_read}, imported {run.rows_imported}, updated {run.rows_updated}, "
            f"unchanged {run.rows_unchanged}, rejected {run.rows_rejected}"
        )
        if strict and run.rows_rejected:
            summary += " (--strict: nothing imported)"
        self.stdout.write(summary)
        if run.status not in (ImportRun.Status.SUCCEEDED,):
            raise CommandError(f"import #{run.pk}: {run.get_status_display().lower()}", returncode=1)
