"""generate: reproducible seeds, truncation, classes, resumable folder output, latent walks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from generate_fixtures import conditional_run, nonesuch_home  # noqa: F401  (fixtures)
from nonesuch.cli import app
from nonesuch.generate.interpolate import slerp
from nonesuch.gan.sampling import latents_for_seeds
from nonesuch.generate.sampling import parse_seeds
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.xmp import xmp_fields, read_xmp

runner = CliRunner()
SHIPPED_RUN = Path(__file__).resolve().parents[1] / "src" / "nonesuch" / "pretrained" / "smileys32"


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_seed_ranges():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("7, 1-2,10") == [7, 1, 2, 10]
    for bad in ("3-1", "a-b", "-5"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_a_seed_draws_the_same_latent_in_any_batch():
    alone = latents_for_seeds([5], 64)
    batched = latents_for_seeds([9, 5, 2, 11], 64)
    assert torch.equal(alone[0], batched[1])
    assert not torch.equal(batched[0], batched[1])


def test_truncation_pulls_every_seed_towards_the_average_image(nonesuch_home):
    """The shipped generator: psi 0.5 clearly narrows the spread across seeds (z truncation, which
    G's pixel norm undoes, left it unchanged: 0.249 vs 0.250 at psi 0.5), psi 1 is no truncation,
    and a truncated seed is the same image alone or in a batch."""
    from nonesuch.generate.pipeline import Producer

    seeds = list(range(200, 232))
    spread = {}
    for psi in (None, 1.0, 0.5):
        with Producer(SHIPPED_RUN, truncation=psi, size=64, sign=False, register=False) as producer:
            pixels = producer.pixels(seeds).astype(np.float32)              # [32, 64, 64, 3]
            spread[psi] = float(pixels.std(axis=0).mean())                  # grey levels
            if psi == 0.5:
                assert np.array_equal(producer.pixels([seeds[5]])[0], pixels[5])
    assert spread[1.0] == spread[None]
    assert spread[0.5] < 0.85 * spread[1.0], spread


def test_bf16_generator_stays_within_a_few_grey_levels_of_fp32(nonesuch_home):
    """--amp bf16 (the default on CPUs with bf16 kernels) is a speed choice, not a different
    image: the shipped generator's output moves by well under one grey level on average."""
    from nonesuch.generate.pipeline import Producer

    seeds = list(range(16))
    outputs = {}
    for amp in ("off", "bf16"):
        with Producer(SHIPPED_RUN, amp=amp, size=64, sign=False, register=False) as producer:
            assert producer.precision == {"off": "fp32", "bf16": "bf16"}[amp]
            outputs[amp] = producer.pixels(seeds).astype(np.int16)          # [16, 32, 32, 3]
    difference = np.abs(outputs["bf16"] - outputs["off"])
    assert 0 < difference.mean() < 1.0 and np.percentile(difference, 99) <= 6


def test_slerp_ends_on_its_keyframes_and_keeps_norms():
    a, b = torch.randn(64), torch.randn(64)
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[2], b, atol=1e-5)
    assert abs(float(path[1].norm()) - float((a.norm() + b.norm()) / 2)) < 1e-3


def test_same_seed_same_image_on_any_batch_size(conditional_run, nonesuch_home):
    from nonesuch.generate.pipeline import Producer

    seeds = list(range(100, 120))  # 20 seeds: crosses a generator-batch boundary
    with Producer(conditional_run, sign=False, register=False, size=64) as producer:
        together = producer.pixels(seeds)
        backwards = producer.pixels(seeds[::-1])
        alone = producer.pixels([seeds[17]])
    assert np.array_equal(together[17], alone[0])
    assert np.array_equal(together, backwards[::-1])


