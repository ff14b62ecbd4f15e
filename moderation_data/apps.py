from django.apps import AppConfig


class ModerationDataConfig(AppConfig):
    name = "moderation_data"
    verbose_name = "Moderation data"
