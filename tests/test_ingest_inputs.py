"""Every kind of bad or unusual input ingest meets, as real files made here."""

import shutil

import numpy as np
import pytest
from PIL import Image

import ingest_fixtures as fx
from nonesuch.data import Dataset, IngestConfig, ingest
from nonesuch.data.decode import DecodeOptions, RejectedImage, decode_square
from nonesuch.data.dedupe import perceptual_hash

OPTIONS = DecodeOptions(resolution=32, min_size=16)


def decode(data: bytes, **overrides):
    options = DecodeOptions(**{**OPTIONS.__dict__, **overrides})
    return decode_square(data, options)


def rejection(data: bytes, **overrides) -> str:
    with pytest.raises(RejectedImage) as caught:
        decode(data, **overrides)
    return str(caught.value)


# ---- decoding: every mode comes out as upright RGB -------------------------------------------

@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_jpeg_comes_out_upright(orientation):
    image = decode(fx.exif_rotated_jpeg(orientation))
    assert (image.width, image.height) == (200, 120)  # the upright size, not the stored 120x200
    top, bottom = image.pixels[:12].reshape(-1, 3).mean(0), image.pixels[-12:].reshape(-1, 3).mean(0)
    assert top[0] > 180 and top[2] < 70, "top half must be red"
    assert bottom[2] > 180 and bottom[0] < 70, "bottom half must be blue"


def test_cmyk_jpeg_becomes_rgb():
    image = decode(fx.cmyk_jpeg())
    assert image.mode == "CMYK"
    r, g, b = image.pixels.reshape(-1, 3).mean(0)
    assert r < 20 and g > 235 and b > 235  # cyan


def test_16bit_png_is_scaled_not_clipped():
    image = decode(fx.gradient_16bit_png(), crop="pad")
    assert image.mode.startswith("I")
    row = image.pixels[16, :, 0].astype(int)  # padded: the gradient spans the full width
    assert row[0] < 15 and row[-1] > 240
    assert (np.diff(row) >= 0).all() and len(np.unique(row)) > 20
    assert 100 < row[15] < 155  # the middle is mid-grey, not white


def test_palette_transparency_is_composited_over_the_background():
    white = decode(fx.palette_png_with_transparency()).pixels
    assert (white[:, :12] > 250).all()  # transparent left half -> white
    assert tuple(white[16, 28]) == pytest.approx(fx.RED, abs=3)
    black = decode(fx.palette_png_with_transparency(), background=(0, 0, 0)).pixels
    assert (black[:, :12] < 5).all()


def test_one_bit_and_la_images():
    one_bit = decode(fx.one_bit_png()).pixels
    assert one_bit[:, :12].max() < 5 and one_bit[:, -12:].min() > 250
    la = decode(fx.la_png())
    assert la.mode == "LA"
    assert la.pixels[:12].min() > 250 and la.pixels[-12:].max() < 5  # transparent top -> white


def test_gif_first_frame_and_other_formats(emoji_folder):
    assert tuple(decode(fx.animated_gif()).pixels[16, 16]) == pytest.approx(fx.RED, abs=8)
    picture = fx.emoji_on_white(sorted(emoji_folder.glob("objects/*.png"))[0])
    reference = decode(fx.encode(picture, "PNG")).pixels.astype(int)
    for fmt in ("WEBP", "BMP", "TIFF", "JPEG"):
        image = decode(fx.encode(picture, fmt, **({"quality": 95} if fmt in ("WEBP", "JPEG") else {})))
        assert image.format == fmt and np.abs(image.pixels - reference).mean() < 4, fmt


def test_pad_keeps_the_whole_picture():
    image = decode(fx.encode(fx.two_halves(64, 32), "PNG"), crop="pad").pixels
    assert (image[:6] > 250).all() and (image[-6:] > 250).all()  # white bars above and below
    assert image[10, 16, 0] > 180 and image[22, 16, 2] > 180


