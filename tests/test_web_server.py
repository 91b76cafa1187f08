"""The server: static files, health, no path traversal, bounded concurrency, live pool, Ctrl-C."""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from typer.testing import CliRunner

from nonesuch.cli import app
from nonesuch.web.live_pool import PoolConfig
from nonesuch.web.publish import publish_site
from nonesuch.web.server import LiveConfig, ServerConfig, start_server
from web_fixtures import EmojiProducer


@pytest.fixture(scope="module")
def site(emoji_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    (root / "secret.txt").write_text("outside the site")
    site = publish_site(emoji_folder, root / "site").site
    (site / "escape.txt").symlink_to(root / "secret.txt")     # a link out must not be followed
    return site


@pytest.fixture(scope="module")
def static_server(site):
    with start_server(site, ServerConfig(port=0, max_concurrency=8)) as server:
        yield server


def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """Send the request target exactly as written (httpx would tidy '..' away first)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_serves_the_site_and_reports_health(static_server, site):
    client = httpx.Client(base_url=static_server.url)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.content == (site / "index.html").read_bytes()
    assert "default-src 'self'" in page.headers["content-security-policy"]
    image = next((site / "img").iterdir())
    response = client.get(f"/img/{image.name}")
    assert response.content == image.read_bytes() and response.headers["content-type"] == "image/png"
    assert "immutable" in response.headers["cache-control"]
    again = client.get(f"/img/{image.name}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/healthz").json() == {"status": "ok", "mode": "static", "images": 48}


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/../../../../etc/passwd", "/img/../../secret.txt",
    "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/img/%2e%2e/%2e%2e/secret.txt",
    "//etc/passwd", "/etc/passwd", "http://127.0.0.1/../secret.txt", "/escape.txt",
    "/img/..%5c..%5csecret.txt", "/.." ,
])
def test_path_traversal_gets_404(static_server, target):
    status, body = raw_get(static_server.url, target)
    assert status == 404, target
    assert b"outside the site" not in body and b"root:" not in body


@pytest.fixture
def gated_live_server(emoji_folder):
    """A live server whose generator is held until the test opens the gate: requests wait."""
    gate = threading.Event()
    producer = EmojiProducer(emoji_folder, gate=gate)
    config = ServerConfig(port=0, max_concurrency=2,
                          live=LiveConfig(pool=PoolConfig(capacity=4, batch_size=2), wait_s=20))
    with start_server("(test producer)", config, producer=producer) as server:
        yield server, gate
        gate.set()


def test_over_the_concurrency_limit_gets_429_and_health_still_answers(gated_live_server):
    server, gate = gated_live_server
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(httpx.get, f"{server.url}/api/next", timeout=30) for _ in range(2)]
        deadline = time.monotonic() + 10
        # Probe with an instant request until both waiting ones are in flight.
        while httpx.get(f"{server.url}/site.css").status_code != 429:
            assert time.monotonic() < deadline, "never refused"
            time.sleep(0.05)
        response = httpx.get(f"{server.url}/api/next")
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        gate.set()
        served = [future.result() for future in waiting]
    assert [r.status_code for r in served] == [200, 200]
    assert served[0].json()["id"] != served[1].json()["id"]
    assert httpx.get(f"{server.url}/api/next").status_code == 200     # capacity is back


def test_live_mode_hands_out_each_image_once_from_a_batched_pool(emoji_folder, caplog):
    producer = EmojiProducer(emoji_folder, delay_s=0.05)
    config = ServerConfig(port=0, live=LiveConfig(pool=PoolConfig(capacity=8, batch_size=4)))
    caplog.set_level(logging.INFO, logger="nonesuch.web.access")
    with start_server("(test producer)", config, producer=producer) as server:
        client = httpx.Client(base_url=server.url)
        entries = [client.get("/api/next").json() for _ in range(12)]
        assert len({e["sha256"] for e in entries}) == 12
        assert len({e["record"]["seed"] for e in entries}) == 12
        for entry in entries[-3:]:
            image = client.get(entry["src"])
            assert hashlib.sha256(image.content).hexdigest() == entry["sha256"]
            assert image.headers["content-type"] == "image/png"
        assert entries[0]["alt"].startswith("An AI-generated image (class ")
        assert client.get("/live/0000000000000000.png").status_code == 404
        settings = client.get("/images.js").text
        assert '"mode":"live"' in settings
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["served"] == 12
    assert all(len(batch) <= 4 for batch in producer.batches)
    assert any(len(batch) == 4 for batch in producer.batches)     # batched, not one at a time
    assert any('"GET /api/next" 200' in r.getMessage() for r in caplog.records)


def test_a_failing_generator_is_logged_and_reported_not_a_crash(emoji_folder, caplog):
    config = ServerConfig(port=0, live=LiveConfig(wait_s=0.5, pool=PoolConfig(error_backoff_s=0.1)))
    with start_server("(test producer)", config, producer=EmojiProducer(emoji_folder, fail=True)) as server:
        response = httpx.get(f"{server.url}/api/next")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 503 and "generator is broken" in health.json()["last_error"]
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records if r.name == "nonesuch.web")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serve_logs_requests_and_stops_cleanly_on_ctrl_c(site):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "nonesuch", "serve", str(site), "--port", str(port)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "NONESUCH_NO_REEXEC": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
    log = process.stderr.read()
    assert '"GET /healthz" 200' in log and "Traceback" not in log


def test_cli_serve_names_a_folder_it_cannot_serve(tmp_path):
    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "neither a published site" in result.output and str(tmp_path) in result.output


@pytest.mark.parametrize("args, message", [
    (["--port", "-1"], "--port must be from 1 to 65535, got -1"),        # a bind() traceback
    (["--port", "70000"], "--port must be from 1 to 65535, got 70000"),
    (["--size", "100000"], "--size must be from 64 to 2048 px"),            # 28 GiB per image, in the pool thread
    (["--pool-size", f"{10 ** 12}"], "--pool-size 1000000000000: "),      # filled until memory ran out
    (["--batch-size", f"{10 ** 12}"], "--batch-size 1000000000000: "),
    (["--pool-size", "0"], "--pool-size must be at least 1, got 0"),
    (["--max-concurrency", "0"], "--max-concurrency must be from 1 to 4096, got 0"),
    (["--max-concurrency", str(10**12)], "--max-concurrency must be from 1 to 4096, got 1000000000000"),
])
def test_bad_serve_numbers_are_one_line_before_serving(args, message):
    result = CliRunner().invoke(app, ["serve", "smileys32", *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")


@pytest.mark.parametrize("args, message", [
    (["--count", f"{10 ** 12}"], "--count must be from 1 to 100000"),    # a MemoryError traceback
    (["--count", "0"], "--count must be from 1 to 100000, got 0"),
    (["--size", "100000"], "--size must be from 64 to 2048 px"),          # a 28 GiB allocation
])
def test_bad_publish_numbers_are_one_line_before_any_work(tmp_path, args, message):
    result = CliRunner().invoke(app, ["publish", "smileys32", "--out", str(tmp_path / "site"), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


class StreamingEmojiProducer(EmojiProducer):
    """Like the real Producer: produce_batches hands back each batch as soon as it is done."""

    def __init__(self, emoji_folder):
        super().__init__(emoji_folder)
        self.calls: list[int] = []          # seeds asked for per produce_batches call

    def produce_batches(self, seeds, batch_size):
        self.calls.append(len(seeds))
        for start in range(0, len(seeds), batch_size):
            yield self.produce(seeds[start:start + batch_size])


def test_live_pool_reads_one_stream_of_batches_and_pauses_it_while_full(emoji_folder):
    producer = StreamingEmojiProducer(emoji_folder)
    pool = PoolConfig(capacity=16, batch_size=4, stream_seeds=24)
    with start_server("(test producer)", ServerConfig(port=0, live=LiveConfig(pool=pool)),
                      producer=producer) as server:
        client = httpx.Client(base_url=server.url)
        entries = [client.get("/api/next").json() for _ in range(40)]
        time.sleep(0.3)                                                # let it refill
        health = client.get("/healthz").json()
    assert len({e["record"]["seed"] for e in entries}) == 40          # each image once
    assert producer.calls[:2] == [24, 24]                             # long streams, not a call per refill
    assert {len(batch) for batch in producer.batches} == {4}          # handed back 4 at a time
    assert health["ready"] == health["produced"] - 40 <= 16           # paused while full
