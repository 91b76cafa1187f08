"""`nonesuch generate`: write finished images for a list of seeds into a folder, resumably.

    summary = generate_to_folder(GenerateConfig(run="smileys32", out="out/", seeds=range(100)))

Each seed becomes `<seed>.<ext>` (watermarked, XMP, C2PA-signed) and `<seed>.json` (the generation
record, including the file's sha256), both written atomically. A seed whose image and record both
exist is skipped, so an interrupted run resumes where it stopped; because watermark IDs derive
from (checkpoint, seed, class, truncation), a seed made twice keeps its one ID. The config is saved
as `generate.json` beside the images, with the checkpoint's hash; resuming into a folder made
with another checkpoint, size, format, truncation or class is refused instead of mixing them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nonesuch.atomic import write_bytes, write_json
from nonesuch.gan.folders import CheckpointError, read_json_object
from nonesuch.generate.errors import GenerateError
from nonesuch.progress import progress_bar


@dataclass
class GenerateConfig:
    run: str                             # a RUN folder, an exported generator or a shipped name
    out: str
    seeds: Sequence[int] = field(default_factory=list)  # a list, range or sampling.Seeds; never listed whole
    checkpoint: str | None = None        # file name or path; latest snapshot if None
    truncation: float | None = None
    class_name: str | None = None
    size: int = 256
    format: str = "jpg"
    sign: bool = True
    amp: str = "auto"                    # generator precision: auto (bf16 where the CPU has it), bf16, off
    device: str = "cpu"                  # where the generator runs: cpu, auto, cuda, cuda:N
    screen: bool | None = None           # redraw seeds far from every training image (screen.py);
                                         # None: when the generator carries a screen


# Skipping a seed whose files exist is only right if they were made the same way.
SETTINGS_THAT_FIX_THE_FILES = ("truncation", "class_name", "size", "format", "sign")


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
    from nonesuch.generate.pipeline import Producer

    own_producer = producer is None
    producer = producer or Producer(config.run, checkpoint=config.checkpoint, size=config.size,
                                    fmt=config.format, truncation=config.truncation,
                                    class_name=config.class_name, sign=config.sign, amp=config.amp,
                                    device=config.device, screen=config.screen)
    try:
        return _generate(config, producer, show_progress)
    finally:
        if own_producer:
            producer.close()


def _generate(config: GenerateConfig, producer, show_progress: bool) -> GenerateSummary:
    import time

    out = Path(config.out)
    settings = {**{k: getattr(config, k) for k in SETTINGS_THAT_FIX_THE_FILES},
                "checkpoint_sha256": producer.generator.checkpoint_sha256, "precision": producer.precision,
                "screened": producer.screen is not None}
    _check_same_settings(out, settings)
    started, written = time.perf_counter(), 0
    # Seeds are looked at a chunk at a time, never listed whole: 10^9 seeds stay a range.
    with ThreadPoolExecutor(4) as writers, \
            progress_bar("generate", len(config.seeds), disable=not show_progress) as advance:
        for chunk in _chunks(config.seeds, SEEDS_PER_CHUNK):
            todo = pending_seeds(out, chunk, config.format)
            advance(len(chunk) - len(todo))                      # already there: skipped
            if todo and not written:
                out.mkdir(parents=True, exist_ok=True)
                write_json(out / "generate.json", {**asdict(config), **settings, "seeds": _ranges(config.seeds)})
            written += len(todo)
            _write_all(producer.produce_batches(todo), out, writers, advance)
    return GenerateSummary(written, len(config.seeds) - written, out, time.perf_counter() - started)


SEEDS_PER_CHUNK = 4096


def _chunks(seeds, size: int):
    iterator = iter(seeds)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _write_all(batches, out: Path, writers: ThreadPoolExecutor, advance) -> None:
    # Writes wait on fsync (disk, not CPU): a few writer threads hide that behind generation.
    in_flight: deque = deque()
    for batch in batches:
        in_flight.extend(writers.submit(_write_image, out, image) for image in batch)
        # At most two batches waiting for the disk: bounded memory, errors surface early.
        while in_flight and (in_flight[0].done() or len(in_flight) > 2 * len(batch)):
            in_flight.popleft().result()
            advance()
    while in_flight:
        in_flight.popleft().result()
        advance()


def _check_same_settings(out: Path, settings: dict) -> None:
    saved_path = out / "generate.json"
    if not saved_path.exists():         # a FIFO or a link to a device is read, and refused
        return
    try:
        saved = read_json_object(saved_path)
    except CheckpointError as error:    # not a regular file, too large, not a JSON object
        raise GenerateError(f"{error}; delete it or use another folder", option="out") from None
    saved.setdefault("screened", False)        # folders from before the screen were not screened
    changed = [f"{k}={saved.get(k)!r} (now {v!r})" for k, v in settings.items() if saved.get(k) != v]
    if changed:
        raise GenerateError(f"{out} holds images made with {', '.join(changed)}; resuming would mix "
                            f"them. Use another folder (see {saved_path})", option="out")


def _write_image(out: Path, image) -> None:
    # Image first, record second: a record on disk means its image is complete. Renamed into
    # place but not fsync'd: fsync was ~10 ms an image, more than signing it; a crash of this
    # process still leaves no torn file, only a power cut could lose the last few.
    write_bytes(out / f"{image.record['seed']}.{image.extension}", image.data, durable=False)
    write_json(out / f"{image.record['seed']}.json", image.record, durable=False)


def _ranges(seeds) -> str:
    """[0, 1, 2, 5] -> "0-2,5": keeps generate.json short for 10^5 seeds."""
    from nonesuch.generate.sampling import Seeds

    if isinstance(seeds, Seeds):
        return str(seeds)  # already ranges; never listed
    parts, run_start = [], None
    ordered = sorted(set(seeds))
    for i, seed in enumerate(ordered):
        run_start = seed if run_start is None else run_start
        if i + 1 == len(ordered) or ordered[i + 1] != seed + 1:
            parts.append(str(seed) if seed == run_start else f"{run_start}-{seed}")
            run_start = None
    return ",".join(parts)
