from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from platform_api.env import (
    celery_broker_url,
    env_bool,
    env_decimal,
    env_int,
    env_list,
    env_secret,
    parse_database_url,
    parse_email_url,
    parse_redis_url,
)

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("YES", True), ("off", False), ("0", False)]
)
def test_env_bool_reads_common_spellings(raw, expected):
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is expected


def test_env_bool_uses_default_when_unset_or_blank():
    assert env_bool("FLAG", True, environ={}) is True
    assert env_bool("FLAG", False, environ={"FLAG": "  "}) is False


def test_env_bool_rejects_nonsense_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG must be a boolean.*'maybe'"):
        env_bool("DJANGO_DEBUG", False, environ={"DJANGO_DEBUG": "maybe"})


def test_env_int_rejects_non_integers_and_out_of_range_values():
    assert env_int("N", 5, environ={"N": "7"}) == 7
    with pytest.raises(ImproperlyConfigured, match="N must be an integer, got 'seven'"):
        env_int("N", 5, environ={"N": "seven"})
    with pytest.raises(ImproperlyConfigured, match="N must be >= 1, got 0"):
        env_int("N", 5, min_value=1, environ={"N": "0"})
    with pytest.raises(ImproperlyConfigured, match="N must be <= 10, got 11"):
        env_int("N", 5, max_value=10, environ={"N": "11"})


def test_env_decimal_is_exact_and_rejects_nonsense_extra_decimals_and_out_of_range_values():
    assert env_decimal("EPS", "5", environ={"EPS": "0.25"}) == Decimal("0.25")
    assert env_decimal("EPS", "5", environ={}) == Decimal("5")
    with pytest.raises(ImproperlyConfigured, match="EPS must be a decimal number, got 'lots'"):
        env_decimal("EPS", "5", environ={"EPS": "lots"})
    with pytest.raises(ImproperlyConfigured, match="at most 6 decimal places"):
        env_decimal("EPS", "5", environ={"EPS": "0.1234567"})
    with pytest.raises(ImproperlyConfigured, match="finite"):
        env_decimal("EPS", "5", environ={"EPS": "Infinity"})
    with pytest.raises(ImproperlyConfigured, match="EPS must be >= 0, got -1"):
        env_decimal("EPS", "5", min_value="0", environ={"EPS": "-1"})


def test_env_list_splits_and_trims():
    assert env_list("HOSTS", ["x"], environ={"HOSTS": " a.example , b.example,, "}) == ["a.example", "b.example"]
    assert env_list("HOSTS", ["x"], environ={}) == ["x"]


def test_required_secret_missing_fails_loudly():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is required"):
        env_secret("DJANGO_SECRET_KEY", required=True, environ={})


def test_short_secret_fails_without_echoing_it():
    with pytest.raises(ImproperlyConfigured) as excinfo:
        env_secret("PSEUDONYM_KEY", required=True, min_length=32, environ={"PSEUDONYM_KEY": "hunter2"})
    assert "too short" in str(excinfo.value)
    assert "hunter2" not in str(excinfo.value)


def test_optional_secret_falls_back_only_when_allowed():
    assert env_secret("K", required=False, fallback="f" * 40, environ={}) == "f" * 40


def test_database_url_must_be_postgresql():
    with pytest.raises(ImproperlyConfigured, match="PostgreSQL is the only supported database"):
        parse_database_url("sqlite:///db.sqlite3")
    with pytest.raises(ImproperlyConfigured, match="needs a database name"):
        parse_database_url("postgresql://u@localhost:5432/")


def test_database_url_parses_host_port_and_unix_socket():
    tcp = parse_database_url("postgresql://alice:s%40cret@db.internal:6543/platform")
    assert (tcp["HOST"], tcp["PORT"], tcp["NAME"], tcp["USER"], tcp["PASSWORD"]) == (
        "db.internal",
        6543,
        "platform",
        "alice",
        "s@cret",
    )
    sock = parse_database_url("postgresql://postgres@%2Fvar%2Frun%2Fpg/platform")
    assert sock["HOST"] == "/var/run/pg"


def test_redis_url_validation_and_celery_broker_spelling():
    assert parse_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must start with"):
        parse_redis_url("http://example.org")
    with pytest.raises(ImproperlyConfigured, match="needs a socket path"):
        parse_redis_url("unix://")
    assert celery_broker_url("unix:///tmp/r.sock?db=0") == "redis+socket:///tmp/r.sock"
    assert celery_broker_url("redis://h:6379/1") == "redis://h:6379/1"


def test_email_url_defaults_to_console_and_parses_smtp():
    assert parse_email_url(None)["EMAIL_BACKEND"] == "platform_api.mail.StderrConsoleBackend"
    smtp = parse_email_url("smtp+tls://mailer:p%40ss@smtp.example.org")
    assert smtp["EMAIL_HOST"] == "smtp.example.org"
    assert smtp["EMAIL_PORT"] == 587
    assert smtp["EMAIL_USE_TLS"] is True
    assert smtp["EMAIL_HOST_PASSWORD"] == "p@ss"
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL must be"):
        parse_email_url("ftp://x")
