"""`nonesuch verify`: check each provenance layer of a file separately, then give one word.

    report = verify_file("out/3.jpg", trust_anchors=Path("ca.pem").read_bytes())
    report.verdict          # "verified" | "traced" | "synthetic" | "tampered" | "unknown"
    report.c2pa["status"]   # "trusted" | "valid" | "invalid" | "absent"
    report.xmp["status"]    # "present" | "absent"
    report.watermark        # {"status": "found" | "absent" | "abstain" | "unreadable",
                            #  "watermark_id", "confidence"}
    report.registry         # {"status": "match" | "unknown", "via": ..., "record": {...}}

Verdicts, strongest evidence first:
- tampered:  a C2PA manifest is present but does not validate (bytes changed after signing);
- verified:  a valid (or trusted) manifest, and the image is in this registry;
- traced:    in this registry through the watermark (or exact file hash) with no manifest: the
             usual state of a copy that went through a platform that strips metadata;
- synthetic: says it is AI-generated (watermark, manifest or XMP) but is not in this registry;
- unknown:   no layer found anything. Not proof of a real photo: every layer can be removed.

The registry is looked up by the watermark ID first (survives re-encoding), then by the C2PA
soft-binding ID (a valid manifest on a file whose mark was destroyed), then by the file's sha256.
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
from nonesuch.provenance.keys import SigningKeys, watermark_config
from nonesuch.provenance.record import format_watermark_id
from nonesuch.provenance.registry import Registry
from nonesuch.provenance.xmp import DIGITAL_SOURCE_TYPE, FORMATS, read_xmp, sniff_format, xmp_fields


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
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProvenanceError(f"{path}: cannot read ({error.strerror or error})") from error
    if registry is THIS_INSTALLS_REGISTRY:
        with Registry() as default:
            return verify_bytes(data, str(path), trust_anchors, default, keys)
    return verify_bytes(data, str(path), trust_anchors, registry, keys)


def verify_bytes(data: bytes, name: str = "<bytes>", trust_anchors: bytes | None = None,
                 registry: Registry | None = None, keys: SigningKeys | None = None) -> VerifyReport:
    """keys: where the watermark key is (default: this install's keys folder)."""
    c2pa = _c2pa_layer(data, sniff_format(data), trust_anchors)
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
    registry_layer = _registry_layer(registry, watermark, c2pa, sha256)
    verdict = _verdict(c2pa, xmp, watermark, registry_layer)
    return VerifyReport(name, fmt, sha256, _c2pa_json(c2pa), xmp, watermark, registry_layer, verdict)


def _decode(data: bytes, name: str) -> tuple[np.ndarray, str]:
    """[H, W, 3] uint8 and Pillow's format name; ProvenanceError for anything not an image."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
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
        raise ProvenanceError(f"{name}: corrupt or truncated image ({error})") from error


def _c2pa_layer(data: bytes, fmt: str | None, trust_anchors: bytes | None) -> ManifestCheck:
    if fmt not in FORMATS:
        return ManifestCheck("absent")
    return read_manifest(data, FORMATS[fmt], trust_anchors)


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
            "ai_system_version": fields.get("Iptc4xmpExt:AISystemVersionUsed")}


def _watermark_layer(pixels: np.ndarray | None, keys: SigningKeys | None) -> dict:
    from nonesuch.provenance import watermark

    try:
        config = watermark_config(keys)
    except ProvenanceError as error:
        return {"status": "unreadable", "watermark_id": None, "confidence": 0.0, "reason": str(error)}
    if pixels is None:
        return {"status": "abstain", "watermark_id": None, "confidence": 0.0}
    result = watermark.detect(pixels, config)
    layer = {"status": result.status, "watermark_id": result.watermark_id,
             "confidence": round(float(result.confidence), 6)}
    if result.watermark_id is not None:
        layer["watermark_hex"] = format_watermark_id(result.watermark_id)
    return layer


def _registry_layer(registry: Registry | None, watermark: dict, c2pa: ManifestCheck,
                    sha256: str) -> dict:
    if registry is None:
        return {"status": "unknown", "via": None, "record": None}
    candidates = [("watermark", watermark.get("watermark_id"))]
    if c2pa.status in ("valid", "trusted"):
        candidates.append(("c2pa soft binding", c2pa.watermark_id))
    for via, watermark_id in candidates:
        if watermark_id is not None and (row := registry.lookup(watermark_id)):
            return {"status": "match", "via": via, "record": row,
                    "same_file": row.get("sha256") == sha256}
    if row := registry.lookup_sha256(sha256):
        return {"status": "match", "via": "file hash", "record": row, "same_file": True}
    return {"status": "unknown", "via": None, "record": None}


def _verdict(c2pa: ManifestCheck, xmp: dict, watermark: dict, registry: dict) -> str:
    if c2pa.status == "invalid":
        return "tampered"
    if registry["status"] == "match":
        return "verified" if c2pa.status in ("valid", "trusted") else "traced"
    claims_synthetic = (watermark["status"] == "found"
                        or c2pa.digital_source_type == DIGITAL_SOURCE_TYPE
                        or xmp.get("digital_source_type") == DIGITAL_SOURCE_TYPE)
    return "synthetic" if claims_synthetic else "unknown"
