from django.core.management.base import BaseCommand, CommandError

from platform_api.audit import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exits non-zero naming the first broken event."

    def handle(self, *args, **options) -> None:
        result = verify_chain()
        if not result.ok:
            event = result.first_broken
            raise CommandError(
                f"audit log broken at event {event.pk} (request {event.request_id}, "
                f"{event.occurred_at:%Y-%m-%d %H:%M:%S} UTC): {result.reason}; "
                f"{result.checked} events before it verified"
            )
        self.stdout.write(f"audit log intact: {result.checked} events verified")
