from django.apps import AppConfig
from django.conf import settings


class PlatformApiConfig(AppConfig):
    name = "platform_api"
    verbose_name = "Platform"

    def ready(self) -> None:
        from platform_api import checks  # noqa: F401 - registers the deploy checks

        # WhiteNoise warns about a missing STATIC_ROOT; collectstatic fills it in production.
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
