"""pytest plugin (loaded with -p before Django's settings): test-only defaults.

Only what a test run needs and a developer would otherwise have to export by hand; the
servers come from DATABASE_URL/REDIS_URL or the embedded ones, as everywhere else.
"""

import os
import uuid

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x7Qp" * 12)
os.environ.setdefault("PSEUDONYM_KEY", "test-only-pseudonym-master-key-" + "k3Yz" * 8)
os.environ.setdefault("EMAIL_URL", "locmem://")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# The test client speaks plain HTTP.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
# A private Celery queue per test run: a demo worker on the same Redis never takes our tasks.
os.environ.setdefault("CELERY_DEFAULT_QUEUE", f"test-{uuid.uuid4().hex[:12]}")
# pytest-django's flush between transactional tests TRUNCATEs append-only tables.
os.environ.setdefault("DATABASE_ALLOW_TRUNCATE", "true")
