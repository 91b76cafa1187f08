"""`nonesuch explain`'s folder: finished images like any generated ones, plus what they explain.

    OUT/<seed>.<fmt>      the last iterate: resized, watermarked, XMP, C2PA-signed, in the registry
    OUT/<seed>.json       its generation record, with `objective` (targets, weights, code, ...)
    OUT/grid.png          top row the seeds' plain samples, bottom row what the targets made of them
    OUT/explain.json      the config and, per seed and target, the score before and after (raw and
                          in standard deviations over random samples) and the percent of real
                          images it beats
    OUT/optimisation.gif  (--gif) the batch every few iterations, the same watermark on every frame

The finishing is generate's own (Finisher: resize, watermark, XMP, sign); only the record's
watermark ID differs: it derives from the seed and the objective, not the seed alone.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import nonesuch
from nonesuch.atomic import atomic_path, write_bytes, write_json
from nonesuch.data.grid import image_grid, upscale_for_viewing
from nonesuch.explain.explain import Explanation, percentile_among
from nonesuch.generate.finish import Finisher, FinishSettings
from nonesuch.provenance.keys import default_keys, watermark_config
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry, explain_watermark_id_for


def objective_of(explanation: Explanation, specs: list[str], settings: dict) -> dict:
    """What the generation record says made the image (beside run, checkpoint and seed)."""
    return {"targets": list(specs), "weights": explanation.weights,
            "directions": explanation.directions, **settings}


def write_images(explanation: Explanation, loaded, objective: dict, out: Path,
                 size: int, fmt: str, sign: bool = True, registry: Registry | None = None) -> list[dict]:
    """Finish and register every output; returns the records (as JSON dicts), in seed order."""
    keys = default_keys()
    finisher = Finisher(FinishSettings(fmt=fmt, size=size, sign=sign, keys_folder=str(keys.folder),
                                       version=nonesuch.__version__, watermark=watermark_config(keys)))
    records = [_record(loaded, seed, objective, size, fmt, finisher.signer is not None)
               for seed in explanation.seeds]
    files = []
    for pixels, record in zip(explanation.pixels, records):
        data, record.sha256, record.content = finisher.finish(pixels, record)
        files.append(data)
    own_registry = registry is None
    registry = registry if registry is not None else Registry()
    try:
        registry.add(records)                 # registered before anyone can see the files
    finally:
        if own_registry:
            registry.close()
    for data, record in zip(files, records):  # image first: a record on disk means its image is whole
        write_bytes(out / f"{record.seed}.{fmt}", data)
        write_json(out / f"{record.seed}.json", record.to_json())
    return [r.to_json() for r in records]


def _record(loaded, seed: int, objective: dict, size: int, fmt: str,
            signed: bool) -> GenerationRecord:
    return GenerationRecord(
        run=loaded.name, checkpoint=loaded.info.checkpoint,
        checkpoint_sha256=loaded.checkpoint_sha256, seed=int(seed), class_name=None,
        truncation=None, size=size, format=fmt,
        watermark_id=explain_watermark_id_for(loaded.checkpoint_sha256, seed, objective),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), signed=signed,
        nonesuch_version=nonesuch.__version__, objective=objective)


def before_after_grid(explanation: Explanation, min_side: int = 512):
    """Row 1: the seeds' plain samples; row 2: the explained images (unmarked, native size)."""
    both = np.concatenate([explanation.before_pixels, explanation.pixels])
    return upscale_for_viewing(image_grid(both, columns=len(explanation.seeds)), min_side)


def seed_report(explanation: Explanation, specs: list[str], real_scores: np.ndarray | None,
                records: list[dict]) -> list[dict]:
    """Per seed: each target's score before/after, standardised, and percentile among reals."""
    before_z = explanation.standardised(explanation.scores_before)
    after_z = explanation.standardised(explanation.scores_after)
    before_p = after_p = None
    if real_scores is not None:
        before_p = percentile_among(real_scores, explanation.scores_before)
        after_p = percentile_among(real_scores, explanation.scores_after)
    rows = []
    for i, seed in enumerate(explanation.seeds):
        targets = {}
        for t, spec in enumerate(specs):
            targets[spec] = {
                "score_before": round(float(explanation.scores_before[i, t]), 4),
                "score_after": round(float(explanation.scores_after[i, t]), 4),
                "sd_before": round(float(before_z[i, t]), 3), "sd_after": round(float(after_z[i, t]), 3),
                "real_percentile_before": None if before_p is None else round(float(before_p[i, t]), 1),
                "real_percentile_after": None if after_p is None else round(float(after_p[i, t]), 1)}
        row = {"seed": seed, "file": f"{seed}.{records[i]['format']}",
               "watermark_hex": records[i]["watermark_hex"], "targets": targets}
        if explanation.realism_after is not None:    # D's raw score: higher = more like the data to D
            row["discriminator_before"] = round(float(explanation.realism_before[i]), 4)
            row["discriminator_after"] = round(float(explanation.realism_after[i]), 4)
        rows.append(row)
    return rows


def write_report(out: Path, config, explanation: Explanation, specs: list[str],
                 real_scores: np.ndarray | None, records: list[dict], reals: str | None,
                 ceilings: list[float] | None = None) -> dict:
    report = {"config": asdict(config), "targets": specs, "weights": explanation.weights,
              "directions": explanation.directions, "ceilings": ceilings,
              "standardisation": asdict(explanation.standardisation),
              "reals": reals, "real_images": None if real_scores is None else len(real_scores),
              "seeds": seed_report(explanation, specs, real_scores, records)}
    write_json(out / "explain.json", report)
    with atomic_path(out / "grid.png") as tmp:
        before_after_grid(explanation).save(tmp, format="PNG")
    return report


def write_gif(out: Path, explanation: Explanation, fps: int = 8) -> Path:
    """The batch's contact sheet every few iterations. A diagnostic of the search, not an output
    image: not watermarked or registered (its last frame is the signed images beside it); the
    GIF comment says it is AI-generated."""
    import imageio.v3 as iio

    sheets = np.stack([np.asarray(upscale_for_viewing(image_grid(frame, columns=len(frame)), 256))
                       for frame in explanation.frames_uint8()])
    path = out / "optimisation.gif"
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, sheets, extension=".gif", duration=1000 / fps, loop=0,
                    comment="AI-generated (nonesuch explain): the search that made the images beside it")
    return path
