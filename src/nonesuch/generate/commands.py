"""CLI verbs of the generate stage: `nonesuch generate` and `nonesuch interpolate`.
Heavy imports (torch, c2pa) stay inside the verbs so `nonesuch --help` is fast."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from nonesuch.progress import console, fail


GENERATOR_HELP = ("A training RUN folder, an exported generator folder, or the name of a shipped "
                  "generator (`nonesuch generators` lists them).")
MAX_WALK_KEYFRAMES = 1000
# Frames a second past what a fast screen shows (120) only make a bigger file; 0 divided by zero.
MAX_WALK_FPS = 120


class ImageFormat(str, Enum):
    png = "png"
    jpg = "jpg"
    webp = "webp"


def screen_option(context: str = ""):
    """The --screen/--no-screen option of every verb that generates (generate, publish, serve)."""
    return typer.Option(None, "--screen/--no-screen", show_default=False, help=(
        f"{context}{'draw' if context else 'Draw'} a seed again while its image lies far from every training image (up to 8 "
        "times): fewer blotches, rarer shapes drawn less. Default: on when the generator carries a "
        "screen (shipped ones do)."))


def check_truncation_option(truncation: float | None) -> None:
    """--truncation, in one wording for every verb that generates, before the generator loads."""
    from nonesuch.gan.sampling import check_truncation

    try:
        check_truncation(truncation)
    except ValueError as error:
        raise ValueError(f"--truncation: {error}") from None


def generate(
    run: str = typer.Argument(..., help=GENERATOR_HELP),
    # A str, not a Path: Path("") is ".", and `--out "$UNSET"` wrote into the current folder.
    out: str = typer.Option(..., "--out", help="Folder for <seed>.<ext> images and <seed>.json records."),
    count: Optional[int] = typer.Option(None, "--count", help="How many images (seeds 0..N-1 unless --seeds)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Seed list, e.g. 0-999 or 3,5,10-20."),
    truncation: Optional[float] = typer.Option(None, "--truncation", help="PSI in (0, 1]: pull the "
                                               "generator's first features towards their mean "
                                               "(e.g. 0.7): less variety, fewer failures."),
    class_name: Optional[str] = typer.Option(None, "--class", help="Class name (conditional runs)."),
    size: int = typer.Option(256, "--size", help="Output side in px (Lanczos from the native size)."),
    fmt: ImageFormat = typer.Option(ImageFormat.jpg, "--format"),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint folder.", show_default="the latest"),
    amp: str = typer.Option("auto", "--amp", help="Generator precision: auto (bf16 on CPUs with bf16 "
                            "kernels: ~1.7x faster, output within a few grey levels), bf16, off."),
    sign: bool = typer.Option(True, "--sign/--no-sign", help="Embed a signed C2PA manifest. Either way "
                              "the watermark needs this install's key (`nonesuch keys init`)."),
    device: str = typer.Option("cpu", "--device", help="Where the generator runs: cpu, auto, cuda, cuda:N. "
                               "cpu makes the same pixels for a seed on any machine."),
    screen: Optional[bool] = screen_option(),
) -> None:
    """Generate watermarked, labelled, signed images; resumes where an interrupted run stopped."""
    from nonesuch.bounds import check_output_folder
    from nonesuch.errors import NonesuchError
    from nonesuch.generate.folder import GenerateConfig, generate_to_folder
    from nonesuch.generate.sampling import Seeds, check_size, parse_seeds

    try:
        seed_list = parse_seeds(seeds) if seeds else Seeds.first(count or 0)
    except ValueError as error:
        fail(f"--seeds: {error}" if seeds else error)
    if count is not None:
        if count < 0:
            fail(f"--count must be from 0 to {len(seed_list)}, got {count}")
        seed_list = seed_list[:count]
    if not seed_list:
        fail("nothing to generate: give --count N or --seeds A-B")
    try:
        check_truncation_option(truncation)
        check_size(size, watermarked=True)
        check_output_folder("--out", out)
    except ValueError as error:
        fail(error)
    config = GenerateConfig(run=str(run), out=str(out), seeds=seed_list, checkpoint=checkpoint,
                            truncation=truncation, class_name=class_name, size=size,
                            format=fmt.value, sign=sign, amp=amp, device=device, screen=screen)
    try:
        summary = generate_to_folder(config)
    except NonesuchError as error:
        fail(error)
    rate = summary.written / summary.seconds if summary.seconds else 0.0
    console.print(f"{summary.written} images written to {summary.out} ({rate:.1f}/s), "
                  f"{summary.skipped} already there", soft_wrap=True)


def interpolate(
    run: str = typer.Argument(..., help=GENERATOR_HELP),
    out: Path = typer.Option(..., "--out", help="walk.gif or walk.mp4"),
    seeds: str = typer.Option("0-5", "--seeds", help="Keyframe seeds; the walk visits them in order and loops."),
    frames: int = typer.Option(24, "--frames", help="Frames between two keyframes."),
    fps: int = typer.Option(24, "--fps"),
    size: int = typer.Option(256, "--size"),
    truncation: Optional[float] = typer.Option(None, "--truncation", help="PSI in (0, 1], as for generate."),
    class_name: Optional[str] = typer.Option(None, "--class"),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint"),
    device: str = typer.Option("cpu", "--device", help="Where the generator runs: cpu, auto, cuda, cuda:N. "
                               "cpu makes the same pixels for a seed on any machine."),
) -> None:
    """Write a looping latent walk (spherical interpolation between seeds) as GIF or MP4."""
    from nonesuch.bounds import check_output_file, check_range
    from nonesuch.errors import NonesuchError
    from nonesuch.generate.interpolate import WalkConfig, write_walk
    from nonesuch.generate.sampling import check_held_pixels, check_size, parse_seeds

    try:
        keyframes = parse_seeds(seeds)
        if len(keyframes) > MAX_WALK_KEYFRAMES:  # every keyframe's latent is held, and every frame written
            raise ValueError(f"{len(keyframes)} keyframes; a walk takes at most {MAX_WALK_KEYFRAMES}")
    except ValueError as error:
        fail(f"--seeds: {error}")
    try:
        check_truncation_option(truncation)
        check_size(size, watermarked=True)
        check_range("--frames", frames, 1)
        check_held_pixels("--frames", frames, len(keyframes) * frames, size)  # every frame, until written
        check_range("--fps", fps, 1, MAX_WALK_FPS)
        check_output_file("--out", out)
    except ValueError as error:
        fail(error)
    try:
        config = WalkConfig(run=str(run), out=str(out), seeds=list(keyframes),
                            frames_per_step=frames, fps=fps, size=size, truncation=truncation,
                            class_name=class_name, checkpoint=checkpoint, device=device)
        path = write_walk(config)
    except NonesuchError as error:
        fail(error)
    console.print(f"latent walk written to {path}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("interpolate")(interpolate)
