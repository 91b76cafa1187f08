"""Hostile runtime sweep: what the checks of issue 13 cost and what they hold against, as a table.

    PYTHONPATH=src python benchmarks/bench_hostile_runtime.py [--connections 2000] [--writers 4]

Rows:
  idle connections   N sockets opened and left silent: open descriptors before/after the request-head
                     deadline, /healthz latency while they are open
  log flood          one second of bad-request log records through the rate limit: lines out
  registry writers   W processes adding overlapping batches to one registry: rows, refusals, errors
  seed list          --count 10^9 as Seeds: peak Python memory
  checkpoint check   sha256 + parse of a checkpoint's files on resume: ms per MB
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def idle_connections(count: int) -> list[str]:
    import httpx
    from PIL import Image

    from nonesuch.web import connections
    from nonesuch.web.publish import publish_site
    from nonesuch.web.server import ServerConfig, start_server

    connections.REQUEST_HEAD_S = 2.0
    work = Path(tempfile.mkdtemp())
    (work / "images").mkdir()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(work / "images" / "a.png")
    site = publish_site(work / "images", work / "site").site
    with start_server(site, ServerConfig(port=0)) as server:
        host, port = server.url.removeprefix("http://").split(":")
        before = _open_fds()
        sockets = []
        for _ in range(count):
            try:
                sockets.append(socket.create_connection((host, int(port)), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        started = time.perf_counter()
        status = httpx.get(f"{server.url}/healthz", timeout=10).status_code
        health_ms = 1000 * (time.perf_counter() - started)
        during = _open_fds()
        time.sleep(connections.REQUEST_HEAD_S + 1.5)
        closed = 0
        for s in sockets:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except (TimeoutError, socket.timeout):
                pass
            except ConnectionResetError:
                closed += 1
            s.close()
    return [f"idle connections | {len(sockets)} opened | /healthz {status} in {health_ms:.0f} ms while open | "
            f"fds {before} -> {during} | {closed}/{len(sockets)} closed by the server after the "
            f"{connections.REQUEST_HEAD_S:g} s head deadline"]


def log_flood() -> list[str]:
    from nonesuch.web.connections import RateLimit

    limit = RateLimit()
    started, passed, total = time.monotonic(), 0, 0
    while time.monotonic() - started < 1.0:
        record = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "Invalid HTTP request", None, None)
        passed += limit.filter(record)
        total += 1
    return [f"log flood | {total} records in 1 s | {passed} lines written | {total - passed} counted, not written"]


WRITER = """
import sys
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry, watermark_id_for
path, thief = sys.argv[1], sys.argv[2] == "1"
def record(seed, run="run", watermark_id=None):
    return GenerationRecord(run=run, checkpoint="1", checkpoint_sha256="ab" * 32, seed=seed, class_name=None,
                            truncation=None, size=256, format="jpg", created="2026-01-01",
                            watermark_id=watermark_id or watermark_id_for("ab" * 32, seed, None, None))
refused = 0
with Registry(path) as registry:
    for batch in range(100):
        seeds = range(batch * 16, batch * 16 + 32)
        records = ([record(10**6 + s, "thief", record(s).watermark_id) for s in seeds] if thief
                   else [record(s) for s in seeds])
        try:
            registry.add(records)
        except ProvenanceError:
            refused += 1
print(refused)
"""


def registry_writers(writers: int) -> list[str]:
    from nonesuch.provenance.registry import Registry

    path = Path(tempfile.mkdtemp()) / "registry.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1" if i == 0 else "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(writers)]
    outs = [p.communicate(timeout=300) for p in procs]
    seconds = time.perf_counter() - started
    errors = sum(bool(err.strip()) for _, err in outs)
    refused = sum(int(out or 0) for out, _ in outs)
    with Registry(path) as registry:
        rows = len(registry)
    return [f"registry writers | {writers} processes x 100 batches in {seconds:.1f} s | {rows} rows | "
            f"{refused} batches refused (clashing IDs) | {errors} processes with errors"]


def seed_memory() -> list[str]:
    from nonesuch.generate.sampling import Seeds

    tracemalloc.start()
    seeds = Seeds.first(10 ** 9)
    head = seeds[: 10 ** 9 - 7]
    _ = sum(1 for _ in zip(range(10_000), head))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return [f"seed list | --count 10^9 | peak {peak / 1024:.0f} KiB (a list: ~36 GB)"]


def checkpoint_check() -> list[str]:
    data = os.urandom(64 << 20)
    started = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    ms = 1000 * (time.perf_counter() - started)
    return [f"checkpoint check | sha256 of 64 MB | {ms:.0f} ms ({ms / 64:.1f} ms per MB), once per file per resume"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    rows = [*idle_connections(args.connections), *log_flood(), *registry_writers(args.writers),
            *seed_memory(), *checkpoint_check()]
    print("class | sweep | result")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
