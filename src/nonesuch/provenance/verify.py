"""`nonesuch verify`: check each provenance layer of a file separately, then give one word.

    report = verify_file("out/3.jpg", trust_anchors=Path("ca.pem").read_bytes())
    report.verdict          # "verified" | "traced" | "forged" | "synthetic" | "tampered" | "unknown"
    report.c2pa["status"]   # "trusted" | "valid" | "invalid" | "absent"
    report.c2pa["signer"]   # "this install" | "another" | None (see c2pa_sign.py)
    report.xmp["status"]    # "present" | "absent"
    report.watermark        # {"status": "found" | "absent" | "abstain" | "unreadable",
                            #  "watermark_id", "confidence"}
    report.registry         # {"status": "match" | "unconfirmed" | "unknown", "via": ..., "record": {...}}

A claim of origin ("this is image X of this registry") counts only when it rests on something an
outsider cannot make:
- this install's watermark, read with its secret key, carrying X;
- a valid manifest signed by this install's own certificate (chain to our ca.pem), naming X;
- the exact bytes of the file registered as X (its sha256).
Everything else is a claim anyone can write: a manifest signed by any other certificate (one
made with `openssl` or another `nonesuch keys init`, names and all, signs "valid"; one under a CA
the user passed with `--trust` reads "trusted"), and the XMP `nonesuch:WatermarkID`.

Verdicts, first rule that applies (the README's "Verdict rules" table; `VERDICTS` below):
- tampered:  a C2PA manifest is present but does not validate (bytes changed after signing);
- forged:    a claim anyone can write names an image of this registry, and the watermark,
             read, does not carry that ID (absent, or another ID); no signature of ours says so;
             or this install's mark of X is on pixels that do not look like X (content.py: the
             mark lifted off one of our images and added to another picture);
- verified:  a manifest signed by this install names an image of this registry (the file is
             the one we signed), or the file's bytes are a registered file that we signed;
- traced:    this install's watermark (or the exact file hash) finds a registry row, with no
             manifest of ours: the usual state of a copy that went through a platform that
             strips metadata. It says "these pixels carry the mark of image X", not "this is X";
- synthetic: says it is AI-generated (watermark, manifest or XMP) but is not confirmed to be in
             this registry (also: a claim on this registry that cannot be checked because the
             mark cannot be read: too small or flat, or no watermark key);
- unknown:   no layer found anything. Not proof of a real photo: every layer can be removed.

A file that cannot be decoded raises ProvenanceError naming it; the CLI reports and moves on.

The watermark is read with this install's secret key (keys.py): a mark made by another install
reads "absent", as an unmarked image does. Without a key file the watermark layer is
"unreadable" (with the reason and the fix) and the other layers are still checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nonesuch.provenance.c2pa_sign import ManifestCheck, read_manifest
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.keys import SigningKeys, default_keys, read_key_file, watermark_config
from nonesuch.provenance.record import format_watermark_id
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.xmp import DIGITAL_SOURCE_TYPE, FORMATS, read_xmp, sniff_format, xmp_fields

# The most pixels the watermark is looked for in: twice the largest side generate writes
# (MAX_SIZE, 2048 px), squared; past it the mark cannot be there at the scale it was made.
MAX_MARKED_PIXELS = 4096 * 4096
# Every verdict, strongest first; the CLI exits 2 when any file reads as one of FAILED_VERDICTS.
VERDICTS = ("tampered", "forged", "verified", "traced", "synthetic", "unknown")
FAILED_VERDICTS = ("tampered", "forged")


@dataclass
class VerifyReport:
    path: str
    format: str | None       # png | jpg | webp | another Pillow format name in lower case
    sha256: str
    c2pa: dict
    xmp: dict
    watermark: dict
    registry: dict
    verdict: str

    def to_json(self) -> dict:
        return asdict(self)


THIS_INSTALLS_REGISTRY = "this install's registry"     # verify_file's default, as the CLI's


def verify_file(path: str | Path, trust_anchors: bytes | None = None,
                registry: Registry | str | None = THIS_INSTALLS_REGISTRY,
                keys: SigningKeys | None = None) -> VerifyReport:
    """The same verdict `nonesuch verify PATH` gives: by default the file is looked up in this
    install's registry (nonesuch_home()); pass a Registry to use another, None for none."""
    from nonesuch.data.sources import MAX_IMAGE_FILE_BYTES, UnreadableSource, read_regular_file

    path = Path(path)
    try:          # a FIFO would block for ever and /dev/zero or a 30 GB sparse file fill memory
        data = read_regular_file(path, MAX_IMAGE_FILE_BYTES)
    except UnreadableSource as error:
        raise ProvenanceError(f"{path}: cannot read ({error})") from None
    if registry is THIS_INSTALLS_REGISTRY:
        with Registry() as default:
            return verify_bytes(data, str(path), trust_anchors, default, keys)
    return verify_bytes(data, str(path), trust_anchors, registry, keys)


