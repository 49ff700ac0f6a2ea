"""The document store on real files: round trips, every kind of tampering, disposition, and the
pinned blob format (a known answer, rebuilt independently with pycryptodome)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from archive.content_types import BoundedReader, DocumentTooLarge
from archive.documents import (
    SEGMENT_SIZE,
    BlobNotFound,
    DocumentIntegrityError,
    LocalDocumentStore,
    StoredDocument,
    _encrypt_from_parts,
)
from domain.errors import DomainError

SMALL = 64  # plaintext bytes per segment in the tampering tests
HEADER = 21
TAG = 16
AAD = b"document=d-1;version=1;file=f-1"


class SmallSegmentStore(LocalDocumentStore):
    _segment_size = SMALL


@pytest.fixture
def store(tmp_path: Path) -> LocalDocumentStore:
    return LocalDocumentStore(tmp_path / "documents")


@pytest.fixture
def small(tmp_path: Path) -> SmallSegmentStore:
    return SmallSegmentStore(tmp_path / "small")


def new_key() -> bytes:
    return os.urandom(32)


def blob_of(store: LocalDocumentStore, address: str) -> bytes:
    return (store.root / address[:2] / address[2:]).read_bytes()


def segments_of(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER:]
    size = SMALL + TAG
    return blob[:HEADER], [body[i:i + size] for i in range(0, len(body), size)]


def store_raw(store: LocalDocumentStore, blob: bytes) -> str:
    """Store bytes under their own hash, as if whoever rewrote the blob also rewrote its address."""
    return store._store([blob])


# --- Round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, 100, SEGMENT_SIZE, 2 * SEGMENT_SIZE, 2 * SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE - 1],
    ids=["empty", "one-byte", "small", "one-segment", "two-segments-exactly", "just-past-two", "just-under-three"],
)
def test_a_document_comes_back_as_it_was_put(store: LocalDocumentStore, size: int) -> None:
    plaintext = os.urandom(size)
    key = new_key()
    stored = store.put(plaintext, key=key, aad=AAD)
    assert stored == StoredDocument(
        address=hashlib.sha256(blob_of(store, stored.address)).hexdigest(),
        size=size,
        sha256=hashlib.sha256(plaintext).hexdigest(),
    )
    assert store.exists(stored.address)
    assert store.get(stored.address, key=key, aad=AAD) == plaintext


@pytest.mark.parametrize("size", [0, SMALL - 1, SMALL, 2 * SMALL, 2 * SMALL + 1, 5 * SMALL])
def test_the_blob_has_one_segment_per_piece_and_an_empty_document_one_empty_segment(
        small: SmallSegmentStore, size: int) -> None:
    plaintext = os.urandom(size)
    stored = small.put(plaintext, key=(key := new_key()), aad=AAD)
    pieces = max(1, -(-size // SMALL))
    assert len(blob_of(small, stored.address)) == HEADER + size + pieces * TAG
    assert list(small.stream(stored.address, key=key, aad=AAD)) == [
        plaintext[i * SMALL:(i + 1) * SMALL] for i in range(pieces)]


def test_a_binary_stream_is_stored_without_being_read_whole_first(store: LocalDocumentStore) -> None:
    plaintext = os.urandom(3 * SEGMENT_SIZE + 17)
    stored = store.put(io.BufferedReader(io.BytesIO(plaintext)), key=(key := new_key()), aad=AAD)  # type: ignore[arg-type]
    assert (stored.size, stored.sha256) == (len(plaintext), hashlib.sha256(plaintext).hexdigest())
    assert b"".join(store.stream(stored.address, key=key, aad=AAD)) == plaintext


def test_the_same_document_under_two_keys_or_twice_under_one_gets_different_addresses(
        store: LocalDocumentStore) -> None:
    plaintext = b"contract scan" * 1000
    key = new_key()
    addresses = {store.put(plaintext, key=k, aad=AAD).address for k in (key, new_key(), key)}
    assert len(addresses) == 3


def test_files_are_private_to_the_service_and_no_temporary_file_is_left(store: LocalDocumentStore) -> None:
    stored = store.put(b"id card copy", key=new_key(), aad=AAD)
    path = store.root / stored.address[:2] / stored.address[2:]
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in store.root.iterdir()) == [stored.address[:2]]


def test_an_upload_over_the_limit_stores_nothing(store: LocalDocumentStore) -> None:
    with pytest.raises(DocumentTooLarge):
        store.put(BoundedReader(io.BytesIO(os.urandom(SEGMENT_SIZE + 10)), SEGMENT_SIZE), key=new_key(), aad=AAD)  # type: ignore[arg-type]
    assert list(store.root.iterdir()) == []


def test_a_key_or_associated_data_of_the_wrong_shape_is_a_programming_error(store: LocalDocumentStore) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        store.put(b"x", key=b"short", aad=AAD)
    with pytest.raises(ValueError, match="associated data"):
        store.put(b"x", key=new_key(), aad=b"")
    with pytest.raises(TypeError):
        store.put("text", key=new_key(), aad=AAD)  # type: ignore[arg-type]


# --- One integrity error for every failure -----------------------------------------------------


def test_the_wrong_key_or_associated_data_is_an_integrity_error(small: SmallSegmentStore) -> None:
    key = new_key()
    stored = small.put(os.urandom(3 * SMALL), key=key, aad=AAD)
    with pytest.raises(DocumentIntegrityError):
        small.get(stored.address, key=new_key(), aad=AAD)
    with pytest.raises(DocumentIntegrityError):
        small.get(stored.address, key=key, aad=b"document=d-1;version=2;file=f-1")


def test_every_flipped_bit_anywhere_in_a_blob_is_detected_even_under_a_matching_address(
        small: SmallSegmentStore) -> None:
    key = new_key()
    blob = blob_of(small, small.put(os.urandom(2 * SMALL + 10), key=key, aad=AAD).address)
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= bit
            address = store_raw(small, bytes(tampered))
            with pytest.raises(DocumentIntegrityError):
                small.get(address, key=key, aad=AAD)
            small.delete(address)


Rebuild = Callable[[bytes, list[bytes], bytes, list[bytes]], bytes]

# Ways to rebuild a three-segment blob (header h, segments s) with the help of another blob
# (header oh, segments o) of the same length under the same key and associated data.
MUTATIONS: dict[str, Rebuild] = {
    "truncated mid-segment": lambda h, s, oh, o: h + b"".join(s)[:-5],
    "truncated at a segment boundary": lambda h, s, oh, o: h + s[0] + s[1],
    "header only": lambda h, s, oh, o: h,
    "part of the header": lambda h, s, oh, o: h[:10],
    "nothing at all": lambda h, s, oh, o: b"",
    "middle segment removed": lambda h, s, oh, o: h + s[0] + s[2],
    "first segment removed": lambda h, s, oh, o: h + s[1] + s[2],
    "segments reordered": lambda h, s, oh, o: h + s[1] + s[0] + s[2],
    "segment copied from another blob": lambda h, s, oh, o: h + s[0] + o[1] + s[2],
    "last segment from another blob": lambda h, s, oh, o: h + s[0] + s[1] + o[2],
    "segment duplicated": lambda h, s, oh, o: h + s[0] + s[0] + s[1] + s[2],
    "appended garbage": lambda h, s, oh, o: h + b"".join(s) + b"\x00" * 16,
    "appended segment": lambda h, s, oh, o: h + b"".join(s) + o[2],
    "other blob's header": lambda h, s, oh, o: oh + b"".join(s),
    "segment size changed": lambda h, s, oh, o: h[:1] + (SMALL + TAG).to_bytes(4, "big") + h[5:] + b"".join(s),
    "unknown version": lambda h, s, oh, o: b"\x02" + h[1:] + b"".join(s),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_rebuilt_blob_is_an_integrity_error_even_under_its_own_address(
        small: SmallSegmentStore, mutation: str) -> None:
    key = new_key()
    plaintext = os.urandom(3 * SMALL - 7)
    header, segments = segments_of(blob_of(small, small.put(plaintext, key=key, aad=AAD).address))
    other_header, other = segments_of(blob_of(small, small.put(plaintext, key=key, aad=AAD).address))
    assert len(segments) == len(other) == 3
    address = store_raw(small, MUTATIONS[mutation](header, segments, other_header, other))
    with pytest.raises(DocumentIntegrityError):
        small.get(address, key=key, aad=AAD)


def test_a_blob_swapped_for_another_valid_one_is_caught_by_its_address(small: SmallSegmentStore) -> None:
    key = new_key()
    first = small.put(b"purchase contract v1", key=key, aad=AAD)
    second = small.put(b"purchase contract v2, backdated", key=key, aad=AAD)
    (small.root / first.address[:2] / first.address[2:]).write_bytes(blob_of(small, second.address))
    with pytest.raises(DocumentIntegrityError):
        small.get(first.address, key=key, aad=AAD)


def test_a_stream_withholds_the_last_piece_of_a_blob_that_does_not_match_its_address(
        small: SmallSegmentStore) -> None:
    key = new_key()
    first = small.put(os.urandom(3 * SMALL), key=key, aad=AAD)
    second = small.put(os.urandom(3 * SMALL), key=key, aad=AAD)
    (small.root / first.address[:2] / first.address[2:]).write_bytes(blob_of(small, second.address))
    received = []
    with pytest.raises(DocumentIntegrityError):
        for piece in small.stream(first.address, key=key, aad=AAD):
            received.append(piece)
    assert len(received) == 2


def test_a_tampered_blob_in_place_is_an_integrity_error(store: LocalDocumentStore) -> None:
    key = new_key()
    stored = store.put(os.urandom(2 * SEGMENT_SIZE + 3), key=key, aad=AAD)
    path = store.root / stored.address[:2] / stored.address[2:]
    blob = bytearray(path.read_bytes())
    blob[SEGMENT_SIZE + 100] ^= 0x01
    path.write_bytes(blob)
    with pytest.raises(DocumentIntegrityError):
        store.get(stored.address, key=key, aad=AAD)


def test_the_integrity_error_says_the_same_thing_whatever_failed(small: SmallSegmentStore) -> None:
    key = new_key()
    stored = small.put(os.urandom(100), key=key, aad=AAD)
    messages = set()
    for attempt in ({"key": new_key(), "aad": AAD}, {"key": key, "aad": b"other"}):
        with pytest.raises(DocumentIntegrityError) as failed:
            small.get(stored.address, **attempt)
        messages.add((str(failed.value), failed.value.__cause__, failed.value.__suppress_context__))
    assert messages == {("the document failed its integrity check", None, True)}


# --- Disposition and addresses -------------------------------------------------------------------


def test_a_deleted_document_is_gone_and_reading_it_says_not_found(store: LocalDocumentStore) -> None:
    key = new_key()
    stored = store.put(b"receipt", key=key, aad=AAD)
    assert store.delete(stored.address) is True
    assert not store.exists(stored.address)
    assert not (store.root / stored.address[:2] / stored.address[2:]).exists()
    with pytest.raises(BlobNotFound) as missing:
        store.get(stored.address, key=key, aad=AAD)
    assert (missing.value.code, missing.value.address) == ("document_blob_not_found", stored.address)
    assert isinstance(missing.value, LookupError) and not isinstance(missing.value, DomainError)
    with pytest.raises(BlobNotFound):
        store.stream(stored.address, key=key, aad=AAD)  # at the call, not at the first piece
    assert store.delete(stored.address) is False


@pytest.mark.parametrize("address", ["../../etc/passwd", "AB" * 32, "ab" * 31, "ab" * 32 + "\n", "zz" * 32])
def test_only_a_sha256_hex_is_an_address(store: LocalDocumentStore, address: str) -> None:
    for attempt in (lambda: store.get(address, key=new_key(), aad=AAD), lambda: store.exists(address),
                    lambda: store.delete(address)):
        with pytest.raises(ValueError, match="64 lowercase hex"):
            attempt()


# --- The format, pinned ----------------------------------------------------------------------------

KAT_KEY = bytes(range(32))
KAT_SALT = bytes(range(0xA0, 0xB0))
KAT_PLAINTEXT = b"The quick brown fox jumps over the lazy dog."
KAT_BLOB = bytes.fromhex(
    "0100000010a0a1a2a3a4a5a6a7a8a9aaabacadaeaf956f63f712a14412dc71502cd191a7c3acb05c8daf717700807732"
    "502d5290a0602188f32767c3d2cb12b85de0af071b4c66eb5530918f7dc2d751b11c1da1bcf781e9a20d1ee90df9b711"
    "f90f6ed97131e000379d962e2bffe32550"
)
KAT_EMPTY_BLOB = bytes.fromhex("0100100000a0a1a2a3a4a5a6a7a8a9aaabacadaeaff1c72865ce5c3777cc8726ddb09d0391")


def test_the_blob_format_gives_the_known_answer() -> None:
    blob = _encrypt_from_parts(KAT_PLAINTEXT, key=KAT_KEY, aad=AAD, salt=KAT_SALT, segment_size=16)
    assert blob == KAT_BLOB
    empty = _encrypt_from_parts(b"", key=KAT_KEY, aad=AAD, salt=KAT_SALT, segment_size=SEGMENT_SIZE)
    assert empty == KAT_EMPTY_BLOB


def test_the_known_answer_follows_the_documented_recipe_in_another_library() -> None:
    from Crypto.Cipher import AES
    from Crypto.Hash import SHA256
    from Crypto.Protocol.KDF import HKDF

    header = b"\x01" + (16).to_bytes(4, "big") + KAT_SALT
    segment_key = HKDF(KAT_KEY, 32, KAT_SALT, SHA256, context=b"realty-ledger/document/v1")
    pieces = [KAT_PLAINTEXT[i:i + 16] for i in range(0, len(KAT_PLAINTEXT), 16)]
    blob = header
    for counter, piece in enumerate(pieces):
        nonce = counter.to_bytes(11, "big") + (b"\x01" if counter == len(pieces) - 1 else b"\x00")
        cipher = AES.new(segment_key, AES.MODE_GCM, nonce=nonce)
        cipher.update(header + AAD)
        ciphertext, tag = cipher.encrypt_and_digest(piece)
        blob += ciphertext + tag
    assert blob == KAT_BLOB


def test_a_known_answer_blob_reads_back_from_the_store(small: SmallSegmentStore) -> None:
    address = store_raw(small, KAT_BLOB)
    assert address == hashlib.sha256(KAT_BLOB).hexdigest()
    assert small.get(address, key=KAT_KEY, aad=AAD) == KAT_PLAINTEXT
