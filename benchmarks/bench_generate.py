"""Benchmark: images/s for generate + watermark + XMP + C2PA sign + write at 256 px, and the share
of each step.

    .venv/bin/python benchmarks/bench_generate.py [--run RUN] [--count 256] [--format jpg]

Without --run it builds an untrained run of the `cpu` preset at 64 px (the preset's full size; an
untrained network costs exactly what a trained one does). Three measurements:
1. per-step cost, one thread, steps run one after another on the same images (the shares);
2. end to end through `generate_to_folder` (what `nonesuch generate` does), with the per-image
   steps on a pool of 1 thread and on a pool of all cores;
3. peak memory (ru_maxrss) of this process.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def step_costs(producer, seeds: list[int], out: Path) -> dict[str, float]:
    """Seconds per image for each step, single-threaded, in pipeline order."""
    import hashlib

    from nonesuch.atomic import write_bytes, write_json
    from nonesuch.provenance import watermark
    from nonesuch.provenance.xmp import encode_image

    n = len(seeds)
    costs = {}
    started = time.perf_counter()
    pixels = producer.pixels(seeds)
    costs["generate (G + resize)"] = time.perf_counter() - started
    records = [producer._record(s) for s in seeds]
    started = time.perf_counter()
    marked = [watermark.embed(p, r.watermark_id) for p, r in zip(pixels, records)]
    costs["watermark"] = time.perf_counter() - started
    started = time.perf_counter()
    encoded = [encode_image(m, producer.fmt, producer.xmp_for(r)) for m, r in zip(marked, records)]
    costs["encode + XMP"] = time.perf_counter() - started
    started = time.perf_counter()
    signed = [producer.sign(d, r) for d, r in zip(encoded, records)]
    costs["C2PA sign"] = time.perf_counter() - started
    started = time.perf_counter()
    for data, record in zip(signed, records):
        record.sha256 = hashlib.sha256(data).hexdigest()
    producer.registry.add(records)
    costs["hash + registry"] = time.perf_counter() - started
    started = time.perf_counter()
    for data, record in zip(signed, records):
        write_bytes(out / f"{record.seed}.{producer.fmt}", data)
        write_json(out / f"{record.seed}.json", record.to_json())
    costs["write (atomic, fsync)"] = time.perf_counter() - started
    overhead = np.mean([len(s) - len(e) for s, e in zip(signed, encoded)])
    print(f"mean file {np.mean([len(s) for s in signed]) / 1024:.1f} KB, "
          f"C2PA overhead {overhead / 1024:.1f} KB/image")
    return {k: v / n for k, v in costs.items()}


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
    from nonesuch.generate.folder import GenerateConfig, generate_to_folder
    from nonesuch.generate.pipeline import Producer
    from nonesuch.provenance.keys import init_keys

    init_keys()
    run = args.run
    if run is None:
        from generate_fixtures import make_untrained_run
        run = make_untrained_run(scratch / "run", ["a", "b", "c", "d"], resolution=64, preset="cpu")
    print(f"machine: {machine()}")
    print(f"run: {run}, {args.count} images, {args.size} px {args.format}\n")

    with Producer(run, size=args.size, fmt=args.format, threads=1) as producer:
        producer.produce([10_000_000 + i for i in range(8)])          # warm-up
        (scratch / "steps").mkdir()
        costs = step_costs(producer, list(range(args.count)), scratch / "steps")
    total = sum(costs.values())
    print(f"{'step (1 thread)':<24}{'ms/image':>10}{'share':>8}")
    for name, seconds in costs.items():
        print(f"{name:<24}{seconds * 1000:>10.2f}{seconds / total:>8.1%}")
    print(f"{'all steps':<24}{total * 1000:>10.2f}   -> {1 / total:.1f} images/s on one core\n")

    for threads in (1, os.cpu_count() or 1, 1, os.cpu_count() or 1):       # alternate: load drifts
        out = scratch / f"out-{threads}"
        shutil.rmtree(out, ignore_errors=True)
        with Producer(run, size=args.size, fmt=args.format, threads=threads) as producer:
            producer.produce([20_000_000 + i for i in range(8)])       # warm-up
            config = GenerateConfig(run=str(run), out=str(out), seeds=list(range(args.count)),
                                    size=args.size, format=args.format)
            summary = generate_to_folder(config, producer=producer, show_progress=False)
        print(f"end to end, {threads} thread(s): {summary.written / summary.seconds:6.1f} images/s "
              f"({summary.seconds:.2f} s for {summary.written})")
    print(f"\n{trace_rate(run, args.count, scratch / 'trace'):.1%} of {args.count} images traced "
          "to their registry row after stripping metadata + JPEG 75")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (ru_maxrss): {rss:.0f} MiB")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
