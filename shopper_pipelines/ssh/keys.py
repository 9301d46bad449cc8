"""Per-session ed25519 key pairs.

The private key is returned to the requester once and never stored by the service;
only the public key (and its fingerprint) is kept, so a lost key means a re-key.
"""

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    private_openssh: str
    public_openssh: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_openssh)

    def __repr__(self) -> str:  # never print the private half
        return f"KeyPair(public={self.public_openssh[:32]}..., fingerprint={self.fingerprint})"


def generate_key_pair(comment: str) -> KeyPair:
    """A fresh ed25519 pair; `comment` ends the public line (e.g. the session id)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return KeyPair(private, f"{public} {comment}".strip())


def fingerprint(public_openssh: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line."""
    blob = base64.b64decode(public_openssh.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
