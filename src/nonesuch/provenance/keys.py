"""This install's secrets: a local certificate authority and an ES256 signing certificate for
C2PA manifests, and the watermark key.

`init_keys()` writes, under `<nonesuch_home>/keys/`:
    ca.pem            root CA certificate (P-256). Give this to `verify --trust` to get "Trusted".
    ca.key            root CA private key (mode 0600); only needed to issue a new signing cert.
    signing-chain.pem leaf certificate + intermediate CA, the chain embedded in every manifest.
    signing.key       leaf private key (mode 0600).
    watermark.key     a random 64-bit watermark key (mode 0600), 16 hex digits.

The watermark key decides which pixels carry the mark and with which signs. With the public
default key anyone could read every nonesuch mark and stamp one on any image; with a per-install
secret only this install can (see `watermark_config`). It goes into no output: not the images,
records, generate.json, XMP or the C2PA manifest. Losing it makes the marks of every image made
so far unreadable, so `init_keys(force=True)` replaces the certificates but keeps it.

The chain shape is the one that validated with c2pa-rs 0.91 (research notes, offline-assets §4):
root CA -> intermediate CA (pathlen 0) -> leaf with KeyUsage=digitalSignature and
EKU=emailProtection, every certificate with SKI/AKI. c2pa-rs rejects self-signed leaves, which is
the usual "claimSignature.mismatch" complaint from people who try to sign with their own cert.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nonesuch.atomic import atomic_path
from nonesuch.data.sources import UnreadableSource, read_regular_file
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.home import nonesuch_home

# A PEM certificate chain or private key is a few kB, the watermark key 17 bytes: a key file is
# read whole, so it is read only if it is a regular file within this bound.
MAX_KEY_FILE_BYTES = 1 << 20
CA_YEARS = 10
LEAF_YEARS = 2
WATERMARK_KEY_BITS = 64


@dataclass(frozen=True)
class SigningKeys:
    """Paths of one key set; `load()` returns the PEM bytes c2pa wants."""
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def chain(self) -> Path:
        return self.folder / "signing-chain.pem"

    @property
    def key(self) -> Path:
        return self.folder / "signing.key"

    @property
    def watermark_key(self) -> Path:
        return self.folder / "watermark.key"

    def certificates_exist(self) -> bool:
        return self.chain.is_file() and self.key.is_file() and self.ca_cert.is_file()

    def exists(self) -> bool:
        """The whole set: certificates and watermark key."""
        return self.certificates_exist() and self.watermark_key.is_file()

    def load(self) -> tuple[bytes, bytes]:
        """(chain PEM, private key PEM); ProvenanceError naming the folder if keys are missing."""
        if not all(path.exists() for path in (self.chain, self.key, self.ca_cert)):
            raise ProvenanceError(f"no signing keys in {self.folder}: run `nonesuch keys init`")
        return read_key_file(self.chain), read_key_file(self.key)

    def load_watermark_key(self) -> int:
        """The 64-bit watermark key; ProvenanceError naming the file if it is missing or bad."""
        path = self.watermark_key
        if not path.exists():
            raise ProvenanceError(f"no watermark key at {path}: run `nonesuch keys init`")
        try:
            text = read_key_file(path).decode().strip()
        except UnicodeDecodeError:
            text = ""                   # not hex digits: refused below
        if len(text) != WATERMARK_KEY_BITS // 4 or not all(c in "0123456789abcdef" for c in text):
            raise ProvenanceError(f"{path}: not a watermark key ({WATERMARK_KEY_BITS // 4} hex "
                                  "digits expected); restore it from a backup, or move it away "
                                  "and run `nonesuch keys init` (old marks become unreadable)")
        return int(text, 16)


def read_key_file(path: Path) -> bytes:
    """A key or certificate file's bytes; ProvenanceError naming it if it is not a regular file
    (a FIFO would block, a link to /dev/zero never end) or is over MAX_KEY_FILE_BYTES."""
    try:
        return read_regular_file(path, MAX_KEY_FILE_BYTES)
    except UnreadableSource as error:
        raise ProvenanceError(f"{path}: {error}; restore the key set from a backup, or move it away "
                              f"and run `nonesuch keys init`") from None


def watermark_config(keys: SigningKeys | None = None):
    """The watermark config of this install: the defaults with its secret key."""
    from nonesuch.provenance.watermark import WatermarkConfig

    return WatermarkConfig(key_seed=(keys or default_keys()).load_watermark_key())


def default_keys() -> SigningKeys:
    return SigningKeys(nonesuch_home() / "keys")


def init_keys(keys: SigningKeys | None = None, force: bool = False,
              organisation: str = "nonesuch local") -> SigningKeys:
    """Create what is missing of the key set. Refuses to overwrite the certificates unless
    `force` (every image signed so far would stop chaining to a new CA); a folder with
    certificates but no watermark key gets one, certificates untouched. The watermark key is
    never replaced (see the module docstring)."""
    keys = keys or default_keys()
    if keys.exists() and not force:
        raise ProvenanceError(f"signing keys already exist in {keys.folder}; "
                              "pass --force to replace them (old images keep verifying only "
                              "against the old ca.pem)")
    keys.folder.mkdir(parents=True, exist_ok=True)
    os.chmod(keys.folder, 0o700)
    if not keys.watermark_key.is_file():
        _write(keys.watermark_key, f"{secrets.randbits(WATERMARK_KEY_BITS):016x}\n".encode(), 0o600)
    if force or not keys.certificates_exist():
        _init_certificates(keys, organisation)
    return keys


def _init_certificates(keys: SigningKeys, organisation: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{organisation} root CA", root_key, None, root_key, role="root")
    inter = _certificate(f"{organisation} intermediate CA", inter_key, root, root_key,
                         role="intermediate")
    leaf = _certificate(f"{organisation} image signer", leaf_key, inter, inter_key, role="leaf")
    _write(keys.ca_cert, _pem(root), 0o644)
    _write(keys.ca_key, _private_pem(root_key), 0o600)
    _write(keys.chain, _pem(leaf) + _pem(inter), 0o644)
    _write(keys.key, _private_pem(leaf_key), 0o600)


def _certificate(common_name: str, key, issuer_cert, issuer_key, role: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nonesuch")])
    issuer = issuer_cert.subject if issuer_cert is not None else subject
    now = datetime.datetime.now(datetime.timezone.utc)
    years = LEAF_YEARS if role == "leaf" else CA_YEARS
    is_ca = role != "leaf"
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               # Backdated a little so a clock slightly behind ours still accepts the cert.
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=365 * years))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if role == "intermediate" else None),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if is_ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = (builder
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                   # C2PA accepts a short list of EKUs; emailProtection is the one a local CA may issue.
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)


def _private_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int) -> None:
    with atomic_path(path) as tmp:
        # chmod before any byte of a private key lands on disk.
        os.chmod(tmp, mode)
        tmp.write_bytes(data)
