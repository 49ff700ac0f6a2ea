"""Automatic snapshots of long records (``REALTY_SNAPSHOT_INTERVAL``), on SQLite and PostgreSQL.

A record loaded through its latest snapshot must equal the replay of all its events, at the head
and as of every earlier version; a snapshot is sealed, so shredding the customer's key erases its
personal fields there too, and a restriction hides them; a record that reads as erased or
restricted is never frozen into a new snapshot; and the hash chain, the Merkle tree and the
sealing check see the events table only. The interval is small here (5) so that few events cross it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import project_aggregate

from domain.personal_data import ERASED, RESTRICTED
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.integration.scenarios import execute, list_flat, match, receive, sign

INTERVAL = 5
NAME, PHONE, ID_NUMBER = "赵雅琴", "13800138000", "11010519491231002X"


def open_ledger(url: str, tmp_path: Path, interval: int = INTERVAL) -> RealtyLedger:
    return RealtyLedger(load_settings(database_url=url, signing_keys_dir=tmp_path / "keys", snapshot_interval=interval))


@pytest.fixture
def snap(database_url: str, tmp_path: Path) -> Iterator[tuple[RealtyLedger, Team]]:
    ledger = open_ledger(database_url, tmp_path)
    try:
        yield ledger, register_team(ledger)
    finally:
        ledger.close()


def replayed(app: RealtyLedger, record_id: str | uuid.UUID, version: int | None = None) -> Any:
    """The record rebuilt from its events alone, no snapshot."""
    return project_aggregate(None, app.events.get(uuid.UUID(str(record_id)), lte=version))


def snapshot_versions(app: RealtyLedger, record_id: str | uuid.UUID) -> list[int]:
    assert app.snapshots is not None
    return [s.originator_version for s in app.snapshots.get(uuid.UUID(str(record_id)))]


def fresh_load(app: RealtyLedger, record_id: str | uuid.UUID, version: int | None = None) -> Any:
    return app.repository.get(uuid.UUID(str(record_id)), version=version)


def requests(app: RealtyLedger, team: Team, customer: str, n: int) -> None:
    for i in range(n):
        app.raise_request(team.consultant, customer, subject=f"第 {i} 次：请发户型图")


def test_a_customer_past_the_interval_loads_from_its_snapshot_and_equals_its_replay(
        snap: tuple[RealtyLedger, Team], monkeypatch: pytest.MonkeyPatch) -> None:
    app, team = snap
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=ID_NUMBER)
    requests(app, team, customer, 10)  # versions 3..12

    assert snapshot_versions(app, customer) == [5, 10]
    # The load reads the snapshot at 10 and only the events after it.
    asked: list[Any] = []
    get = app.events.get
    monkeypatch.setattr(app.events, "get", lambda *a, **k: asked.append(k.get("gt")) or get(*a, **k))
    loaded = fresh_load(app, customer)
    monkeypatch.undo()
    assert asked == [10]
    assert loaded.version == 12
    assert vars(loaded) == vars(replayed(app, customer))
    assert loaded.name == NAME and loaded.phone == PHONE and loaded.id_number == ID_NUMBER
    # The snapshot is sealed: no personal data in its stored bytes.
    assert app.snapshots is not None
    stored = app.snapshots.recorder.select_events(uuid.UUID(customer))
    assert app.snapshots.recorder.events_table_name in ("realty_snapshots", "stored_snapshots")
    states = [bytes(s.state) for s in stored]
    assert len(states) == 2 and all(s[:1] == b"\x01" for s in states)
    assert not any(NAME.encode() in s or PHONE.encode() in s for s in states)


def test_every_earlier_version_reads_the_same_through_snapshots_as_by_replay(snap: tuple[RealtyLedger, Team]) -> None:
    app, team = snap
    customer = receive(app, team)
    requests(app, team, customer, 11)  # versions 2..12; snapshots at 5 and 10

    for version in range(1, 13):
        assert vars(fresh_load(app, customer, version)) == vars(replayed(app, customer, version)), version
        assert app.state(customer, version=version)["version"] == version
    assert len(app.history(customer)) == 12  # the history is the events, never a snapshot


def test_every_kind_of_long_record_loads_from_a_snapshot_equal_to_its_replay(snap: tuple[RealtyLedger, Team]) -> None:
    app, team = snap
    listing = list_flat(app, team.consultant, price=5_400_000)
    for price in (5_300_000, 5_200_000):
        app.change_listing_price(team.consultant, listing, new_price=price, reason="业主降价")
    customer = receive(app, team)
    match(app, team, customer, listing)
    deal = sign(app, team, customer, listing)
    execute(app, team, deal)
    for score in (70, 80, 90, 95):
        app.record_training(team.admin, team.id(team.consultant), course="合同风险", score=score)

    records = {"listing": listing, "customer": customer, "deal": deal, "consultant": team.id(team.consultant)}
    for kind, record in records.items():
        assert snapshot_versions(app, record), f"the {kind} never reached the interval"
        assert vars(fresh_load(app, record)) == vars(replayed(app, record)), kind


def test_a_customer_snapshotted_then_erased_reads_erased_through_the_snapshot(
        own_database_url: str, tmp_path: Path) -> None:
    app = open_ledger(own_database_url, tmp_path)
    try:
        team = register_team(app)
        customer = receive(app, team)
        app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=ID_NUMBER)
        requests(app, team, customer, 5)  # version 7; snapshot at 5 holds the personal details
        assert snapshot_versions(app, customer) == [5]

        answer = app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

        assert answer["status"] == "erased"
        assert snapshot_versions(app, customer) == [5]  # 8 and 9 are not on the interval
        app.data_keys._by_id.clear()  # read the keys as another process would  # noqa: SLF001
        loaded = fresh_load(app, customer)
        assert (loaded.name, loaded.phone, loaded.id_number) == (ERASED, ERASED, ERASED)
        assert vars(loaded) == vars(replayed(app, customer))
        as_of = fresh_load(app, customer, 6)  # through the snapshot at 5
        assert (as_of.name, as_of.phone) == (ERASED, ERASED)
        app.audit.checkpoint()
        assert app.audit.verify().clean
    finally:
        app.close()


def test_a_restricted_customer_reads_restricted_through_its_snapshot_and_is_not_snapshotted_so(
        own_database_url: str, tmp_path: Path) -> None:
    app = open_ledger(own_database_url, tmp_path)
    try:
        team = register_team(app)
        listing = list_flat(app, team.consultant)
        customer = receive(app, team)
        match(app, team, customer, listing)  # versions 2..7, snapshot at 5 with the personal details
        sign(app, team, customer, listing)  # an open deal: its retention clock has not started
        version = fresh_load(app, customer).version
        requests(app, team, customer, (-version - 1) % INTERVAL)  # the erasure request lands on the interval
        assert (fresh_load(app, customer).version + 1) % INTERVAL == 0

        answer = app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

        assert answer["status"] == "restricted"
        loaded = fresh_load(app, customer)
        assert loaded.version % INTERVAL == 0 and loaded.is_restricted
        # The state now reads as restricted, so it was not frozen into a snapshot at that version.
        assert loaded.version not in snapshot_versions(app, customer)
        assert (loaded.name, loaded.phone, loaded.id_number) == (RESTRICTED, RESTRICTED, RESTRICTED)
        assert vars(loaded) == vars(replayed(app, customer))
        app.audit.checkpoint()
        assert app.audit.verify().clean
    finally:
        app.close()


def test_an_erasure_on_the_interval_is_recorded_and_reported_without_a_snapshot(
        own_database_url: str, tmp_path: Path) -> None:
    app = open_ledger(own_database_url, tmp_path)
    try:
        team = register_team(app)
        customer = receive(app, team)
        app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE)
        requests(app, team, customer, 6)  # version 8: the request is 9, the erasure 10

        answer = app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

        assert answer["status"] == "erased" and answer["position"] is not None
        assert fresh_load(app, customer).version == 10
        assert snapshot_versions(app, customer) == [5]  # the key was gone: no snapshot at 10
        assert fresh_load(app, customer).name == ERASED
    finally:
        app.close()


def test_snapshots_stay_out_of_the_chain_the_tree_and_the_sealing_check(own_database_url: str, tmp_path: Path) -> None:
    app = open_ledger(own_database_url, tmp_path)
    try:
        team = register_team(app)
        customer = receive(app, team)
        requests(app, team, customer, 14)  # snapshots at 5, 10, 15
        assert snapshot_versions(app, customer) == [5, 10, 15]
        events = app.event_count()

        app.audit.checkpoint()
        report = app.audit.verify()

        assert report.clean
        assert app.log_head() == events == 10 + 15  # the team's ten staff members and the customer
        checked, problems = app.check_sealing()
        assert (checked, problems) == (events, [])
    finally:
        app.close()


def test_an_interval_of_zero_turns_snapshots_off(database_url: str, tmp_path: Path) -> None:
    app = open_ledger(database_url, tmp_path, interval=0)
    try:
        team = register_team(app)
        customer = receive(app, team)
        requests(app, team, customer, INTERVAL)

        assert app.snapshots is None
        assert vars(fresh_load(app, customer)) == vars(replayed(app, customer))
    finally:
        app.close()
