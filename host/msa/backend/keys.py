"""Device keys at rest: wrapped under the operator's key-encryption key (KEK).

The backend holds every button's MAC key (protocol/SPEC.md); a copy of its
database must not give them away. Each key is stored encrypted with AES-256-GCM
(the `cryptography` package) under a KEK that the operator keeps outside the
database: a file (`--kek-file PATH`) or the environment (`MSA_KEK`), written the
same way in both: 64 hex digits, as the CLI writes every other key.

AES-GCM rather than AES key wrap (RFC 3394/5649): GCM takes associated data, and
the device id goes in as such, so a wrapped key copied onto another device's row
does not open. Its random 96-bit nonces are safe for 2^32 wraps under one KEK
(NIST SP 800-38D), far more than a national fleet makes.

Stored per device: nonce (12) | ciphertext (32) | tag (16), and the KEK's id (a
keyed hash that reveals nothing of it), so that a backend given another KEK says
so in one line instead of failing every frame's MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from msa.errors import UsageError
from msa.private_files import write_private

KEK_ENV = "MSA_KEK"
KEK_BYTES = 32
DEVICE_KEY_BYTES = 32
NONCE_BYTES = 12
WRAPPED_BYTES = NONCE_BYTES + DEVICE_KEY_BYTES + 16  # nonce, ciphertext, GCM tag
_HEX_KEK = re.compile(r"[0-9a-fA-F]{64}")
_KEK_FILE_LIMIT = 256  # bytes read of a KEK file: 64 digits and some white space
_ASSOCIATED = b"msa device key v1:"

NO_KEK = (
    "no key-encryption key (KEK) for the device keys: give --kek-file PATH or set "
    f"{KEK_ENV} to its 64 hex digits (make one with: msa backend kek-new PATH)"
)


class KekError(UsageError):
    """No KEK where one is needed, a malformed one, or not the database's one."""


class Kek:
    """A key-encryption key: wraps device keys for the database and unwraps them."""

    __slots__ = ("_aead", "id")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEK_BYTES:
            raise ValueError(f"a KEK is {KEK_BYTES} bytes, not {len(secret)}")
        self.id = hmac.new(secret, b"msa kek id", hashlib.sha256).hexdigest()[:16]
        self._aead = AESGCM(secret)

    def wrap(self, device_id: int, key: bytes) -> bytes:
        """`key` (a device's 32 bytes) encrypted for device `device_id`: WRAPPED_BYTES long."""
        if len(key) != DEVICE_KEY_BYTES:
            raise ValueError(f"a device key is {DEVICE_KEY_BYTES} bytes, not {len(key)}")
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, _associated(device_id))

    def unwrap(self, device_id: int, wrapped: bytes) -> bytes:
        """The key `wrap` was given; KekError if `wrapped` was not made by this KEK
        for this device (another KEK, an altered or moved row)."""
        try:
            return self._aead.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _associated(device_id)
            )
        except InvalidTag:
            raise KekError(
                f"the key of device {device_id:08x} does not unwrap under KEK {self.id}: "
                "its row was altered or copied from another device"
            ) from None

    def __repr__(self) -> str:
        return f"Kek(id={self.id})"  # never the secret


def _associated(device_id: int) -> bytes:
    return _ASSOCIATED + device_id.to_bytes(4, "big")


def parse_kek(text: str, source: str) -> Kek:
    """The KEK written in `text` (64 hex digits, white space around allowed);
    `source` names where it came from in the error."""
    digits = text.strip()
    if not _HEX_KEK.fullmatch(digits):
        # Never the text itself: it may be most of a secret.
        what = "is not hex" if len(digits) == 64 else f"has {len(digits)} characters"
        raise KekError(
            f"{source} {what}: a key-encryption key is 64 hex digits (32 bytes); "
            "make one with: msa backend kek-new PATH"
        )
    return Kek(bytes.fromhex(digits))


def load_kek(path: Path | None, environ: Mapping[str, str] = os.environ) -> Kek | None:
    """The KEK from the file at `path`, else from $MSA_KEK, else None."""
    if path is not None:
        try:
            with path.open("rb") as file:
                raw = file.read(_KEK_FILE_LIMIT + 1)
        except OSError as error:
            raise KekError(f"cannot read the KEK file {path}: {error.strerror}") from None
        text = raw.decode("ascii", errors="replace") if len(raw) <= _KEK_FILE_LIMIT else ""
        return parse_kek(text, f"the KEK file {path}")
    text = environ.get(KEK_ENV)
    return None if text is None else parse_kek(text, f"${KEK_ENV}")


def require_kek(kek: Kek | None) -> Kek:
    """`kek`, or the one-line error that says how to give one."""
    if kek is None:
        raise KekError(NO_KEK)
    return kek


def kek_at(path: Path) -> Kek:
    """The KEK in the file at `path`, made there first if there is none: the demo's,
    a benchmark's or a test's own."""
    if path.exists():
        return require_kek(load_kek(path))
    return new_kek_file(path)


def new_kek_file(path: Path) -> Kek:
    """Make a new random KEK and write it to `path` (mode 0600); never overwrites."""
    if path.exists():
        raise KekError(
            f"{path} exists: a KEK file is never overwritten "
            "(the device keys wrapped under it would be lost)"
        )
    secret = secrets.token_bytes(KEK_BYTES)
    try:
        write_private(path, secret.hex() + "\n")
    except OSError as error:
        raise KekError(f"cannot write the KEK file {path}: {error.strerror}") from None
    return Kek(secret)