def test_generate_writes_signed_marked_images_and_resumes(conditional_run, nonesuch_home, tmp_path):
    out = tmp_path / "images"
    result = runner.invoke(app, ["generate", str(conditional_run), "--out", str(out),
                                 "--seeds", "0-5", "--format", "png", "--size", "128"])
    assert result.exit_code == 0, result.output
    records = {s: json.loads((out / f"{s}.json").read_text()) for s in range(6)}
    assert json.loads((out / "generate.json").read_text())["seeds"] == "0-5"
    first = records[0]
    assert first["class_name"] == "animals-nature" and records[1]["class_name"] == "food-drink"
    assert len({r["watermark_id"] for r in records.values()}) == 6
    data = (out / "0.png").read_bytes()
    import hashlib
    assert hashlib.sha256(data).hexdigest() == first["sha256"]
    assert xmp_fields(read_xmp(data))["nonesuch:WatermarkID"] == first["watermark_hex"]

    # Interrupted run: one image and one record lost; the rerun rewrites only those.
    (out / "2.png").unlink()
    (out / "4.json").unlink()
    untouched = (out / "3.png").stat().st_mtime_ns
    result = runner.invoke(app, ["generate", str(conditional_run), "--out", str(out),
                                 "--seeds", "0-5", "--format", "png", "--size", "128"])
    assert result.exit_code == 0, result.output
    assert "2 images written" in said(result) and "4 already there" in said(result)
    assert (out / "3.png").stat().st_mtime_ns == untouched
    assert json.loads((out / "2.json").read_text())["watermark_id"] == records[2]["watermark_id"]
    with Registry() as registry:
        assert registry.lookup(records[2]["watermark_id"])["seed"] == 2


def test_resuming_with_other_settings_is_refused(conditional_run, nonesuch_home, tmp_path):
    base = ["generate", str(conditional_run), "--out", str(tmp_path), "--seeds", "0-1", "--size", "128"]
    assert runner.invoke(app, base).exit_code == 0
    result = runner.invoke(app, [*base, "--truncation", "0.5"])
    assert result.exit_code == 1
    assert "--out:" in said(result) and "truncation=None (now 0.5)" in said(result)
    assert json.loads((tmp_path / "0.json").read_text())["truncation"] is None


def test_class_and_truncation_change_the_image_and_the_id(conditional_run, nonesuch_home, tmp_path):
    base = ["generate", str(conditional_run), "--seeds", "3", "--format", "jpg", "--size", "128"]
    runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--class", "objects", "--truncation", "0.7"])
    a, b = (json.loads((tmp_path / d / "3.json").read_text()) for d in "ab")
    assert b["class_name"] == "objects" and b["truncation"] == 0.7
    assert a["watermark_id"] != b["watermark_id"]


@pytest.mark.parametrize("args, message", [
    (["--class", "dinosaurs"], "--class: class 'dinosaurs' is not a class of"),
    (["--checkpoint", "does-not-exist"], "not a checkpoint folder"),
    (["--truncation", "0"], "--truncation: truncation must be in (0, 1]"),
    (["--truncation", "1.5"], "must be in (0, 1]"),
    (["--seeds", "9-2"], "bad seed range"),
    (["--amp", "fp8"], "--amp: precision 'fp8': choose auto, bf16 or off"),
])
def test_bad_options_fail_with_one_clear_line(conditional_run, nonesuch_home, tmp_path, args, message):
    result = runner.invoke(app, ["generate", str(conditional_run), "--out", str(tmp_path / "x"),
                                 "--count", "2", *args])
    assert result.exit_code == 1
    assert message in said(result)
    assert not (tmp_path / "x" / "0.jpg").exists()


def test_missing_keys_and_broken_runs_are_named(conditional_run, tmp_path, monkeypatch):
    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "empty-home"))
    result = runner.invoke(app, ["generate", str(conditional_run), "--out", str(tmp_path / "x"), "--count", "1"])
    assert result.exit_code == 1 and "nonesuch keys init" in said(result)
    broken = tmp_path / "broken-run"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"preset": "cpu", "no_such_option": 1}))
    result = runner.invoke(app, ["generate", str(broken), "--out", str(tmp_path / "x"), "--count", "1"])
    assert result.exit_code == 1 and "config.json" in said(result) and "incompatible" in said(result)


