# HMAC-SHA256 (RFC 2104) on nothing but hashlib.sha256, so that the button
# (MicroPython has no hmac module) and the backend run the same code.
from hashlib import sha256

BLOCK_SIZE = 64
MAC_SIZE = 16  # frames carry HMAC-SHA256 truncated to 128 bits


class MacKey:
    """A per-device secret with its HMAC pads computed once."""

    def __init__(self, key: bytes) -> None:
        if len(key) > BLOCK_SIZE:
            key = sha256(key).digest()
        key = key + bytes(BLOCK_SIZE - len(key))
        self._ipad = bytes(b ^ 0x36 for b in key)
        self._opad = bytes(b ^ 0x5C for b in key)

    def digest(self, message: bytes) -> bytes:
        inner = sha256(self._ipad + message).digest()
        return sha256(self._opad + inner).digest()

    def mac(self, message: bytes) -> bytes:
        return self.digest(message)[:MAC_SIZE]


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return MacKey(key).digest(message)


def equal(a: bytes, b: bytes) -> bool:
    # Constant time for equal lengths: a forger learns nothing from timing.
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0
