"""Hostile inputs too heavy for the test suite, each through `nonesuch ingest` in its own process.

Builds (in a temporary folder, deleted afterwards) archive bombs of gigabytes, special files,
and piles of many entries, runs `nonesuch ingest SRC --out DS --json` on each with a time limit,
and prints one row per case: what ingest said, how long it took, and the peak RSS of the ingest
process and its decoder workers (from wait4, so each case is measured alone).

A case passes when ingest ends by itself (no hang), within the time limit, with the bad input
named in one rejected line, and the memory stays far below what the input claims to hold.

    .venv/bin/python benchmarks/bench_hostile.py [--bomb-gb 3] [--count 20000] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the builders are shared with tests/test_ingest_hostile.py

import hostile_inputs as hx  # noqa: E402

GB = 1 << 30


def run_ingest(source: Path, out: Path, timeout: float) -> dict:
    """nonesuch ingest in a child process: outcome, seconds, peak RSS (MiB) of it and its workers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NONESUCH_NO_REEXEC": "1"}
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "nonesuch", "ingest", str(source), "--out", str(out),
                              "--resolution", "32", "--workers", "2", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        child.kill()
        stdout, stderr = child.communicate()
        hung = True
    seconds = time.monotonic() - started
    return {"returncode": child.returncode, "hung": hung, "seconds": seconds,
            "stdout": stdout.decode(errors="replace"), "stderr": stderr.decode(errors="replace")}


def outcome(result: dict) -> str:
    if result["hung"]:
        return "HUNG (killed at the time limit)"
    try:
        summary = json.loads(result["stdout"])
    except ValueError:
        lines = [line for line in result["stderr"].splitlines() if line.strip()]
        return f"rc {result['returncode']}: {lines[-1][:110] if lines else '(no output)'}"
    reasons = [r["reason"] for r in summary["rejected"]]
    said = f"; e.g. {reasons[0][:90]}" if reasons else ""
    return (f"{summary['ingested']} ingested, {len(reasons)} rejected in {summary['seconds']:.1f} s "
            f"of ingest (the rest is start-up){said}")


# ---- the cases --------------------------------------------------------------------------------

def tar_bomb(compression: str, unpacked: int, members: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / f"bomb.tar.{compression}"
        hx.write_tar_bomb(path, unpacked, members=members, compression=compression, chunk=16 << 20)
        return path
    return build


def dev_zero_link(folder: Path) -> Path:
    src = folder / "src"
    src.mkdir()
    (src / "zero.png").symlink_to("/dev/zero")
    (src / "random.jpg").symlink_to("/dev/urandom")
    (src / "good.png").write_bytes(hx.png())
    return src


def fifo_in_folder(folder: Path) -> Path:
    src = folder / "src"
    src.mkdir()
    hx.make_fifo(src / "pipe.png")
    (src / "good.png").write_bytes(hx.png())
    return src


def sparse_file(folder: Path) -> Path:
    path = folder / "huge.png"
    with open(path, "wb") as f:
        f.truncate(100 * GB)
    return path


def many_files(count: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        src = folder / "src"
        for i in range(count):
            sub = src / f"{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(parents=True)
            (sub / f"{i:06d}.png").write_bytes(b"x")
        return src
    return build


def many_tar_members(count: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        import io
        import tarfile
        path = folder / "many.tar.gz"
        with tarfile.open(path, "w:gz", compresslevel=1) as archive:
            for i in range(count):
                info = tarfile.TarInfo(f"m/{i:07d}.png")
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
        return path
    return build


def symlink_farm(depth: int) -> Callable[[Path], Path]:
    """Each folder links to its parent and to the root: a naive walk never ends."""
    def build(folder: Path) -> Path:
        src = folder / "src"
        current = src
        for i in range(depth):
            current = current / f"d{i}"
            current.mkdir(parents=True)
            (current / "up").symlink_to("..")
            (current / "root").symlink_to(src)
            (current / f"img{i}.png").write_bytes(hx.png((i, 2 * i, 3 * i)))
        return src
    return build


def cases(args) -> list[tuple[str, Callable[[Path], Path]]]:
    gb = args.bomb_gb
    return [
        (f"tar.gz bomb, {gb} GB of zeros in 8 members", tar_bomb("gz", int(gb * GB), 8)),
        (f"tar.bz2 bomb, {gb} GB in 8 members", tar_bomb("bz2", int(gb * GB), 8)),
        (f"tar.xz bomb, {gb} GB in 64 members", tar_bomb("xz", int(gb * GB), 64)),
        ("symlinks to /dev/zero and /dev/urandom", dev_zero_link),
        ("FIFO in the source folder", fifo_in_folder),
        ("sparse file claiming 100 GB", sparse_file),
        ("symlink farm (loops at every level), depth 30", symlink_farm(30)),
        (f"{args.count} one-byte files in a folder", many_files(args.count)),
        (f"{args.count * 5} members in one tar.gz", many_tar_members(args.count * 5)),
    ]


def measure_one(name: str, args) -> dict:
    """Build and run one case; runs in its own process so wait4's peak RSS is this case's alone."""
    build = dict(cases(args))[name]
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        folder = Path(tmp)
        source = build(folder)
        on_disk = sum(p.stat().st_size for p in [source] if p.is_file())
        result = run_ingest(source, folder / "ds", args.timeout)
        outside = sorted(p.name for p in folder.iterdir() if p.name not in ("ds", source.name))
    # The largest resident set of any process this case ran (ingest or one of its workers): this
    # process ran only this case's ingest, so its RUSAGE_CHILDREN is that case's alone.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {"case": name, "outcome": outcome(result), "seconds": round(result["seconds"], 1),
            "peak_rss_mib": round(peak), "archive_bytes": on_disk, "wrote_outside_out": outside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bomb-gb", type=float, default=3.0)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: measure one case, print JSON
    parser.add_argument("--only", help="run only cases whose name contains this")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure_one(args.case, args)))
        return
    print(f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} (figures on a shared, loaded machine are slow)")
    print(f"{'case':<48} {'seconds':>8} {'peak RSS':>9}  outcome")
    for name, _ in cases(args):
        if args.only and args.only not in name:
            continue
        child = subprocess.run([sys.executable, __file__, "--case", name, "--bomb-gb", str(args.bomb_gb),
                                "--count", str(args.count), "--timeout", str(args.timeout)],
                               capture_output=True, text=True)
        try:
            row = json.loads(child.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(f"{name:<48} {'-':>8} {'-':>9}  bench failed: {child.stderr.strip().splitlines()[-1:]}")
            continue
        size = f" [archive {row['archive_bytes'] / 1e6:.2f} MB]" if row["archive_bytes"] else ""
        size += f" WROTE OUTSIDE --out: {row['wrote_outside_out']}" if row["wrote_outside_out"] else ""
        print(f"{name:<48} {row['seconds']:>8.1f} {row['peak_rss_mib']:>6} MiB  {row['outcome']}{size}", flush=True)


if __name__ == "__main__":
    main()
