"""Hostile clients against the server, on loopback, in bounded loops: idle and half-sent
connections are closed, /healthz answers through them, a flood of log lines is summarised, and
a request path cannot forge a log line."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from nonesuch.web import connections
from nonesuch.web.connections import RateLimit, printable
from nonesuch.web.publish import publish_site
from nonesuch.web.server import ServerConfig, start_server


@pytest.fixture(scope="module")
def site(emoji_folder, tmp_path_factory):
    return publish_site(emoji_folder / "objects", tmp_path_factory.mktemp("hostile") / "site").site


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _closed_by_server(connection: socket.socket, within_s: float) -> bool:
    connection.settimeout(within_s)
    try:
        while connection.recv(4096):
            pass                # a 4xx/5xx answer to a half request, then the close
        return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def test_idle_and_half_sent_connections_are_closed_and_health_still_answers(site, monkeypatch):
    monkeypatch.setattr(connections, "REQUEST_HEAD_S", 1.0)
    with start_server(site, ServerConfig(port=0)) as server:
        host, port = _address(server.url)
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(300)]
        slow = [socket.create_connection((host, port), timeout=5) for _ in range(20)]
        for connection in slow:           # slowloris: a request head that never ends
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-a: ")
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        started = time.monotonic()
        closed = [_closed_by_server(c, within_s=6) for c in idle + slow]
        assert all(closed) and time.monotonic() - started < 8
        for connection in idle + slow:
            connection.close()
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("path, forged", [
    ("/x%0a2026-01-01%20INFO%20nonesuch.web:%20admin%20logged%20in", "\n"),
    ("/x%0d%0aforged", "\r"),
    ("/x%1b[2Jclear-screen", "\x1b"),
    ("/x%e2%80%a8line-separator", "\u2028"),
    ("/x%00nul", "\x00"),
])
def test_a_request_path_cannot_forge_a_log_line(site, caplog, path, forged):
    with start_server(site, ServerConfig(port=0)) as server, \
            caplog.at_level(logging.INFO, logger="nonesuch.web.access"):
        host, port = _address(server.url)
        with socket.create_connection((host, port), timeout=10) as connection:
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            while connection.recv(65536):
                pass
    lines = [r.getMessage() for r in caplog.records if r.name == "nonesuch.web.access"]
    assert lines and all(forged not in line for line in lines), lines
    assert any(printable(forged) in line for line in lines)


def test_printable_escapes_every_control_character_and_keeps_the_rest():
    assert printable("/a b/é/日本") == "/a b/é/日本"
    for code in [*range(0x20), 0x7f, 0x85, 0x2028, 0x2029]:
        assert printable(f"/a{chr(code)}b").isprintable()
    assert printable("/a\\nb") == "/a\\\\nb"   # a literal backslash-n is not confused with an escape


def test_a_flood_of_log_lines_becomes_a_trickle_and_a_count():
    now = [0.0]
    limit = RateLimit(per_second=5, clock=lambda: now[0])

    def emit(message):
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, message, None, None)
        return limit.filter(record), record.getMessage()

    passed = [emit(f"bad request {i}")[0] for i in range(100_000)]   # one second's flood
    assert sum(passed) == 5
    now[0] = 1.5
    ok, line = emit("next")
    assert ok and line.startswith("(99995 log lines dropped")
