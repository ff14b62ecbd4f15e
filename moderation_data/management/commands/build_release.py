"""build_release DATASET [--version V] [--no-publish] (docs/data.md)."""

from __future__ import annotations

import datetime as dt
import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation_data.catalog.models import Dataset
from moderation_data.releases.services import ReleaseError, build_release, start_release

# A version is a path segment of the release's persistent URL and API paths (<str:version> never matches
# "/"), goes unquoted into citations and fits Release.version (max_length 32); the automatic ones
# (2026.11.30, 2026.11.30.2) match. "latest" is the API's alias for the newest release, never a version.
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
VERSION_RULE = "1 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit, and not 'latest'"


def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version) or version.lower() == "latest":
        raise CommandError(f"--version {version!r} is not a valid release version: {VERSION_RULE}.")
    return version


class Command(BaseCommand):
    help = "Build an anonymized release of a dataset from the raw tier and publish it."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # --version names the release here (docs/data.md), replacing Django's own --version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="dataset slug, e.g. moderation-decisions")
        parser.add_argument(
            "--version", dest="release_version", default=None, help="release version (default: today's date)"
        )
        parser.add_argument("--from", dest="period_start", type=dt.date.fromisoformat, default=None,
                            help="first day included (YYYY-MM-DD; default: the earliest decision)")  # fmt: skip
        parser.add_argument("--to", dest="period_end", type=dt.date.fromisoformat, default=None,
                            help="last day included (default: the latest complete day)")  # fmt: skip
        parser.add_argument("--no-publish", action="store_true", help="build only; publish later from admin")

    def handle(
        self, *args, dataset: str, release_version, period_start, period_end, no_publish: bool, **options
    ) -> None:
        if release_version is not None:
            check_version(release_version)
        ds = Dataset.objects.filter(slug=dataset).first()
        if ds is None:
            raise CommandError(f"no dataset {dataset!r}")
        try:
            release = start_release(ds, version=release_version, period_start=period_start, period_end=period_end)
            release = build_release(release.pk, publish=not no_publish)
        except ReleaseError as exc:
            raise CommandError(str(exc)) from None
        anonymization = release.anonymization
        self.stdout.write(
            f"{release.dataset.slug} {release.version}: {release.status}, {release.row_count} rows, "
            f"sha256 {release.sha256}, built in {release.build_seconds:.1f}s"
        )
        if "precision" in anonymization:
            report = release.privacy_report
            self.stdout.write(
                f"k={anonymization['k']} (smallest class {report.get('k_min_accounts')} accounts); precision: "
                + ", ".join(f"{name}={level}" for name, level in anonymization["precision"].items())
                + f"; suppressed {anonymization['suppressed_rows']} ({100 * report.get('suppressed_share', 0):.2f}%)"
            )
