"""OWASP API7:2023 Server Side Request Forgery.

The platform never fetches a URL a caller supplies. Statically: no module of the platform imports
an HTTP client or opens sockets or URLs (the only outbound connections are to its own PostgreSQL,
Redis and SMTP server, all from settings). Behaviourally: URLs pointing at a listener of the test,
put everywhere a caller can put text (query values, export fields, portal forms, OAuth
parameters, headers), never cause a request to it.
"""

from __future__ import annotations

import ast
import http.server
import threading
from pathlib import Path

import pytest

from tests.api_fixtures import make_research_client
from tests.security.figures import record

pytestmark = pytest.mark.django_db

BASE = Path(__file__).resolve().parents[2]
PACKAGES = ["platform_api", "researchers", "moderation_data"]
NETWORK_MODULES = {"requests", "httpx", "urllib3", "aiohttp", "urllib.request", "http.client", "socket", "ftplib",
                   "pycurl", "smtplib", "telnetlib", "xmlrpc.client"}  # fmt: skip
# Modules allowed a network import, and why (none fetches a caller's URL).
ALLOWED = {
    "platform_api/demo.py": "polls its own local server's /healthz while the demo starts",
    "platform_api/embedded.py": "finds a free local port for the embedded servers",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_platform_module_imports_an_http_client_or_opens_urls():
    offenders = {}
    scanned = 0
    for package in PACKAGES:
        for path in (BASE / package).rglob("*.py"):
            scanned += 1
            relative = str(path.relative_to(BASE))
            hits = {
                m for m in imported_modules(path) if m in NETWORK_MODULES or m.split(".")[0] in {"requests", "httpx"}
            }
            source = path.read_text(encoding="utf-8")
            if "urlopen(" in source or "create_connection(" in source:
                hits.add("urlopen/create_connection")
            if hits and relative not in ALLOWED:
                offenders[relative] = sorted(hits)
    assert offenders == {}
    assert scanned > 50
    record("API7 platform modules scanned for outbound HTTP", scanned)


class Listener(http.server.ThreadingHTTPServer):
    def __init__(self):
        self.hits: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                listener.hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def listener():
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_urls_supplied_anywhere_are_never_fetched(release, listener, client):
    research = make_research_client()
    url = f"{listener.url}/ssrf"
    release_path = "/api/v1/datasets/moderation-decisions/releases/latest"
    condition = {"operation": "EQ", "field_name": "policy", "field_values": [url]}
    research.post(f"{release_path}/records", {"query": {"and": [condition]}, "fields": [url]})
    research.get(f"{release_path}/records", {"policy": url, "fields": url, "cursor": url})
    research.post(f"{release_path}/count", {"query": {"and": [condition]}})
    research.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv", "fields": [url],
                                      "callback_url": url, "webhook": url})  # fmt: skip
    research.post("/api/v1/exports", {"dataset": url, "format": "csv"})
    research.get("/api/v1/me", HTTP_REFERER=url, HTTP_X_FORWARDED_HOST=url.split("//")[1], HTTP_ORIGIN=url)
    client.post("/oauth/token", {"grant_type": "client_credentials", "redirect_uri": url, "jwks_uri": url,
                                 "client_id": url, "client_secret": "x"})  # fmt: skip
    client.post("/portal/register/", {"email": f"a@{url.split('//')[1]}", "website": url, "orcid": url})
    client.force_login(research.grant.application.principal_researcher.user)
    client.post("/portal/applications/new/", {"title": url, "ethics_approval": url, "data_security_plan": url})
    client.get(f"/portal/docs/{url}")
    assert listener.hits == []