@pytest.mark.parametrize("name", ["walk.gif", "walk.mp4"])
def test_interpolate_writes_a_looping_walk_that_says_it_is_ai_generated(conditional_run, nonesuch_home,
                                                                        tmp_path, name):
    import imageio.v3 as iio

    out = tmp_path / name
    result = runner.invoke(app, ["interpolate", str(conditional_run), "--out", str(out),
                                 "--seeds", "0-2", "--frames", "4", "--size", "64"])
    assert result.exit_code == 0, result.output
    frames = iio.imread(out, index=None) if name.endswith(".gif") else _mp4_frames(out)
    assert len(frames) == 12 and frames[0].shape[:2] == (64, 64)
    saved = json.loads(out.with_name(name + ".json").read_text())
    assert saved["seeds"] == [0, 1, 2] and saved["record"]["walk_seeds"] == "0,1,2"
    label = _container_comment(out)
    assert "AI-generated" in label and "trainedAlgorithmicMedia" in label
    assert saved["record"]["watermark_hex"] in label


def test_a_frame_pulled_from_a_walk_gif_traces_back_to_the_walk(conditional_run, nonesuch_home, tmp_path):
    import imageio.v3 as iio

    from nonesuch.provenance.verify import verify_bytes

    out = tmp_path / "walk.gif"
    result = runner.invoke(app, ["interpolate", str(conditional_run), "--out", str(out),
                                 "--seeds", "4,9,2", "--frames", "3", "--size", "256"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "walk.gif.json").read_text())["record"]
    frame = iio.imread(out, index=5)[..., :3]                        # a frame between keyframes
    buffer = __import__("io").BytesIO()
    iio.imwrite(buffer, frame, extension=".png")
    with Registry() as registry:
        report = verify_bytes(buffer.getvalue(), "frame.png", registry=registry)
        assert registry.lookup_sha256(record["sha256"])["walk_seeds"] == "4,9,2"
    assert report.watermark["status"] == "found"
    assert report.watermark["watermark_id"] == record["watermark_id"]
    assert report.registry["record"]["walk_seeds"] == "4,9,2" and report.verdict == "traced"
    assert report.registry["content"]["matches"]             # it looks like one of the walk's frames
    from sklearn.datasets import load_sample_images
    from nonesuch.provenance.content import SIDE
    from nonesuch.provenance.watermark_attacks import copy_mark
    photo = np.ascontiguousarray(load_sample_images().images[0][100:356, 200:456])
    buffer = __import__("io").BytesIO()
    iio.imwrite(buffer, copy_mark(frame, photo, strength=3), extension=".png")
    with Registry() as registry:
        assert len(registry.content_of(record["watermark_id"])) == 9 * SIDE * SIDE * 3  # 3 keyframes x 3 frames, in colour
        report = verify_bytes(buffer.getvalue(), "copied.png", registry=registry)
    assert report.watermark["watermark_id"] == record["watermark_id"] and report.verdict == "forged"


def test_a_walk_passes_through_the_generated_image_of_each_keyframe_seed(conditional_run, nonesuch_home):
    """Frame k * frames of a walk is, to the bit, what `generate --seeds S_k --class C` makes
    before watermarking: the same sampling path (latents, fixed-shape batches, precision)."""
    from nonesuch.gan.generator import load_generator
    from nonesuch.generate.interpolate import WalkConfig, walk_pixels
    from nonesuch.generate.pipeline import Producer

    seeds, frames = [5, 11, 2], 5
    generator = load_generator(conditional_run)
    config = WalkConfig(run=str(conditional_run), out="unused.gif", seeds=seeds, frames_per_step=frames,
                        class_name="objects")
    walk = np.concatenate(list(walk_pixels(config, generator, generator.class_index("objects"))))
    with Producer(generator, class_name="objects", sign=False, register=False) as producer:
        generated = producer.native_pixels(seeds)                       # [3, R, R, 3]
    for k, seed in enumerate(seeds):
        assert np.array_equal(walk[k * frames], generated[k]), seed
    assert not np.array_equal(walk[1], generated[0])                    # in between: new images


