"""Tampering with the stored log behind the application's back is found, and named, by verification.

Each test builds a real log through the application, signs a checkpoint, and then plays the
attacker: it edits the stored rows with plain SQL on a connection of its own (sqlite3 or psycopg,
never our code), the way someone with access to the database would. ``app.audit.verify()`` must then
say the log is not clean, and name the first damage (``archive.verify`` lists the kinds). Every
scenario runs on SQLite and on PostgreSQL; on PostgreSQL each test gets a scratch database of its
own, because the shared ``test`` database holds other tests' tables, which an attacker here must
never touch.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from archive.chain import chain_rows, event_leaf, link
from archive.signing import Checkpoint, CheckpointInvalid, SigningKeyring, sign_checkpoint
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import register_team
from tests.integration.scenarios import execute, list_flat, match, receive, sign


@dataclass(frozen=True)
class Row:
    """One stored event as the attacker reads it (``nid``: the log order, SQLite's rowid)."""

    nid: int
    position: int
    originator_id: Any  # as stored: hex text on SQLite, a UUID on PostgreSQL
    version: int
    topic: str
    state: bytes
    chain_hash: bytes

    @property
    def leaf(self) -> bytes:
        return event_leaf(self.originator_id, self.version, self.topic, self.state)


@dataclass(frozen=True)
class Store:
    """Where the log lives, and an attacker's direct SQL access to it."""

    backend: str
    url: str
    sqlite_path: Path | None = None

    @property
    def events(self) -> str:
        return "stored_events" if self.backend == "sqlite" else "realty_events"

    @property
    def nid(self) -> str:
        return "rowid" if self.backend == "sqlite" else "notification_id"

    def stored_id(self, originator_id: uuid.UUID) -> Any:
        return originator_id.hex if self.backend == "sqlite" else originator_id

    def run(self, *statements: tuple[str, Sequence[Any]]) -> None:
        """Statements (``?`` placeholders; ``{events}``, ``{nid}``, ``{checkpoints}``, ``{nodes}`` for
        names) in one transaction, committed."""
        texts = [(self._sql(text), params) for text, params in statements]
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                with conn:
                    for text, params in texts:
                        conn.execute(text, params)
            finally:
                conn.close()
        else:
            with psycopg.connect(self.url) as conn, conn.transaction():
                for text, params in texts:
                    conn.execute(text, params)

    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                return conn.execute(self._sql(text), params).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url) as conn:
            return conn.execute(self._sql(text), params).fetchall()

    def rows(self) -> list[Row]:
        stored = self.query("SELECT {nid}, position, originator_id, originator_version, topic, state, chain_hash "
                            "FROM {events} ORDER BY {nid}")
        return [Row(int(nid), int(p), oid, int(v), topic, bytes(state), bytes(chain))
                for nid, p, oid, v, topic, state, chain in stored]

    def _sql(self, text: str) -> str:
        text = text.format(events=self.events, nid=self.nid, checkpoints=f"{self.events}_checkpoints",
                           nodes=f"{self.events}_merkle_nodes")
        return text if self.backend == "sqlite" else text.replace("?", "%s")


@pytest.fixture
def store(own_database_url: str) -> Store:
    if own_database_url.startswith("sqlite"):
        return Store("sqlite", own_database_url, Path(own_database_url.removeprefix("sqlite:///")))
    return Store("postgres", own_database_url)


