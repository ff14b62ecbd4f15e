"""Password hashers for the test run."""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Same algorithm name as Django's default, fewer rounds: gunicorn verifies these hashes with the
    rounds written in them, so the server keeps its production hasher and token requests stay fast."""

    iterations = 1000


FAST_PBKDF2 = f"{FastPBKDF2PasswordHasher.__module__}.{FastPBKDF2PasswordHasher.__qualname__}"
