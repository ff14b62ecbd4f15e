"""pytest plugin (loaded with -p before Django's settings): test-only defaults.

Only what a test run needs and a developer would otherwise have to export by hand. The servers
come from DATABASE_URL/REDIS_URL, else the embedded ones (this plugin is a checkout entry point,
like manage.py). Under pytest-xdist every worker gets its own Celery queue and rate-limit key
space (pytest-django gives each its own database).
"""

import os
import secrets
import uuid

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x7Qp" * 12)
# A random pseudonym master key per test session (never a constant: docs/pseudonyms.md).
os.environ.setdefault("PSEUDONYM_KEY", secrets.token_hex(32))
# The audit chain key, random per session too (docs/security.md).
os.environ.setdefault("AUDIT_CHAIN_KEY", secrets.token_hex(32))
os.environ.setdefault("EMAIL_URL", "locmem://")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# The test client speaks plain HTTP.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
# A private Celery queue per test run (and per xdist worker): a demo worker on the same Redis,
# or another worker's tasks, never mix with ours.
_run = os.environ.setdefault("PLATFORM_TEST_RUN", uuid.uuid4().hex[:12])
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["CELERY_DEFAULT_QUEUE"] = f"test-{_run}-{_worker}"
os.environ["RATELIMIT_KEY_PREFIX"] = f"test-{_run}-{_worker}:rl"
# pytest-django's flush between transactional tests TRUNCATEs append-only tables.
os.environ.setdefault("DATABASE_ALLOW_TRUNCATE", "true")

try:
    from platform_api import embedded
except ImportError:  # pragma: no cover - the dev extra installs it
    embedded = None
if embedded is not None and embedded.available():
    embedded.use_embedded_servers_if_unset()
