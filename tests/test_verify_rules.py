"""verify's verdict rules (README, "Verdict rules"), one test per row, forged claims included.

Every case is a real file built the way an attacker would build it: with this install's own
public material (its ca.pem, its signed images, its registry IDs, which a signed image shows to
anyone) and a certificate of their own, never with this install's private keys. Each verdict is
checked through both doors: `verify_file` in Python and the `verify` CLI (verdict and exit code).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from generate_fixtures import nonesuch_home  # noqa: F401  (fixture)
from nonesuch.cli import app
from nonesuch.provenance import watermark
from nonesuch.provenance.c2pa_sign import ManifestSigner, read_manifest
from nonesuch.provenance.content import MATCH, thumbnail
from nonesuch.provenance.keys import SigningKeys, default_keys, init_keys, watermark_config
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.verify import verify_file
from nonesuch.provenance.watermark_attacks import ATTACKS, copy_mark, with_grey_shape_of
from nonesuch.provenance.xmp import FORMATS, XmpFields, encode_image, xmp_packet

runner = CliRunner()
# Two registered images of this install, and an ID it never made.
ID_A, ID_B, ID_UNREGISTERED = 0x0A0A0A0A0A0A, 0x0B0B0B0B0B0B, 0x0C0C0C0C0C0C


@dataclass
class Install:
    """This install (keys in NONESUCH_HOME) and a forger's (a `keys init` elsewhere)."""
    registry_path: Path
    ours: ManifestSigner
    forger_keys: SigningKeys
    forger: ManifestSigner
    pixels: list[np.ndarray]          # 3 different unmarked emoji at 256 px


@pytest.fixture(scope="module")
def install(nonesuch_home, emoji_folder, tmp_path_factory) -> Install:
    folder = tmp_path_factory.mktemp("rules")
    pngs = sorted(emoji_folder.glob("*/*.png"))[3:30:9]
    pixels = []
    for png in pngs:
        rgba = Image.open(png).convert("RGBA")
        flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        pixels.append(np.asarray(flat.resize((256, 256), Image.LANCZOS)))
    registry_path = folder / "registry.sqlite"
    with Registry(registry_path) as registry:   # as generate registers them: with what they look like
        registry.add([_record(ID_A, seed=1, content=thumbnail(pixels[0])),
                      _record(ID_B, seed=2, content=thumbnail(pixels[1]))])
    # The forger's own CA: `init_keys` gives it the very names this install's certificates have.
    forger_keys = init_keys(SigningKeys(folder / "forger-keys"))
    return Install(registry_path, ManifestSigner(), forger_keys,
                   ManifestSigner(forger_keys), pixels)


def _record(watermark_id: int, seed: int, sha256: str = "", content: bytes | None = None) -> GenerationRecord:
    return GenerationRecord(run="run", checkpoint="latest.pt", checkpoint_sha256="c" * 64,
                            seed=seed, class_name=None, truncation=None, size=256, format="png",
                            watermark_id=watermark_id, created="2026-01-01T00:00:00+00:00",
                            sha256=sha256, content=content)


def marked(pixels: np.ndarray, watermark_id: int) -> np.ndarray:
    """Pixels carrying this install's mark (made with its secret key, as `generate` does)."""
    return watermark.embed(pixels, watermark_id, config=watermark_config())


def png(pixels: np.ndarray, xmp_id: int | None = None) -> bytes:
    extra = {"WatermarkID": f"{xmp_id:012x}"} if xmp_id is not None else None
    return encode_image(pixels, "png", xmp_packet(XmpFields(extra=extra)))


def signed(signer: ManifestSigner, data: bytes, watermark_id: int) -> bytes:
    return signer.sign(data, "image/png", watermark_id, title="x.png", generation={"seed": 1})


