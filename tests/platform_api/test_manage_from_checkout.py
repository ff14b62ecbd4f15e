"""`python manage.py …` from the checkout works against the embedded servers without DJANGO_DEBUG
(README.md, "Operators"): the checkout's development defaults fill what a local server needs, and
never apply to a deployment that names its own database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BASE_DIR, subprocess_env

PRINT_SETTINGS = (
    "import json; from django.conf import settings; "
    "print(json.dumps([settings.DEBUG, settings.ALLOWED_HOSTS, settings.SECURE_SSL_REDIRECT, "
    "settings.SESSION_COOKIE_SECURE, settings.DATABASES['default']['NAME']]))"
)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
    )


def checkout_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    # The secrets come from the environment (or, in a checkout, from .local/; docs/privacy.md).
    env["DJANGO_SECRET_KEY"] = os.environ["DJANGO_SECRET_KEY"]
    env["PSEUDONYM_KEY"] = os.environ["PSEUDONYM_KEY"]
    env.update(extra)
    return env


@pytest.mark.django_db
def test_manage_py_on_the_embedded_servers_needs_no_debug_flag():
    result = manage("shell", "-c", PRINT_SETTINGS, env=checkout_env())
    assert result.returncode == 0, result.stderr[-2000:]
    debug, hosts, ssl_redirect, secure_cookie, database = json.loads(result.stdout.strip().splitlines()[-1])
    assert debug is False
    assert "127.0.0.1" in hosts and "localhost" in hosts  # runserver refuses to start without them
    assert ssl_redirect is False and secure_cookie is False  # plain HTTP on localhost, like make demo
    assert database == "platform"  # the embedded server's database
    check = manage("check", env=checkout_env())
    assert check.returncode == 0, check.stderr[-2000:]


@pytest.mark.django_db
def test_a_deployment_naming_its_database_keeps_the_production_defaults():
    env = subprocess_env()
    env.pop("DJANGO_ALLOWED_HOSTS", None)
    env.pop("DJANGO_SECURE_SSL_REDIRECT", None)
    env.pop("DJANGO_DEBUG", None)
    result = manage("shell", "-c", PRINT_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    debug, hosts, ssl_redirect, secure_cookie, _ = json.loads(result.stdout.strip().splitlines()[-1])
    assert (debug, hosts, ssl_redirect, secure_cookie) == (False, [], True, True)
