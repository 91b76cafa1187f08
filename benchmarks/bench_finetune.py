"""Fine-tuning a shipped generator vs training from scratch, at equal time on the same threads.

    .venv/bin/python benchmarks/bench_finetune.py --source smileys64 --group animals-nature --minutes 10

The top request of small-data users (research/next-wave.md D5): start from a generator that
already knows outlines, shading and colour instead of from noise. Both arms train on the same
OpenMoji group (rendered and ingested by nonesuch itself, at the source's resolution), one after
the other, each in a child process with the same fixed thread count and the same time budget:

  finetune   `nonesuch train DATASET --init-from SOURCE`: G, D and EMA from the source, fully grown
  scratch    `nonesuch train DATASET --preset cpu`, its kimg per phase fitted to the budget from a
             speed probe of the same recipe, so it grows all the way to the same resolution

Each arm's last checkpoint is scored with the `nonesuch metrics` protocol (N generated against
every real image of the group, KID x10^3 with its spread, FID at equal N, precision/recall k=3,
memorisation), and seeds 0-63 of each are written as a grid to look at. Wall and CPU seconds of
each child are reported: compare arms only when their CPU seconds agree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import FAST_MALLOC, make_dataset, probe_seconds_per_image, save_arm_grid, score  # noqa: E402


def train_arm(dataset: str, run_dir: str, arm: str, source: str, minutes: float, threads: int) -> None:
    import torch

    from nonesuch.gan.config import resolve_config
    from nonesuch.gan.train import train

    torch.set_num_threads(threads)
    if arm == "finetune":
        # One stable phase longer than the budget: the time limit ends it.
        options = {"init_from": source, "kimg": 10_000.0, "snapshot_kimg": 2.0}
    else:
        from nonesuch.gan.generator import load_generator

        options = {"preset": "cpu", "resolution": load_generator(source).resolution}
        per_image = probe_seconds_per_image(dataset, options, threads)
        seconds_per_kimg = 1000 * sum(s * (1 if r == 4 else 2) for r, s in per_image.items())
        kimg = round(0.97 * minutes * 60 / seconds_per_kimg, 2)
        options |= {"kimg": kimg, "snapshot_kimg": max(0.5, round(kimg, 2))}
    config = resolve_config(dataset, run_dir, {**options, "threads": threads, "progress": False})
    train(config, max_seconds=minutes * 60)


def run_arm(out: Path, dataset: Path, arm: str, source: str, minutes: float, threads: int) -> dict:
    run_dir = out / arm
    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    child = subprocess.run([sys.executable, __file__, "--child", str(dataset), arm, "--source", source,
                            "--minutes", str(minutes), "--threads", str(threads), "--out", str(out)],
                           env={**os.environ, **FAST_MALLOC, "OMP_NUM_THREADS": str(threads)},
                           capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode:
        raise SystemExit(f"{arm}: training failed\n{child.stderr[-3000:]}")
    from nonesuch.gan.checkpoint import latest_checkpoint, read_state

    state = read_state(latest_checkpoint(run_dir))
    return {"arm": arm, "wall_s": round(time.perf_counter() - began, 1),
            "cpu_s": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1),
            "images_seen": int(state["images_seen"]), "stage": state.get("stage")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="smileys64", help="a shipped generator's name or a run folder")
    parser.add_argument("--group", default="animals-nature", help="the OpenMoji group to learn")
    parser.add_argument("--dataset", help="an existing dataset at the source's resolution (default: render + ingest)")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per arm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--generated", type=int, default=1000, help="images generated per score")
    parser.add_argument("--out", default="out/bench-finetune")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # dataset arm
    args = parser.parse_args()
    out = Path(args.out)
    if args.child:
        dataset, arm = args.child
        train_arm(dataset, str(out / arm), arm, args.source, args.minutes, args.threads)
        return
    from nonesuch.gan.generator import load_generator

    out.mkdir(parents=True, exist_ok=True)
    dataset = Path(args.dataset) if args.dataset else make_dataset(out, args.group,
                                                                   load_generator(args.source).resolution)
    rows = []
    for arm in ("finetune", "scratch"):
        print(f"training {arm} for {args.minutes:g} min ...", flush=True)
        row = run_arm(out, dataset, arm, args.source, args.minutes, args.threads)
        row |= score(out / arm, None, dataset, args.generated, seed=0)
        save_arm_grid(out / arm, out / f"grid-{arm}.png")
        rows.append(row)
        print(json.dumps(row), flush=True)
    (out / "results.json").write_text(json.dumps({"source": args.source, "dataset": str(dataset),
                                                  "minutes": args.minutes, "threads": args.threads,
                                                  "rows": rows}, indent=2))
    print(f"\n{'arm':<9} {'wall s':>7} {'cpu s':>7} {'images':>8} {'KID x1e3':>14} {'FID':>7} "
          f"{'precision':>9} {'recall':>7} {'memorised':>9}")
    for r in rows:
        print(f"{r['arm']:<9} {r['wall_s']:>7.0f} {r['cpu_s']:>7.0f} {r['images_seen']:>8} "
              f"{r['kid_x1e3']:>7.1f} ± {r['kid_std_x1e3']:<4.1f} {r['fid']:>7.1f} {r['precision']:>9.3f} "
              f"{r['recall']:>7.3f} {r['memorised']:>9.3f}")
    print(f"N: {rows[0]['n_generated']} generated vs {rows[0]['n_real']} real, at {rows[0]['resolution']} px")


if __name__ == "__main__":
    main()
