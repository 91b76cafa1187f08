"""Stage 5: what makes a generated image say what it is and where it came from: the invisible
watermark, XMP and C2PA metadata, the signing keys, the registry, and verify.

    from nonesuch.provenance import verify_file
    verify_file("out/3.jpg").verdict        # the same word `nonesuch verify out/3.jpg` prints
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.provenance.errors": ["ProvenanceError"],
    "nonesuch.provenance.keys": ["SigningKeys", "default_keys", "init_keys"],
    "nonesuch.provenance.record": ["GenerationRecord"],
    "nonesuch.provenance.registry": ["Registry"],
    "nonesuch.provenance.verify": ["VerifyReport", "verify_bytes", "verify_file"],
})
