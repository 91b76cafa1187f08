"""Benchmark: images/s for generate + watermark + XMP + C2PA sign + write at 256 px, and the share
of each step.

    .venv/bin/python benchmarks/bench_generate.py [--run RUN] [--count 256] [--format jpg]

Without --run it builds an untrained run of the `cpu` preset at 64 px (the preset's full size; an
untrained network costs exactly what a trained one does). Measurements:
1. per-step cost, one thread, steps run one after another on the same images (the shares);
2. end to end through `generate_to_folder` (what `nonesuch generate` does), the per-image finish
   on threads in this process vs on worker processes, alternating (load on a shared machine
   drifts), each with a warm pool;
3. break-even: a fresh Producer for a few images, threads vs processes (pool start-up included),
   which sets pipeline.PROCESS_POOL_MIN;
4. peak memory: this process (ru_maxrss) and the sum of VmRSS over it and its workers (sampled).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def machine() -> str:
    import torch  # here, not at the top: spawned finish workers import this script, not torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def step_costs(producer, seeds: list[int], out: Path) -> dict[str, float]:
    """Seconds per image for each step, single-threaded, in pipeline order. With worker processes,
    G (and the writes) run in the main process; resize to sign run in the workers."""
    import hashlib

    from nonesuch.generate.finish import xmp_for
    from nonesuch.generate.folder import _write_image
    from nonesuch.generate.pipeline import ProducedImage
    from nonesuch.generate.sampling import resize_lanczos
    from nonesuch.provenance import watermark
    from nonesuch.provenance.xmp import encode_image

    n = len(seeds)
    costs = {}
    started = time.perf_counter()
    native = producer.native_pixels(seeds)
    costs["generate (G)"] = time.perf_counter() - started
    started = time.perf_counter()
    pixels = resize_lanczos(native, producer.size)
    costs["resize (Lanczos)"] = time.perf_counter() - started
    records = [producer._record(s) for s in seeds]
    started = time.perf_counter()
    config = producer.finish_settings.watermark
    marked = [watermark.embed(p, r.watermark_id, config=config) for p, r in zip(pixels, records)]
    costs["watermark"] = time.perf_counter() - started
    started = time.perf_counter()
    encoded = [encode_image(m, producer.fmt, xmp_for(r)) for m, r in zip(marked, records)]
    costs["encode + XMP"] = time.perf_counter() - started
    started = time.perf_counter()
    signed = [producer.finisher.sign(d, r) for d, r in zip(encoded, records)]
    costs["C2PA sign"] = time.perf_counter() - started
    started = time.perf_counter()
    for data, record in zip(signed, records):
        record.sha256 = hashlib.sha256(data).hexdigest()
    producer.registry.add(records)
    costs["hash + registry"] = time.perf_counter() - started
    started = time.perf_counter()
    for data, record in zip(signed, records):      # exactly what generate_to_folder does
        _write_image(out, ProducedImage(data, producer.media_type, producer.fmt, record.to_json()))
    costs["write (atomic)"] = time.perf_counter() - started
    overhead = np.mean([len(s) - len(e) for s, e in zip(signed, encoded)])
    print(f"mean file {np.mean([len(s) for s in signed]) / 1024:.1f} KB, "
          f"C2PA overhead {overhead / 1024:.1f} KB/image")
    return {k: v / n for k, v in costs.items()}


class TreeMemory:
    """Peak of the summed VmRSS of this process and its descendants, sampled every 50 ms.
    RSS counts shared pages once per process, so this is an upper bound on what they use."""

    def __init__(self):
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(pid) for pid in _tree(os.getpid())))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def end_to_end(run: Path, out: Path, seeds: list[int], args, processes: bool) -> float:
    """images/s through generate_to_folder with a warm Producer (pool started, G loaded)."""
    from nonesuch.generate.folder import GenerateConfig, generate_to_folder
    from nonesuch.generate.pipeline import Producer

    shutil.rmtree(out, ignore_errors=True)
    with Producer(run, size=args.size, fmt=args.format, processes=processes) as producer:
        producer.produce([20_000_000 + i for i in range(8)])           # warm-up
        config = GenerateConfig(run=str(run), out=str(out), seeds=seeds, size=args.size,
                                format=args.format)
        summary = generate_to_folder(config, producer=producer, show_progress=False)
    return summary.written / summary.seconds


def cold_seconds(run: Path, count: int, args, processes: bool) -> float:
    """Seconds for a fresh Producer to make `count` images (model load excluded, pool start-up
    included): where worker processes start to pay off."""
    from nonesuch.generate.pipeline import Producer

    with Producer(run, size=args.size, fmt=args.format, processes=processes) as producer:
        started = time.perf_counter()
        producer.produce([30_000_000 + i for i in range(count)])
        return time.perf_counter() - started


def trace_rate(run: Path, count: int, out: Path) -> float:
    """Generate `count` images, strip all metadata and re-encode as JPEG 75 (4:2:0), verify."""
    import io

    from PIL import Image

    from nonesuch.generate.pipeline import Producer
    from nonesuch.provenance.registry import Registry
    from nonesuch.provenance.verify import verify_bytes

    with Producer(run, size=256, fmt="png") as producer:
        images = producer.produce(list(range(50_000, 50_000 + count)))
    traced = 0
    started = time.perf_counter()
    with Registry() as registry:
        for image in images:
            buffer = io.BytesIO()
            Image.open(io.BytesIO(image.data)).convert("RGB").save(buffer, "JPEG", quality=75)
            report = verify_bytes(buffer.getvalue(), registry=registry)
            traced += (report.registry["status"] == "match"
                       and report.registry["record"]["seed"] == image.record["seed"])
    print(f"verify: {(time.perf_counter() - started) / count * 1000:.1f} ms per stripped copy")
    return traced / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--format", default="jpg")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    os.environ["NONESUCH_HOME"] = str(scratch / "home")
    from nonesuch.generate.pipeline import Producer
    from nonesuch.provenance.keys import init_keys

    init_keys()
    run = args.run
    if run is None:
        from generate_fixtures import make_untrained_run
        run = make_untrained_run(scratch / "run", ["a", "b", "c", "d"], resolution=64, preset="cpu")
    print(f"machine: {machine()}")
    print(f"run: {run}, {args.count} images, {args.size} px {args.format}\n")

    with Producer(run, size=args.size, fmt=args.format, threads=1, processes=False) as producer:
        producer.produce([10_000_000 + i for i in range(8)])          # warm-up
        (scratch / "steps").mkdir()
        costs = step_costs(producer, list(range(args.count)), scratch / "steps")
    total = sum(costs.values())
    print(f"{'step (1 thread)':<24}{'ms/image':>10}{'share':>8}")
    for name, seconds in costs.items():
        print(f"{name:<24}{seconds * 1000:>10.2f}{seconds / total:>8.1%}")
    print(f"{'all steps':<24}{total * 1000:>10.2f}   -> {1 / total:.1f} images/s on one core\n")

    memory = TreeMemory()
    rates: dict[str, list[float]] = {"threads": [], "processes": []}
    for processes in (False, True, False, True):                      # alternate: load drifts
        name = "processes" if processes else "threads"
        rates[name].append(end_to_end(run, scratch / f"out-{name}", list(range(args.count)), args,
                                      processes))
        print(f"end to end, finish on {name:<9}: {rates[name][-1]:6.1f} images/s")
    print(f"best of 2: threads {max(rates['threads']):.1f}, processes {max(rates['processes']):.1f} "
          f"images/s ({max(rates['processes']) / max(rates['threads']):.2f}x)")
    print(f"peak RSS, this process + workers (summed VmRSS): {memory.stop():.0f} MiB\n")

    print(f"{'cold start, images':<20}{'threads s':>10}{'processes s':>13}")
    for count in (8, 32, 64, 128):
        cold = {p: cold_seconds(run, count, args, p) for p in (False, True)}
        print(f"{count:<20}{cold[False]:>10.2f}{cold[True]:>13.2f}")
    print(f"\n{trace_rate(run, args.count, scratch / 'trace'):.1%} of {args.count} images traced "
          "to their registry row after stripping metadata + JPEG 75")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (ru_maxrss): {rss:.0f} MiB")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
