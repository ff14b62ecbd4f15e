"""generate_demo_data --rows N [--seed S] (docs/data.md)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation_data.ingest.demo import generate_demo_data


class Command(BaseCommand):
    help = "Write realistic synthetic raw decisions (seeded; re-running with the same seed changes nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, required=True, help="number of decisions")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--days", type=int, default=None, help="days from 2025-01-01 to spread them over (default: by size)"
        )

    def handle(self, *args, rows: int, seed: int, days: int | None, **options) -> None:
        if rows < 0:
            raise CommandError("--rows must be >= 0")
        if days is not None and not 1 <= days <= 365:
            raise CommandError("--days must be between 1 and 365")
        started = time.monotonic()
        result = generate_demo_data(rows=rows, seed=seed, days=days)
        self.stdout.write(
            f"generated {rows} decisions (seed {seed}): {result['inserted']} new, "
            f"{result['appeals_inserted']} new appeals, in {time.monotonic() - started:.1f}s"
        )
