"""Load on `nonesuch serve`, over loopback only: static mode and live mode, req/s and latency.

    .venv/bin/python benchmarks/bench_serve.py                      # 20 s each, 32 / 16 clients
    .venv/bin/python benchmarks/bench_serve.py --run RUN            # live mode with a trained run

The server runs as `nonesuch serve` in its own process (as a user would run it, request log on,
written to a file); the load comes from this process: keep-alive connections on raw asyncio
streams (an HTTP library would cost more CPU than the server being measured). In static mode
each client sends its next request as soon as the last one is answered (closed loop).

Static: each request is a random image of a published site of real OpenMoji PNGs.
Live: one "new image" is GET /api/next and then GET of the image it names; latency is for both.
Two rows: visitors who look at each image for a while (exponential, mean --think s), and
clients that ask flat out, which measures the generator's capacity rather than a visit.
Without --run, live mode uses a fresh run of the `cpu` preset at 64 px with untrained weights:
a forward pass costs the same whatever the weights are.

Goals on 2 cores: static >= 1,000 req/s; live p99 <= 250 ms at 16 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# ---- the load -----------------------------------------------------------------------------------

class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects if the server closed it while idle."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def get(self, path: str) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await self._get(path)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()        # closed after the keep-alive timeout: once more on a new one
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def static_client(port, paths, stop_at, latencies, statuses):
    connection = Connection(port)
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        status, _ = await connection.get(random.choice(paths))
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    connection.close()


async def live_client(port, paths, stop_at, latencies, statuses, think_s: float = 0.0):
    connection = Connection(port)
    await asyncio.sleep(random.uniform(0, think_s))       # visitors do not click in step
    while time.perf_counter() < stop_at:
        if think_s:
            await asyncio.sleep(random.expovariate(1 / think_s))   # a visitor looking at the image
        started = time.perf_counter()
        status, body = await connection.get("/api/next")
        if status == 200:
            status, _ = await connection.get("/" + json.loads(body)["src"])
            latencies.append(time.perf_counter() - started)
        else:
            await asyncio.sleep(0.05)      # 429/503: back off like the page does
        statuses[status] = statuses.get(status, 0) + 1
    connection.close()


async def load(client, port: int, clients: int, seconds: float, paths: list[str]) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(client(port, paths, stop_at, latencies, statuses) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    return {"clients": clients, "seconds": elapsed, "ok": len(latencies), "statuses": statuses,
            "per_s": len(latencies) / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


# ---- the server -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(target: Path, log: Path, extra: list[str], env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nonesuch", "serve", str(target), "--port", str(port),
         "--max-concurrency", "256", *extra],
        stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
    return process, port


def wait_until_ready(port: int, process, want_ready: int = 0, timeout: float = 180) -> dict:
    """Poll /healthz until it answers (and, in live mode, `want_ready` images are waiting)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                health = json.loads(response.read())
            if health.get("ready", want_ready) >= want_ready:
                return health
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(process) -> None:
    process.send_signal(2)     # Ctrl-C, as a user would
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


# ---- inputs -------------------------------------------------------------------------------------

def make_site(work: Path, images: int) -> Path:
    from nonesuch.data.openmoji import render_openmoji
    from nonesuch.web.publish import publish_site

    per_group = max(1, images // 9 + 1)
    render_openmoji(work / "emoji", 128, limit_per_group=per_group)
    return publish_site(work / "emoji", work / "site", title="This emoji does not exist").site


def make_untrained_run(out: Path) -> Path:
    """A `cpu`-preset 64 px conditional run written through the GAN stage's own API."""
    from dataclasses import asdict

    import torch

    from nonesuch.gan.checkpoint import save_checkpoint
    from nonesuch.gan.config import TrainConfig
    from nonesuch.gan.presets import architecture

    groups = ["animals-nature", "food-drink", "objects", "smileys-emotion"]
    config = TrainConfig(dataset="(none)", out=str(out), preset="cpu", resolution=64,
                         conditional=True, class_names=groups)
    config.architecture = asdict(architecture("cpu"))
    generator, discriminator, ema = config.make_generator(), config.make_discriminator(), config.make_generator()
    ema.load_state_dict(generator.state_dict())
    optimizers = {"g": torch.optim.Adam(generator.parameters()), "d": torch.optim.Adam(discriminator.parameters())}
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    state = {"images_seen": 0, "step": 0, "stage": {"resolution": 64, "alpha": 1.0}}
    save_checkpoint(out, generator, discriminator, ema, optimizers, state, keep=1)
    return out


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    load1, load5, _ = os.getloadavg()
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load1:.1f}/{load5:.1f} (1/5 min) at start")


