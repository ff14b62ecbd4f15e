"""The pseudonym master key (docs/pseudonyms.md): no key in code, no published key, no weak key.

The attacks replayed: a deployment that forgot PSEUDONYM_KEY used a constant written in
settings.py (every pseudonym reversible by anyone with the source); the .env.example placeholder
passed ``check --deploy``.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from platform_api import local_secrets
from tests.conftest import BASE_DIR
from tests.platform_api.test_deploy_check import PRODUCTION_ENV, run_manage

OLD_FALLBACK = "development-only-pseudonym-master-key-0123456789abcdef"  # settings.py before issue 10
PLACEHOLDER = "replace-with-the-output-of-python-c-import-secrets-print-secrets-token_hex-32"
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".example", ".yml", ".yaml", ".sh", ".env", ""}
ASSIGNMENT = re.compile(r"PSEUDONYM_KEY\s*[=:]\s*[\"']?([^\s\"'#`),]+)")


def test_production_refuses_to_start_without_a_pseudonym_key():
    env = {**PRODUCTION_ENV, "PSEUDONYM_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "PSEUDONYM_KEY is not set" in result.stderr
    assert "secrets.token_hex(32)" in result.stderr  # the message says how to make one


WEAK_KEYS = {
    "placeholder": (PLACEHOLDER, "published in the repository"),
    "old placeholder": ("change-me-32-or-more-random-characters-xxxxxxxx", "published in the repository"),
    "old fallback": (OLD_FALLBACK, "published in the repository"),
    "repeated": ("ab" * 32, "too little entropy"),
    "pattern": ("0123456789abcdef" * 4, "too little entropy"),
    "16 bytes": (secrets.token_hex(16), "needs at least 32"),
    "passphrase": ("correct horse battery staple and more words", "hex or base64"),
    "identifier": ("COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT", "hex or base64"),
}


@pytest.mark.parametrize("name", list(WEAK_KEYS))
def test_a_published_short_or_low_entropy_key_is_refused(name):
    value, reason = WEAK_KEYS[name]
    problems = local_secrets.key_problems(value)
    assert problems and reason in problems[0]
    assert value not in problems[0]  # never echoed


def test_production_refuses_to_start_with_the_env_example_placeholder():
    result = run_manage("check", "--deploy", env={**PRODUCTION_ENV, "PSEUDONYM_KEY": PLACEHOLDER})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "published in the repository" in result.stderr
    assert PLACEHOLDER not in result.stderr + result.stdout  # never echoed


def test_check_deploy_fails_on_the_placeholder_even_when_debug_lets_it_start():
    env = {**PRODUCTION_ENV, "DJANGO_DEBUG": "true", "PSEUDONYM_KEY": PLACEHOLDER}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "platform_api.E010" in result.stdout + result.stderr
    assert "published in the repository" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "encode", [bytes.hex, lambda b: base64.b64encode(b).decode(), lambda b: base64.urlsafe_b64encode(b).decode()]
)
def test_hex_and_base64_encodings_of_32_random_bytes_are_accepted(encode):
    raw = secrets.token_bytes(32)
    assert local_secrets.key_problems(encode(raw)) == []
    assert local_secrets.master_key_bytes(encode(raw)) == raw


def test_the_test_session_key_is_random_and_strong():
    # Never a constant: the test plugin draws one per session.
    assert local_secrets.key_problems(settings.PSEUDONYM_KEY) == []
    assert local_secrets.digest(settings.PSEUDONYM_KEY) not in local_secrets.PUBLISHED_KEY_DIGESTS


def test_there_is_no_fallback_key_in_the_code():
    source = (BASE_DIR / "platform_api" / "settings.py").read_text()
    assert "fallback=" not in source.split("PSEUDONYM_KEY = ", 1)[1].split("\n\n", 1)[0]
    # Without the variable and without DEBUG nothing derives a key: settings refuse (above), and the
    # settings module has no literal that could stand in for one.
    for literal in re.findall(r"[\"']([^\"']{32,})[\"']", source):
        assert local_secrets.key_problems(literal), "settings.py holds a usable key literal"


SKIPPED_DIRS = {".git", ".venv", ".local", "node_modules", "__pycache__", "build", "dist"}


def _repository_text_files():
    # The skipped trees are pruned, not walked (the virtualenv alone holds tens of thousands of files).
    for root, dirs, files in os.walk(BASE_DIR):
        dirs[:] = [name for name in dirs if name not in SKIPPED_DIRS]
        for name in files:
            path = Path(root) / name
            if path.suffix in TEXT_SUFFIXES or name.startswith(".env"):
                try:
                    yield path, path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue


def test_every_pseudonym_key_published_in_the_repository_is_refused():
    found = {}
    for path, text in _repository_text_files():
        for value in ASSIGNMENT.findall(text):
            # Code and shell references (settings.PSEUDONYM_KEY = x, ${VAR}, os.environ[...]) are not values.
            if value.startswith(("$", "{", "settings", "os.", "env", "secrets.", "local_secrets", "value")):
                continue
            if len(value) < 8:
                continue
            found[value] = path.relative_to(BASE_DIR)
    assert PLACEHOLDER in found  # the scan sees .env.example
    for value, path in found.items():
        assert local_secrets.digest(value) in local_secrets.PUBLISHED_KEY_DIGESTS, f"{path}: a key value not denied"
        assert local_secrets.key_problems(value)


def test_a_checkout_generates_its_key_once_with_mode_0600_and_reuses_it(tmp_path):
    key = local_secrets.local_pseudonym_key(tmp_path)
    path = tmp_path / local_secrets.LOCAL_KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secrets.key_problems(key) == []
    assert local_secrets.local_pseudonym_key(tmp_path) == key  # reused on later runs
    assert local_secrets.local_pseudonym_key(tmp_path / "elsewhere") != key  # random, not derived


def test_concurrent_first_runs_agree_on_one_key(tmp_path):
    # Many rounds: a reader that met the file half written (empty) used to fail the round.
    for round_ in range(30):
        directory = tmp_path / str(round_)
        with ThreadPoolExecutor(8) as pool:
            keys = set(pool.map(local_secrets.local_pseudonym_key, [directory] * 16))
        assert len(keys) == 1
        assert [p.name for p in directory.iterdir()] == ["pseudonym.key"]  # no temporary file left
        assert (directory / "pseudonym.key").stat().st_mode & 0o777 == 0o600


def test_a_development_process_without_a_key_uses_the_checkouts_generated_key(tmp_path):
    code = "from django.conf import settings; print(settings.PSEUDONYM_KEY)"
    env = {k: v for k, v in os.environ.items() if k not in {"PSEUDONYM_KEY", "DJANGO_DEBUG"}}
    env.update(DJANGO_DEBUG="true", PLATFORM_LOCAL_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (tmp_path / "pseudonym.key").read_text().strip()