def verify_bytes(data: bytes, name: str = "<bytes>", trust_anchors: bytes | None = None,
                 registry: Registry | None = None, keys: SigningKeys | None = None) -> VerifyReport:
    """keys: this install's key folder (default: the one in nonesuch_home()): the watermark key
    reads the mark, and its ca.pem tells our signatures from anyone else's."""
    from nonesuch.data.structure import structure_problem

    # The structure limits ingest applies, before any layer reads the file: a 6 MB JPEG of
    # 50,000 scans held the decoder for minutes, a PNG of a million chunks held c2pa for 7 s.
    if problem := structure_problem(data):
        raise ProvenanceError(f"{name}: {problem}")
    keys = keys or default_keys()
    c2pa = _c2pa_layer(data, sniff_format(data), trust_anchors, _own_ca(keys))
    try:
        pixels, pillow_format = _decode(data, name)
    except ProvenanceError as error:
        # A signed file whose pixels no longer decode (a flipped byte fails PNG's CRC) was
        # modified after signing: report that rather than only "corrupt".
        if c2pa.status != "invalid":
            raise
        pixels, pillow_format = None, None
        c2pa.codes.append(f"pixels do not decode: {str(error).split(': ', 1)[-1]}")
    fmt = sniff_format(data) or pillow_format
    xmp = _xmp_layer(data)
    watermark = _watermark_layer(pixels, keys)
    sha256 = hashlib.sha256(data).hexdigest()
    registry_layer = _registry_layer(registry, watermark, c2pa, xmp, sha256, pixels)
    verdict = _verdict(c2pa, xmp, watermark, registry_layer)
    return VerifyReport(name, fmt, sha256, _c2pa_json(c2pa), xmp, watermark, registry_layer, verdict)


def _decode(data: bytes, name: str) -> tuple[np.ndarray, str]:
    """[H, W, 3] uint8 and Pillow's format name; ProvenanceError for anything not an image."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    from nonesuch.data.decode import FORMATS as DECODED_FORMATS
    from nonesuch.data.decode import png_metadata_reason, side_problem

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the formats ingest reads: Pillow opens more, and reads EPS by running
            # Ghostscript on the file, which a file someone sent us must not be able to start.
            image = Image.open(io.BytesIO(data), formats=DECODED_FORMATS)
            if problem := side_problem(*image.size):   # within the pixel cap, yet 8 bytes a row: 20 M rows took 600 MB
                raise ProvenanceError(f"{name}: {problem}")
            image.load()
            fmt = (image.format or "").lower().replace("jpeg", "jpg")
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                # Transparent pixels have no meaningful colour; lay them on white as viewers do.
                image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
            return np.asarray(image.convert("RGB")), fmt
    except UnidentifiedImageError as error:
        raise ProvenanceError(f"{name}: not an image (unknown or unsupported format)") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as error:
        if reason := png_metadata_reason(error):
            raise ProvenanceError(f"{name}: {reason}") from error
        raise ProvenanceError(f"{name}: corrupt or truncated image ({error})") from error


def _own_ca(keys: SigningKeys) -> bytes | None:
    """This install's CA certificate; None without one (then no manifest reads as ours)."""
    return read_key_file(keys.ca_cert) if keys.ca_cert.exists() else None


def _c2pa_layer(data: bytes, fmt: str | None, trust_anchors: bytes | None,
                own_ca: bytes | None) -> ManifestCheck:
    if fmt not in FORMATS:
        return ManifestCheck("absent")
    return read_manifest(data, FORMATS[fmt], trust_anchors, own_ca)


def _c2pa_json(check: ManifestCheck) -> dict:
    result = asdict(check)
    if check.watermark_id is not None:
        result["watermark_hex"] = format_watermark_id(check.watermark_id)
    return result


def _xmp_layer(data: bytes) -> dict:
    packet = read_xmp(data)
    if packet is None:
        return {"status": "absent"}
    fields = xmp_fields(packet)
    return {"status": "present",
            "digital_source_type": fields.get("Iptc4xmpExt:DigitalSourceType"),
            "ai_system": fields.get("Iptc4xmpExt:AISystemUsed"),
            "ai_system_version": fields.get("Iptc4xmpExt:AISystemVersionUsed"),
            "watermark_id": _parse_watermark_hex(fields.get("nonesuch:WatermarkID"))}


def _parse_watermark_hex(text: str | None) -> int | None:
    """The ID `format_watermark_id` wrote (12 hex digits); None for anything else."""
    text = (text or "").strip().lower()
    if len(text) != 12 or any(c not in "0123456789abcdef" for c in text):
        return None
    return int(text, 16)


