"""Ed25519 keys: made by `gateway agent keygen`, read from a file, shown as `ed25519:BASE64`."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "ed25519:"


class KeyFileError(ValueError):
    """A key or key file is unusable; the message says why in one line."""


def generate(path: str | os.PathLike[str]) -> str:
    """Write a new private key (PEM, mode 0600, never over an existing file); its public key."""
    target = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{target}: the file exists; keygen never overwrites a key") from None
    except OSError as exc:
        raise KeyFileError(f"{target}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return public_text(key.public_key())


def load_private(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not a PEM private key without a passphrase") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key (make one with `gateway agent keygen`)")
    return key


def public_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public(text: str) -> Ed25519PublicKey:
    """`ed25519:BASE64` (32 bytes) as a public key; KeyFileError otherwise."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise KeyFileError("a public key is written ed25519:BASE64")
    try:
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise KeyFileError("the public key is not 32 bytes of base64 after ed25519:") from None


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii")


def verify(key: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