def stripped_jpeg(data: bytes, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def check(install: Install, tmp_path: Path, data: bytes, verdict: str, *trust: Path,
          name: str = "case.png") -> dict:
    """The verdict through verify_file and through the CLI, which must agree; the CLI's exit
    code must be the table's. Returns the CLI's JSON report."""
    path = tmp_path / name
    path.write_bytes(data)
    anchors = trust[0].read_bytes() if trust else None
    with Registry(install.registry_path) as registry:
        assert verify_file(path, anchors, registry).verdict == verdict
    options = ["--trust", str(trust[0])] if trust else []
    result = runner.invoke(app, ["verify", "--json", "--registry", str(install.registry_path),
                                 *options, str(path)])
    [report] = json.loads(result.stdout)
    assert report["verdict"] == verdict, report
    assert result.exit_code == (2 if verdict in ("tampered", "forged") else 0), result.output
    return report


# -- tampered -----------------------------------------------------------------------------------

def test_our_manifest_with_a_changed_byte_is_tampered(install, tmp_path):
    data = bytearray(signed(install.ours, png(marked(install.pixels[0], ID_A)), ID_A))
    data[-300] ^= 0x10
    check(install, tmp_path, bytes(data), "tampered")


def test_our_manifest_transplanted_onto_other_pixels_is_tampered(install, tmp_path):
    """Our signed JPEG's manifest segments (APP11) moved onto another JPEG of the same size."""
    ours = stripped_jpeg(signed(install.ours, png(marked(install.pixels[0], ID_A)), ID_A))
    ours = install.ours.sign(ours, "image/jpeg", ID_A, title="a.jpg")
    other = stripped_jpeg(png(install.pixels[1]))
    manifest = b"".join(_jpeg_segments(ours, marker=0xEB))
    assert manifest
    transplanted = other[:2] + manifest + other[2:]
    report = check(install, tmp_path, transplanted, "tampered", name="case.jpg")
    assert report["c2pa"]["status"] == "invalid"


def _jpeg_segments(data: bytes, marker: int) -> list[bytes]:
    segments, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] != 0xDA:
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if data[at + 1] == marker:
            segments.append(data[at:at + 2 + length])
        at += 2 + length
    return segments


# -- forged: a claim anyone can write, contradicted by the watermark ----------------------------

def test_a_self_made_certificate_claiming_our_id_is_forged_also_under_trust(install, tmp_path):
    """The issue's case: the forger's valid manifest names registered image A; no mark."""
    forged = signed(install.forger, png(install.pixels[1]), ID_A)
    # Name and issuer are ours to the letter: only the chain's signatures tell them apart.
    ours_info = _signature_info(signed(install.ours, png(install.pixels[1]), ID_A))
    assert _signature_info(forged)["common_name"] == ours_info["common_name"]
    assert _signature_info(forged)["issuer"] == ours_info["issuer"]
    report = check(install, tmp_path, forged, "forged")
    assert report["c2pa"]["status"] == "valid" and report["c2pa"]["signer"] == "another"
    assert report["watermark"]["status"] == "absent"
    assert report["registry"]["status"] == "unconfirmed"
    assert report["registry"]["claimed_id"] == ID_A and report["registry"]["contradicted"]
    for anchors in (default_keys().ca_cert, install.forger_keys.ca_cert):
        report = check(install, tmp_path, forged, "forged", anchors)
    assert report["c2pa"]["status"] == "trusted"      # the user trusted the forger's CA: still forged


def _signature_info(data: bytes) -> dict:
    import c2pa
    reader = c2pa.Reader("image/png", io.BytesIO(data))
    report = json.loads(reader.json())
    reader.close()
    return report["manifests"][report["active_manifest"]]["signature_info"]


def test_a_foreign_manifest_claiming_another_of_our_ids_over_our_mark_is_forged(install, tmp_path):
    """Pixels carry our mark of B; a valid foreign manifest says they are A."""
    forged = signed(install.forger, png(marked(install.pixels[0], ID_B)), ID_A)
    report = check(install, tmp_path, forged, "forged")
    assert report["watermark"]["watermark_id"] == ID_B
    assert report["registry"]["claimed_id"] == ID_A


def test_an_xmp_watermark_id_naming_our_image_on_unmarked_pixels_is_forged(install, tmp_path):
    report = check(install, tmp_path, png(install.pixels[2], xmp_id=ID_B), "forged")
    assert report["c2pa"]["status"] == "absent"
    assert report["registry"]["claimed_via"] == "xmp WatermarkID"


# -- forged: our mark lifted off one of our images and added to another picture -------------------

def _photo() -> np.ndarray:
    """A real photograph (scikit-learn's bundled sample), 256 px: pixels we never made."""
    from sklearn.datasets import load_sample_images
    return np.ascontiguousarray(load_sample_images().images[0][100:356, 200:456])


