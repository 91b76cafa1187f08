"""verify: every layer reported on its own; stripped, re-encoded copies still trace back."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from generate_fixtures import conditional_run, nonesuch_home  # noqa: F401  (fixtures)
from nonesuch.cli import app
from nonesuch.provenance.keys import default_keys
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.verify import verify_bytes

runner = CliRunner()
TRACE_IMAGES = 40


@pytest.fixture(scope="module")
def generated(conditional_run, nonesuch_home, tmp_path_factory):
    """40 signed 256 px JPEGs plus one PNG and one WebP, made by the real CLI."""
    out = tmp_path_factory.mktemp("generated")
    for fmt, seeds in (("jpg", f"0-{TRACE_IMAGES - 1}"), ("png", "100"), ("webp", "101")):
        result = runner.invoke(app, ["generate", str(conditional_run), "--out", str(out / fmt),
                                     "--seeds", seeds, "--format", fmt])
        assert result.exit_code == 0, result.output
        for path in (out / fmt).glob(f"*.{fmt}"):       # one folder for all, for short paths
            path.rename(out / path.name)
            (out / fmt / f"{path.stem}.json").rename(out / f"{path.stem}.json")
    return out


def verify_json(*args):
    result = runner.invoke(app, ["verify", "--json", *map(str, args)])
    return result, json.loads(result.stdout)


def strip_and_reencode(data: bytes, quality: int = 75) -> bytes:
    """What a platform does: decode, drop every byte of metadata, save as JPEG (4:2:0)."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_originals_verify_on_every_layer(generated):
    files = [generated / "0.jpg", generated / "100.png", generated / "101.webp"]
    result, reports = verify_json(*files)
    assert result.exit_code == 0
    for report in reports:
        assert report["verdict"] == "verified", report
        assert report["c2pa"]["status"] == "valid"
        assert report["xmp"]["status"] == "present"
        assert report["xmp"]["digital_source_type"].endswith("trainedAlgorithmicMedia")
        assert report["watermark"]["status"] == "found"
        assert report["watermark"]["watermark_id"] == report["c2pa"]["watermark_id"]
        assert report["registry"]["status"] == "match" and report["registry"]["same_file"]
    record = json.loads((generated / "100.json").read_text())
    assert reports[1]["registry"]["record"]["seed"] == 100 == record["seed"]


def test_trusting_our_ca_makes_the_signature_trusted(generated):
    ca = default_keys().ca_cert
    result = runner.invoke(app, ["verify", "--json", "--trust", str(ca), str(generated / "1.jpg")])
    assert json.loads(result.stdout)[0]["c2pa"]["status"] == "trusted"


def test_stripped_jpeg75_copies_trace_back_to_their_registry_rows(generated):
    traced = 0
    with Registry() as registry:
        for seed in range(TRACE_IMAGES):
            copy = strip_and_reencode((generated / f"{seed}.jpg").read_bytes())
            report = verify_bytes(copy, f"copy-{seed}.jpg", registry=registry)
            assert report.c2pa["status"] == "absent" and report.xmp["status"] == "absent"
            if report.registry["status"] == "match" and report.registry["record"]["seed"] == seed:
                traced += 1
                assert report.verdict == "traced" and not report.registry["same_file"]
    assert traced / TRACE_IMAGES >= 0.99


def test_a_changed_pixel_byte_reads_tampered(generated, tmp_path):
    data = bytearray((generated / "100.png").read_bytes())
    data[-200] ^= 0x04
    (tmp_path / "edited.png").write_bytes(bytes(data))
    _, [report] = verify_json(tmp_path / "edited.png")
    assert report["verdict"] == "tampered"
    assert report["c2pa"]["status"] == "invalid" and report["c2pa"]["codes"]


@pytest.mark.parametrize("name", ["100.png", "101.webp", "0.jpg"])
def test_a_signed_file_cut_short_is_tampered_while_its_manifest_is_there_else_corrupt(generated, name):
    """'tampered' needs a manifest to be broken: a file cut before its manifest (WebP keeps it at
    the end) is only corrupt, like any half-downloaded photo, never an accusation."""
    from nonesuch.provenance.c2pa_sign import JUMBF_BOX
    from nonesuch.provenance.errors import ProvenanceError

    data = (generated / name).read_bytes()
    manifest_at = data.index(JUMBF_BOX)
    for cut in (manifest_at + 4096, manifest_at - 8):     # after the manifest store, and before it
        if cut >= len(data) or cut < 64:
            continue
        if JUMBF_BOX in data[:cut]:
            report = verify_bytes(data[:cut], f"cut-{name}")
            assert report.verdict == "tampered" and report.c2pa["status"] == "invalid"
        else:
            with pytest.raises(ProvenanceError, match="corrupt or truncated"):
                verify_bytes(data[:cut], f"cut-{name}")


