"""Fixtures for the SDSS tests: synthetic frames and a loopback HTTP server."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from galmix.sdss.synthetic import write_synthetic_frame


@pytest.fixture(scope="session")
def r_frame(tmp_path_factory):
    """A bzip2-compressed synthetic r-band frame (float32, FLOATCOMPRESS) and its truth."""
    d = tmp_path_factory.mktemp("frames")
    return write_synthetic_frame(d / "frame-r-003813-5-0023.fits.bz2", seed=42, rotation_deg=25.0)


@dataclass
class ServerState:
    """Files served by the loopback server and how it misbehaves per path.

    behaviour[path] keys: ``fail`` (first n requests answer ``status``,
    default 503), ``truncate`` (first n responses send half the body with
    the full Content-Length), ``sleep`` (seconds before answering, the first
    ``sleep_count`` requests), ``ranges`` (honour Range requests, default True).
    """

    files: dict = field(default_factory=dict)
    behaviour: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        path = urlparse(self.path).path
        rng = self.headers.get("Range")
        with state.lock:
            state.log.append((path, rng))
            n = state.counts[path] = state.counts.get(path, 0) + 1
        beh = state.behaviour.get(path, {})
        if beh.get("sleep") and n <= beh.get("sleep_count", 10**9):
            time.sleep(beh["sleep"])
        if path not in state.files:
            self._send(404, b"not found")
            return
        if n <= beh.get("fail", 0):
            extra = {"Retry-After": str(beh["retry_after"])} if "retry_after" in beh else None
            self._send(beh.get("status", 503), b"try again", extra)
            return
        data = state.files[path]
        start = 0
        status = 200
        headers = {"Content-Type": "application/octet-stream"}
        if rng and beh.get("ranges", True) and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes=") : -1])
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if n <= beh.get("truncate", 0):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, headers)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # clients that time out or drop truncated responses close the socket
        # while the handler still writes (BrokenPipeError): expected here
        pass


@pytest.fixture
def http_server():
    """A threaded HTTP server on 127.0.0.1 (random port) serving ``state.files``."""
    state = ServerState()
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.block_on_close = False
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
