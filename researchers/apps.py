from django.apps import AppConfig


class ResearchersConfig(AppConfig):
    name = "researchers"
    verbose_name = "Researchers and access"

    def ready(self) -> None:
        from researchers import schema  # noqa: F401 - registers the OpenAPI auth extension
