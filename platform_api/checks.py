"""System checks of the platform's own settings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def public_base_url_is_set(app_configs=None, **kwargs) -> list[Warning]:
    """E-mails and release citations need the platform's real address (README.md, Configuration)."""
    if settings.PUBLIC_BASE_URL == settings.PUBLIC_BASE_URL_DEFAULT:
        return [
            Warning(
                "PUBLIC_BASE_URL is the development default; e-mails and release citations would link to it.",
                hint="Set PUBLIC_BASE_URL to the address researchers reach the platform at, e.g. "
                "https://research.example.org.",
                id="platform_api.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def pseudonym_key_is_strong(app_configs=None, **kwargs) -> list[Error]:
    """PSEUDONYM_KEY: set, 32+ random bytes, not a value published in the repository (docs/pseudonyms.md)."""
    from platform_api import local_secrets

    return [
        Error(
            problem,
            hint='Generate one with: python -c "import secrets; print(secrets.token_hex(32))" and keep it out of the '
            "repository (README.md, Configuration).",
            id="platform_api.E010",
        )
        for problem in local_secrets.key_problems(settings.PSEUDONYM_KEY)
    ]


@register(Tags.security, deploy=True)
def audit_chain_key_is_set(app_configs=None, **kwargs) -> list[Error]:
    """The audit chain's key must come from the environment, never a file next to the code."""
    if not settings.AUDIT_CHAIN_KEY:
        return [
            Error(
                "AUDIT_CHAIN_KEY is not set; the audit chain would be sealed with a key generated under .local/.",
                hint="Set AUDIT_CHAIN_KEY (at least 32 random characters) from your secret store, "
                "never kept in the database (docs/api.md, Audit log).",
                id="platform_api.E002",
            )
        ]
    return []
