"""CLI verbs of the provenance stage: `nonesuch keys init` and `nonesuch verify FILE...`.
Heavy imports (c2pa, scipy, cryptography) stay inside the verbs so `nonesuch --help` is fast."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from nonesuch.progress import console, fail, print_error

keys_app = typer.Typer(no_args_is_help=True, help="Signing keys for C2PA manifests and the watermark key.")


@keys_app.command("init")
def keys_init(
    force: bool = typer.Option(False, "--force", help="Replace existing certificates (old images "
                               "then verify only against the old ca.pem). The watermark key is kept."),
) -> None:
    """Make a local CA, an ES256 signing certificate and a secret watermark key in the nonesuch
    config folder ($NONESUCH_HOME, else $XDG_CONFIG_HOME/nonesuch, else ~/.config/nonesuch).
    A folder made before watermark keys existed gets one, its certificates untouched."""
    from nonesuch.provenance.errors import ProvenanceError
    from nonesuch.provenance.keys import default_keys, init_keys

    had_certificates = default_keys().certificates_exist()
    try:
        keys = init_keys(force=force)
    except ProvenanceError as error:
        fail(error)
    if had_certificates and not force:
        console.print(f"watermark key added to {keys.folder} (mode 0600); certificates kept",
                      soft_wrap=True)
        return
    console.print(f"signing keys and watermark key written to {keys.folder} "
                  "(private keys mode 0600)", soft_wrap=True)
    console.print(f"to see your images as Trusted: nonesuch verify FILE --trust {keys.ca_cert}",
                  soft_wrap=True)


def verify(
    files: List[Path] = typer.Argument(..., help="Images to check."),
    as_json: bool = typer.Option(False, "--json", help="One JSON list on stdout."),
    trust: Optional[Path] = typer.Option(None, "--trust", help="CA certificate(s) (PEM) to trust; "
                                         "a manifest signed under them reads 'trusted'."),
    registry_path: Optional[Path] = typer.Option(None, "--registry", help="Registry SQLite file "
                                                 "(default: the one in the nonesuch config folder)."),
) -> None:
    """Check each provenance layer of FILEs and give a one-word verdict per file.

    Layers: C2PA manifest, XMP label, invisible watermark (read with this install's key; without
    one it reads 'unreadable'), registry. Verdicts: verified, traced, forged, synthetic,
    tampered, unknown (README, "Verdict rules"). Exit status 1 if any file could not be read,
    else 2 if any reads tampered or forged, else 0; every file is checked either way."""
    from nonesuch.provenance.errors import ProvenanceError
    from nonesuch.provenance.registry import Registry
    from nonesuch.provenance.verify import FAILED_VERDICTS, verify_file

    from nonesuch.data.sources import UnreadableSource, read_regular_file

    try:          # a CA bundle is kilobytes; a FIFO or /dev/zero here must not hang or fill memory
        trust_anchors = read_regular_file(trust, 16 << 20) if trust else None
    except UnreadableSource as error:
        fail(f"{trust}: cannot read trust anchors ({error})")
    if trust_anchors is not None and b"BEGIN CERTIFICATE" not in trust_anchors:
        fail(f"{trust}: not a PEM certificate file")
    try:
        registry = Registry(registry_path)
    except ProvenanceError as error:
        fail(error)
    reports, failed = [], 0
    with registry:
        for path in files:
            try:
                report = verify_file(path, trust_anchors, registry).to_json()
            except ProvenanceError as error:
                failed += 1
                print_error(error)
                report = {"path": str(path), "error": str(error), "verdict": "unreadable"}
            reports.append(report)
            if not as_json and "error" not in report:
                typer.echo(_describe(report, trusted_given=trust is not None))
    if as_json:
        typer.echo(json.dumps(reports, indent=2, default=str))
    if failed:
        raise typer.Exit(1)
    if any(report["verdict"] in FAILED_VERDICTS for report in reports):
        raise typer.Exit(2)


def _describe(report: dict, trusted_given: bool) -> str:
    c2pa, xmp, mark, registry = (report[k] for k in ("c2pa", "xmp", "watermark", "registry"))
    c2pa_line = c2pa["status"]
    if c2pa["signer"] == "this install":
        c2pa_line += " (signed by this install" + ("" if trusted_given else "; add --trust CA.pem "
                                                     "to see it trusted") + ")"
    elif c2pa["signer"] == "another":
        c2pa_line += " (signed by another certificate than this install's: no proof of origin)"
    elif c2pa["status"] == "invalid":
        c2pa_line += f" ({', '.join(c2pa['codes'])})"
    xmp_line = xmp["status"] + (f" ({xmp.get('digital_source_type')})" if xmp["status"] == "present" else "")
    mark_line = mark["status"]
    if mark.get("reason"):                  # unreadable (no key), or too large to hold our mark
        mark_line += f" ({mark['reason']})"
    elif mark["status"] == "found":
        mark_line += f" ID {mark['watermark_hex']} (confidence {mark['confidence']:.6f})"
    registry_line = registry["status"]
    if registry["status"] == "match":
        row = registry["record"]
        registry_line += (f" via {registry['via']}: run {row['run']}, seed {row['seed']}, "
                          f"checkpoint {row['checkpoint_sha256'][:12]}"
                          + (", class " + row["class_name"] if row.get("class_name") else "")
                          + ("" if registry.get("same_file") else " (a copy, not the original file)"))
        check = registry.get("content")
        if check and check["matches"] is False:
            registry_line += (f"; but the pixels do not look like that image (likeness {check['likeness']:.2f} "
                              f"< {check['threshold']:.2f}): its watermark was copied onto another picture, "
                              "or the image was changed past recognition")
        elif check and check["matches"]:
            registry_line += f"; the pixels look like that image (likeness {check['likeness']:.2f})"
        elif check:
            registry_line += "; registered before rows kept what their image looks like: the mark is the only evidence"
    elif registry["status"] == "unconfirmed":
        row = registry["record"]
        registry_line += (f": the {registry['claimed_via']} claims ID "
                          f"{row['watermark_id']:012x} (run {row['run']}, seed {row['seed']}); "
                          + ("the watermark contradicts it" if registry["contradicted"]
                             else "the watermark cannot be read to check it"))
    return (f"{report['path']}: {report['verdict']}\n  c2pa:      {c2pa_line}\n"
            f"  xmp:       {xmp_line}\n  watermark: {mark_line}\n  registry:  {registry_line}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.command("verify")(verify)