def _container_comment(path) -> str:
    """The GIF comment extension, or the MP4 comment tag (through the wheel's ffmpeg)."""
    import subprocess

    import imageio_ffmpeg
    from PIL import Image

    if path.suffix == ".gif":
        return Image.open(path).info["comment"].decode()
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-f", "ffmetadata", "-"],
                           capture_output=True, text=True, check=True)
    return next(line for line in probe.stdout.splitlines() if line.startswith("comment="))


def _mp4_frames(path):
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def test_interpolate_refuses_unknown_extensions(conditional_run, tmp_path):
    result = runner.invoke(app, ["interpolate", str(conditional_run), "--out", str(tmp_path / "walk.avi")])
    assert result.exit_code == 1 and ".gif or .mp4" in said(result)


def test_worker_processes_make_the_same_files_in_order_and_stop_on_close(conditional_run, nonesuch_home):
    import multiprocessing

    from nonesuch.generate.pipeline import Producer
    from nonesuch.provenance.verify import verify_bytes

    seeds = [40, 3, 17, 8, 25]
    with Producer(conditional_run, sign=False, register=False, size=128, fmt="png",
                  processes=False) as producer:
        here = producer.produce(seeds)
    producer = Producer(conditional_run, size=128, fmt="png", processes=True, threads=2)
    with producer:
        signed = producer.produce(seeds)
        workers = multiprocessing.active_children()
        assert len(workers) == 2
        producer.finish_settings = None            # later calls must not need the settings again
        again = producer.produce([3])
    assert not any(w.is_alive() for w in workers)
    assert [i.record["seed"] for i in signed] == seeds
    assert again[0].record["watermark_id"] == signed[1].record["watermark_id"]
    for mine, theirs in zip(here, signed):
        assert mine.record["watermark_id"] == theirs.record["watermark_id"]
        assert theirs.record["sha256"] == __import__("hashlib").sha256(theirs.data).hexdigest()
    with Registry() as registry:
        report = verify_bytes(signed[2].data, "17.png", registry=registry)
        looks = registry.content_of(signed[2].record["watermark_id"])
    assert report.verdict == "verified" and report.registry["record"]["seed"] == 17
    from nonesuch.provenance.content import MATCH, likeness
    assert likeness(looks, _decoded(signed[2].data), enough=None) > 0.99   # the registry keeps what it looks like
    assert likeness(looks, _decoded(signed[3].data), enough=None) < MATCH  # and not what another looks like
    # The workers mark the same pixels as this process does.
    for mine, theirs in zip(here, signed):
        assert np.array_equal(_decoded(mine.data), _decoded(theirs.data))


def test_a_killed_worker_costs_no_image(conditional_run, nonesuch_home, caplog):
    import multiprocessing
    import os
    import signal

    from nonesuch.generate.pipeline import Producer

    with Producer(conditional_run, size=128, fmt="png", processes=True, threads=2) as producer:
        producer.produce([1])
        os.kill(multiprocessing.active_children()[0].pid, signal.SIGKILL)   # as the OOM killer would
        images = producer.produce(list(range(10, 50)))
        assert not multiprocessing.active_children()
    assert [i.record["seed"] for i in images] == list(range(10, 50))
    assert "finishing images on threads" in caplog.text
    with Registry() as registry:
        assert all(registry.lookup(i.record["watermark_id"])["sha256"] == i.record["sha256"] for i in images)


def _decoded(data: bytes) -> np.ndarray:
    import io

    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_folder_named_like_markup_is_printed_as_it_is(nonesuch_home, tmp_path):
    """Messages are never read as rich markup or emoji codes: an --out named `a[/]b` once ended the
    run in a MarkupError traceback after every image was written."""
    out = tmp_path / "a[/]b[red]:fire:"
    result = runner.invoke(app, ["generate", "smileys32", "--count", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"written to {out}" in result.output and "🔥" not in result.output
    assert sum(p.suffix == ".jpg" for p in out.iterdir()) == 2      # (glob would read the brackets)
