"""Can an outsider make `verify` say a picture came from here? The copy attack, measured.

    .venv/bin/python benchmarks/bench_copy_attack.py [--images 128] [--size 256] [--format png]

Generates --images images with the shipped generator into a private NONESUCH_HOME (keys and
registry made for the run), then checks with `verify_bytes`, metadata stripped (pixels saved as
PNG, so only the watermark and the registry can speak):

  genuine   each image after every attack of the watermark suite (watermark_attacks.ATTACKS):
            must read `traced`; a `forged` here is a false accusation;
  copied    each image's mark lifted and added to other pictures (watermark_attacks.copy_mark,
            turned up 1x and 3x): real photos (scikit-learn's two samples, 40 crops), OpenMoji
            emoji of other groups, the real OpenMoji smiley most like the image (the training
            data's kind: the hardest honest case), and a photo given the image's grey shape
            (each 48 x 48 cell's mean grey moved to the image's, its colours kept: a forger
            aiming at a grey thumbnail). Must not read `traced`;

each also under the rules before rows kept their looks (the registry's thumbnails hidden), to
show what the content check changes. Prints verdict counts, the likeness each case reached,
verify's time per image and the process's peak memory.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import io
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image


def stripped_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def photo_crops(size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images
    photos = load_sample_images().images
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crops.append(np.ascontiguousarray(photo[top:top + size, left:left + size]))
    return crops


def emoji(folder: Path, size: int, groups: list[str] | None, limit: int) -> list[np.ndarray]:
    from nonesuch.data.openmoji import render_openmoji
    render_openmoji(folder, size=size, groups=groups, limit_per_group=limit)
    pictures = []
    for png in sorted(folder.glob("*/*.png")):
        rgba = Image.open(png).convert("RGBA")
        pictures.append(np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")))
    return pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--format", default="png", help="of the generated images; the copy attack lifts the "
                        "mark from them (from a JPEG it often fails to carry it, which flatters nothing here)")
    parser.add_argument("--run", default="smileys64")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-copy-attack-"))
    os.environ["NONESUCH_HOME"] = str(work / "home")

    from nonesuch.generate.pipeline import Producer
    from nonesuch.provenance import content
    from nonesuch.provenance.keys import init_keys
    from nonesuch.provenance.registry import Registry
    from nonesuch.provenance.verify import verify_bytes
    from nonesuch.provenance.watermark_attacks import ATTACKS, copy_mark, with_grey_shape_of

    init_keys()
    print(f"# bench_copy_attack on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    print(f"# {args.images} images of {args.run} at {args.size} px ({args.format}); verify on pixels only "
          f"(PNG, no metadata); likeness threshold {content.MATCH}")
    with Producer(args.run, size=args.size, fmt=args.format) as producer:
        produced = producer.produce(list(range(args.images)))
    images = [np.asarray(Image.open(io.BytesIO(p.data)).convert("RGB")) for p in produced]
    ids = [p.record["watermark_id"] for p in produced]
    rng = np.random.default_rng(0)
    photos = photo_crops(args.size, 40, rng)
    others = emoji(work / "others", args.size, ["animals-nature", "food-drink", "objects", "travel-places"], 12)
    smileys = emoji(work / "smileys", args.size, ["smileys-emotion"], None)

    registry = Registry()
    timings = []

    def verdict(pixels: np.ndarray, rules: str = "now") -> tuple[str, float | None]:
        original = registry.content_of
        if rules == "before":                       # rows without their looks: the mark alone speaks
            registry.content_of = lambda watermark_id: None
        start = time.perf_counter()
        report = verify_bytes(stripped_png(pixels), registry=registry)
        timings.append((rules, time.perf_counter() - start))
        registry.content_of = original
        check = report.registry.get("content") or {}
        return report.verdict, check.get("likeness")

    print("\n## genuine: our image after each attack the mark survives (want: traced)")
    print(f"{'attack':>18}  {'verdicts':<40} {'likeness min (full search)':>26}")
    false_forged = 0
    thumbnails = [registry.content_of(watermark_id) for watermark_id in ids]
    for name, attack in ATTACKS.items():
        verdicts, likeness = Counter(), []
        for pixels, stored in zip(images, thumbnails):
            attacked = attack(pixels, rng)
            verdicts[verdict(attacked)[0]] += 1
            likeness.append(content.likeness(stored, attacked, enough=None))   # verify stops at the threshold
        false_forged += verdicts["forged"]
        print(f"{name:>18}  {dict(verdicts)!s:<40} {min(likeness):>26.3f}")
    print(f"false `forged` on our own images: {false_forged} of {len(images) * len(ATTACKS)}")

    print("\n## copied: our mark lifted and added to other pictures (want: not traced)")
    print(f"{'onto':>30} {'x':>3}  {'verdicts now':<36} {'before (mark alone)':<36} {'likeness max':>12}")
    cases = {"a photo crop": lambda i: photos[i % len(photos)],
             "an emoji of another group": lambda i: others[i % len(others)]}
    smiley_thumbnails = [content.thumbnail(s) for s in smileys]

    def likest_smiley(i: int) -> np.ndarray:          # the training data's kind, the one most like image i
        scores = [content.likeness(t, images[i]) for t in smiley_thumbnails[:: max(1, len(smileys) // 24)]]
        return smileys[:: max(1, len(smileys) // 24)][int(np.argmax(scores))]

    cases["the likest real smiley (of 24)"] = likest_smiley

    def photo_with_its_shape(i: int) -> np.ndarray:     # helper-19's attack past a grey thumbnail
        return with_grey_shape_of(images[i], photos[i % len(photos)])

    cases["a photo given its grey shape"] = photo_with_its_shape
    accepted = 0
    for label, picture in cases.items():
        for strength in (1.0, 3.0):
            now, before, likeness = Counter(), Counter(), []
            for i, pixels in enumerate(images[:64]):
                forged = copy_mark(pixels, picture(i), strength)
                word, like = verdict(forged)
                now[word] += 1
                before[verdict(forged, "before")[0]] += 1
                if like is not None:
                    likeness.append(like)
            accepted += now["traced"]
            print(f"{label:>30} {strength:>3.0f}  {dict(now)!s:<36} {dict(before)!s:<36} "
                  f"{max(likeness) if likeness else float('nan'):>12.3f}")
    print(f"copies read `traced` (a forgery accepted): {accepted}")

    for rules in ("now", "before"):
        times = [t for r, t in timings if r == rules]
        print(f"verify, {rules:>6} rules: {1000 * np.mean(times):.0f} ms an image (median "
              f"{1000 * np.median(times):.0f}, max {1000 * np.max(times):.0f}, n {len(times)})")
    start = time.perf_counter()
    for pixels in images[:32]:
        content.likeness(content.thumbnail(photos[0]), pixels, enough=None)   # a full search
    print(f"likeness, full search: {1000 * (time.perf_counter() - start) / 32:.0f} ms an image")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    registry.close()


if __name__ == "__main__":
    sys.exit(main())
