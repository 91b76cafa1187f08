"""`nonesuch generate`: write finished images for a list of seeds into a folder, resumably.

    summary = generate_to_folder(GenerateConfig(run="runs/emoji", out="out/", seeds=range(100)))

Each seed becomes `<seed>.<ext>` (watermarked, XMP, C2PA-signed) and `<seed>.json` (the generation
record, including the file's sha256), both written atomically. A seed whose image and record both
exist is skipped, so an interrupted run resumes where it stopped; because watermark IDs derive
from (checkpoint, seed, class, truncation), a seed made twice keeps its one ID. The config is saved
as `generate.json` beside the images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from nonesuch.atomic import write_bytes, write_json
from nonesuch.progress import progress_bar


@dataclass
class GenerateConfig:
    run: str
    out: str
    seeds: list[int] = field(default_factory=list)
    checkpoint: str | None = None        # file name or path; latest snapshot if None
    truncation: float | None = None
    class_name: str | None = None
    size: int = 256
    format: str = "jpg"
    sign: bool = True


@dataclass
class GenerateSummary:
    written: int
    skipped: int
    out: Path
    seconds: float


def pending_seeds(out: Path, seeds: list[int], fmt: str) -> list[int]:
    """Seeds whose image or record is missing in `out`."""
    return [s for s in seeds
            if not ((out / f"{s}.{fmt}").is_file() and (out / f"{s}.json").is_file())]


def generate_to_folder(config: GenerateConfig, producer=None, show_progress: bool = True) -> GenerateSummary:
    import time

    from nonesuch.generate.pipeline import BATCH_SIZE, Producer

    out = Path(config.out)
    todo = pending_seeds(out, list(config.seeds), config.format)
    started = time.perf_counter()
    if not todo:
        return GenerateSummary(0, len(config.seeds), out, 0.0)
    own_producer = producer is None
    producer = producer or Producer(config.run, checkpoint=config.checkpoint, size=config.size,
                                    fmt=config.format, truncation=config.truncation,
                                    class_name=config.class_name, sign=config.sign)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "generate.json", {**asdict(config), "seeds": _ranges(config.seeds)})
        with progress_bar("generate", len(todo), disable=not show_progress) as advance:
            for start in range(0, len(todo), BATCH_SIZE):
                for image in producer.produce(todo[start:start + BATCH_SIZE]):
                    seed = image.record["seed"]
                    # Image first, record second: a record on disk means its image is complete.
                    write_bytes(out / f"{seed}.{image.extension}", image.data)
                    write_json(out / f"{seed}.json", image.record)
                    advance()
    finally:
        if own_producer:
            producer.close()
    return GenerateSummary(len(todo), len(config.seeds) - len(todo), out,
                           time.perf_counter() - started)


def _ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5": keeps generate.json short for 10^5 seeds."""
    parts, run_start = [], None
    ordered = sorted(set(seeds))
    for i, seed in enumerate(ordered):
        run_start = seed if run_start is None else run_start
        if i + 1 == len(ordered) or ordered[i + 1] != seed + 1:
            parts.append(str(seed) if seed == run_start else f"{run_start}-{seed}")
            run_start = None
    return ",".join(parts)
