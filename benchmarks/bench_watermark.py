"""Benchmark the invisible watermark against invisible-watermark's dwtDct and dwtDctSvd (the
library Stable Diffusion ships), side by side, on the same real images and attacks.

    .venv/bin/python benchmarks/bench_watermark.py [--images 64] [--unmarked 5000] [--ab REV]

Prints, per image size (256 and 128 px, `--sizes`): PSNR, encode/decode CPU ms per image on
one core, and for each attack the mean bit accuracy (the issue-13 rows: jpeg30, mirror,
rotate+-5 with and without crop, thumb0.5 and thumb0.3, copies left small); then false positives of our detector on >= 5,000
unmarked images. Ours shows three columns per attack: payload bits (the 64 ID + CRC bits after
error correction), channel bits (the 140 raw bits before it), and the share of IDs recovered
exactly (CRC checked, sync above threshold). invisible-watermark is optional:
`pip install --no-deps invisible-watermark==0.2.0 opencv-python-headless PyWavelets`.

--ab REV also times this checkout's watermark against the one at git revision REV in the same
process, alternating image by image, so both see the same load (a shared machine's absolute
times drift 1.5-3x; the ratio does not).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")        # one core, as the budget says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import importlib
import platform
import re
import subprocess
import sys
import resource
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from nonesuch.data.openmoji import render_openmoji
from nonesuch.provenance import watermark as ours
from nonesuch.provenance.watermark_attacks import ATTACKS, jpeg

ID_BITS = ours.ID_BITS


def on_white(png: Path, size: int) -> np.ndarray:
    rgba = Image.open(png).convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return np.asarray(flat.resize((size, size), Image.LANCZOS))


def photo_crops(size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images
    crops = []
    photos = load_sample_images().images
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(200, 420))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top:top + side, left:left + side])
        crops.append(np.asarray(crop.resize((size, size), Image.LANCZOS)))
    return crops


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


class Ours:
    name = "nonesuch"

    def embed(self, image, watermark_id):
        return ours.embed(image, watermark_id)

    def detect(self, image):
        return ours.detect(image)

    def measure(self, image, watermark_id) -> tuple[float, float, float]:
        """(payload bit accuracy, channel bit accuracy, ID recovered) for one attacked image."""
        payload = ours.decode_bits(image)
        channel = ours.decode_channel_bits(image)
        found = ours.detect(image).watermark_id == watermark_id
        if payload is None:
            return 0.5, 0.5, float(found)
        return (float(np.mean(payload == ours.payload_bits(watermark_id))),
                float(np.mean(channel == ours.channel_bits(watermark_id))), float(found))


class InvisibleWatermark:
    """imwatermark's `bits` mode with the same 48-bit IDs; it refuses images under 256 px, which
    we score as chance (0.5)."""

    def __init__(self, method: str):
        import cv2
        from imwatermark import WatermarkDecoder, WatermarkEncoder
        cv2.setNumThreads(1)
        self.name, self.method = method, method
        self.encoder_class, self.decoder_class = WatermarkEncoder, WatermarkDecoder

    def _bits(self, watermark_id):
        return [int(b) for b in ours.payload_bits(watermark_id)[:ID_BITS]]

    def embed(self, image, watermark_id):
        encoder = self.encoder_class()
        encoder.set_watermark("bits", self._bits(watermark_id))
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        try:
            return np.ascontiguousarray(encoder.encode(bgr, self.method)[:, :, ::-1])
        except Exception:
            return image                                  # too small to hold the mark

    def detect(self, image):
        try:
            return self.decoder_class("bits", ID_BITS).decode(
                np.ascontiguousarray(image[:, :, ::-1]), self.method)
        except Exception:
            return None                                   # too small to read

    def measure(self, image, watermark_id):
        decoded = self.detect(image)
        if decoded is None:
            return 0.5, float("nan"), 0.0
        decoded = np.array(decoded)
        accuracy = float(np.mean(decoded.astype(int) == self._bits(watermark_id)))
        return accuracy, float("nan"), float(accuracy == 1.0)


def run_method(method, images, ids, seed) -> dict:
    marked, encode_s, decode_s, psnrs = [], 0.0, 0.0, []
    for image, watermark_id in zip(images, ids):
        start = time.thread_time()
        watermarked = method.embed(image, watermark_id)
        encode_s += time.thread_time() - start
        marked.append(watermarked)
        refused = np.array_equal(image, watermarked)      # imwatermark under 256 px
        psnrs.append(np.inf if refused else psnr(image, watermarked))
    for watermarked in marked:
        start = time.thread_time()
        method.detect(watermarked)
        decode_s += time.thread_time() - start
    table = {}
    for attack, apply in ATTACKS.items():
        rng = np.random.default_rng(seed)
        rows = [method.measure(apply(w, rng), i) for w, i in zip(marked, ids)]
        table[attack] = np.array(rows)                   # [N, 3]
    return {"psnr": np.array(psnrs), "encode_ms": 1e3 * encode_s / len(images),
            "decode_ms": 1e3 * decode_s / len(images), "table": table}


def print_size_table(size, n_emoji, n_photo, results):
    print(f"\n## {size} px: {n_emoji} emoji renders on white + {n_photo} photo crops")
    refused = [name for name, r in results.items() if not np.isfinite(r["psnr"]).any()]
    for name in refused:
        print(f"{name}: refuses images under 256 px (cannot embed), left out of this table")
    results = {name: r for name, r in results.items() if name not in refused}
    print(f"{'':22s}" + "".join(f"{name:>26s}" for name in results))
    print(f"{'PSNR dB mean (min)':22s}" + "".join(
        f"{r['psnr'].mean():>17.2f} ({r['psnr'].min():.2f})" for r in results.values()))
    print(f"{'encode / decode CPU ms':22s}" + "".join(
        f"{r['encode_ms']:>17.1f} / {r['decode_ms']:<6.1f}" for r in results.values()))
    print(f"{'bit accuracy':22s}" + "".join(
        f"{'payload chan.     ID':>26s}" if name == "nonesuch" else f"{'payload (photos)':>26s}"
        for name in results))
    for attack in ATTACKS:
        cells = []
        for name, r in results.items():
            rows = r["table"][attack]
            if name == "nonesuch":
                cells.append(f"{rows[:, 0].mean():.4f} {rows[:, 1].mean():.4f} {rows[:, 2].mean():6.3f}")
            else:
                cells.append(f"{rows[:, 0].mean():.4f} ({rows[n_emoji:, 0].mean():.4f})")
        print(f"{attack:22s}" + "".join(f"{c:>26s}" for c in cells))
    table = results["nonesuch"]["table"]
    print("nonesuch, IDs recovered, emoji / photos: " + ", ".join(
        f"{a} {table[a][:n_emoji, 2].mean():.3f}/{table[a][n_emoji:, 2].mean():.3f}"
        for a in ATTACKS))
    print("nonesuch, worst image's payload accuracy: " + ", ".join(
        f"{a} {table[a][:, 0].min():.3f}" for a in ATTACKS))


def scale_search(images, ids) -> None:
    """The opt-in scale search on copies resized without restoring (thumbnails, upscales)."""
    from dataclasses import replace
    searching = replace(ours.DEFAULT_CONFIG, scales=(1.0, 2.0, 0.5))
    print("nonesuch, IDs recovered on copies resized and NOT restored, "
          "default (thumbnails resized back to 256 px) / plus scales=(1, 2, 0.5):")
    for factor in (0.5, 2.0):
        plain = searched = 0
        for image, watermark_id in zip(images, ids):
            height, width = image.shape[:2]
            marked = Image.fromarray(ours.embed(image, watermark_id))
            resized = np.asarray(marked.resize((int(width * factor), int(height * factor)),
                                               Image.BICUBIC))
            plain += ours.detect(resized).watermark_id == watermark_id
            searched += ours.detect(resized, searching).watermark_id == watermark_id
        print(f"  x{factor}: {plain / len(images):.3f} / {searched / len(images):.3f}")


def watermark_at(revision: str, scratch: Path):
    """The watermark modules as of git `revision`, imported as their own package."""
    repo = Path(__file__).resolve().parent.parent
    package = "watermark_at_" + re.sub(r"\W", "_", revision)
    folder = scratch / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    git = ["git", "-C", str(repo)]
    listed = subprocess.run(git + ["ls-tree", "--name-only", revision, "src/nonesuch/provenance/"],
                            capture_output=True, text=True, check=True).stdout.split()
    for path in listed:
        name = Path(path).name
        if name.startswith("watermark") and name.endswith(".py"):
            source = subprocess.run(git + ["show", f"{revision}:{path}"], capture_output=True,
                                    text=True, check=True).stdout
            (folder / name).write_text(source.replace("nonesuch.provenance.watermark",
                                                      f"{package}.watermark"))
    sys.path.insert(0, str(scratch))
    return importlib.import_module(f"{package}.watermark")


def time_against(revision: str, images, ids, scratch: Path, rounds: int = 2) -> None:
    """Embed and detect ms per image, ours and `revision`'s, alternating which goes first."""
    theirs = watermark_at(revision, scratch)
    methods = {"this checkout": ours, revision: theirs}
    seconds = {name: {"embed": [], "detect": []} for name in methods}
    for name, module in methods.items():                 # warm the key caches
        module.detect(module.embed(images[0], ids[0]))
    load = os.getloadavg()[0]
    for turn in range(rounds):
        for k, (image, watermark_id) in enumerate(zip(images, ids)):
            order = list(methods.items())[::1 if (k + turn) % 2 == 0 else -1]
            for name, module in order:
                start = time.thread_time()
                marked = module.embed(image, watermark_id)
                middle = time.thread_time()
                module.detect(marked)
                seconds[name]["embed"].append(middle - start)
                seconds[name]["detect"].append(time.thread_time() - middle)
    print(f"\n## A/B: this checkout vs {revision}, {len(images)} images x {rounds}, alternating; "
          f"CPU ms of this thread, load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for step in ("embed", "detect"):
        ms = {name: 1e3 * np.mean(values[step]) for name, values in seconds.items()}
        print(f"{step:7s} " + "  ".join(f"{name}: {value:.2f}" for name, value in ms.items())
              + f"  ratio {ms['this checkout'] / ms[revision]:.2f}")


def unmarked_images(emoji_root: Path, wanted: int, rng) -> Iterator[np.ndarray]:
    """`wanted` unmarked images, made one at a time (5,000 at 256 px would hold 1 GB)."""
    pngs = sorted(emoji_root.glob("*/*.png"))
    made = 0
    for size in (256, 128, 200, 96):
        for png in pngs:
            if made >= wanted - 300:
                break
            image = on_white(png, size)
            yield image
            made += 1
            if size == 256:
                yield jpeg(image, int(rng.integers(50, 95)))
                made += 1
    yield from photo_crops(256, 200, rng)
    yield from (jpeg(p, 75) for p in photo_crops(256, 50, rng))
    for _ in range(25):
        yield rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        yield np.clip(rng.normal(128, 30, (256, 256, 3)), 0, 255).astype(np.uint8)


def false_positives(images: Iterator[np.ndarray]) -> None:
    start = time.thread_time()
    results = [ours.detect(image) for image in images]
    seconds = time.thread_time() - start
    statuses = {s: sum(r.status == s for r in results) for s in ("found", "absent", "abstain")}
    z = np.array([r.sync_z for r in results if r.sync_z is not None])
    config = ours.DEFAULT_CONFIG
    threshold, search = config.sync_threshold, config.search_threshold
    print(f"\n## false positives: {len(results)} unmarked images (emoji at 256/128/200/96 px, "
          "their JPEGs, photo crops and their JPEGs, noise)")
    print(f"statuses {statuses}; 'found' = false positives: {statuses['found']}")
    print(f"best sync z of each image over the image as it is and its {config.search_trials} "
          f"search trials: max {z.max():.2f}, 99.9th pct {np.percentile(z, 99.9):.2f}, "
          f"{int((z >= threshold).sum())} at or above {threshold}, {int((z >= search).sum())} at "
          f"or above the search threshold {search} (all then failed the CRC)")
    bound = ours.false_found_bound(config)
    print(f"analytic bound per image: {bound:.2e} (4096 shifts x 2^-16 x (exp(-{threshold}^2/2) + "
          f"{config.search_trials} trials x exp(-{search}^2/2)), Bonferroni); "
          f"expected false positives here <= {len(results) * bound:.1e}")
    print(f"detect: {1e3 * seconds / len(results):.1f} CPU ms/image over these mixed sizes "
          "(every search trial runs on an unmarked image)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="marked images per size")
    parser.add_argument("--unmarked", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128],
                        help="marked image sizes to tabulate")
    parser.add_argument("--only-false-positives", action="store_true",
                        help="skip the marked tables (the >= 5,000-image false-positive run alone)")
    parser.add_argument("--ab", metavar="REV", help="also time against git revision REV")
    args = parser.parse_args()

    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; python {platform.python_version()}, "
          f"numpy {np.__version__}; one thread per library")
    methods = [Ours()]
    try:
        methods += [InvisibleWatermark("dwtDct"), InvisibleWatermark("dwtDctSvd")]
    except ImportError as error:
        print(f"invisible-watermark column skipped: {error}")

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        emoji_root = Path(tmp) / "openmoji"
        render_openmoji(emoji_root, 256)
        pngs = sorted(emoji_root.glob("*/*.png"))
        n_photo = max(args.images // 4, 2)
        n_emoji = args.images - n_photo
        picked = [pngs[i] for i in rng.choice(len(pngs), n_emoji, replace=False)]
        for size in ([] if args.only_false_positives else args.sizes):
            images = [on_white(p, size) for p in picked] + photo_crops(size, n_photo, rng)
            ids = [int(rng.integers(0, 2 ** ID_BITS)) for _ in images]
            results = {m.name: run_method(m, images, ids, args.seed) for m in methods}
            print_size_table(size, n_emoji, n_photo, results)
            if size == 256:
                scale_search(images, ids)
                if args.ab:
                    time_against(args.ab, images, ids, Path(tmp))
        false_positives(unmarked_images(emoji_root, args.unmarked, rng))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
