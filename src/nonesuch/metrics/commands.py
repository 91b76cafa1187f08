"""CLI verbs of the metrics stage: `nonesuch metrics RUN` (registered by nonesuch.cli). Heavy imports
(torch) stay inside the verb so `nonesuch --help` is fast."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nonesuch.progress import fail


def metrics_command(
    run: str = typer.Argument(..., help="A training RUN folder, an exported generator or a shipped name."),
    dataset: Path = typer.Option(None, "--dataset", help="The real images (default: the one a RUN was trained "
                                 "on; needed for an exported or shipped generator)."),
    checkpoint: str = typer.Option(None, "--checkpoint", help="A checkpoint folder or its name (default: latest)."),
    generated: int = typer.Option(5000, "--generated", help="Generated images to score."),
    real_cap: int = typer.Option(50_000, "--real-cap", help="Real images scored at most (all, up to this)."),
    subsets: int = typer.Option(100, "--subsets", help="KID subsets."),
    subset_size: int = typer.Option(1000, "--subset-size",
                                    help="KID subset size per side (min(N_real, N_gen, this) is used)."),
    resolution: int = typer.Option(None, "--resolution",
                                   help="Score at this size (generated images box-filtered down; default: the generator's)."),
    memorisation_png: Path = typer.Option(None, "--memorisation-png",
                                          help="Write the five closest generated/real pairs here."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Chooses the latents and the KID subsets."),
) -> None:
    """KID, FID, precision/recall and memorisation of a generator (a run's EMA, an exported or a
    shipped one) against a dataset, N stated for each."""
    import numpy as np

    from nonesuch import atomic
    from nonesuch.data.dataset import Dataset
    from nonesuch.errors import NonesuchError
    from nonesuch.gan.generator import load_generator
    from nonesuch.gan.distributed import choose_device
    from nonesuch.bounds import check_output_file, check_range
    from nonesuch.generate.sampling import MAX_SEED
    from nonesuch.metrics.evaluate import (MAX_GENERATED, MAX_KID_SUBSETS, evaluate_generator, generated_labels,
                                           generated_latents, generated_pixels)
    from nonesuch.metrics.inception import MetricsError
    from nonesuch.metrics.memorisation import closest_pairs_sheet

    try:
        check_range("--generated", generated, 4, MAX_GENERATED)
        check_range("--real-cap", real_cap, 2)
        check_range("--subsets", subsets, 1, MAX_KID_SUBSETS)
        check_range("--subset-size", subset_size, 2)
        check_range("--seed", seed, 0, MAX_SEED)
        if memorisation_png is not None:
            check_output_file("--memorisation-png", memorisation_png)
    except ValueError as e:
        fail(e)
    try:
        torch_device = choose_device(device)
        loaded = load_generator(run, checkpoint, device=str(torch_device))
        # A shipped generator carries no path to its training data, only its name.
        data_path = dataset or loaded.info.trained_on.get("dataset")
        if not dataset and not (data_path and (Path(data_path) / "dataset.json").is_file()):
            named = f"names {data_path}, which is not here" if data_path else "names no dataset"
            raise MetricsError(f"{run}: its record {named}; pass --dataset DATASET")
        data = Dataset(data_path)
        resolution = loaded.resolution if resolution is None else resolution
        if resolution > loaded.resolution:
            raise MetricsError(f"--resolution {resolution} is above the generator's {loaded.resolution} px")
        if resolution not in data.resolutions:   # the reals are read at this size as they are stored
            raise MetricsError(f"--resolution {resolution}: {data_path} has "
                               f"{', '.join(map(str, data.resolutions))} px images")
        num_classes = len(loaded.class_names)
        result = evaluate_generator(loaded.synthesize, data, resolution, generated, loaded.latent_dim, num_classes,
                                    torch_device, seed, real_cap=real_cap, subsets=subsets, subset_size=subset_size,
                                    closest=5, progress=not as_json)
    except (NonesuchError, ValueError) as e:
        fail(e)
    result |= {"run": str(run), "generator": loaded.name, "dataset": str(data_path),
               "checkpoint": loaded.info.checkpoint, "checkpoint_sha256": loaded.checkpoint_sha256}
    if memorisation_png:
        pairs = result["closest_pairs"]
        rows = [p["generated"] for p in pairs]
        latents = generated_latents(generated, loaded.latent_dim, seed)[rows]
        labels = generated_labels(data, generated, seed)[rows] if num_classes else None
        fakes = generated_pixels(loaded.synthesize, latents, labels, resolution, torch_device)
        reals = np.stack([data.images(resolution)[p["real"]] for p in pairs])
        sheet = closest_pairs_sheet(fakes, reals, [p["distance"] for p in pairs])
        memorisation_png.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(memorisation_png) as tmp:
            sheet.save(tmp, format="PNG")
        result["memorisation_png"] = str(memorisation_png)
    print(json.dumps(result, indent=2) if as_json else report(result))


def report(r: dict) -> str:
    """The scores as a person reads them, each with the N it was measured at."""
    reals = (f"all {r['n_real']} real images" if r["n_real"] == r["n_dataset"]
             else f"{r['n_real']} real images (a random {r['n_real']} of {r['n_dataset']}, --real-cap)")
    lines = [
        f"{r['run']} ({Path(r['checkpoint']).name}) at {r['resolution']} px: "
        f"{r['n_generated']} generated vs {reals} of {r['dataset']}",
        f"KID x10^3  {r['kid_x1e3']:.2f} ± {r['kid_std_x1e3']:.2f}   "
        f"(mean ± std over {r['kid_subsets']} subsets of {r['kid_subset_size']} per side; unbiased)",
        f"FID        {r['fid']:.2f}   ({r['n_generated']} generated vs {r['n_real']} real; "
        f"compare FIDs only at equal N: FID is biased by an amount that depends on N)",
        f"precision  {r['precision']:.3f}   (share of generated images inside the real manifold; "
        f"k = {r['pr_k']}, {r['pr_n']} per side, {r['pr_draws']} draws)",
        f"recall     {r['recall']:.3f}   (share of real images inside the generated manifold)",
        f"memorised  {r['memorised'] * 100:.1f} %   ({r['memorised_count']} of {r['n_generated']} generated images "
        f"at or below cosine distance {r['memorisation_threshold']:.4f} to a real one, "
        f"the 1st percentile of real-to-nearest-other-real)",
        "closest pairs (generated -> real, cosine distance): "
        + ", ".join(f"{p['generated']} -> {p['real']} ({p['distance']:.4f})" for p in r["closest_pairs"]),
        f"Inception features: {r['generated_img_per_s']:.3g} generated img/s ({r['generated_seconds']:.0f} s)",
    ]
    if "memorisation_png" in r:
        lines.append(f"closest pairs written to {r['memorisation_png']}")
    else:
        lines.append("see the closest pairs with --memorisation-png PATH")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_command)
