"""Encryption of a serialized sealed package for one recipient, and the recipient's key files.

A package that leaves the building on a disc or through a mail server is encrypted to the X25519
public key of whoever receives it (a court, a regulator, the next system). The construction is
age's (X25519 ephemeral-static, HKDF-SHA256, then AES-256-GCM in the STREAM construction of
Hoang, Reyhanitabar, Rogaway and Vizár), written out here with ``cryptography`` alone so that the
recipient needs nothing exotic; ``docs/archive-format.md`` §5 gives it byte for byte.

Layout, version 1 (all integers big-endian)::

    25  b"realty-sealed-package/v1\\n"           magic and version
     1  inner format: 0x01 tar, 0x02 zip
     8  recipient key id: SHA-256(recipient's raw X25519 public key)[:8]
    32  ephemeral X25519 public key
    32  HMAC-SHA256(mac key, the 66 bytes above)
        then segments: AES-256-GCM(payload key, nonce, plaintext segment, AD = the 98-byte header)

    shared       = X25519(ephemeral private, recipient public)        (all-zero: refused)
    okm          = HKDF-SHA256(ikm=shared, salt=ephemeral pub || recipient pub,
                               info=b"realty-sealed-package/v1 x25519", length=64)
    payload key  = okm[0:32]; mac key = okm[32:64]
    nonce(i)     = i as 11 bytes || 0x01 for the final segment, 0x00 otherwise

Every segment but the last holds exactly 64 KiB of plaintext; the last holds 0 to 64 KiB (0 only
when it is also the first). A reordered, dropped, repeated or appended segment, a package cut
short anywhere (even at a segment boundary: the new last segment was not sealed as final) and a
changed byte all fail authentication. Every such failure is one exception, ``PackageDecryptionError``,
whose ``reason`` says what kind; a wrong identity is told apart before any decryption, from the
key id in the header (a public value), so it can be named clearly without giving an oracle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import BinaryIO, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archive.documents import read_exact

MAGIC = b"realty-sealed-package/v1\n"
INNER_FORMATS = {"tar": 1, "zip": 2}
SEGMENT = 64 * 1024
TAG = 16
HEADER_SIZE = len(MAGIC) + 1 + 8 + 32 + 32
_MACED = HEADER_SIZE - 32
_INFO = b"realty-sealed-package/v1 x25519"
_KEY_ID = re.compile(r"[0-9a-f]{16}")

Reason = Literal["wrong_identity", "damaged", "truncated", "malformed"]


class PackageDecryptionError(Exception):
    """The one error of every failed decryption; ``reason`` says which kind."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# --- recipient keys --------------------------------------------------------------------------------


def recipient_key_id(public_key: X25519PublicKey) -> str:
    """16 hex characters: SHA-256 over the raw 32-byte public key, first 8 bytes (as for signing keys)."""
    return hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


def generate_identity() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def identity_pem(identity: X25519PrivateKey) -> bytes:
    """The private key file: unencrypted PKCS#8 PEM (``openssl pkey`` reads it)."""
    return identity.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())


def recipient_text(public_key: X25519PublicKey) -> str:
    """The public key file: ``<key id> x25519 <base64 raw public key>``, after ``#`` comments."""
    key_id = recipient_key_id(public_key)
    raw = base64.b64encode(public_key.public_bytes_raw()).decode()
    return (f"# realty-ledger sealed package recipient key: <key id> x25519 <base64 raw public key>\n"
            f"{key_id} x25519 {raw}\n")


def load_recipient(text: str) -> X25519PublicKey:
    """Parse a public key file of ``recipient_text`` (exactly one key); ValueError if it is not one."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1:
        raise ValueError("a recipient key file holds exactly one '<key id> x25519 <base64>' line")
    fields = lines[0].split(" ")
    try:
        if len(fields) != 3 or fields[1] != "x25519" or not _KEY_ID.fullmatch(fields[0]):
            raise ValueError("expected '<16 hex key id> x25519 <base64 public key>'")
        raw = base64.b64decode(fields[2], validate=True)
        if len(raw) != 32 or base64.b64encode(raw).decode() != fields[2]:
            raise ValueError("expected canonical base64 of 32 bytes")
        key = X25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as e:
        raise ValueError(f"recipient key file: {e}") from None
    if recipient_key_id(key) != fields[0]:
        raise ValueError("recipient key file: the key id does not match the key")
    return key


def load_identity(data: bytes) -> X25519PrivateKey:
    """Parse a private key file of ``identity_pem``; ValueError if it is not an X25519 private key."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise ValueError("not an X25519 private key")
    return key


def _keys(shared: bytes, ephemeral: bytes, recipient: bytes) -> tuple[AESGCM, bytes]:
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=ephemeral + recipient, info=_INFO).derive(shared)
    return AESGCM(okm[:32]), okm[32:]


def _nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


# --- writing -----------------------------------------------------------------------------------------


