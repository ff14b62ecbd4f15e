"""grant_access: scripted onboarding of a researcher (README.md)."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation_data.catalog.models import Dataset
from platform_api.errors import PlatformError
from researchers import services
from researchers.models import Modality


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Create or reuse a researcher, their organisation, an approved application for the project and an "
        "active grant; print the grant's client_id and a fresh client_secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="the researcher's email (their login)")
        parser.add_argument("--project", required=True, help="the project's title")
        parser.add_argument("--datasets", required=True, help="comma-separated dataset slugs")
        parser.add_argument("--modality", choices=Modality.values, default=Modality.RECORDS)
        parser.add_argument("--valid-until", type=dt.date.fromisoformat, help="YYYY-MM-DD (default: in one year)")
        parser.add_argument("--requests-per-minute", type=_positive)
        parser.add_argument("--requests-per-day", type=_positive)
        parser.add_argument("--records-per-day", type=_positive)
        parser.add_argument("--concurrent-exports", type=_positive)
        parser.add_argument("--export-rows-per-month", type=_positive, help="the export allowance (default 10000000)")
        parser.add_argument("--organisation", default="", help="organisation of a new researcher")
        parser.add_argument("--country", default="", help="two-letter country code of a new researcher")
        parser.add_argument("--json", action="store_true", help="print the credentials as JSON")

    def handle(self, *args, **options) -> None:
        slugs = [slug.strip() for slug in options["datasets"].split(",") if slug.strip()]
        datasets = list(Dataset.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {d.slug for d in datasets})
        if not slugs or unknown:
            known = ", ".join(Dataset.objects.values_list("slug", flat=True))
            raise CommandError(f"Unknown dataset(s): {', '.join(unknown) or '(none given)'}. Known: {known}")
        quotas = {name: options[name] for name in services.QUOTA_FIELDS if options.get(name) is not None}
        if options["valid_until"] and options["valid_until"] < dt.date.today():
            raise CommandError("--valid-until is in the past.")
        try:
            grant, secret = services.grant_access(
                email=options["email"],
                project=options["project"],
                datasets=datasets,
                modality=options["modality"],
                valid_until=options["valid_until"],
                quotas=quotas,
                organisation_name=options["organisation"],
                country=options["country"],
            )
        except PlatformError as exc:
            raise CommandError(f"{exc.message} {exc.detail or ''}".strip()) from exc
        output = {
            "client_id": grant.oauth_client.client_id,
            "client_secret": secret,
            "grant_id": grant.pk,
            "project_id": grant.project_id,
            "scopes": grant.scope_names(),
            "valid_until": grant.valid_until.isoformat(),
        }
        if options["json"]:
            self.stdout.write(json.dumps(output, indent=2))
        else:
            for key, value in output.items():
                self.stdout.write(f"{key}: {' '.join(value) if isinstance(value, list) else value}")