def _watermark_layer(pixels: np.ndarray | None, keys: SigningKeys | None) -> dict:
    from nonesuch.provenance import watermark

    try:
        config = watermark_config(keys)
    except ProvenanceError as error:
        return {"status": "unreadable", "watermark_id": None, "confidence": 0.0, "reason": str(error)}
    if pixels is None:
        return {"status": "abstain", "watermark_id": None, "confidence": 0.0}
    if pixels.shape[0] * pixels.shape[1] > MAX_MARKED_PIXELS:
        # The detector holds ~50 bytes a pixel: an 81-megapixel photo took 3.7 GB (helper-20).
        # Nothing here makes images past 2048 px a side, and an enlarged copy loses the mark.
        return {"status": "abstain", "watermark_id": None, "confidence": 0.0,
                "reason": f"{pixels.shape[1]} x {pixels.shape[0]} px is larger than any image this "
                          f"install marks could be ({MAX_MARKED_PIXELS / 1e6:.0f} megapixels at most)"}
    result = watermark.detect(pixels, config)
    layer = {"status": result.status, "watermark_id": result.watermark_id,
             "confidence": round(float(result.confidence), 6)}
    if result.watermark_id is not None:
        layer["watermark_hex"] = format_watermark_id(result.watermark_id)
    return layer


def _registry_layer(registry: Registry | None, watermark: dict, c2pa: ManifestCheck, xmp: dict,
                    sha256: str, pixels: np.ndarray | None = None) -> dict:
    """The registry row this file is confirmed to be (status "match"), else the row a claim
    anyone can write points at ("unconfirmed", with `claimed_via`), else "unknown".

    A claim is "contradicted" when the watermark was read and does not carry the claimed ID
    (absent, or found with another ID): that is what turns a claim into "forged". A match by the
    watermark alone (not our signature, not the registered file's bytes) also says whether the
    pixels look like the registered image (`content`): the mark can be copied onto others."""
    if registry is None:
        return {"status": "unknown", "via": None, "record": None}
    found_id = watermark.get("watermark_id") if watermark["status"] == "found" else None
    confirmed = [("watermark", found_id)]
    if c2pa.signer == "this install":
        confirmed.insert(0, ("c2pa signed by this install", c2pa.watermark_id))
    claims = [("xmp WatermarkID", xmp.get("watermark_id"))]
    if c2pa.signer == "another":
        claims.insert(0, ("c2pa soft binding (another signer)", c2pa.watermark_id))
    confirmed_ids = {watermark_id for _, watermark_id in confirmed if watermark_id is not None}
    mark_was_read = watermark["status"] in ("found", "absent")
    # A false claim first: a forger's manifest on pixels that carry our mark of another image
    # must not read as that image's "traced" copy without a word.
    for via, claimed_id in claims:
        if claimed_id is None or claimed_id in confirmed_ids:
            continue
        if row := registry.lookup(claimed_id):
            return {"status": "unconfirmed", "via": None, "record": row, "claimed_via": via,
                    "claimed_id": claimed_id, "contradicted": mark_was_read,
                    "same_file": row.get("sha256") == sha256}
    for via, watermark_id in confirmed:
        if watermark_id is not None and (row := registry.lookup(watermark_id)):
            layer = {"status": "match", "via": via, "record": row, "same_file": row.get("sha256") == sha256}
            if via == "watermark" and not layer["same_file"]:
                layer["content"] = _content_check(registry.content_of(watermark_id), pixels)
            return layer
    if row := registry.lookup_sha256(sha256):
        return {"status": "match", "via": "file hash", "record": row, "same_file": True}
    return {"status": "unknown", "via": None, "record": None}


def _content_check(stored: bytes | None, pixels: np.ndarray) -> dict:
    """Do these pixels look like the registered image? ("recorded": False for a row registered
    before rows kept their looks: then only the mark speaks, as it did.)"""
    from nonesuch.provenance import content

    if stored is None:
        return {"recorded": False, "matches": None, "likeness": None}
    try:
        likeness = content.likeness(stored, pixels)
    except ValueError:                       # a row whose thumbnail is not one: vouches for nothing
        likeness = -1.0
    return {"recorded": True, "matches": likeness >= content.MATCH, "likeness": round(likeness, 4),
            "threshold": content.MATCH}


def _verdict(c2pa: ManifestCheck, xmp: dict, watermark: dict, registry: dict) -> str:
    """The README's "Verdict rules" table, row by row."""
    if c2pa.status == "invalid":
        return "tampered"
    if registry["status"] == "unconfirmed" and registry["contradicted"]:
        return "forged"
    if registry["status"] == "match" and registry.get("content", {}).get("matches") is False:
        return "forged"                      # our mark of X on pixels that are not X's: a copied mark
    if registry["status"] == "match":
        return "verified" if c2pa.signer == "this install" else "traced"
    claims_synthetic = (watermark["status"] == "found"
                        or c2pa.digital_source_type == DIGITAL_SOURCE_TYPE
                        or xmp.get("digital_source_type") == DIGITAL_SOURCE_TYPE)
    return "synthetic" if claims_synthetic else "unknown"
