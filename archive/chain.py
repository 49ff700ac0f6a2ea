"""The canonical bytes of a stored event, and the hash chain that links the log's events in order.

Every event of the log is encoded the same way (``event_bytes``, version 1 below) and hashed as an
RFC 9162 Merkle leaf (``leaf_hash``: SHA-256 over 0x00 and the bytes). The chain then links the
leaves in log order::

    chain[-1] = 32 zero bytes
    chain[i]  = SHA-256(chain[i-1] || leaf_hash(event_bytes(event i)))

so changing, removing, inserting or reordering any stored event breaks every later link, and the
same leaf hashes are the leaves of the signed Merkle tree. The chain hashes over the leaf hash
rather than over the bytes themselves so that PostgreSQL can compute the links inside the insert
statement (its ``sha256()`` over two 32-byte values), with no extra round trip under the log's lock.

Encoding version 1 (all integers big-endian)::

    b"realty-event/v1" 0x00
    u16 length || originator id as text (a UUID in its canonical 36-character form)
    i64 originator version
    u32 length || topic (UTF-8)
    u32 length || state (the stored bytes, exactly as in the row)

A later encoding would get its own prefix, and the position from which it applies would have to be
recorded: a verifier must know which encoding produced each leaf.
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

ENCODING_PREFIX = b"realty-event/v1\x00"
GENESIS = bytes(32)
HASH_SIZE = 32

_U16 = struct.Struct(">H")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")


def event_bytes(originator_id: uuid.UUID | str, originator_version: int, topic: str, state: bytes) -> bytes:
    """The canonical encoding (version 1) of one stored event."""
    oid = _canonical_id(originator_id)
    state = bytes(state)
    return b"".join((ENCODING_PREFIX, _U16.pack(len(oid)), oid, _I64.pack(originator_version), _topic_part(topic),
                     _U32.pack(len(state)), state))


def event_leaf(originator_id: uuid.UUID | str, originator_version: int, topic: str, state: bytes) -> bytes:
    """The Merkle leaf hash of one stored event: ``leaf_hash(event_bytes(...))``, computed without
    building the bytes (the hash of the fixed prefix is copied, the state is hashed in place)."""
    oid = _canonical_id(originator_id)
    h = _LEAF_PREFIX.copy()
    h.update(b"".join((_U16.pack(len(oid)), oid, _I64.pack(originator_version), _topic_part(topic),
                       _U32.pack(len(state)))))
    h.update(state)
    return h.digest()


# Verification encodes every event of the log, so the common cases are kept cheap: topics are
# cached, and SQLite's 32-digit lowercase hex ids are hyphenated without building a UUID.
_TOPIC_PARTS: dict[str, bytes] = {}
_HEX_ID = re.compile(r"[0-9a-f]{32}")
_LEAF_PREFIX = hashlib.sha256(b"\x00" + ENCODING_PREFIX)  # RFC 9162's leaf byte, then the encoding's


def _topic_part(topic: str) -> bytes:
    part = _TOPIC_PARTS.get(topic)
    if part is None:
        t = topic.encode("utf-8")
        part = _U32.pack(len(t)) + t
        if len(_TOPIC_PARTS) < 10_000:  # event topics are a small fixed set; a damaged log is not
            _TOPIC_PARTS[topic] = part
    return part


def _canonical_id(originator_id: uuid.UUID | str) -> bytes:
    if isinstance(originator_id, uuid.UUID):
        return str(originator_id).encode("ascii")
    h = originator_id
    if _HEX_ID.fullmatch(h):
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode("ascii")
    try:
        return str(uuid.UUID(h)).encode("ascii")
    except (ValueError, TypeError, AttributeError):
        # Not an id at all (a damaged row): encode it as it is, so its leaf differs and says so.
        return str(h).encode("utf-8", "surrogatepass")


def link(previous: bytes, leaf: bytes) -> bytes:
    """The chain hash of an event whose leaf hash is ``leaf``, after the chain hash ``previous``."""
    return hashlib.sha256(previous + leaf).digest()


def chain_rows(rows: Iterable[tuple[Any, uuid.UUID | str, int, str, bytes]],
               previous: bytes = GENESIS, position: int = 0) -> Iterator[tuple[Any, int, bytes]]:
    """(key, position, chain hash) for rows (key, originator id, version, topic, state) in log order.

    For chaining a log written before the chain existed (``archive.chained`` upgrades it once).
    """
    for key, originator_id, version, topic, state in rows:
        previous = link(previous, event_leaf(originator_id, version, topic, bytes(state)))
        yield key, position, previous
        position += 1