def test_large_jpeg_uses_dct_scaling_and_matches_a_full_decode():
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 255, (12, 16, 3), np.uint8)).resize((1024, 768), Image.BICUBIC)
    data = fx.encode(smooth, "JPEG", quality=90)
    fast = decode(data, resolution=64).pixels.astype(int)
    full = np.asarray(smooth.crop((128, 0, 896, 768)).resize((64, 64), Image.LANCZOS), int)
    assert np.abs(fast - full).mean() < 3


# ---- rejections: one line that names the problem ---------------------------------------------

def test_rejection_reasons():
    red = Image.new("RGB", (64, 64), fx.RED)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    assert rejection(b"") == "not an image (zero bytes)"
    assert rejection(b"hello, I am text\n") == "not an image (text file)"
    assert rejection(fx.bomb_png()) == "decompression bomb: 900000000 pixels > --max-pixels 89478485"
    assert rejection(fx.encode(red, "PNG"), max_pixels=1000) == "decompression bomb: 4096 pixels > --max-pixels 1000"
    assert rejection(fx.truncated_jpeg(noise)) == "truncated JPEG"  # cut in the pixel data
    assert rejection(fx.truncated_jpeg(red)) == "truncated JPEG"    # cut in the header
    assert rejection(fx.encode(red, "PNG")[:40]) == "truncated PNG"
    assert rejection(fx.encode(Image.new("RGB", (20, 30)), "PNG"), min_size=64) == "too small: 20x30 < --min-size 64"


