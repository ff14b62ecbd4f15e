"""``manage.py evidence_file REFERENCE``: the evidence zip of a DSC request or a grant (docs/dsa-article-40.md)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from platform_api.errors import NotFoundError
from researchers.evidence import build_evidence_file, resolve


class Command(BaseCommand):
    help = (
        "Write the evidence file (a zip: manifest.json, summary.html, the access events and their chain) of a "
        "DSC reasoned request (by its reference) or of a grant (by its id, e.g. 12 or grant:12). Exits non-zero "
        "when the audit chain check fails or an export file no longer matches its sha256."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("reference", help="a DSC request reference, or a grant id")
        parser.add_argument("--output", "-o", help="where to write the zip (default: its own name, here)")

    def handle(self, *args, reference: str, output: str | None = None, **options) -> None:
        # Where it goes is checked first: building the file reads the grant's whole event range.
        path = Path(output) if output else Path.cwd()
        directory = path if path.is_dir() or (output or "").endswith(("/", os.sep)) else path.parent
        if not directory.is_dir():
            raise CommandError(f"--output: there is no directory {str(directory)!r} to write the evidence file in.")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise CommandError(f"--output: the directory {str(directory)!r} is not writable.")
        try:
            request, grant = resolve(reference)
        except NotFoundError as exc:
            raise CommandError(exc.message) from None
        evidence = build_evidence_file(reasoned_request=request, grant=grant)
        if path.is_dir():
            path = path / evidence.filename
        path.write_bytes(evidence.content)
        events = evidence.manifest["access_events"]
        self.stdout.write(f"{path}\nsha256 {evidence.sha256}")
        self.stdout.write(
            f"{events['count']} access events, chain check "
            f"{'passed' if events['verification']['ok'] else 'FAILED'}; {len(evidence.manifest['exports'])} exports"
        )
        if not evidence.verified:
            raise CommandError("The evidence does not verify: see manifest.json (access_events, exports).")