@pytest.fixture
def ledger(store: Store, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = RealtyLedger(load_settings(database_url=store.url, signing_keys_dir=tmp_path / "keys",
                                     checkpoint_interval=0))
    try:
        yield app
    finally:
        app.close()  # before the store's teardown drops the scratch database


def build_log(app: RealtyLedger) -> None:
    """Staff, two flats, two customers, a deal carried through to the end: 49 events, most records
    with several."""
    team = register_team(app)
    flat = list_flat(app, team.manager)
    list_flat(app, team.second_manager, price=3_900_000)
    buyer = receive(app, team)
    match(app, team, buyer, flat)
    execute(app, team, sign(app, team, buyer, flat))
    browser = receive(app, team, started_minutes_ago=40)
    app.record_personal_details(team.consultant, browser, name="钱多多", phone="13912345678")
    app.correct_contact_details(team.consultant, browser, phone="13987654321", reason="客户更换号码")
    for subject in ("询问学区", "询问车位", "询问物业费", "要求补看房源", "投诉回访不及时", "更换顾问"):
        app.raise_request(team.consultant, browser, subject=subject)


@pytest.fixture
def signed(ledger: RealtyLedger, store: Store) -> list[Row]:
    """A log of some dozens of events with a signed checkpoint of all of it; its rows as stored."""
    build_log(ledger)
    rows = store.rows()
    assert len(rows) >= 48
    assert ledger.audit.checkpoint().tree_size == len(rows)
    return rows


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def assert_first_problem(app: RealtyLedger, kind: str, position: int, **verify: Any) -> None:
    report = app.audit.verify(**verify)
    assert report.clean is False
    first = report.first_problem
    assert first is not None
    assert (first.kind, first.position) == (kind, position), report.problems


def middle_of_a_record(rows: list[Row]) -> int:
    """A position in the middle of the log whose record has events before and after it."""
    for k in range(len(rows) // 2, len(rows)):
        versions = [r.version for r in rows if r.originator_id == rows[k].originator_id]
        if min(versions) < rows[k].version < max(versions):
            return k
    raise AssertionError("no record with events around the middle of the log")


# --- an untouched log ---------------------------------------------------------------------------


def test_an_untouched_log_verifies_clean(ledger: RealtyLedger, signed: list[Row]) -> None:
    report = ledger.audit.verify()

    assert report.clean, report.as_dict()
    assert (report.events, report.tree_size, report.checkpoints_checked) == (len(signed), len(signed), 1)
    assert report.root_hash == ledger.audit.latest_checkpoint().root_hash.hex()


# --- a changed event ----------------------------------------------------------------------------


def test_one_changed_byte_of_a_state_is_a_modification_at_its_position(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    victim = signed[middle_of_a_record(signed)]
    store.run(("UPDATE {events} SET state = ? WHERE {nid} = ?", (flip_byte(victim.state, 40), victim.nid)))

    assert_first_problem(ledger, "modified", victim.position)


def test_a_changed_topic_is_a_modification_at_its_position(ledger: RealtyLedger, store: Store,
                                                           signed: list[Row]) -> None:
    victim = signed[middle_of_a_record(signed)]
    store.run(("UPDATE {events} SET topic = ? WHERE {nid} = ?", ("realty.customer.request_withdrawn", victim.nid)))

    assert_first_problem(ledger, "modified", victim.position)


# --- removed events -----------------------------------------------------------------------------


def test_a_deleted_row_in_the_middle_is_missing_at_its_position(ledger: RealtyLedger, store: Store,
                                                               signed: list[Row]) -> None:
    victim = signed[middle_of_a_record(signed)]
    store.run(("DELETE FROM {events} WHERE {nid} = ?", (victim.nid,)))

    assert_first_problem(ledger, "missing", victim.position)


def test_the_newest_rows_deleted_after_a_checkpoint_are_a_truncation_at_the_new_length(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    store.run(("DELETE FROM {events} WHERE position >= ?", (len(signed) - 3,)))

    assert_first_problem(ledger, "truncated", len(signed) - 3)


# --- a forged event slipped into the log ----------------------------------------------------------


def slip_in(store: Store, rows: list[Row], at: int, chain_hash: Any) -> None:
    """Make room at position ``at`` (later rows' log order and positions up by one, through negative
    values so that no unique index sees two equal ones) and put a forged event there: a second
    "customer received" for a customer who never came. ``chain_hash`` is a function of the forged
    event's leaf (or fixed bytes)."""
    model = next(r for r in rows if r.topic == "realty.customer.received")
    forged = Row(rows[at].nid, at, store.stored_id(uuid.uuid4()), 1, model.topic, model.state, b"")
    chain = chain_hash(forged.leaf) if callable(chain_hash) else chain_hash
    store.run(
        ("UPDATE {events} SET {nid} = -{nid} - 1, position = -position - 1 WHERE position >= ?", (at,)),
        ("UPDATE {events} SET {nid} = -{nid}, position = -position WHERE position < 0", ()),
        (("INSERT INTO {events} ({nid}, originator_id, originator_version, topic, state, position, chain_hash) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)"),
         (forged.nid, forged.originator_id, forged.version, forged.topic, forged.state, at, chain)),
    )


def test_a_forged_row_with_a_garbage_chain_hash_is_an_insertion_at_its_position(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    at = middle_of_a_record(signed)
    slip_in(store, signed, at, bytes(range(32)))

    assert_first_problem(ledger, "inserted", at)


def test_a_forged_row_with_a_correctly_computed_link_is_an_insertion_at_its_position(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    at = middle_of_a_record(signed)
    # The attacker knows the chain's algorithm: the forged row itself links; the row after it cannot.
    slip_in(store, signed, at, lambda leaf: link(signed[at - 1].chain_hash, leaf))

    assert_first_problem(ledger, "inserted", at)


def test_a_forged_row_linked_in_as_the_last_event_a_checkpoint_covers_is_an_insertion(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    # The forged row ends the signed tree, so its root fails before the next row breaks the chain;
    # the report still names the insertion first, not only a failed root.
    at = len(signed) - 1
    slip_in(store, signed, at, lambda leaf: link(signed[at - 1].chain_hash, leaf))

    assert_first_problem(ledger, "inserted", at)


def test_a_changed_position_column_alone_is_a_modification_not_a_deletion(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    victim = signed[middle_of_a_record(signed)]
    store.run(("UPDATE {events} SET position = ? WHERE {nid} = ?", (10_000, victim.nid)))

    assert_first_problem(ledger, "modified", victim.position)


# --- events swapped ---------------------------------------------------------------------------------


def test_two_rows_with_swapped_contents_are_a_reordering_at_the_lower_position(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    low, high = signed[middle_of_a_record(signed)], signed[middle_of_a_record(signed) + 4]
    content = "originator_id = ?, originator_version = ?, topic = ?, state = ?"
    store.run(  # through a placeholder id: the primary key never sees the two rows equal
        (f"UPDATE {{events}} SET {content} WHERE {{nid}} = ?",
         (store.stored_id(uuid.uuid4()), low.version, low.topic, low.state, low.nid)),
        (f"UPDATE {{events}} SET {content} WHERE {{nid}} = ?",
         (low.originator_id, low.version, low.topic, low.state, high.nid)),
        (f"UPDATE {{events}} SET {content} WHERE {{nid}} = ?",
         (high.originator_id, high.version, high.topic, high.state, low.nid)),
    )

    assert_first_problem(ledger, "reordered", low.position)


def test_two_rows_with_swapped_order_are_a_reordering_at_the_lower_position(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    low, high = signed[middle_of_a_record(signed)], signed[middle_of_a_record(signed) + 4]
    store.run(
        ("UPDATE {events} SET {nid} = -1 WHERE {nid} = ?", (low.nid,)),
        ("UPDATE {events} SET {nid} = ? WHERE {nid} = ?", (low.nid, high.nid)),
        ("UPDATE {events} SET {nid} = ? WHERE {nid} = -1", (high.nid,)),
    )

    assert_first_problem(ledger, "reordered", low.position)
    # Every position still holds its own event, but the signed tree was built in log order: the
    # checkpoint fails there too, not at some place before it.
    assert [(p.kind, p.position) for p in ledger.audit.verify().problems] == [
        ("reordered", low.position), ("checkpoint_mismatch", low.position)]


# --- the chain rewritten consistently -------------------------------------------------------------------


def rewrite_chain_from(store: Store, rows: list[Row], at: int) -> None:
    """Change the event at ``at`` and recompute its link and every later one (as ``archive.chain``
    does: the attacker knows the algorithm, but has no signing key)."""
    changed = [*rows[:at], replace(rows[at], state=flip_byte(rows[at].state, 40)), *rows[at + 1:]]
    links = chain_rows(((r.nid, r.originator_id, r.version, r.topic, r.state) for r in changed[at:]),
                       previous=rows[at - 1].chain_hash, position=at)
    store.run(
        ("UPDATE {events} SET state = ? WHERE {nid} = ?", (changed[at].state, rows[at].nid)),
        *(("UPDATE {events} SET position = ?, chain_hash = ? WHERE {nid} = ?", (p, h, nid)) for nid, p, h in links),
    )


def test_a_consistent_rewrite_of_the_chain_fails_the_signed_checkpoint_at_the_changed_row(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    at = middle_of_a_record(signed)
    rewrite_chain_from(store, signed, at)

    report = ledger.audit.verify()
    assert [p.kind for p in report.problems] == ["checkpoint_mismatch"], report.as_dict()  # the chain holds
    assert_first_problem(ledger, "checkpoint_mismatch", at)  # the index built before pinpoints it


def test_a_rewrite_re_signed_with_a_stolen_key_fails_only_the_published_checkpoint(
        ledger: RealtyLedger, store: Store, signed: list[Row], tmp_path: Path) -> None:
    witness = tmp_path / "witness-checkpoint.json"
    witness.write_text(ledger.audit.latest_checkpoint().to_json(), encoding="utf-8")
    at = middle_of_a_record(signed)

    rewrite_chain_from(store, signed, at)
    store.run(("DELETE FROM {checkpoints}", ()), ("DELETE FROM {nodes}", ()))
    ledger.settings.journal_path.unlink()  # they own the machine: the local journal goes too
    ledger.audit.index.extend()
    ledger.audit.checkpoint()

    assert ledger.audit.verify().clean  # everything the log holds agrees with itself
    published = Checkpoint.from_json(witness.read_text(encoding="utf-8"))
    # Nothing left in the store remembers the old leaves, so the rewrite cannot be placed more
    # precisely than "within the published tree": the finding starts at position 0.
    assert_first_problem(ledger, "published_mismatch", 0, published=published)


def test_a_rewrite_whose_checkpoints_were_deleted_is_held_to_the_local_journal(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    # Database access only, no key: rewrite the chain consistently and delete the checkpoints, so
    # that nothing in the database contradicts the rewrite. The journal outside it still does.
    at = middle_of_a_record(signed)
    size = ledger.audit.latest_checkpoint().tree_size
    rewrite_chain_from(store, signed, at)
    store.run(("DELETE FROM {checkpoints}", ()))

    report = ledger.audit.verify()
    kinds = {(p.kind, p.position) for p in report.problems}
    assert ("checkpoint_missing", size) in kinds and ("checkpoint_mismatch", at) in kinds, report.as_dict()
    assert report.first_problem.kind == "checkpoint_mismatch" and report.first_problem.position == at


# --- checkpoints and witness files ----------------------------------------------------------------


def test_a_stored_checkpoint_with_a_flipped_signature_byte_fails_its_signature(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    checkpoint = ledger.audit.latest_checkpoint()
    store.run(("UPDATE {checkpoints} SET signature = ? WHERE tree_size = ?",
               (flip_byte(checkpoint.signature, 10), checkpoint.tree_size)))

    assert_first_problem(ledger, "checkpoint_signature", checkpoint.tree_size)


def test_a_bad_published_checkpoint_is_an_error_never_a_clean_report(
        ledger: RealtyLedger, signed: list[Row], tmp_path: Path) -> None:
    ours = ledger.audit.latest_checkpoint()
    other_origin = sign_checkpoint(ledger.audit.keyring, "another-ledger", ours.tree_size, ours.root_hash)
    stranger = SigningKeyring(tmp_path / "stranger-keys")
    stranger.init()
    unknown_key = sign_checkpoint(stranger, ours.origin, ours.tree_size, ours.root_hash)
    forged_root = Checkpoint(ours.origin, ours.tree_size, bytes(32), ours.timestamp, ours.key_id, ours.signature)

    with pytest.raises(ValueError, match="another-ledger"):
        ledger.audit.verify(published=Checkpoint.from_json(other_origin.to_json()))
    with pytest.raises(CheckpointInvalid) as garbage:
        ledger.audit.verify(published=Checkpoint.from_json('{"format": "realty-checkpoint/v1", "tree_size": 1}'))
    assert garbage.value.reason == "malformed"
    with pytest.raises(CheckpointInvalid) as unknown:
        ledger.audit.verify(published=Checkpoint.from_json(unknown_key.to_json()))
    assert unknown.value.reason == "unknown_key"
    with pytest.raises(CheckpointInvalid) as bad:
        ledger.audit.verify(published=Checkpoint.from_json(forged_root.to_json()))
    assert bad.value.reason == "bad_signature"
    # The genuine file, for contrast.
    assert ledger.audit.verify(published=Checkpoint.from_json(ours.to_json())).published_checked


# --- verifying from a later position --------------------------------------------------------------


def test_verifying_from_a_later_position_is_clean_on_a_clean_log_and_still_finds_later_damage(
        ledger: RealtyLedger, store: Store, signed: list[Row]) -> None:
    start = len(signed) // 3
    report = ledger.audit.verify(start=start)
    assert report.clean, report.as_dict()
    assert (report.started_at, report.events, report.tree_size, report.checkpoints_checked) == (
        start, len(signed) - start, len(signed), 1)

    victim = signed[middle_of_a_record(signed)]
    assert victim.position > start
    store.run(("UPDATE {events} SET state = ? WHERE {nid} = ?", (flip_byte(victim.state, 40), victim.nid)))

    assert_first_problem(ledger, "modified", victim.position, start=start)


# --- a big log --------------------------------------------------------------------------------------


BIG = 100_000
PER_CALL = 1000


def test_an_untouched_log_of_a_hundred_thousand_events_verifies_clean_and_then_names_one_changed_byte(
        ledger: RealtyLedger, store: Store) -> None:
    # Commands would take minutes: the events go straight to the recorder, which still computes
    # every position and link, ten versions to a record as a busy log has.
    began = time.perf_counter()
    records = [uuid.uuid4() for _ in range(BIG // 10)]
    for first in range(0, BIG, PER_CALL):
        ledger.recorder.insert_events([
            StoredEvent(originator_id=records[n // 10], originator_version=n % 10 + 1,
                        topic="realty.test.bulk_recorded",
                        state=b'{"n":%d,"note":"%s"}' % (n, b"x" * 200))
            for n in range(first, first + PER_CALL)])
    inserted = time.perf_counter()
    checkpoint = ledger.audit.checkpoint()
    signed = time.perf_counter()
    report = ledger.audit.verify()
    verified = time.perf_counter()

    assert report.clean, report.as_dict()
    assert (report.events, report.tree_size, report.checkpoints_checked) == (BIG, BIG, 1)
    assert checkpoint.tree_size == BIG and report.root_hash == checkpoint.root_hash.hex()
    print(f"{BIG} events: insert {inserted - began:.1f}s, checkpoint {signed - inserted:.1f}s, "
          f"verify {verified - signed:.1f}s")

    # A big log is checked in chunks (on SQLite by two processes): one changed byte deep inside
    # it still comes back with its position and kind.
    at = BIG * 3 // 4 + 7
    (state,) = store.query("SELECT state FROM {events} WHERE position = ?", (at,))[0]
    store.run(("UPDATE {events} SET state = ? WHERE position = ?", (flip_byte(bytes(state), 5), at)))
    assert_first_problem(ledger, "modified", at)
