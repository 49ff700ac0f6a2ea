"""The compliance pages' own checks: a badge per event from its inclusion proof against a signed
checkpoint (verified, failed, pending), the version a record had at a moment, and the moments a
person types in their time zone. No I/O: a small tree and a key made here."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive import merkle
from archive.signing import Checkpoint
from service.console import compliance_checks as checks

LEAVES = [merkle.leaf_hash(f"event {i}".encode()) for i in range(13)]
KEY = Ed25519PrivateKey.generate()
KEY_ID = hashlib.sha256(KEY.public_key().public_bytes_raw()).hexdigest()[:16]
PUBLIC = {KEY_ID: KEY.public_key()}


def signed(size: int, *, key: Ed25519PrivateKey = KEY, root: bytes | None = None) -> dict[str, Any]:
    """A checkpoint of the first ``size`` leaves as the API answers it (the witness-file fields)."""
    root = root if root is not None else merkle.root(LEAVES[:size])
    when = datetime(2026, 12, 7, 3, 41, 28, tzinfo=UTC)
    signature = key.sign(Checkpoint.body("realty-ledger", size, root, when))
    return json.loads(Checkpoint("realty-ledger", size, root, when, KEY_ID, signature).to_json())


def inclusion(position: int, size: int, leaf: bytes | None = None) -> dict[str, Any]:
    return {"position": position, "covered": True, "tree_size": size,
            "leaf_hash": (leaf or LEAVES[position]).hex(),
            "proof": [p.hex() for p in merkle.inclusion_proof(LEAVES[:size], position)]}


def test_a_proof_that_walks_up_to_the_signed_root_is_verified_every_position_of_odd_and_even_trees() -> None:
    for size in (1, 2, 7, 8, 13):
        checkpoint = signed(size)
        assert checks.checkpoint_holds(checkpoint, PUBLIC)
        for position in range(size):
            assert checks.event_badge(inclusion(position, size), checkpoint, True) == checks.VERIFIED, (size, position)


def test_a_changed_leaf_a_changed_sibling_or_another_position_fails() -> None:
    checkpoint = signed(13)
    changed_leaf = inclusion(5, 13, leaf=merkle.leaf_hash(b"event 5, edited"))
    assert checks.event_badge(changed_leaf, checkpoint, True) == checks.FAILED
    bad_sibling = inclusion(5, 13)
    bad_sibling["proof"][1] = "00" * 32
    assert checks.event_badge(bad_sibling, checkpoint, True) == checks.FAILED
    moved = {**inclusion(5, 13), "position": 4}
    assert checks.event_badge(moved, checkpoint, True) == checks.FAILED
    malformed = {**inclusion(5, 13), "proof": ["not hex"]}
    assert checks.event_badge(malformed, checkpoint, True) == checks.FAILED


def test_a_checkpoint_whose_signature_does_not_hold_fails_every_covered_event() -> None:
    stranger = Ed25519PrivateKey.generate()
    forged = signed(13, key=stranger)  # names our key id, signed by someone else
    assert not checks.checkpoint_holds(forged, PUBLIC)
    other_root = signed(13)
    other_root["root_hash"] = merkle.root(LEAVES[:12]).hex()  # a root that the signature does not cover
    assert not checks.checkpoint_holds(other_root, PUBLIC)
    assert not checks.checkpoint_holds(signed(13), {})  # unknown key
    assert not checks.checkpoint_holds(None, PUBLIC)
    assert not checks.checkpoint_holds({"tree_size": 13}, PUBLIC)

    history = {"checkpoint": forged, "events": [{"inclusion": inclusion(p, 13)} for p in (0, 6, 12)]}
    assert checks.badges(history, PUBLIC) == (False, [checks.FAILED] * 3)
    history["checkpoint"] = signed(13)
    assert checks.badges(history, PUBLIC) == (True, [checks.VERIFIED] * 3)


def test_an_event_after_the_checkpoint_is_pending_and_one_claiming_so_before_it_fails() -> None:
    checkpoint = signed(8)
    after = {"position": 9, "covered": False, "note": "recorded after the latest checkpoint"}
    assert checks.event_badge(after, checkpoint, True) == checks.PENDING
    assert checks.event_badge(after, None, False) == checks.PENDING  # nothing signed yet
    assert checks.event_badge({**after, "position": 3}, checkpoint, True) == checks.FAILED
    assert checks.event_badge(None, checkpoint, True) == checks.FAILED
    # A proof for another tree than the checkpoint's is not a proof against it.
    assert checks.event_badge(inclusion(3, 7), checkpoint, True) == checks.FAILED


def test_an_event_moved_past_the_checkpoint_before_a_covered_later_one_fails_and_a_damaged_or_missing_one_fails() -> None:
    checkpoint = signed(8)
    moved = {"version": 2, "inclusion": {"position": 20, "covered": False}}
    history = {"checkpoint": checkpoint, "events": [
        {"version": 1, "inclusion": inclusion(1, 8)}, moved, {"version": 3, "inclusion": inclusion(3, 8)},
        {"version": 4, "inclusion": {"position": 21, "covered": False}}]}
    # Version 2 cannot honestly come after the checkpoint while version 3 is in it; version 4 can.
    assert checks.badges(history, PUBLIC) == (True, [checks.VERIFIED, checks.FAILED, checks.VERIFIED, checks.PENDING])
    damaged = {"checkpoint": checkpoint, "events": [
        {"version": 1, "inclusion": inclusion(1, 8), "damaged": True},
        {"version": 2, "inclusion": None, "missing": True}, {"version": 3, "inclusion": inclusion(3, 8)}]}
    assert checks.badges(damaged, PUBLIC) == (True, [checks.FAILED, checks.FAILED, checks.VERIFIED])


def test_each_moment_maps_to_the_last_version_recorded_at_or_before_it() -> None:
    t0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    events = [{"version": v, "recorded_at": (t0 + timedelta(minutes=10 * v)).isoformat()} for v in (1, 2, 3)]
    assert checks.version_at(events, t0) is None  # before the record existed
    assert checks.version_at(events, t0 + timedelta(minutes=10)) == 1  # at: included
    assert checks.version_at(events, t0 + timedelta(minutes=25)) == 2
    assert checks.version_at(list(reversed(events)), t0 + timedelta(days=1)) == 3  # any order in


def test_a_typed_moment_is_the_users_wall_clock_up_to_the_end_of_its_last_unit() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert checks.local_to_utc("2026-12-07T11:45", shanghai) == datetime(2026, 12, 7, 3, 45, 59, 999_999, tzinfo=UTC)
    assert checks.local_to_utc("2026-12-07T11:45:12", shanghai) == datetime(2026, 12, 7, 3, 45, 12, 999_999,
                                                                          tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")  # winter time: UTC+1
    assert checks.local_to_utc("2026-12-07T04:45:12", berlin) == datetime(2026, 12, 7, 3, 45, 12, 999_999, tzinfo=UTC)
    for bad in ("", "2026-12-07", "yesterday", "2026-13-07T10:00", "2026-12-07T10:00+08:00"):
        assert checks.local_to_utc(bad, shanghai) is None, bad
    assert checks.utc_to_local_input("2026-12-07T03:45:12.676627+00:00", shanghai) == "2026-12-07T11:45:12"
    assert checks.utc_to_local_input(None, shanghai) == ""


def test_ids_a_record_names_are_linked_by_the_kind_their_field_says() -> None:
    deal, listing, staff, other = (f"{n}0000000-0000-4000-8000-000000000000" for n in "1234")
    state = {"deals": {deal: "drafted"}, "shortlist": [{"listing_id": listing, "score": 63}],
             "assigned_to": staff, "showing_id": other, "name": "孟芳"}
    assert checks.related_records(state) == [("deals", deal), ("listings", listing), ("staff", staff)]
    assert checks.related_records({"deal_id": deal, "again": {"deal_id": deal}}) == [("deals", deal)]
    assert checks.related_records(None) == []


@pytest.mark.parametrize(("typed", "expected"), [
    ("8D8DF578-0AB4-426E-8039-E2BD3D43D77E", "8d8df578-0ab4-426e-8039-e2bd3d43d77e"),
    (" 8d8df5780ab4426e8039e2bd3d43d77e ", "8d8df578-0ab4-426e-8039-e2bd3d43d77e"),
    ("孟芳", None), ("13800138000", None), ("", None), ("8d8df578-0ab4-426e-8039", None),
])
def test_only_a_record_id_is_searched_for(typed: str, expected: str | None) -> None:
    assert checks.record_id(typed) == expected


def test_how_late_an_item_went_is_to_its_closing_or_to_now() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    open_item = {"due_at": "2026-12-04T09:30:00.000000Z", "closed_at": None}
    assert checks.duration_parts(checks.lateness(open_item, now)) == (3, 2, 30)
    closed = {"due_at": "2026-12-04T09:30:00.000000Z", "closed_at": "2026-12-04T10:45:00.000000Z"}
    assert checks.duration_parts(checks.lateness(closed, now)) == (0, 1, 15)
    assert checks.lateness({"due_at": None}, now) is None


def test_values_are_shown_on_one_line() -> None:
    assert checks.shown(None) == "—" and checks.shown("孟芳") == "孟芳" and checks.shown(True) == "true"
    assert checks.shown({"b": 1, "a": ["徐汇"]}) == '{"a": ["徐汇"], "b": 1}'
    assert checks.structured({"a": 1}) and not checks.structured({}) and not checks.structured("text")
    assert checks.is_instant("2026-12-07T03:52:30.414640+00:00") and checks.is_instant("2026-06-12T09:52:45.000000Z")
    assert not checks.is_instant("2026-12-07") and not checks.is_instant("孟芳") and not checks.is_instant(3)
