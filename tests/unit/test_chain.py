"""The canonical event encoding and the chain: pinned bytes, and the fast leaf equal to its definition."""

from __future__ import annotations

import hashlib
import os
import random
import uuid

from archive.chain import GENESIS, chain_rows, event_bytes, event_leaf, link
from archive.merkle import leaf_hash


def test_the_encoding_of_an_event_is_exactly_the_documented_bytes() -> None:
    oid = uuid.UUID("0b4725e2-b80f-4c1a-9d3e-2f6a7b8c9d0e")
    data = event_bytes(oid, 3, "realty.customer.request_raised.v1", b'{"a":1}')
    assert data == (b"realty-event/v1\x00" + b"\x00\x24" + b"0b4725e2-b80f-4c1a-9d3e-2f6a7b8c9d0e"
                    + (3).to_bytes(8, "big") + (33).to_bytes(4, "big") + b"realty.customer.request_raised.v1"
                    + (7).to_bytes(4, "big") + b'{"a":1}')


def test_the_leaf_is_the_rfc_9162_leaf_hash_of_the_encoding_whatever_form_the_id_comes_in() -> None:
    rng = random.Random(7)
    for n in range(300):
        oid = uuid.UUID(int=rng.getrandbits(128))
        state = os.urandom(rng.randrange(0, 700))
        topic = rng.choice(["t", "realty.deal.signed.v1", "话题", ""])
        expected = hashlib.sha256(b"\x00" + event_bytes(oid, n, topic, state)).digest()
        assert event_leaf(oid, n, topic, state) == expected == leaf_hash(event_bytes(oid, n, topic, state))
        for form in (oid.hex, str(oid), str(oid).upper(), oid.hex.upper()):
            assert event_leaf(form, n, topic, state) == expected


def test_an_id_that_is_not_a_uuid_still_gets_a_leaf_of_its_own_rather_than_an_error() -> None:
    damaged = event_leaf("not-an-id", 1, "t", b"")
    assert damaged != event_leaf(uuid.UUID(int=0), 1, "t", b"")
    assert damaged == leaf_hash(event_bytes("not-an-id", 1, "t", b""))


def test_the_chain_links_each_leaf_to_the_one_before_from_zero_bytes() -> None:
    rows = [(k, uuid.UUID(int=k), 1, "t", bytes([k])) for k in range(5)]
    chained = list(chain_rows(rows))
    previous = GENESIS
    for (key, oid, version, topic, state), (k, position, chain_hash) in zip(rows, chained, strict=True):
        previous = hashlib.sha256(previous + event_leaf(oid, version, topic, state)).digest()
        assert (k, position, chain_hash) == (key, key, previous) and link(GENESIS, b"x" * 32) != GENESIS