class EncryptingWriter:
    """A write-only file object: what is written goes out encrypted to ``out``. ``finish()`` seals
    the final segment (without it the package reads as truncated). ``tell()`` counts plaintext, so
    that tarfile and zipfile (in its non-seeking mode) can write into it."""

    def __init__(self, out: BinaryIO, recipient: X25519PublicKey, inner: str) -> None:
        if inner not in INNER_FORMATS:
            raise ValueError(f"inner format must be one of {sorted(INNER_FORMATS)}")
        ephemeral = X25519PrivateKey.generate()
        eph_raw = ephemeral.public_key().public_bytes_raw()
        rcpt_raw = recipient.public_bytes_raw()
        self._aead, mac_key = _keys(ephemeral.exchange(recipient), eph_raw, rcpt_raw)
        head = MAGIC + bytes([INNER_FORMATS[inner]]) + bytes.fromhex(recipient_key_id(recipient)) + eph_raw
        self._header = head + hmac.new(mac_key, head, hashlib.sha256).digest()
        self._out = out
        self._out.write(self._header)
        self._pending = bytearray()
        self._counter = 0
        self._written = 0
        self._finished = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError("write after finish()")
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        self._pending += data
        if len(self._pending) > SEGMENT:
            # Keep the tail back: the last segment must be sealed as final, and only finish() knows it is.
            keep = len(self._pending) % SEGMENT or SEGMENT
            cut = len(self._pending) - keep
            with memoryview(self._pending) as view:
                for start in range(0, cut, SEGMENT):
                    self._seal(view[start:start + SEGMENT], final=False)
            del self._pending[:cut]
        self._written += n
        return n

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> None:
        if not self._finished:
            self._seal(bytes(self._pending), final=True)
            self._pending = bytearray()
            self._finished = True
            self._out.flush()

    def _seal(self, segment: bytes | memoryview, final: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._counter, final), segment, self._header))
        self._counter += 1


# --- reading -----------------------------------------------------------------------------------------


def read_header(source: BinaryIO) -> tuple[bytes, str, str]:
    """The header, the inner format and the recipient key id, or ``malformed``/``truncated``."""
    header = read_exact(source, HEADER_SIZE)
    if not header.startswith(MAGIC[:len(header)]) or len(header) < len(MAGIC):
        raise PackageDecryptionError("malformed", "not an encrypted sealed package (no realty-sealed-package/v1 header)")
    if len(header) < HEADER_SIZE:
        raise PackageDecryptionError("truncated", "the package ends inside its header")
    inner = {v: k for k, v in INNER_FORMATS.items()}.get(header[len(MAGIC)])
    if inner is None:
        raise PackageDecryptionError("malformed", f"unknown inner format byte {header[len(MAGIC)]:#04x}")
    return header, inner, header[len(MAGIC) + 1:len(MAGIC) + 9].hex()


class DecryptingReader:
    """A read-only file object over the plaintext of an encrypted package. Each segment is
    authenticated before any of its bytes are returned; any failure raises PackageDecryptionError."""

    def __init__(self, source: BinaryIO, identity: X25519PrivateKey) -> None:
        self._source = source
        self._header, self.inner, self.key_id = read_header(source)
        mine = recipient_key_id(identity.public_key())
        if mine != self.key_id:
            raise PackageDecryptionError("wrong_identity", f"the package is encrypted for recipient key {self.key_id}; "
                                                           f"the identity given is key {mine}")
        eph_raw = self._header[len(MAGIC) + 9:_MACED]
        try:
            shared = identity.exchange(X25519PublicKey.from_public_bytes(eph_raw))
        except ValueError:
            raise PackageDecryptionError("malformed", "the header's ephemeral key is not a usable X25519 key") from None
        self._aead, mac_key = _keys(shared, eph_raw, identity.public_key().public_bytes_raw())
        if not hmac.compare_digest(hmac.new(mac_key, self._header[:_MACED], hashlib.sha256).digest(),
                                   self._header[_MACED:]):
            raise PackageDecryptionError("damaged", "the package header does not authenticate (changed)")
        self._counter = 0
        self._next = read_exact(source, SEGMENT + TAG)
        self._buffer = b""
        self._offset = 0
        self._done = False
        self.segments = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._buffer[self._offset:]]
            self._buffer, self._offset = b"", 0
            while not self._done:
                parts.append(self._open_next())
            return b"".join(parts)
        while self._offset >= len(self._buffer) and not self._done:
            self._buffer, self._offset = self._open_next(), 0
        chunk = self._buffer[self._offset:self._offset + size]
        self._offset += len(chunk)
        return chunk

    def _open_next(self) -> bytes:
        current = self._next
        if len(current) < TAG:
            raise PackageDecryptionError("truncated", f"the package is cut short in segment {self._counter}")
        following = read_exact(self._source, SEGMENT + TAG) if len(current) == SEGMENT + TAG else b""
        final = not following
        try:
            plain = self._aead.decrypt(_nonce(self._counter, final), current, self._header)
        except InvalidTag:
            raise self._failure(current, final) from None
        if final and not plain and self._counter:
            raise PackageDecryptionError("malformed", "an empty final segment after others")
        self._counter += 1
        self.segments += 1
        self._next = following
        self._done = final
        return plain

    def _failure(self, current: bytes, final: bool) -> PackageDecryptionError:
        if final:
            try:  # sealed as a middle segment: what followed it was cut off
                self._aead.decrypt(_nonce(self._counter, False), current, self._header)
                return PackageDecryptionError("truncated", f"the package ends after segment {self._counter}, which was "
                                                           "not sealed as the last one: it was cut short")
            except InvalidTag:
                pass
        return PackageDecryptionError("damaged", f"segment {self._counter} does not authenticate: "
                                                 "the package was changed (or segments were reordered)")
