"""C2PA: a local CA signs manifests that read Valid, Trusted with our CA, Invalid when touched."""

import io
import stat

import numpy as np
import pytest
from PIL import Image

from generate_fixtures import nonesuch_home  # noqa: F401  (fixture)
from nonesuch.provenance.c2pa_sign import ManifestSigner, read_manifest
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.keys import SigningKeys, default_keys, init_keys
from nonesuch.provenance.xmp import (DIGITAL_SOURCE_TYPE, FORMATS, XmpFields, encode_image,
                                     read_xmp, xmp_packet)

WATERMARK_ID = 0x0123456789AB


@pytest.fixture(scope="module")
def signer(nonesuch_home):
    return ManifestSigner(version="test")


@pytest.fixture(scope="module")
def pixels(emoji_folder):
    png = sorted(emoji_folder.glob("*/*.png"))[5]
    return np.asarray(Image.open(png).convert("RGB").resize((256, 256), Image.LANCZOS))


def test_keys_are_private_and_never_silently_replaced(nonesuch_home):
    keys = default_keys()
    assert keys.folder == nonesuch_home / "keys"
    assert stat.S_IMODE(keys.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.ca_key.stat().st_mode) == 0o600
    before = keys.key.read_bytes()
    with pytest.raises(ProvenanceError, match="already exist"):
        init_keys()
    assert keys.key.read_bytes() == before


def test_missing_keys_say_how_to_make_them(tmp_path):
    with pytest.raises(ProvenanceError, match="nonesuch keys init"):
        ManifestSigner(SigningKeys(tmp_path / "nothing"))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_signed_manifest_validates_and_carries_the_watermark_id(signer, pixels, fmt, nonesuch_home):
    unsigned = encode_image(pixels, fmt, xmp_packet(XmpFields()))
    signed = signer.sign(unsigned, FORMATS[fmt], WATERMARK_ID, title=f"x.{fmt}",
                         generation={"seed": 3})
    assert len(signed) - len(unsigned) <= 16 * 1024          # thumbnails off
    check = read_manifest(signed, FORMATS[fmt])
    assert check.status == "valid"                           # good signature, signer untrusted
    assert check.watermark_id == WATERMARK_ID
    assert check.digital_source_type == DIGITAL_SOURCE_TYPE
    assert check.generation == {"seed": 3}
    assert read_xmp(signed) == read_xmp(unsigned)            # signing kept the XMP
    ca = default_keys().ca_cert.read_bytes()
    assert read_manifest(signed, FORMATS[fmt], trust_anchors=ca).status == "trusted"


def test_a_changed_byte_makes_the_manifest_invalid_and_reencoding_removes_it(signer, pixels):
    signed = signer.sign(encode_image(pixels, "png", None), "image/png", WATERMARK_ID, "x.png")
    tampered = bytearray(signed)
    tampered[-100] ^= 0x01                                   # inside IDAT, near the end
    check = read_manifest(bytes(tampered), "image/png")
    assert check.status == "invalid" and check.codes
    buffer = io.BytesIO()
    Image.open(io.BytesIO(signed)).save(buffer, "PNG")
    assert read_manifest(buffer.getvalue(), "image/png").status == "absent"


def test_a_foreign_ca_does_not_make_a_signature_trusted(signer, pixels, tmp_path):
    other = init_keys(SigningKeys(tmp_path / "other"))
    signed = signer.sign(encode_image(pixels, "jpg", None), "image/jpeg", WATERMARK_ID, "x.jpg")
    assert read_manifest(signed, "image/jpeg", other.ca_cert.read_bytes()).status != "trusted"


def test_keys_init_verb_writes_keys_under_nonesuch_home(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nonesuch.cli import app

    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "init"])
    assert first.exit_code == 0, first.output
    keys = SigningKeys(tmp_path / "home" / "keys")
    assert keys.exists() and stat.S_IMODE(keys.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.watermark_key.stat().st_mode) == 0o600
    watermark_key = keys.load_watermark_key()
    again = runner.invoke(app, ["keys", "init"])
    assert again.exit_code == 1 and "--force" in again.output
    chain = keys.chain.read_bytes()
    assert runner.invoke(app, ["keys", "init", "--force"]).exit_code == 0
    # --force replaces the certificates, never the watermark key: old marks stay readable.
    assert keys.chain.read_bytes() != chain and keys.load_watermark_key() == watermark_key


def test_keys_init_adds_a_watermark_key_to_an_older_keys_folder(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nonesuch.cli import app
    from nonesuch.provenance.keys import watermark_config

    monkeypatch.setenv("NONESUCH_HOME", str(tmp_path / "home"))
    keys = init_keys()
    keys.watermark_key.unlink()                               # as made before watermark keys
    certificates = [p.read_bytes() for p in (keys.ca_cert, keys.ca_key, keys.chain, keys.key)]
    with pytest.raises(ProvenanceError, match=f"{keys.watermark_key}: run `nonesuch keys init`"):
        watermark_config(keys)
    result = CliRunner().invoke(app, ["keys", "init"])
    assert result.exit_code == 0 and "certificates kept" in " ".join(result.output.split())
    assert [p.read_bytes() for p in (keys.ca_cert, keys.ca_key, keys.chain, keys.key)] == certificates
    assert stat.S_IMODE(keys.watermark_key.stat().st_mode) == 0o600
    assert watermark_config(keys).key_seed == keys.load_watermark_key() < 2 ** 64
    assert init_keys(SigningKeys(tmp_path / "b")).load_watermark_key() != keys.load_watermark_key()
    keys.watermark_key.write_text("not a key\n")
    with pytest.raises(ProvenanceError, match="watermark.key: not a watermark key"):
        keys.load_watermark_key()