def test_pillow_own_bomb_limit_is_not_the_one_that_decides(monkeypatch):
    """Ingest workers lift Pillow's fixed limit; --max-pixels alone decides."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert rejection(fx.bomb_png(20000, 20000), max_pixels=10**8) == "decompression bomb: 400000000 pixels > --max-pixels 100000000"


# ---- near duplicates -------------------------------------------------------------------------

def test_perceptual_hash_is_stable_under_reencoding(emoji_folder):
    pngs = sorted(emoji_folder.glob("animals-nature/*.png"))
    hashes = [perceptual_hash(decode(p.read_bytes()).pixels) for p in pngs]
    smaller_jpeg = fx.encode(fx.emoji_on_white(pngs[0]).resize((52, 52), Image.BICUBIC), "JPEG", quality=70)
    reencoded = perceptual_hash(decode(smaller_jpeg).pixels)
    assert bin(reencoded ^ hashes[0]).count("1") <= 4
    others = [bin(h ^ hashes[0]).count("1") for h in hashes[1:]]
    assert min(others) > 8


# ---- one messy pile, end to end --------------------------------------------------------------

@pytest.fixture(scope="module")
def messy_pile(emoji_folder, tmp_path_factory):
    """A folder of the usual problems, plus a zip and a tar.gz, beside good emoji."""
    pile = tmp_path_factory.mktemp("pile")
    shutil.copytree(emoji_folder / "animals-nature", pile / "animals")
    food = sorted((emoji_folder / "food-drink").glob("*.png"))
    good = {p.name: p.read_bytes() for p in food[:4]}
    weird = pile / "weird"
    weird.mkdir()
    files = {
        "empty.png": b"",
        "notes.png": b"this is a text file, not a PNG\n",
        "photo-really.png": fx.encode(fx.emoji_on_white(food[4]), "JPEG", quality=92),  # JPEG named .png
        "bomb.png": fx.bomb_png(),
        "cut.jpg": fx.truncated_jpeg(fx.emoji_on_white(food[5])),
        "tiny.png": fx.encode(Image.new("RGB", (20, 30), "red"), "PNG"),
        "cmyk.jpg": fx.cmyk_jpeg(),
        "deep.png": fx.gradient_16bit_png(),
        "rotated.jpg": fx.exif_rotated_jpeg(6),
        "palette.png": fx.palette_png_with_transparency(),
        "copy.png": (emoji_folder / "animals-nature").glob("*.png").__next__().read_bytes(),
        "reencoded.jpg": fx.encode(fx.emoji_on_white(food[6]).resize((56, 56), Image.BICUBIC), "JPEG", quality=75),
        "original.png": food[6].read_bytes(),
        "README.txt": b"sidecar documents are not candidates",
    }
    for name, data in files.items():
        (weird / name).write_bytes(data)
    (pile / "pack.zip").write_bytes(fx.zip_archive({
        "../evil.png": good[food[0].name], "/etc/abs.png": good[food[1].name],
        "fruit/apple.png": good[food[2].name], "bomb.bin": b"\0" * (20 << 20),
    }))
    (pile / "pack.tar.gz").write_bytes(fx.tar_archive(
        {"veg/carrot.png": good[food[3].name]},
        symlinks={"veg/link.png": "/etc/passwd"}, hardlinks={"veg/hard.png": "veg/carrot.png"}))
    return pile


def test_messy_pile_ingests_the_good_and_names_every_bad(messy_pile, tmp_path):
    out = tmp_path / "ds"
    config = IngestConfig(resolution=32, min_size=24, dedupe="near", workers=2)
    summary = ingest([messy_pile], out, config, show_progress=False)
    reasons = {(r["source"].rsplit("/", 1)[-1], r["member"]): r["reason"] for r in summary.rejected}
    zip_bomb = reasons.pop(("pack.zip", "bomb.bin"))
    assert zip_bomb.startswith("unsafe archive member: bomb.bin (zip bomb: compression ratio 10")
    assert reasons == {
        ("empty.png", ""): "not an image (zero bytes)",
        ("notes.png", ""): "not an image (text file)",
        ("bomb.png", ""): "decompression bomb: 900000000 pixels > --max-pixels 89478485",
        ("cut.jpg", ""): "truncated JPEG",
        ("tiny.png", ""): "too small: 20x30 < --min-size 24",
        ("pack.zip", "../evil.png"): "unsafe archive member: ../evil.png",
        ("pack.zip", "/etc/abs.png"): "unsafe archive member: /etc/abs.png (absolute path)",
        ("pack.tar.gz", "veg/link.png"): "unsafe archive member: veg/link.png (symbolic link to /etc/passwd)",
        ("pack.tar.gz", "veg/hard.png"): "unsafe archive member: veg/hard.png (hard link to veg/carrot.png)",
    }

    ds = Dataset(out)
    by_name = {(r.source.rsplit("/", 1)[-1], r.member): (i, r) for i, r in enumerate(ds.records())}
    assert summary.ingested == len(ds) == 12 + 6 + 2  # animals, good weird files, zip + tar members
    assert summary.duplicates == 2 and summary.near_duplicates == 1  # copy.png exact, reencoded near
    # content, not the extension, decides: the JPEG named .png is in, recorded as JPEG-decoded
    assert ("photo-really.png", "") in by_name
    # labels: the folder the image sits in, also inside archives
    labels = {key: record.label for key, (_, record) in by_name.items()}
    assert labels[("cmyk.jpg", "")] == "weird"
    assert labels[("pack.zip", "fruit/apple.png")] == "fruit"
    assert labels[("pack.tar.gz", "veg/carrot.png")] == "veg"
    # pixels: upright, composited, scaled
    rotated = ds.images(32)[by_name[("rotated.jpg", "")][0]]
    assert rotated[:8, :, 0].mean() > 180 and rotated[-8:, :, 2].mean() > 180
    assert by_name[("deep.png", "")][1].mode.startswith("I")
    # nothing was written outside --out (the pile is untouched, no extracted files)
    assert not (messy_pile.parent / "evil.png").exists() and not list(messy_pile.rglob("*.u8"))


def test_unsafe_member_names_are_not_read_at_all(tmp_path):
    from nonesuch.data.sources import list_entries
    (tmp_path / "a.zip").write_bytes(fx.zip_archive({"../../x.png": b"data", "ok/y.png": b"data"}))
    entries = {e.member: e for e in list_entries([tmp_path / "a.zip"])}
    assert entries["../../x.png"].problem == "unsafe archive member: ../../x.png"
    assert entries["ok/y.png"].problem is None and entries["ok/y.png"].label == "ok"
