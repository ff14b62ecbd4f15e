from django.core.management.base import BaseCommand, CommandError

from platform_api.audit import verify_log


class Command(BaseCommand):
    help = (
        "Seal new access events, verify the keyed hash chain and compare it with the last signed checkpoint; "
        "exits non-zero naming the first broken event, a truncation or a forged checkpoint."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-seal", action="store_true", help="verify only; leave new events unsealed")

    def handle(self, *args, no_seal: bool = False, **options) -> None:
        result = verify_log(seal=not no_seal)
        if result.first_broken is not None:
            event = result.first_broken
            raise CommandError(
                f"audit log broken at event {event.pk} (request {event.request_id}, "
                f"{event.occurred_at:%Y-%m-%d %H:%M:%S} UTC): {result.reason}; "
                f"{result.checked} events before it verified"
            )
        if result.problem:
            raise CommandError(f"audit log does not match its checkpoints: {result.problem}")
        against = (
            f"; matches the last checkpoint (event {result.checkpoint['last_id']}, {result.checkpoint['at']})"
            if result.checkpoint
            else "; no checkpoint yet (truncation cannot be checked)"
        )
        unsealed = f"; {result.unsealed} newer events not sealed yet" if result.unsealed else ""
        self.stdout.write(f"audit log intact: {result.checked} events verified{against}{unsealed}")
