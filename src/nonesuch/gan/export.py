"""A generator in a format of its own: what someone who did not train it needs, and nothing else.

    export_generator("runs/smileys64", "src/nonesuch/pretrained/smileys64",
                     licence="CC BY-SA 4.0", attribution="OpenMoji, the open-source emoji ...")

writes

    NAME/
        generator.json                 nonesuch-generator/1: nonesuch version, architecture,
                                       resolution, classes, what it was trained on (dataset
                                       name, images, licence, attribution), its scores, and
                                       the sha256 of every weights file
        generator_ema.safetensors      what every image is made from
        generator.safetensors          the raw G and D: what fine-tuning starts from (when the
        discriminator.safetensors      checkpoint has them; a shipped generator may omit them)
        log.jsonl, TRAINING.md         the run's log and notes, when the run has them

No optimizer moments, no learning rates or penalty weights, no paths of the machine it was
trained on: generator.json describes the generator, not the training run. The folder is built
beside `out` and renamed into place, so `out` is the whole old export or the whole new one.
load_generator() reads it; so does every command that takes a RUN.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nonesuch
from nonesuch import atomic
from nonesuch.gan.checkpoint import CheckpointError
from nonesuch.gan.folders import FINE_TUNING_WEIGHTS, INFO_FILE, WEIGHTS, GeneratorInfo, is_run
from nonesuch.gan.generator import load_generator
from nonesuch.gan.run_info import log_records
from nonesuch.hashing import file_sha256

EXTRA_FILES = ("log.jsonl", "TRAINING.md")


def export_generator(run: str | Path, out: str | Path, checkpoint: str | Path | None = None, *,
                     name: str | None = None, licence: str | None = None,
                     attribution: str | None = None, scores: dict | None = None,
                     screen: bool = False) -> Path:
    """Export a RUN's checkpoint (default: the latest) as a generator folder `out`.
    name: the generator's name (default: out's folder name). licence, attribution: of the
    training images, which a generator's outputs derive from. scores: e.g. {"fid": ..}; default:
    the run's logged metrics at that checkpoint, if any. screen: also build the screen that
    `generate` draws through (generate/screen.py) from the run's dataset, which must exist."""
    run, out = Path(run), Path(out)
    if not is_run(run):
        raise CheckpointError(f"{run}: not a training run (config.json, checkpoints/); "
                              f"only a run's checkpoint can be exported")
    generator = load_generator(run, checkpoint)
    source = _checkpoint_folder(run, generator.info.checkpoint)
    info = GeneratorInfo(
        name=name or out.name, architecture=generator.info.architecture,
        resolution=generator.resolution, attention=generator.info.attention,
        class_names=generator.class_names,
        stage={k: generator.info.stage[k] for k in ("resolution", "alpha")},
        checkpoint=generator.info.checkpoint, images_seen=generator.info.images_seen,
        trained_on=_trained_on(generator.info.trained_on.get("dataset"), licence, attribution),
        scores=scores if scores is not None else logged_scores(run, generator.info.images_seen),
        nonesuch_version=nonesuch.__version__)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".export", dir=out.parent))
    try:
        for file in (WEIGHTS, *FINE_TUNING_WEIGHTS):
            if (source / file).is_file():
                shutil.copyfile(source / file, staging / file)
                info.files[file] = file_sha256(staging / file)
        for file in EXTRA_FILES:
            if (run / file).is_file():
                shutil.copyfile(run / file, staging / file)
        if screen:
            _write_screen(run, staging, generator.info.trained_on.get("dataset"), generator.resolution)
        (staging / INFO_FILE).write_text(json.dumps(info.to_dict(), indent=2) + "\n")
        os.chmod(staging, 0o755)                  # mkdtemp makes it private
        _swap_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_screen(run: Path, folder: Path, dataset: str | None, resolution: int) -> None:
    from nonesuch.data import Dataset, DatasetError
    from nonesuch.generate.screen import write_screen

    try:
        pixels = Dataset(dataset or "").images(resolution)
    except DatasetError as error:
        raise CheckpointError(f"{run}: cannot build the screen from its dataset: {error}") from None
    write_screen(folder, pixels)


def logged_scores(run: Path, images_seen: int) -> dict:
    """The metrics the run logged at `images_seen` (fid, kid, ...), or {} if it logged none; the
    last line for it counts (a resume writes a snapshot's line again)."""
    scores = {}
    for entry in log_records(run):
        if entry.get("images_seen") == images_seen:
            scores = {k: v for k, v in entry.items() if k in ("fid", "kid", "metric_images")}
    return scores


def _trained_on(dataset: str | None, licence: str | None, attribution: str | None) -> dict:
    """The training data by name and size: not its path, which is only true on one machine."""
    trained_on = {"dataset": Path(dataset).name if dataset else None, "images": None,
                  "licence": licence, "attribution": attribution}
    if dataset and Path(dataset).is_dir():
        from nonesuch.data.dataset import Dataset, DatasetError
        try:
            trained_on["images"] = len(Dataset(dataset))
        except DatasetError:
            pass
    return trained_on


def _checkpoint_folder(run: Path, checkpoint_name: str) -> Path:
    return run / "checkpoints" / checkpoint_name


def _swap_into_place(staging: Path, out: Path) -> None:
    if out.exists() and not (out / INFO_FILE).is_file() and any(out.iterdir()):
        raise CheckpointError(f"{out}: exists and is not an exported generator; choose an empty or new folder")
    atomic.swap_folder_into_place(staging, out)
