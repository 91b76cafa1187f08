"""What a generator was trained on, with the data's licence and attribution, for every image's
generation record (and so for its C2PA manifest and the site's "about this image" panel).

Read defensively from what the folder has: an exported generator's generator.json
(`trained_on`: dataset, images, licence, attribution), else a training run's config.json (the
dataset's folder name only: a run does not know its data's licence). Missing facts are None,
never guessed."""

from __future__ import annotations

from pathlib import Path

from nonesuch.gan.folders import CheckpointError, read_json_object


def _read_json(path: Path) -> dict:
    try:
        return read_json_object(path)   # bounded: a FIFO or a link to /dev/zero is a fact missing
    except CheckpointError:
        return {}


def training_data(run_dir: str | Path) -> dict:
    """{"trained_on": "171 images of smileys32" | None, "licence": str | None, "attribution": str | None}."""
    run_dir = Path(run_dir)
    generator = _read_json(run_dir / "generator.json")
    trained = generator.get("trained_on") if isinstance(generator.get("trained_on"), dict) else {}
    licence = (trained.get("licence") or trained.get("license")
               or generator.get("licence") or generator.get("license"))
    attribution = trained.get("attribution") or generator.get("attribution")
    dataset = trained.get("dataset")
    if not dataset:
        dataset_path = _read_json(run_dir / "config.json").get("dataset")
        dataset = Path(dataset_path).name if dataset_path else None
    images = trained.get("images")
    trained_on = f"{images:,} images of {dataset}" if dataset and isinstance(images, int) else dataset
    return {"trained_on": trained_on, "licence": licence, "attribution": attribution}