def report(name: str, result: dict, server_rss: float, goal: str) -> None:
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(result["statuses"].items()))
    print(f"{name:<28} {result['clients']:>7} {result['per_s']:>9.0f} {result['p50_ms']:>8.1f} "
          f"{result['p99_ms']:>8.1f} {server_rss:>10.0f}   {goal}   [{statuses}]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32, help="static mode")
    parser.add_argument("--live-clients", type=int, default=16)
    parser.add_argument("--images", type=int, default=200, help="emoji in the static site")
    parser.add_argument("--run", type=Path, help="a trained run for live mode")
    parser.add_argument("--size", type=int, default=256, help="live mode: image side, px")
    parser.add_argument("--think", type=float, default=1.0,
                        help="live mode: mean seconds a visitor looks at an image before the next")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--no-screen", action="store_true", help="live mode: serve --no-screen")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "NONESUCH_HOME": str(work / "home"), "MALLOC_MMAP_THRESHOLD_": "4294967296",
           "MALLOC_TRIM_THRESHOLD_": "68719476736", "NONESUCH_NO_REEXEC": "1"}
    site = make_site(work, args.images)
    paths = ["/" + p.relative_to(site).as_posix() for p in (site / "img").iterdir()]
    print(f"site: {len(paths)} images, loopback only, {args.seconds:g} s per row\n")
    print(f"{'mode':<28} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server MiB':>10}   goal")

    for name, extra in (("static", []), ("static --quiet (no log)", ["--quiet"])):
        process, port = start_server(site, work / "static.log", extra, env)
        wait_until_ready(port, process)
        result = asyncio.run(load(static_client, port, args.clients, args.seconds, paths))
        report(name, result, peak_rss_mib(process.pid), ">= 1000 req/s")
        stop(process)

    if not args.skip_live:
        os.environ["NONESUCH_HOME"] = env["NONESUCH_HOME"]
        from nonesuch.provenance.keys import init_keys
        init_keys()
        run = args.run or make_untrained_run(work / "run")
        process, port = start_server(run, work / "live.log",
                                     ["--size", str(args.size)] + (["--no-screen"] if args.no_screen else []), env)
        for think_s in (args.think, 0.0):
            # A full pool, as after idle time: it refills whenever a batch of 8 fits in its 32.
            wait_until_ready(port, process, want_ready=32 - 8 + 1)
            client = functools.partial(live_client, think_s=think_s)
            result = asyncio.run(load(client, port, args.live_clients, args.seconds, paths))
            pace = f"1 per {think_s:g} s each" if think_s else "flat out"
            report(f"live {args.size}px, {pace}", result, peak_rss_mib(process.pid), "p99 <= 250 ms")
        health = wait_until_ready(port, process)
        per_image = 1000 * health["generate_seconds"] / max(health["produced"], 1)
        print(f"  generator ({run}): {health['produced']} images in {health['batches']} batches, "
              f"{per_image:.0f} ms per image (generate + watermark + sign + register), "
              f"errors {health['errors']}")
        stop(process)

    client_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nload generator peak RSS {client_mib:.0f} MiB; server logs in {work}")


if __name__ == "__main__":
    main()
