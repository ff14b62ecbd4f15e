"""`make demo`'s banner (README.md): printed last with every URL, the admin login and the demo client,
kept in .local/demo.txt readable by the owner only; the children log quietly. (.ci/run checks the
real thing: the banner is the last line of a running demo and the client secret survives a restart.)
"""

from __future__ import annotations

import pytest

from platform_api import demo, embedded

SEED = {
    "admin_username": "admin",
    "admin_password": "pw-123",
    "client_id": "client-abc",
    "client_secret": "s" * 40,
    "researcher_email": "demo.researcher@example.org",
    "researcher_password": "rpw",
}


def test_the_banner_names_every_url_the_admin_login_and_the_demo_client():
    text = demo.banner(SEED, "http://127.0.0.1:8123")
    for needle in ("/api/v1/", "/api/docs", "/api/redoc", "/portal/docs/", "/admin/", "/portal/", "pw-123",
                   "client_id=client-abc", "client_secret=" + "s" * 40, "/oauth/token", "demo.txt"):  # fmt: skip
        assert needle in text, needle
    assert text.rstrip().endswith("=" * 72)


def test_the_banner_is_kept_under_local_for_the_owner_only(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "LOCAL_DIR", tmp_path)
    path = demo.write_banner(demo.banner(SEED, "http://127.0.0.1:8123"))
    assert path == tmp_path / "demo.txt"
    assert path.stat().st_mode & 0o777 == 0o600
    assert "client_secret=" in path.read_text()


@pytest.mark.parametrize(("given", "expected"), [(None, "WARNING"), ("INFO", "INFO")])
def test_the_demo_children_log_quietly_unless_told_otherwise(monkeypatch, given, expected):
    monkeypatch.setattr(
        embedded, "supervised_environment", lambda: ({"PORT": "8123"} | ({"LOG_LEVEL": given} if given else {}), [])
    )
    env, _ = demo._env()
    assert env["LOG_LEVEL"] == expected
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8123"
