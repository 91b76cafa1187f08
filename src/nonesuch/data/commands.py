"""CLI verbs of the data stage: datasets, ingest, info, show (registered by nonesuch.cli)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import typer

from nonesuch.names import printable
from nonesuch.progress import console, fail, progress_bar


def _say(text: str) -> None:
    """One message on stderr, never wrapped: a reason or path stays on one greppable line, and
    never read as rich markup (a file named `[red]x.png` or `[/]` prints as it is)."""
    console.print(printable(text), soft_wrap=True, highlight=False, markup=False)


datasets_app = typer.Typer(no_args_is_help=True, help="Render or fetch bundled datasets.")


@datasets_app.command("openmoji")
def openmoji_command(
    out: Path = typer.Option(..., "--out", help="Folder to write <group>/<hexcode>.png into."),
    size: int = typer.Option(128, "--size", help="Canvas size in pixels."),
    group: list[str] = typer.Option(None, "--group", help="Only these groups (e.g. animals-nature)."),
) -> None:
    """Render the OpenMoji emoji set (CC BY-SA 4.0), one sub-folder per Unicode emoji group."""
    from nonesuch.data.openmoji import render_openmoji
    from nonesuch.generate.sampling import check_size

    try:
        check_size(size)
    except ValueError as e:
        fail(e)
    with progress_bar("rendering OpenMoji", None) as advance:
        counts = render_openmoji(out, size, groups=group or None, progress=lambda n, total: advance(n))
    for name, n in counts.items():
        _say(f"{name:>16}  {n}")
    _say(f"{sum(counts.values())} emoji in {out} (license: {out / 'LICENSE.txt'})")


def ingest_command(
    sources: list[Path] = typer.Argument(..., metavar="SRC", help="Folders (recursive), image files, zip or tar(.gz/.bz2/.xz) archives."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to create, resume or add to."),
    resolution: int = typer.Option(128, "--resolution", help="Largest side stored (power of two, 4..1024); every smaller power of two is stored too."),
    crop: str = typer.Option("center", "--crop", help="center: crop the long side; pad: fit inside a square of --background."),
    background: str = typer.Option("white", "--background", help="Colour under transparent pixels and around padded images."),
    min_size: int = typer.Option(None, "--min-size", help="Reject images whose squared side is shorter.", show_default="resolution / 2"),
    labels_from: str = typer.Option("folder", "--labels-from", help="folder: label = parent folder name; none."),
    dedupe: str = typer.Option("exact", "--dedupe", help="exact: identical files; near: also re-encoded/resized copies (perceptual hash)."),
    near_distance: int = typer.Option(6, "--near-distance", help="With --dedupe near: pHash bits (of 64) that may differ."),
    max_pixels: int = typer.Option(89_478_485, "--max-pixels", help="Reject images with more pixels (decompression bombs)."),
    workers: int = typer.Option(None, "--workers", help="Decode processes.", show_default="all cores"),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
) -> None:
    """Turn folders, files and archives of images into a dataset (resumable; re-running adds only what is new)."""
    from nonesuch.cpus import check_cpu_count
    from nonesuch.data.dataset import DatasetError
    from nonesuch.data.ingest import IngestConfig, SourceError, ingest

    if workers is not None:
        try:
            check_cpu_count("--workers", workers)
        except ValueError as e:
            fail(e)
    config = IngestConfig(resolution=resolution, crop=crop, background=background, min_size=min_size,
                          labels_from=labels_from, dedupe=dedupe, near_distance=near_distance,
                          max_pixels=max_pixels, workers=workers)
    try:
        summary = ingest(sources, out, config)
    except (DatasetError, SourceError) as e:
        fail(e)
    except KeyboardInterrupt:
        _say(f"interrupted: what was done is saved in {out}; re-run the same command to resume")
        raise typer.Exit(130)
    if as_json:
        print(json.dumps(asdict(summary), indent=2))
    else:
        _print_ingest_summary(summary)
    if summary.images_in_dataset == 0:
        fail(f"no image could be ingested from {', '.join(map(str, sources))} "
             f"({len(summary.rejected)} rejected); see the reasons above")


def _print_ingest_summary(summary) -> None:
    from nonesuch.data.info import reason_kind

    _say(
        f"{summary.ingested} images ingested into {summary.out} ({summary.images_in_dataset} in total), "
        f"{len(summary.rejected)} rejected, {summary.duplicates} duplicates"
        + (f", {summary.already_done} already done earlier" if summary.already_done else "")
        + f" in {summary.seconds:.1f} s ({summary.images_per_second:.0f} img/s)")
    shown = 0
    for kind, count in Counter(reason_kind(r["reason"]) for r in summary.rejected).most_common():
        example = next(r for r in summary.rejected if reason_kind(r["reason"]) == kind)
        where = printable(example["source"]) + (f"!{printable(example['member'])}" if example["member"] else "")
        _say(f"  rejected {count:>5} {kind}  e.g. {where}: {example['reason']}")
        shown += 1
        if shown == 10:
            break


def info_command(
    dataset: Path = typer.Argument(..., help="Dataset folder, or a training run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
    check: bool = typer.Option(False, "--check", help="Also check that every manifest row agrees with its stored pixels (reads them all); exit 1 if not."),
) -> None:
    """What a dataset holds (images, resolutions, labels, sources, rejected files by reason), or
    where a run is (schedule, images seen, checkpoints and their scores)."""
    from nonesuch.data.check import check_dataset
    from nonesuch.data.dataset import DatasetError
    from nonesuch.data.info import dataset_info
    from nonesuch.gan.run_info import is_run_folder

    if is_run_folder(dataset):
        from nonesuch.gan.commands import print_run_info

        print_run_info(dataset, as_json)
        return
    try:
        info = dataset_info(dataset)
        checked = check_dataset(dataset, show_progress=not as_json) if check else None
    except DatasetError as e:
        fail(e)
    if checked is not None:
        _report_check(checked, as_json)
        if as_json:
            print(json.dumps({**asdict(info), "check": asdict(checked)}, indent=2))
        if not checked.ok:
            raise typer.Exit(1)
        if as_json:
            return
    if as_json:
        print(json.dumps(asdict(info), indent=2))
        return
    _say(f"{info.path}: {info.images} images at {', '.join(map(str, info.resolutions))} px")
    if info.parent:
        _say(f"  subset of {info.parent}")
    for title, counts in (("labels", info.labels), ("sources", info.sources),
                          ("rejected", info.rejected_by_reason), ("duplicates", info.duplicates)):
        if counts:
            _say(f"{title}:")
            for name, count in list(counts.items())[:20]:
                _say(f"  {count:>7}  {name}")
            if len(counts) > 20:
                _say(f"  ... and {len(counts) - 20} more (--json lists all)")
    if info.unlabelled and info.labels:
        _say(f"  {info.unlabelled:>7}  (no label)")


def _report_check(checked, as_json: bool) -> None:
    for line in checked.problems:
        _say(f"damaged: {line}")
    if checked.more_problems:
        _say(f"damaged: ... and {checked.more_problems} more")
    for line in checked.notes:
        _say(f"note: {line}")
    verdict = ("manifest and pixels agree" if checked.ok else
               f"manifest and pixels DISAGREE ({len(checked.problems) + checked.more_problems} problems)")
    _say(f"check: {checked.path}: {verdict}; {checked.checked_digests} of {checked.images} images "
         f"compared with their recorded pixel digest, every resolution compared with the largest")


def show_command(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    label: str = typer.Option(None, "--label", help="Only images with this label."),
    n: int = typer.Option(64, "--n", help="How many images (spread evenly over the dataset)."),
    resolution: int = typer.Option(None, "--resolution", help="Which stored resolution.", show_default="the largest"),
) -> None:
    """Write a grid of dataset images to a PNG, to look at."""
    from nonesuch.bounds import check_output_file
    from nonesuch.data.dataset import DatasetError
    from nonesuch.data.show import show_grid

    try:
        check_output_file("--out", out)
    except ValueError as e:
        fail(e)
    try:
        path = show_grid(dataset, out, n=n, label=label, resolution=resolution)
    except DatasetError as e:
        fail(e)
    _say(f"wrote {path}")


def export_command(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    out: Path = typer.Option(..., "--out", help="A new folder, or FILE.zip: one folder per label, "
                             "plus StyleGAN2-ADA's dataset.json."),
    resolution: int = typer.Option(None, "--resolution", help="Which stored resolution.", show_default="the largest"),
) -> None:
    """Write a dataset's images as plain PNGs (folder per label) or a zip other GAN tools read."""
    from nonesuch.data.dataset import DatasetError
    from nonesuch.data.export import export_dataset

    try:
        summary = export_dataset(dataset, out, resolution)
    except DatasetError as e:
        fail(e)
    _say(f"{summary.images} images at {summary.resolution} px exported to {summary.out} "
         f"({summary.labels} label folders, {summary.unlabelled} unlabelled)")


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
    app.command("ingest")(ingest_command)
    app.command("info")(info_command)
    app.command("show")(show_command)
    app.command("export")(export_command)
