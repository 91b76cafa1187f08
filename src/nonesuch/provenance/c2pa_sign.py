"""Layer 3: a signed C2PA manifest, made and checked offline with c2pa-python.

    signer = ManifestSigner()                         # loads keys once (see keys.py)
    signed = signer.sign(data, "image/png", watermark_id=0x1234, title="7.png", generation={...})
    check = read_manifest(signed, "image/png", trust_anchors=Path("ca.pem").read_bytes(),
                          own_ca=default_keys().ca_cert.read_bytes())
    check.status                                      # "trusted" | "valid" | "invalid" | "absent"
    check.signer                                      # "this install" | "another" | None

"valid" says only that the signature matches the certificate the file carries, and anyone can
make a certificate (`nonesuch keys init` in another folder makes one with the very same names as
ours). "trusted" says the chain ends at one of the CAs the user passed, which may be anybody's.
Neither says who signed. `signer` does: "this install" when the chain validates up to this
install's own ca.pem, checked by c2pa-rs's path validation (signatures, not names or serial
numbers, which a forger copies freely); only the holder of this install's ca.key can issue such a
certificate. A claim of origin (verify.py) rests on that, never on "valid" or "trusted".

The manifest holds three assertions:
- `c2pa.actions.v2` with one `c2pa.created` action whose digitalSourceType is
  trainedAlgorithmicMedia (the same IPTC term as the XMP layer);
- `c2pa.soft-binding` naming our watermark algorithm with the 48-bit watermark ID in its block
  value (base64 of 6 big-endian bytes). When a copy loses the manifest, the watermark still carries
  the ID, and the ID finds the registry row: the "durable content credentials" pattern;
- `io.nonesuch.generation`: run, checkpoint hash, seed, class, truncation.

Thumbnails are off: the default thumbnail adds ~110 KB per 256 px image and ~80 ms of encoding;
without it a manifest costs ~3.4 KB and ~2 ms. Signing must be the last write: any byte changed
afterwards (even XMP) makes the manifest "invalid".
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field

from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.keys import SigningKeys, default_keys
from nonesuch.provenance.xmp import DIGITAL_SOURCE_TYPE

SOFT_BINDING_ALG = "io.github.nonesuch.watermark.v1"
GENERATION_LABEL = "io.nonesuch.generation"
ID_BYTES = 6  # 48-bit watermark IDs


@dataclass
class ManifestCheck:
    """What a reader found. `codes` lists the failure codes behind "invalid"."""
    status: str                                  # "trusted" | "valid" | "invalid" | "absent"
    watermark_id: int | None = None              # from the soft-binding assertion
    # Who signed a "valid"/"trusted" manifest: "this install" (the chain validates to our own
    # ca.pem) or "another" (anyone else, or this install has no ca.pem to compare with).
    signer: str | None = None
    digital_source_type: str | None = None
    generation: dict | None = None
    codes: list[str] = field(default_factory=list)


class ManifestSigner:
    """Holds the c2pa Context and Signer so each image costs only the Builder and the signature."""

    def __init__(self, keys: SigningKeys | None = None, version: str = ""):
        import c2pa

        chain, private_key = (keys or default_keys()).load()
        self._c2pa = c2pa
        self._context = c2pa.Context(settings=c2pa.Settings.from_json(json.dumps(
            {"builder": {"thumbnail": {"enabled": False}}})))
        self._signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
            alg=b"es256", sign_cert=chain, private_key=private_key, ta_url=None))
        self._version = version
        # The native signer is not documented as thread-safe; signing takes ~2 ms, so a lock costs
        # little next to generation and watermarking running in parallel.
        self._lock = threading.Lock()

    def sign(self, data: bytes, media_type: str, watermark_id: int, title: str,
             generation: dict | None = None) -> bytes:
        """`data` with a signed manifest embedded (PNG caBX chunk, JPEG APP11, WebP C2PA chunk)."""
        import io

        manifest = _manifest(watermark_id, title, generation, self._version)
        builder = self._c2pa.Builder(manifest, context=self._context)
        destination = io.BytesIO()
        with self._lock:
            builder.sign(self._signer, media_type, io.BytesIO(data), destination)
        builder.close()
        return destination.getvalue()


def _manifest(watermark_id: int, title: str, generation: dict | None, version: str) -> dict:
    agent = {"name": "nonesuch", "version": version} if version else {"name": "nonesuch"}
    assertions = [
        {"label": "c2pa.actions.v2", "data": {"actions": [{
            "action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
            "softwareAgent": agent}]}},
        {"label": "c2pa.soft-binding", "data": {
            "alg": SOFT_BINDING_ALG,
            "blocks": [{"scope": {}, "value": encode_watermark_id(watermark_id)}]}},
    ]
    if generation:
        assertions.append({"label": GENERATION_LABEL, "data": generation})
    return {"claim_generator_info": [agent], "title": title, "assertions": assertions}


def encode_watermark_id(watermark_id: int) -> str:
    return base64.b64encode(watermark_id.to_bytes(ID_BYTES, "big")).decode()


def decode_watermark_id(value: str) -> int | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == ID_BYTES else None


# Every embedded manifest store is a JUMBF superbox, whose header carries this box type.
JUMBF_BOX = b"jumb"


def read_manifest(data: bytes, media_type: str, trust_anchors: bytes | None = None,
                  own_ca: bytes | None = None) -> ManifestCheck:
    """Validate the embedded manifest. With `trust_anchors` (PEM of CA certs) a good signature
    from a chain ending there reads "trusted"; without, at best "valid" (signer untrusted).
    With `own_ca` (this install's ca.pem) a good signature also gets `signer`: a second read
    that trusts that CA alone."""
    check = _read_manifest(data, media_type, trust_anchors)
    if check.status in ("valid", "trusted"):
        chains_to_own = False
        if own_ca is not None:
            # The user's anchors may include other CAs: their "trusted" does not say "ours".
            own = check if trust_anchors == own_ca else _read_manifest(data, media_type, own_ca)
            chains_to_own = own.status == "trusted"
        check.signer = "this install" if chains_to_own else "another"
    return check


def _read_manifest(data: bytes, media_type: str, trust_anchors: bytes | None) -> ManifestCheck:
    import io

    import c2pa

    settings = {"verify": {"verify_trust": trust_anchors is not None}}
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": trust_anchors.decode()}
    context = c2pa.Context(settings=c2pa.Settings.from_json(json.dumps(settings)))
    try:
        reader = c2pa.Reader(media_type, io.BytesIO(data), context=context)
        report = json.loads(reader.json())
        reader.close()
    except c2pa.C2paError as error:
        if "ManifestNotFound" in type(error).__name__ + str(error) or "JumbfNotFound" in str(error):
            return ManifestCheck("absent")
        if JUMBF_BOX not in data:
            # c2pa gives up on a damaged container (a cut-short PNG: "out of range") before it
            # looks for a manifest; with no JUMBF box anywhere in the bytes there is none to be
            # broken, and calling such a file "tampered" would accuse any half-downloaded photo.
            return ManifestCheck("absent")
        # A manifest store that cannot even be parsed is a broken claim, not a missing one.
        return ManifestCheck("invalid", codes=[f"unreadable: {error}"])
    return _check_from_report(report)


def _check_from_report(report: dict) -> ManifestCheck:
    manifest = report.get("manifests", {}).get(report.get("active_manifest") or "", {})
    state = (report.get("validation_state") or "").lower()
    failures = [s.get("code", "") for s in report.get("validation_status", [])
                if s.get("code") != "signingCredential.untrusted"]
    status = {"trusted": "trusted", "valid": "valid"}.get(state, "invalid")
    check = ManifestCheck(status, codes=failures if status == "invalid" else [])
    for assertion in manifest.get("assertions", []):
        label, data = assertion.get("label", ""), assertion.get("data", {})
        if label.startswith("c2pa.actions"):
            for action in data.get("actions", []):
                if action.get("action") == "c2pa.created":
                    check.digital_source_type = action.get("digitalSourceType")
        elif label == "c2pa.soft-binding" and data.get("alg") == SOFT_BINDING_ALG:
            blocks = data.get("blocks") or [{}]
            check.watermark_id = decode_watermark_id(blocks[0].get("value", ""))
        elif label == GENERATION_LABEL:
            check.generation = data
    return check


def media_type_of(fmt: str) -> str:
    from nonesuch.provenance.xmp import FORMATS
    if fmt not in FORMATS:
        raise ProvenanceError(f"cannot sign format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt]