def test_an_unsigned_file_cut_short_is_corrupt_not_tampered(emoji_folder):
    """c2pa cannot parse a cut-short PNG at all; that is no manifest, not a broken one."""
    from nonesuch.provenance.errors import ProvenanceError

    data = sorted(emoji_folder.glob("*/*.png"))[0].read_bytes()
    with pytest.raises(ProvenanceError, match="corrupt or truncated"):
        verify_bytes(data[:len(data) // 2], "half.png")


def test_a_real_emoji_is_unknown_and_a_foreign_registry_sees_only_synthetic(generated, emoji_folder, tmp_path):
    real = sorted(emoji_folder.glob("*/*.png"))[0]
    _, [report] = verify_json(real)
    assert report["verdict"] == "unknown"
    assert report["watermark"]["status"] in ("absent", "abstain")
    result = runner.invoke(app, ["verify", "--json", "--registry", str(tmp_path / "other.sqlite"),
                                 str(generated / "2.jpg")])
    [report] = json.loads(result.stdout)
    assert report["registry"]["status"] == "unknown" and report["verdict"] == "synthetic"


def test_bad_files_get_one_line_each_and_the_rest_is_still_checked(generated, tmp_path):
    truncated = tmp_path / "truncated.jpg"            # an unsigned copy, cut short
    truncated.write_bytes(strip_and_reencode((generated / "3.jpg").read_bytes())[:3000])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    missing = tmp_path / "missing.png"
    result = runner.invoke(app, ["verify", str(truncated), str(generated / "4.jpg"), str(text), str(missing)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("truncated.jpg: corrupt or truncated" in e for e in errors)
    assert any("notes.jpg: not an image" in e for e in errors)
    assert any("missing.png: cannot read" in e for e in errors)
    assert "4.jpg: verified" in result.stdout


def test_unreadable_trust_file_is_named(generated, tmp_path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("hello")
    result = runner.invoke(app, ["verify", "--trust", str(bogus), str(generated / "0.jpg")])
    assert result.exit_code == 1 and "ca.pem: not a PEM certificate file" in result.stderr


def test_a_mark_reads_only_under_the_key_of_the_install_that_made_it(generated, tmp_path):
    from nonesuch.provenance.keys import SigningKeys, init_keys

    other_install = init_keys(SigningKeys(tmp_path / "other-install"))
    copy = strip_and_reencode((generated / "5.jpg").read_bytes())
    ours = verify_bytes(copy, "5.jpg")                                 # this install's key
    theirs = verify_bytes(copy, "5.jpg", keys=other_install)
    assert ours.watermark["status"] == "found"
    assert ours.watermark["watermark_id"] == json.loads((generated / "5.json").read_text())["watermark_id"]
    assert theirs.watermark["status"] == "absent" and theirs.verdict == "unknown"


def test_without_a_watermark_key_the_other_layers_are_still_reported(generated, tmp_path):
    from nonesuch.provenance.keys import SigningKeys

    nowhere = SigningKeys(tmp_path / "no-keys")
    report = verify_bytes((generated / "6.jpg").read_bytes(), "6.jpg", keys=nowhere)
    assert report.watermark["status"] == "unreadable"
    assert f"no watermark key at {nowhere.watermark_key}: run `nonesuch keys init`" in report.watermark["reason"]
    assert report.c2pa["status"] == "valid" and report.xmp["status"] == "present"
    assert report.verdict == "synthetic"                               # no registry given here


def test_the_watermark_key_is_in_no_output(generated):
    key = default_keys().load_watermark_key()
    spellings = [f"{key:016x}".encode(), str(key).encode(), key.to_bytes(8, "big"), key.to_bytes(8, "little")]
    for path in generated.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in spellings), path


def test_a_pipe_a_device_and_a_30_gb_sparse_file_are_refused_unread(generated, tmp_path):
    """Each once hung verify (a FIFO blocks on open) or read until memory ran out (/dev/zero, a
    sparse file that claims 30 GB at no cost); now one line each, and the good file still checks."""
    import os

    fifo, sparse = tmp_path / "pipe.png", tmp_path / "sparse.png"
    os.mkfifo(fifo)
    with open(sparse, "wb") as f:
        f.truncate(30 << 30)
    result = runner.invoke(app, ["verify", str(fifo), "/dev/zero", str(sparse), str(generated / "4.jpg")])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 3, result.stderr
    assert any("pipe.png: cannot read (not a regular file: it is a FIFO" in e for e in errors)
    assert any("/dev/zero: cannot read (not a regular file: it is a character device" in e for e in errors)
    assert any("sparse.png: cannot read (too large: 32212254720 bytes" in e for e in errors)
    assert "4.jpg: verified" in result.stdout
    result = runner.invoke(app, ["verify", "--trust", str(fifo), str(generated / "4.jpg")])
    assert result.exit_code == 1 and "pipe.png: cannot read trust anchors (not a regular file" in result.stderr
