"""What a checkpoint signs, on both backends: the root of every event in the log, folded from the
right edge that indexing has just read from the node table and extended (not read back a second
time), so a damaged node in the table still reaches the signature and ``verify`` still reports it;
the indexed and logged sizes read in one statement; and one checkpoint kept per tree size."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from archive import merkle
from archive.chain import event_leaf
from archive.signing import sign_checkpoint
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys",
                                     checkpoint_interval=0, checkpoint_every=0))
    try:
        yield app
    finally:
        app.close()


def run_sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Straight to the store, past the application (as someone with database access would)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            with conn:
                return conn.execute(statement, params).fetchall()
        finally:
            conn.close()
    with psycopg.connect(url) as conn:
        cursor = conn.execute(statement.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []


def receive_customers(app: RealtyLedger, team: Team, count: int) -> None:
    now = datetime.now(UTC)
    for _ in range(count):
        app.receive_customer(team.consultant, channel="walk_in", reception_started_at=now - timedelta(minutes=30),
                             reception_ended_at=now - timedelta(minutes=5))


def root_of_the_log(app: RealtyLedger) -> bytes:
    """The RFC 9162 root of every stored event, from the rows alone (no node table)."""
    rows = app.audit.db.query(f"SELECT originator_id, originator_version, topic, state FROM {app.audit.index.events} "
                              "ORDER BY position")
    return merkle.root([event_leaf(oid, version, topic, bytes(state)) for oid, version, topic, state in rows])


def test_a_checkpoint_signs_the_root_of_every_event_in_the_log(ledger: RealtyLedger) -> None:
    team = register_team(ledger)
    first = ledger.audit.checkpoint()
    receive_customers(ledger, team, 3)  # the second one extends an index that already has nodes

    second = ledger.audit.checkpoint()

    assert second.tree_size == ledger.audit.index.log_size() > first.tree_size
    assert second.root_hash == root_of_the_log(ledger)
    assert second.root_hash == ledger.audit.index.root(second.tree_size)  # what the table holds agrees
    assert ledger.audit.verify().clean


def test_the_indexed_and_logged_sizes_read_together_are_those_read_apart(ledger: RealtyLedger) -> None:
    index = ledger.audit.index
    assert index.sizes() == (0, 0)
    team = register_team(ledger)
    ledger.audit.checkpoint()
    receive_customers(ledger, team, 2)

    indexed, logged = index.sizes()

    assert (indexed, logged) == (index.size(), index.log_size())
    assert 0 < indexed < logged  # the new events are not indexed until the next checkpoint


def test_a_second_checkpoint_at_a_tree_size_is_not_kept_and_the_first_stands(ledger: RealtyLedger) -> None:
    register_team(ledger)
    signed = ledger.audit.checkpoint()
    later = sign_checkpoint(ledger.audit.keyring, signed.origin, signed.tree_size, signed.root_hash,
                            signed.timestamp + timedelta(seconds=5))

    assert ledger.audit.checkpoints.add(later) is False
    assert ledger.audit.checkpoints.at(signed.tree_size) == signed
    assert ledger.audit.checkpoint() == signed  # the log has not grown: the one kept is the answer


def test_a_damaged_node_in_the_table_reaches_the_next_checkpoint_and_verify_reports_it(
        ledger: RealtyLedger, own_database_url: str) -> None:
    team = register_team(ledger)
    signed = ledger.audit.checkpoint()
    level, idx = merkle.root_nodes(signed.tree_size)[0]  # the largest subtree on the right edge
    nodes = ledger.audit.index.nodes_table
    run_sql(own_database_url, f"UPDATE {nodes} SET hash = ? WHERE level = ? AND idx = ?",  # noqa: S608
            (b"\x5a" * 32, level, idx))
    receive_customers(ledger, team, 2)

    damaged = ledger.audit.checkpoint()

    assert damaged.root_hash != root_of_the_log(ledger)  # signed as the table has it, damage and all
    report = ledger.audit.verify()
    assert [p.kind for p in report.problems] == ["checkpoint_mismatch"], report.as_dict()
    assert f"tree size {damaged.tree_size} " in report.problems[0].detail  # the one signed after the damage


def test_a_new_node_table_keeps_each_hash_in_its_key_index(ledger: RealtyLedger, own_database_url: str) -> None:
    nodes = ledger.audit.index.nodes_table
    if own_database_url.startswith("sqlite"):
        with pytest.raises(sqlite3.OperationalError, match="rowid"):  # WITHOUT ROWID: the table is its key's b-tree
            run_sql(own_database_url, f"SELECT rowid FROM {nodes}")  # noqa: S608
        return
    ((columns, keys),) = run_sql(own_database_url, "SELECT indnatts, indnkeyatts FROM pg_index "
                                 f"WHERE indrelid = '{nodes}'::regclass AND indisprimary")
    assert (columns, keys) == (3, 2)  # (level, idx) INCLUDE (hash): an index-only lookup per node


def test_a_node_table_of_the_earlier_layout_still_indexes_signs_and_proves(
        own_database_url: str, tmp_path: Path) -> None:
    settings = {"database_url": own_database_url, "signing_keys_dir": tmp_path / "keys", "checkpoint_interval": 0,
                "checkpoint_every": 0}
    first = RealtyLedger(load_settings(**settings))
    try:
        nodes = first.audit.index.nodes_table
        team = register_team(first)
    finally:
        first.close()
    run_sql(own_database_url, f"DROP TABLE {nodes}")  # noqa: S608
    run_sql(own_database_url, f"CREATE TABLE {nodes} (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
            f"hash {'BLOB' if own_database_url.startswith('sqlite') else 'BYTEA'} NOT NULL, PRIMARY KEY (level, idx))")
    app = RealtyLedger(load_settings(**settings))
    try:
        receive_customers(app, team, 2)
        signed = app.audit.checkpoint()
        inclusion = app.audit.inclusion(signed.tree_size - 1)
        consistency = app.audit.consistency(3)
    finally:
        app.close()

    if own_database_url.startswith("sqlite"):
        assert run_sql(own_database_url, f"SELECT rowid FROM {nodes} LIMIT 1")  # noqa: S608 - still the old layout
    else:
        assert run_sql(own_database_url, "SELECT indnatts FROM pg_index "
                       f"WHERE indrelid = '{nodes}'::regclass AND indisprimary") == [(2,)]  # still the old layout
    h = bytes.fromhex
    assert signed.root_hash == h(inclusion["root_hash"]) == h(consistency["second_root_hash"])
    assert merkle.verify_inclusion(h(inclusion["leaf_hash"]), signed.tree_size - 1, signed.tree_size,
                                   [h(p) for p in inclusion["proof"]], signed.root_hash)
    assert merkle.verify_consistency(3, signed.tree_size, h(consistency["first_root_hash"]), signed.root_hash,
                                     [h(p) for p in consistency["proof"]])
