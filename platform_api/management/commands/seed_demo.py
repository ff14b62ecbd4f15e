"""seed_demo: idempotent demo data for `make demo` (README.md)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils.module_loading import import_string

# Each step is called as step(rows=..., seed=..., stdout=..., previous=...) and returns a dict merged
# into the output; apps add their own (the researcher grant, the demo data release). ``previous`` is
# the last run's saved client (see DEMO_CLIENT_FILE), so a step can keep what must stay stable.
SEED_STEPS: list[str] = [
    # First: the demo raw data and a published release of it (the grant below covers its datasets).
    "moderation_data.releases.seed.seed_demo_data",
    # Last: it grants the demo researcher every dataset the steps before it created.
    "researchers.seed.seed_demo_access",
]

ADMIN_USERNAME = "admin"
# The demo client's id and secret, kept between runs (mode 0600) so saved notebooks keep working.
DEMO_CLIENT_NAME = "demo-client.json"


def demo_client_file() -> Path:
    from platform_api.embedded import LOCAL_DIR

    return LOCAL_DIR / DEMO_CLIENT_NAME


def load_demo_client(path: Path | None = None) -> dict:
    """The demo client saved by the last run ({} when there is none or it is unreadable)."""
    path = path or demo_client_file()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def save_demo_client(client: dict, path: Path | None = None) -> None:
    """Write the demo client's credentials, readable by the owner only (created 0600, never wider)."""
    path = path or demo_client_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(client, handle)


class Command(BaseCommand):
    help = "Create the demo admin, researcher, grant, data and release; print their credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=10_000, help="demo decisions to generate (default 10000)")
        parser.add_argument("--seed", type=int, default=42, help="random seed for the demo data")
        parser.add_argument("--json", action="store_true", help="print the credentials as JSON")

    def handle(self, *args, rows: int, seed: int, json: bool, **options) -> None:
        if rows < 0:
            from django.core.management.base import CommandError

            raise CommandError("--rows must be >= 0")
        previous = load_demo_client()
        output: dict = {"admin_username": ADMIN_USERNAME, "admin_password": self._admin()}
        for step in SEED_STEPS:
            output.update(import_string(step)(rows=rows, seed=seed, stdout=self.stderr, previous=previous) or {})
        if output.get("client_id") and output.get("client_secret"):
            save_demo_client({"client_id": output["client_id"], "client_secret": output["client_secret"]})
        if json:
            self.stdout.write(_json(output))
        else:
            for key, value in output.items():
                self.stdout.write(f"{key}: {value}")

    @transaction.atomic
    def _admin(self) -> str:
        """The admin gets a fresh password each run: nothing to remember, nothing stale."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=ADMIN_USERNAME, defaults={"email": "admin@example.org", "is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        return password


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, default=str)
