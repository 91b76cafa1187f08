"""CLI verbs of the metrics stage: `nonesuch metrics RUN` (registered by nonesuch.cli). Heavy imports
(torch) stay inside the verb so `nonesuch --help` is fast."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nonesuch.progress import fail


def metrics_command(
    run: Path = typer.Argument(..., help="A training run folder."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="A checkpoint folder or its name.", show_default="the latest"),
    images: int = typer.Option(1000, "--images", help="Number of real and of generated images."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Chooses the real images and the latents."),
) -> None:
    """FID and KID of a run's EMA generator against its dataset (real features are cached)."""
    from nonesuch.data.dataset import Dataset, DatasetError
    from nonesuch.gan.checkpoint import CheckpointError, load_generator
    from nonesuch.gan.distributed import choose_device
    from nonesuch.metrics.evaluate import evaluate_generator
    from nonesuch.metrics.inception import MetricsError

    try:
        torch_device = choose_device(device)
        loaded = load_generator(run, checkpoint, device=str(torch_device))
        dataset = Dataset(loaded.config["dataset"])
        result = evaluate_generator(loaded.generator, dataset, loaded.resolution, images, loaded.latent_dim,
                                    len(loaded.class_names), torch_device, seed)
    except (CheckpointError, DatasetError, MetricsError, ValueError) as e:
        fail(e)
    result |= {"checkpoint": str(loaded.checkpoint_path.parent), "checkpoint_sha256": loaded.checkpoint_sha256}
    print(json.dumps(result, indent=2))


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_command)
