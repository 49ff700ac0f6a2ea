"""AES-256-GCM with a version byte and a key id in front, and associated data bound to every use.

One small public surface for every ciphertext the archive keeps in the database (event state,
personal fields, wrapped data keys)::

    token = 0x01 || key id (16 bytes) || nonce (12 bytes) || AES-256-GCM(plaintext, aad) (ct || 16-byte tag)

The key id travels in the clear so a reader knows which data key opens the token; it is also
bound into the associated data (``0x01 || key id || aad``), so a token cannot be re-labelled as
another key's. Whatever goes wrong when opening — wrong key, wrong associated data (a token copied
into another row), a flipped byte, a short token — raises the one ``CiphertextInvalid``: no oracle
says which. ``_seal_with_nonce`` is the seam for known-answer tests; nonces are otherwise random
(96 bits: safe for far more than 2^32 tokens per key would need, which no data key here reaches).
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 0x01
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = 1 + 16 + NONCE_SIZE
OVERHEAD = HEADER_SIZE + TAG_SIZE


class CiphertextInvalid(Exception):
    """A token that does not open: wrong key or associated data, tampered, or malformed."""


def seal(key: bytes | AESGCM, key_id: uuid.UUID, plaintext: bytes, aad: bytes) -> bytes:
    return _seal_with_nonce(key, key_id, plaintext, aad, os.urandom(NONCE_SIZE))


def _seal_with_nonce(key: bytes | AESGCM, key_id: uuid.UUID, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
    header = bytes((VERSION,)) + key_id.bytes
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    return header + nonce + cipher.encrypt(nonce, plaintext, header + aad)


def key_id_of(token: bytes) -> uuid.UUID:
    """The data key a token names (not authenticated until it is opened)."""
    if len(token) < OVERHEAD or token[0] != VERSION:
        raise CiphertextInvalid("not a sealed token")
    return uuid.UUID(bytes=bytes(token[1:17]))


def is_sealed(token: bytes) -> bool:
    return len(token) >= OVERHEAD and token[0] == VERSION


def open_sealed(key: bytes | AESGCM, token: bytes, aad: bytes) -> bytes:
    if len(token) < OVERHEAD or token[0] != VERSION:
        raise CiphertextInvalid("not a sealed token")
    token = bytes(token)
    header, nonce, body = token[:17], token[17:HEADER_SIZE], token[HEADER_SIZE:]
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return cipher.decrypt(nonce, body, header + aad)
    except (InvalidTag, ValueError):
        raise CiphertextInvalid("the token does not open with this key and associated data") from None


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
