from django.apps import AppConfig


class ModerationDataConfig(AppConfig):
    name = "moderation_data"
    verbose_name = "Moderation data"

    def ready(self) -> None:
        from moderation_data.query import schema  # noqa: F401 - registers the OpenAPI extension of queries