@pytest.mark.parametrize("other", ["photo", "grey"])
def test_our_mark_copied_onto_another_picture_is_forged(install, tmp_path, other):
    """The copy attack needs one of our published images and numpy: the mark is additive and
    tiled, so its residual folded into one tile and added elsewhere reads as our ID. It read
    `traced` to image A, confidence 1.0; the registry's thumbnail of A tells the pixels apart.
    (Turned up 3x, the lifted mark read on the photo under each of 12 keys tried.)"""
    picture = _photo() if other == "photo" else np.full((256, 256, 3), 128, np.uint8)
    report = check(install, tmp_path, png(copy_mark(marked(install.pixels[0], ID_A), picture, strength=3)), "forged")
    assert report["watermark"]["status"] == "found" and report["watermark"]["watermark_id"] == ID_A
    assert report["registry"]["status"] == "match" and report["registry"]["via"] == "watermark"
    assert not report["registry"]["content"]["matches"] and report["registry"]["content"]["likeness"] < MATCH
    assert "content" not in report["registry"]["record"]          # the thumbnail is not printed


@pytest.mark.parametrize("attack", ["crop10%", "rotate+5crop", "mirror", "thumb0.5", "jpeg30", "bright+20",
                                    "resize0.5+jpeg75"])
def test_our_image_handled_as_the_mark_survives_still_looks_like_itself(install, tmp_path, attack):
    """What a shared image meets must not make our own image read as a copied mark."""
    data = png(ATTACKS[attack](marked(install.pixels[0], ID_A), np.random.default_rng(7)))
    report = check(install, tmp_path, data, "traced")
    assert report["registry"]["content"]["matches"] and report["registry"]["content"]["likeness"] >= MATCH


def _framed(pixels: np.ndarray, how: str) -> np.ndarray:
    from PIL import ImageOps
    image = Image.fromarray(pixels)
    framed = {"white frame": lambda: ImageOps.expand(image, 20, fill="white"),
              "black frame": lambda: ImageOps.expand(image, 30, fill="black"),
              "letterbox 16:9": lambda: ImageOps.pad(image, (455, 256), color="white")}[how]()
    return np.asarray(framed)


@pytest.mark.parametrize("how, encoding", [("white frame", "png"), ("black frame", "jpeg90"),
                                           ("letterbox 16:9", "jpeg75")])
def test_our_image_padded_framed_or_letterboxed_is_traced_not_forged(install, tmp_path, how, encoding):
    """A border of one colour round our unchanged pixels (a frame, a platform's letterbox) keeps
    the mark readable but made the picture larger than the image the thumbnail search places:
    it read `forged`, exit 2, likeness 0.42 for a 20 px white frame and -1 for a letterbox.
    After JPEG the seam rings up to an MCU into the border, which the trim must also get past."""
    framed = _framed(marked(install.pixels[0], ID_A), how)
    data = png(framed) if encoding == "png" else stripped_jpeg(png(framed), int(encoding[4:]))
    report = check(install, tmp_path, data, "traced")
    assert report["watermark"]["watermark_id"] == ID_A and report["registry"]["content"]["matches"]


def test_a_photo_given_our_images_shape_and_our_lifted_mark_is_forged(install, tmp_path):
    """The copy attack past a grey thumbnail (helper-19): any photo, its 48 x 48 cells' grey
    moved to our image's and our mark lifted onto it, read `traced` to B at likeness 0.999 while a
    person sees the photo. Its colours are still the photo's, and the colour check catches them."""
    photo = np.asarray(Image.fromarray(_photo()).resize((384, 384), Image.LANCZOS))
    grapes = install.pixels[1]
    forged = copy_mark(marked(grapes, ID_B), with_grey_shape_of(grapes, photo), strength=3)
    report = check(install, tmp_path, png(forged), "forged")
    assert report["watermark"]["watermark_id"] == ID_B and report["registry"]["content"]["likeness"] < MATCH


@pytest.mark.xfail(strict=True, reason="known hole: an image with little colour has only its shape "
                   "to compare, which a photo can be made to share (README, the copy attack)")
def test_a_photo_given_a_grey_images_shape_and_its_lifted_mark_is_not_traced(install, tmp_path):
    photo = np.asarray(Image.fromarray(_photo()).resize((384, 384), Image.LANCZOS))
    poodle = install.pixels[0]                # grey on white: its colours say no more than its shape
    forged = copy_mark(marked(poodle, ID_A), with_grey_shape_of(poodle, photo), strength=3)
    check(install, tmp_path, png(forged), "forged")


# -- verified: this install's signature -----------------------------------------------------------

def test_our_signed_marked_file_is_verified_with_or_without_trust(install, tmp_path):
    data = signed(install.ours, png(marked(install.pixels[0], ID_A)), ID_A)
    report = check(install, tmp_path, data, "verified")
    assert report["c2pa"]["signer"] == "this install"
    assert report["registry"]["via"] == "c2pa signed by this install"
    report = check(install, tmp_path, data, "verified", default_keys().ca_cert)
    assert report["c2pa"]["status"] == "trusted"


