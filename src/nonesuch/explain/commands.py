"""CLI verb of the explain stage: `nonesuch explain`. Heavy imports stay inside the verb."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nonesuch.progress import console, fail


def explain(
    run: Path = typer.Argument(..., help="Training run folder (the generator to draw with)."),
    target: List[str] = typer.Option(..., "--target", help="imagenet:CLASS (name or 0-999), "
                                     "curate:DATASET:TARGET or onnx:MODEL.onnx:UNIT; twice for two objectives."),
    out: Path = typer.Option(..., "--out", help="Folder for the images, grid.png and explain.json."),
    weight: Optional[float] = typer.Option(None, "--weight", help="Two targets: weights (1-W, W); default 0.5."),
    combine: str = typer.Option("softmin", "--combine", help="Several targets: softmin (climbs whichever "
                                "lags; measured, README) or sum (DGN-AM's weighted sum, which lets the easier win)."),
    minimize: bool = typer.Option(False, "--minimize", help="Drive the targets down: what the "
                                  "classifier considers least like them."),
    curve: bool = typer.Option(False, "--curve", help="Two targets: run W = 0, .25, .5, .75, 1 and "
                               "write curve.png and curve.md."),
    seeds: str = typer.Option("0-7", "--seeds", help="Start codes, one per seed, optimised as one batch."),
    iterations: int = typer.Option(200, "--iterations"),
    step: Optional[float] = typer.Option(None, "--step", help="First step size (decays linearly to ~0).",
                                         show_default="0.3 for box, 0.05 for sphere"),
    code: str = typer.Option("box", "--code", help="box: the 4x4 features, each clipped to its "
                             "0.5-99.5 percentile range (climbs furthest); sphere: z on its sphere "
                             "(outputs closer to the data, less activation; README \"Explain\")."),
    realism: float = typer.Option(0.0, "--realism", help="Weight of a floor on the run's own "
                                  "discriminator: an output that looks less real to D than a typical "
                                  "sample is penalised by this many target SDs per SD. 0 = off; needs a run "
                                  "or generator that carries D."),
    ceiling: Optional[float] = typer.Option(None, "--ceiling", help="Stop rewarding a target past this "
                                            "percentile of the real images' scores (100: the most-X real "
                                            "image): outputs stay closer to the data, at some activation. "
                                            "Needs the reals. Default: no ceiling."),
    classifier_size: int = typer.Option(128, "--classifier-size", help="Side the images are resized "
                                        "to for Lite0 targets."),
    precision: str = typer.Option("auto", "--precision", help="Gradient passes: auto (bf16 where "
                                  "the CPU has bf16 kernels), bf16, fp16 or off (fp32); scores are fp32."),
    reals: Optional[Path] = typer.Option(None, "--reals", help="Dataset for the percentiles "
                                         "(default: the run's training set, if still there)."),
    size: int = typer.Option(256, "--size", help="Output side in px."),
    fmt: str = typer.Option("png", "--format", help="png, jpg or webp."),
    gif: bool = typer.Option(False, "--gif", help="Also write the optimisation as optimisation.gif."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads (default: every "
                                          "usable core; 1 on a machine other jobs keep busy)."),
    device: str = typer.Option("cpu", "--device", help="Only cpu for now."),
) -> None:
    """Draw, with the run's generator, what a classifier's unit responds to most (DGN-AM)."""
    from nonesuch.explain.errors import ExplainError
    from nonesuch.explain.folder import ExplainConfig, explain_to_folder
    from nonesuch.errors import NonesuchError
    from nonesuch.generate.sampling import parse_seeds
    from nonesuch.provenance.errors import ProvenanceError

    if device != "cpu":
        fail(f"--device {device!r}: explain runs on cpu only for now")
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as error:
        fail(f"--seeds: {error}")
    config = ExplainConfig(run=str(run), targets=list(target), out=str(out), weight=weight, combine=combine,
                           minimize=minimize, seeds=seed_list, code=code, iterations=iterations,
                           step_start=step, realism=realism, ceiling=ceiling, classifier_size=classifier_size, precision=precision,
                           reals=None if reals is None else str(reals), checkpoint=checkpoint,
                           size=size, format=fmt, gif=gif, threads=threads)
    try:
        if curve:
            from nonesuch.explain.curve import explain_curve
            explain_curve(config)
            console.print(f"trade-off curve written to {out / 'curve.png'} and {out / 'curve.md'}",
                          soft_wrap=True)
            return
        outcome = explain_to_folder(config)
    except (ExplainError, NonesuchError, ProvenanceError) as error:
        fail(error)
    _print_summary(outcome.report, out)


def _print_summary(report: dict, out: Path) -> None:
    for spec in report["targets"]:
        after = [row["targets"][spec] for row in report["seeds"]]
        line = (f"{spec}: {sum(a['sd_before'] for a in after) / len(after):+.2f} -> "
                f"{sum(a['sd_after'] for a in after) / len(after):+.2f} SD over random samples")
        if after[0]["real_percentile_after"] is not None:
            reached = sum(a["real_percentile_after"] >= 99.0 for a in after)
            line += f"; {reached}/{len(after)} seeds at or above the 99th percentile of real images"
        console.print(line, soft_wrap=True)
    console.print(f"{len(report['seeds'])} images, grid.png and explain.json written to {out}",
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
