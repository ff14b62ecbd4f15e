from django.core.management.base import BaseCommand

from platform_api.audit import write_checkpoint
from platform_api.audit_keys import checkpoint_path


class Command(BaseCommand):
    help = "Seal new access events and append a signed checkpoint of the chain head (file and log)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="write one even if the head did not move")

    def handle(self, *args, force: bool = False, **options) -> None:
        checkpoint = write_checkpoint(force=force)
        if checkpoint is None:
            self.stdout.write("audit chain head unchanged since the last checkpoint; nothing written")
            return
        self.stdout.write(
            f"checkpoint written to {checkpoint_path()}: {checkpoint['count']} events, "
            f"head event {checkpoint['last_id']}"
        )
