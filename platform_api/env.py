"""Typed readers for configuration from the environment. Each fails loudly, naming the variable."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: dict[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None, *, environ: dict[str, str] | None = None) -> str | None:
    value = _raw(name, environ)
    return default if value is None else value


def env_required(name: str, *, hint: str = "", environ: dict[str, str] | None = None) -> str:
    """A value that must be set; the error says how to set it."""
    value = _raw(name, environ)
    if value is None:
        raise ImproperlyConfigured(f"{name} is required: set it in the environment{', ' + hint if hint else ''}.")
    return value


def env_bool(name: str, default: bool, *, environ: dict[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def env_int(
    name: str,
    default: int,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if min_value is not None and number < min_value:
        raise ImproperlyConfigured(f"{name} must be >= {min_value}, got {number}")
    if max_value is not None and number > max_value:
        raise ImproperlyConfigured(f"{name} must be <= {max_value}, got {number}")
    return number


def env_decimal(
    name: str,
    default: str,
    *,
    min_value: str | None = None,
    max_value: str | None = None,
    places: int = 6,
    environ: dict[str, str] | None = None,
) -> Decimal:
    """An exact decimal (e.g. a privacy budget ε), with at most ``places`` digits after the point."""
    value = _raw(name, environ)
    text = default if value is None else value
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number, got {text!r}") from None
    if not number.is_finite() or -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise ImproperlyConfigured(f"{name} must be a finite number with at most {places} decimal places, got {text!r}")
    if min_value is not None and number < Decimal(min_value):
        raise ImproperlyConfigured(f"{name} must be >= {min_value}, got {text}")
    if max_value is not None and number > Decimal(max_value):
        raise ImproperlyConfigured(f"{name} must be <= {max_value}, got {text}")
    return number


def env_url(name: str, default: str, *, environ: dict[str, str] | None = None) -> str:
    """An absolute http(s) URL without a trailing slash (e.g. the site's public address)."""
    value = _raw(name, environ) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be an absolute http(s) URL like https://research.example.org, got {value!r}."
        )
    return value.rstrip("/")


def env_list(name: str, default: list[str], *, environ: dict[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(
    name: str,
    *,
    required: bool,
    fallback: str | None = None,
    min_length: int = 32,
    environ: dict[str, str] | None = None,
) -> str:
    """A secret: required in production (no fallback), never echoed in error messages."""
    value = _raw(name, environ)
    if value is None:
        if required or fallback is None:
            raise ImproperlyConfigured(f"{name} is required (set it in the environment; see .env.example)")
        return fallback
    if len(value) < min_length:
        raise ImproperlyConfigured(f"{name} is too short: it must be at least {min_length} characters")
    return value


def parse_redis_url(url: str, *, name: str = "REDIS_URL") -> str:
    """Validate a Redis URL (redis://, rediss://, unix://) and return it normalised."""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"{name} must start with redis://, rediss:// or unix://, got scheme {parts.scheme!r}"
        )
    if parts.scheme == "unix" and not parts.path:
        raise ImproperlyConfigured(f"{name} unix:// URL needs a socket path")
    if parts.scheme != "unix" and not parts.hostname:
        raise ImproperlyConfigured(f"{name} needs a host")
    return url


def celery_broker_url(redis_url: str) -> str:
    """kombu spells a Redis Unix socket as redis+socket://; everything else passes through."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}"
    return redis_url


def parse_database_url(url: str, *, name: str = "DATABASE_URL") -> dict:
    import dj_database_url

    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"{name} must be a PostgreSQL URL (postgresql://user:password@host:port/name); "
            f"got scheme {parts.scheme!r}: PostgreSQL is the only supported database"
        )
    if not parts.path.strip("/"):
        raise ImproperlyConfigured(f"{name} needs a database name (postgresql://…/NAME)")
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} could not be parsed: {exc}") from None
    return config


def parse_email_url(url: str | None, *, name: str = "EMAIL_URL") -> dict:
    """console:// (default), smtp://user:pass@host:port, smtp+tls://..., smtp+ssl://..."""
    if url is None:
        return {"EMAIL_BACKEND": "platform_api.mail.StderrConsoleBackend"}
    parts = urlsplit(url)
    if parts.scheme in {"console", ""}:
        return {"EMAIL_BACKEND": "platform_api.mail.StderrConsoleBackend"}
    if parts.scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if parts.scheme not in {"smtp", "smtp+tls", "smtp+ssl", "smtps"}:
        raise ImproperlyConfigured(
            f"{name} must be console://, smtp://, smtp+tls:// or smtp+ssl://, got {parts.scheme!r}"
        )
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} needs a host")
    query = parse_qs(parts.query)
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port") from None
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if parts.scheme in {"smtp+ssl", "smtps"} else 587 if "tls" in parts.scheme else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": parts.scheme == "smtp+tls" or query.get("tls") == ["1"],
        "EMAIL_USE_SSL": parts.scheme in {"smtp+ssl", "smtps"},
        "EMAIL_TIMEOUT": 10,
    }