def test_our_signature_on_a_registered_id_is_verified_even_where_the_mark_cannot_hold(install, tmp_path):
    """A flat grey image keeps no mark ("abstain"); our signature alone confirms it."""
    flat = np.full((256, 256, 3), 128, np.uint8)
    report = check(install, tmp_path, signed(install.ours, png(flat), ID_B), "verified")
    assert report["watermark"]["status"] in ("abstain", "absent")


# -- traced: the mark (or the exact file) without our signature ------------------------------------

def test_stripped_metadata_with_our_mark_is_traced(install, tmp_path):
    data = stripped_jpeg(signed(install.ours, png(marked(install.pixels[0], ID_A)), ID_A))
    report = check(install, tmp_path, data, "traced", name="case.jpg")
    assert report["registry"]["via"] == "watermark" and report["registry"]["record"]["seed"] == 1


def test_a_foreign_manifest_agreeing_with_our_mark_is_traced_not_verified(install, tmp_path):
    """Someone re-signed our marked image with their own certificate, keeping its ID."""
    data = signed(install.forger, png(marked(install.pixels[0], ID_A)), ID_A)
    report = check(install, tmp_path, data, "traced")
    assert report["c2pa"]["signer"] == "another" and report["registry"]["via"] == "watermark"


def test_the_exact_bytes_of_an_unsigned_registered_file_are_traced(install, tmp_path):
    """`generate --no-sign` on an image that keeps no mark: the file hash is the evidence."""
    import hashlib
    data = png(np.full((256, 256, 3), 200, np.uint8))
    with Registry(install.registry_path) as registry:
        registry.add([_record(0x0D0D0D0D0D0D, seed=4, sha256=hashlib.sha256(data).hexdigest())])
    report = check(install, tmp_path, data, "traced")
    assert report["registry"]["via"] == "file hash" and report["registry"]["same_file"]


# -- synthetic: says AI-made, origin here not confirmed ---------------------------------------------

def test_a_claim_on_our_registry_that_the_mark_cannot_check_is_only_synthetic(install, tmp_path):
    """Too small to hold a mark (under 64 px): the claim can be neither confirmed nor refuted."""
    tiny = np.asarray(Image.fromarray(install.pixels[1]).resize((48, 48), Image.LANCZOS))
    report = check(install, tmp_path, signed(install.forger, png(tiny), ID_A), "synthetic")
    assert report["watermark"]["status"] == "abstain"
    assert report["registry"]["status"] == "unconfirmed" and not report["registry"]["contradicted"]


def test_another_installs_own_image_is_synthetic(install, tmp_path):
    data = signed(install.forger, png(install.pixels[1]), ID_UNREGISTERED)
    report = check(install, tmp_path, data, "synthetic")
    assert report["registry"]["status"] == "unknown"


def test_our_mark_of_an_unregistered_id_is_synthetic(install, tmp_path):
    data = stripped_jpeg(png(marked(install.pixels[1], ID_UNREGISTERED)))
    report = check(install, tmp_path, data, "synthetic", name="case.jpg")
    assert report["watermark"]["watermark_id"] == ID_UNREGISTERED


# -- unknown ----------------------------------------------------------------------------------------

def test_an_unmarked_unlabelled_image_is_unknown(install, tmp_path):
    report = check(install, tmp_path, stripped_jpeg(png(install.pixels[2])), "unknown", name="case.jpg")
    assert report["watermark"]["status"] == "absent"


def test_the_signer_check_rests_on_our_ca_not_on_the_anchors_given(install):
    """read_manifest on its own: our chain is "this install" under any anchors; the forger's
    is "another" even when the user's anchors include ours and the forger's."""
    own_ca = default_keys().ca_cert.read_bytes()
    both = own_ca + install.forger_keys.ca_cert.read_bytes()
    ours = signed(install.ours, png(install.pixels[0]), ID_A)
    forged = signed(install.forger, png(install.pixels[0]), ID_A)
    for anchors in (None, own_ca, both):
        assert read_manifest(ours, FORMATS["png"], anchors, own_ca).signer == "this install"
        forged_check = read_manifest(forged, FORMATS["png"], anchors, own_ca)
        assert forged_check.signer == "another"
    assert forged_check.status == "trusted"                 # under `both`
    assert read_manifest(ours, FORMATS["png"], None, None).signer == "another"   # no CA to compare
