"""Resuming: a walk killed half-way, a download cut mid-file, a tiny rate limit walked to the end."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import modresearch
import pandas as pd
import pytest

from tests.api_fixtures import GunicornServer

pytestmark = pytest.mark.django_db

DATASET = "moderation-decisions"
KILLED_WALK = """
import sys
from modresearch import Client
Client.from_env(progress=False).records("moderation-decisions", page_size=10, state=sys.argv[1])
"""


def _rows_saved(state: Path) -> int:
    try:
        return int(json.loads(state.read_text())["rows"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0  # not written yet (the state is replaced atomically, never read half-written)


def test_a_walk_killed_half_way_resumes_from_its_state_file_with_no_duplicate_or_missing_row(live, tmp_workdir):
    state = tmp_workdir / "walk.state"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WALK, str(state)], env=live.env())
    try:
        deadline = time.monotonic() + 60
        while _rows_saved(state) < 400 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the walk ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    saved = _rows_saved(state)
    assert 400 <= saved < live.release.row_count
    client = live.client()
    resumed = client.records(DATASET, page_size=10, state=state)
    whole = client.records(DATASET)
    assert resumed["decision_id"].is_unique
    pd.testing.assert_frame_equal(resumed, whole)
    assert not state.exists() and not Path(f"{state}.pages").exists()


class CuttingProxy:
    """A TCP proxy to the platform that breaks the first export download after ``cut_after`` bytes."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cut_done = False
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            state = {"cut": False, "sent": 0}
            threading.Thread(target=self._requests, args=(downstream, upstream, state), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, downstream, state), daemon=True).start()

    def _requests(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        while data := self._recv(src):
            self.requests.append(data)
            if b"/file HTTP/1.1" in data and not self.cut_done:
                self.cut_done = state["cut"] = True
            dst.sendall(data)
        dst.close()

    def _responses(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        while data := self._recv(src):
            if state["cut"]:
                room = self.cut_after - state["sent"]
                dst.sendall(data[: max(0, room)])
                state["sent"] += len(data)
                if state["sent"] >= self.cut_after:
                    dst.shutdown(socket.SHUT_RDWR)
                    dst.close()
                    src.close()
                    return
            else:
                dst.sendall(data)
        dst.close()

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    def close(self) -> None:
        self.sock.close()


def test_an_interrupted_download_resumes_with_range_and_verifies_the_sha256(live, tmp_workdir):
    proxy = CuttingProxy(live.server.port, cut_after=200_000)
    try:
        client = modresearch.Client(proxy.url, live.default.client_id, live.default.client_secret, progress=False)
        client._transport.sleep = lambda seconds: None  # the retry after a broken connection need not wait
        job = client.export(DATASET, format="jsonl").wait(progress=False, poll=0.2)
        assert job.bytes > 2 * proxy.cut_after
        path = job.download(tmp_workdir / "decisions.jsonl", progress=False)
    finally:
        proxy.close()
    assert proxy.cut_done
    resumed = [r for r in proxy.requests if b"/file HTTP/1.1" in r and b"range: bytes=" in r.lower()]
    assert len(resumed) == 1 and f'if-range: "{job.sha256}"'.encode() in resumed[0].lower()
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == job.sha256
    assert path.stat().st_size == job.bytes


def test_a_corrupt_partial_download_is_detected_and_removed(live, tmp_workdir):
    client = live.client()
    job = client.export(DATASET, format="csv", fields=["decision_id", "policy"]).wait(progress=False, poll=0.2)
    target = tmp_workdir / "decisions.csv"
    part = tmp_workdir / "decisions.csv.part"
    part.write_bytes(b"x" * 1000)  # a leftover that is not the file's beginning
    with pytest.raises(modresearch.ChecksumMismatch):
        job.download(target, progress=False)
    assert not part.exists() and not target.exists()
    assert job.download(target, progress=False).read_bytes().startswith(b"decision_id,policy\r\n")


@pytest.fixture(scope="module")
def short_minutes(live):
    """A gunicorn whose grant "minutes" last 1 second (tests/client/short_window_wsgi.py)."""
    server = GunicornServer(app="tests.client.short_window_wsgi", extra_env={"TEST_MINUTE_SECONDS": "1"}).start()
    yield server
    server.stop()


def test_a_tiny_per_minute_limit_is_walked_to_completion_by_backing_off(live, short_minutes):
    credentials = live.make_credentials(requests_per_minute=2, requests_per_day=10_000, records_per_day=100_000)
    client = modresearch.Client(short_minutes.url, credentials.client_id, credentials.client_secret, progress=False)
    frame = client.records(DATASET, page_size=300)  # release, codebook and 5 pages: 7 requests, 2 a "minute"
    transport = client._transport
    # Refused at least once (how often depends on how fast the machine answers), waited and carried on.
    assert transport.retries >= 1 and transport.waited > 0
    assert len(frame) == live.release.row_count and frame["decision_id"].is_unique
