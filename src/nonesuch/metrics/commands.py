"""CLI verbs of the metrics stage: `nonesuch metrics RUN` (registered by nonesuch.cli). Heavy imports
(torch) stay inside the verb so `nonesuch --help` is fast."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nonesuch.progress import fail


def metrics_command(
    run: str = typer.Argument(..., help="A training RUN folder, an exported generator or a shipped name."),
    dataset: Path = typer.Option(None, "--dataset", help="The dataset to compare with (default: the "
                                 "one a RUN was trained on; needed for an exported or shipped generator)."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="A checkpoint folder or its name (default: latest)."),
    images: int = typer.Option(1000, "--images", help="Number of real and of generated images."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Chooses the real images and the latents."),
) -> None:
    """FID and KID of a generator (a run's EMA, or an exported one) against a dataset (real
    features are cached)."""
    from nonesuch.errors import NonesuchError
    from nonesuch.gan.distributed import choose_device
    from nonesuch.gan.generator import load_generator
    from nonesuch.metrics.evaluate import evaluate_dataset

    try:
        torch_device = choose_device(device)
        generator = load_generator(run, checkpoint, device=str(torch_device))
        result = evaluate_dataset(generator, dataset, images, seed)
    except NonesuchError as e:
        fail(e)
    except ValueError as e:
        fail(f"--device: {e}")
    result |= {"generator": generator.name, "checkpoint": generator.info.checkpoint,
               "checkpoint_sha256": generator.checkpoint_sha256}
    print(json.dumps(result, indent=2))


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_command)
