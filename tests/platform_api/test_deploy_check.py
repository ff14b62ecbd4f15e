import secrets
import subprocess
import sys

from tests.conftest import BASE_DIR, subprocess_env

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "pr0duction-like-secret-key-with-plenty-of-entropy-9f8e7d6c5b4a3210",
    "DJANGO_ALLOWED_HOSTS": "research-api.example.org",
    "PSEUDONYM_KEY": secrets.token_hex(32),  # random per run: docs/pseudonyms.md
    "EMAIL_URL": "smtp+tls://mailer:pw@smtp.example.org",
    "PUBLIC_BASE_URL": "https://research-api.example.org",
    "AUDIT_CHAIN_KEY": "production-like-audit-chain-key-5e4d3c2b1a09f8e7",
}


def run_manage(*args, env):
    full_env = subprocess_env()
    for key in ("DJANGO_SECURE_SSL_REDIRECT", "DJANGO_ALLOWED_HOSTS", "EMAIL_URL"):
        full_env.pop(key, None)
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=full_env, capture_output=True, text=True, timeout=120
    )


# A clean `check --deploy` with production settings: tests/security/test_api8_security_misconfiguration.py.


def test_check_deploy_warns_while_public_base_url_is_the_development_default():
    env = {**PRODUCTION_ENV}
    env.pop("PUBLIC_BASE_URL")
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "platform_api.W001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_a_bad_setting_value_fails_with_a_clear_message():
    result = run_manage("check", env={**PRODUCTION_ENV, "DATABASE_CONNECT_TIMEOUT": "soon"})
    assert result.returncode != 0
    assert "DATABASE_CONNECT_TIMEOUT must be an integer, got 'soon'" in result.stderr
