"""Backups and restores on SQLite and PostgreSQL: a restore holds every event, key and checkpoint of
the backup and verifies against the checkpoint taken before it; a backup taken while commands write
is one snapshot; a damaged backup or a store that is not empty is refused with nothing written;
the views rebuild from the restored log; erased customers stay erased, also when the backup is older
than the erasure and when the restore is interrupted after its load; restricted customers stay
restricted; ``realty keys shred-registered`` repairs a store whose keys were not destroyed again; and
a SQLite backup restores into PostgreSQL and back.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from archive.backup import StoreNotEmpty, ledger_tables
from archive.backup_format import BackupDamaged, NotABackup
from archive.sql import Database
from domain.personal_data import ERASED, RESTRICTED
from service.application import RealtyLedger
from service.cli_backup import backup_store, restore_store, shred_registered
from service.idempotency import TABLE as IDEMPOTENCY
from service.projector import PROJECTION_NAMES
from service.settings import Settings, load_settings
from tests.conftest import Team, register_team
from tests.integration.scenarios import list_flat, match, receive, sign
from tests.integration.views_support import catch_up, dump
from tests.reliability.scratch_stores import scratch_store

NAME, PHONE = "欧阳备份", "13912345678"


def settings_for(url: str, tmp_path: Path, store: str) -> Settings:
    """One installation: the signing keys, the checkpoint journal and the shredding register are the
    same for the store backed up and the store restored into; the views file is each store's own."""
    return load_settings(database_url=url, signing_keys_dir=tmp_path / "keys",
                         checkpoint_journal=tmp_path / "checkpoints.jsonl",
                         shredding_register=tmp_path / "shredded.jsonl",
                         views_path=tmp_path / f"{store}-views.sqlite3", pool_size=2, pool_max_overflow=4)


def scratch_database(url: str, tmp_path: Path, name: str) -> AbstractContextManager[str]:
    """Another empty store of the same backend as ``url``."""
    return scratch_store("sqlite" if url.startswith("sqlite") else "postgres", tmp_path / name)


@pytest.fixture
def source(own_database_url: str, tmp_path: Path) -> Iterator[tuple[RealtyLedger, Team]]:
    ledger = RealtyLedger(settings_for(own_database_url, tmp_path, "source"))
    try:
        yield ledger, register_team(ledger)
    finally:
        ledger.close()


@pytest.fixture
def target_url(own_database_url: str, tmp_path: Path) -> Iterator[str]:
    with scratch_database(own_database_url, tmp_path, "target") as url:
        yield url


def table_dump(app: RealtyLedger) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the backup covers, backend-neutral (ids as UUIDs, bytes as bytes), in order."""
    db = Database(app.recorder.datastore)
    out = {}
    present = {n for (n,) in db.query(
        "SELECT name FROM sqlite_master WHERE type = 'table'" if db.backend == "sqlite" else
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    for table in ledger_tables(app.recorder.events_table_name):
        if table.name not in present:
            continue
        columns = ", ".join("rowid" if c == "notification_id" and db.backend == "sqlite" else c
                            for c, _ in table.columns)
        order = table.order.replace("notification_id", db.log_order)
        rows = db.query(f"SELECT {columns} FROM {db.table(table.name)} ORDER BY {order}")  # noqa: S608
        kinds = [k for _, k in table.columns]
        out[table.part] = [tuple(_neutral(k, v) for k, v in zip(kinds, row, strict=True)) for row in rows]
    return out


def _neutral(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "uuid":
        return uuid.UUID(str(value))
    if kind == "bytes":
        return bytes(value)
    return value


def raw_bytes(app: RealtyLedger) -> bytes:
    """Everything the store's tables hold, as one blob to search for plaintext."""
    return repr(table_dump(app)).encode("utf-8") + b"".join(
        v for rows in table_dump(app).values() for row in rows for v in row if isinstance(v, bytes))


def erase(app: RealtyLedger, team: Team, customer: str) -> None:
    answer = app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")
    assert answer["status"] == "erased"


def with_details(app: RealtyLedger, team: Team) -> str:
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE)
    return customer


# --- round trip ------------------------------------------------------------------------------------


def test_a_restored_store_holds_every_event_key_and_checkpoint_and_verifies_against_the_earlier_checkpoint(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    customer = with_details(app, team)
    app.raise_request(team.consultant, customer, subject="想看学区房")
    checkpoint = app.audit.checkpoint()
    receive(app, team)  # after the checkpoint: held by the chain only
    before = table_dump(app)

    manifest = backup_store(app.settings, tmp_path / "store.backup")

    assert (tmp_path / "store.backup").stat().st_mode & 0o777 == 0o600
    assert manifest["parts"]["events"]["rows"] == len(before["events"]) == checkpoint.tree_size + 1
    assert manifest["head"]["position"] == checkpoint.tree_size
    assert json.loads(manifest["checkpoint"])["tree_size"] == checkpoint.tree_size
    outcome = restore_store(settings_for(target_url, tmp_path, "target"), tmp_path / "store.backup")
    assert outcome.report.clean, outcome.report.as_dict()
    assert outcome.report.checkpoints_checked == 1 and outcome.checkpoint_in_journal is True
    restored = RealtyLedger(settings_for(target_url, tmp_path, "target"))
    try:
        assert table_dump(restored) == before  # notification ids, positions, chains, keys, checkpoints
        assert restored.state(customer)["name"] == NAME  # the same master key opens the restored keys
        # The log goes on where it ended: the next event follows the last notification id and position.
        head_id = before["events"][-1][0]
        result = receive(restored, team)
        assert restored.audit.positions(result)[1].notification_id > head_id
        assert restored.audit.positions(result)[1].position == len(before["events"])
        assert restored.audit.verify().clean
    finally:
        restored.close()


def test_the_views_rebuild_from_the_restored_log_and_equal_the_originals(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    for _ in range(3):
        with_details(app, team)
    catch_up(app)
    backup_store(app.settings, tmp_path / "store.backup")
    restore_store(settings_for(target_url, tmp_path, "target"), tmp_path / "store.backup")
    restored = RealtyLedger(settings_for(target_url, tmp_path, "target"))
    try:
        assert catch_up(restored) > 0  # from position zero: no tracking row came with the backup
        for name in PROJECTION_NAMES:
            assert dump(restored, name) == dump(app, name), name
    finally:
        restored.close()


def test_a_backup_taken_while_commands_write_is_one_snapshot_whose_restore_verifies(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    for _ in range(5):
        receive(app, team)
    app.audit.checkpoint()
    written, stop, failures = threading.Event(), threading.Event(), []

    def writer() -> None:
        try:
            while not stop.is_set():
                receive(app, team)
                written.set()
        except Exception as e:  # noqa: BLE001 - reported by the test below
            failures.append(e)

    def while_snapshot_open(_: dict[str, int]) -> None:
        # The snapshot is taken; make sure commands commit while it is open.
        for _ in range(3):
            written.clear()
            assert written.wait(30), failures
        assert not failures, failures

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        manifest = backup_store(app.settings, tmp_path / "store.backup", counted=while_snapshot_open)
    finally:
        stop.set()
        thread.join(60)
    assert not failures, failures
    after = table_dump(app)
    taken = manifest["parts"]["events"]["rows"]
    assert taken < len(after["events"])  # writes went on during the backup...
    assert manifest["head"]["position"] == taken - 1

    outcome = restore_store(settings_for(target_url, tmp_path, "target"), tmp_path / "store.backup")

    assert outcome.report.clean, outcome.report.as_dict()  # ...and every state opens with its key
    restored = RealtyLedger(settings_for(target_url, tmp_path, "target"))
    try:
        assert table_dump(restored)["events"] == after["events"][:taken]  # a prefix of the log, untorn
    finally:
        restored.close()


# --- refusals ----------------------------------------------------------------------------------------


def _rewrite(path: Path, change: Any) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(change(lines))))


def _flip_a_state(lines: list[bytes]) -> list[bytes]:
    start = next(i for i, line in enumerate(lines) if line.startswith(b'{"part":"events"'))
    row = json.loads(lines[start + 2])
    row[4] = row[4][:-8] + ("AAAAAAA=" if not row[4].endswith("AAAAAAA=") else "BBBBBBB=")
    lines[start + 2] = json.dumps(row, separators=(",", ":")).encode() + b"\n"
    return lines


@pytest.mark.parametrize("damage", ["a changed state", "a truncated file", "a lost manifest"])
def test_a_damaged_backup_is_refused_before_anything_is_written(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path, damage: str) -> None:
    app, team = source
    with_details(app, team)
    backup = tmp_path / "store.backup"
    backup_store(app.settings, backup)
    if damage == "a changed state":
        _rewrite(backup, _flip_a_state)
    elif damage == "a truncated file":
        backup.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    else:
        _rewrite(backup, lambda lines: lines[:-1])
    settings = settings_for(target_url, tmp_path, "target")

    with pytest.raises(BackupDamaged) as caught:
        restore_store(settings, backup)

    if damage == "a changed state":
        assert caught.value.part == "events" and "part events" in str(caught.value)
    db = settings.database
    if db.path is not None:
        assert not db.path.exists()  # not even opened
    else:
        import psycopg

        with psycopg.connect(settings.postgres_conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM information_schema.tables "
                                "WHERE table_schema = 'public'").fetchone() == (0,)


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    for content in (b"not a backup\n", gzip.compress(b'{"format":"something else"}\n')):
        (tmp_path / "other").write_bytes(content)
        with pytest.raises(NotABackup):
            restore_store(load_settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}"), tmp_path / "other")
    assert not (tmp_path / "x.sqlite3").exists()


def test_a_store_that_is_not_empty_is_refused_and_left_as_it_was(
        source: tuple[RealtyLedger, Team], tmp_path: Path) -> None:
    app, team = source
    with_details(app, team)
    backup_store(app.settings, tmp_path / "store.backup")
    receive(app, team)
    before = table_dump(app)

    with pytest.raises(StoreNotEmpty, match="is not empty"):
        restore_store(app.settings, tmp_path / "store.backup")

    assert table_dump(app) == before


def test_a_backup_never_replaces_a_file(source: tuple[RealtyLedger, Team], tmp_path: Path) -> None:
    app, _ = source
    (tmp_path / "taken").write_text("keep me")
    with pytest.raises(FileExistsError):
        backup_store(app.settings, tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "keep me"
    assert not (tmp_path / "taken.partial").exists()


# --- erased stay erased ------------------------------------------------------------------------------


def test_a_customer_erased_before_the_backup_stays_erased_after_the_restore(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    customer = with_details(app, team)
    erase(app, team, customer)
    backup_store(app.settings, tmp_path / "store.backup")
    assert NAME.encode() not in gzip.decompress((tmp_path / "store.backup").read_bytes())

    restore_store(settings_for(target_url, tmp_path, "target"), tmp_path / "store.backup")

    restored = RealtyLedger(settings_for(target_url, tmp_path, "target"))
    try:
        assert restored.state(customer)["name"] == ERASED
        assert NAME.encode() not in raw_bytes(restored)
    finally:
        restored.close()


def erased_after_the_backup_stays_erased(app: RealtyLedger, team: Team, target: Settings, tmp_path: Path) -> None:
    """Back up, then erase, then restore that older backup: the register shreds the customer again."""
    customer = with_details(app, team)
    kept = with_details(app, team)
    backup_store(app.settings, tmp_path / "before-erasure.backup")
    erase(app, team, customer)
    (key_id,) = app.data_keys.owner_keys(customer, destroyed=True)
    assert key_id in app.data_keys.register.key_ids()  # the register heard of it, outside the database

    outcome = restore_store(target, tmp_path / "before-erasure.backup")

    assert outcome.reshredded == [key_id]
    assert outcome.report.clean
    restored = RealtyLedger(target)
    try:
        assert restored.state(customer)["name"] == ERASED and restored.state(customer)["phone"] == ERASED
        assert restored.state(kept)["name"] == NAME  # only what was shredded is shredded again
        db = Database(restored.recorder.datastore)
        ((wrapped,),) = db.query(f"SELECT wrapped FROM {db.table('realty_data_keys')} WHERE key_id = ?", (key_id,))
        assert wrapped is None  # no key in the store can open the customer's fields any more
    finally:
        restored.close()


def test_a_customer_erased_after_the_backup_stays_erased_after_restoring_it(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    erased_after_the_backup_stays_erased(app, team, settings_for(target_url, tmp_path, "target"), tmp_path)


def test_the_register_holds_ids_only_never_personal_data(source: tuple[RealtyLedger, Team]) -> None:
    app, team = source
    customer = with_details(app, team)
    erase(app, team, customer)
    text = app.data_keys.register.path.read_text(encoding="utf-8")
    assert NAME not in text and PHONE not in text
    # The restriction every erasure request starts with, then the destruction.
    restricted, destroyed = [json.loads(line) for line in text.splitlines()]
    assert restricted == {"at": restricted["at"], "reason": restricted["reason"], "kind": "restricted",
                          "key_ids": [], "subject_ids": [customer]}
    assert set(destroyed) == {"at", "reason", "key_ids", "subject_ids"} and destroyed["subject_ids"] == [customer]
    assert destroyed["key_ids"] == app.data_keys.owner_keys(customer, destroyed=True)


def wrapped_of(settings: Settings, key_id: str) -> bytes | None:
    """The stored wrapped key (None once destroyed), read without opening the ledger."""
    from service.cli_backup import _infrastructure

    factory = _infrastructure(settings, create=False)
    try:
        db = Database(factory.application_recorder().datastore)
        ((wrapped,),) = db.query(f"SELECT wrapped FROM {db.table('realty_data_keys')} WHERE key_id = ?", (key_id,))
        return None if wrapped is None else bytes(wrapped)
    finally:
        factory.close()


def test_a_restore_interrupted_right_after_its_load_leaves_the_erased_customer_erased(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    customer = with_details(app, team)
    backup_store(app.settings, tmp_path / "before-erasure.backup")
    erase(app, team, customer)
    (key_id,) = app.data_keys.owner_keys(customer, destroyed=True)
    target = settings_for(target_url, tmp_path, "target")

    def operator_presses_ctrl_c(stage: str, done: int) -> None:
        raise KeyboardInterrupt  # during the verification, the long step after the load

    with pytest.raises(KeyboardInterrupt):
        restore_store(target, tmp_path / "before-erasure.backup", verify_progress=operator_presses_ctrl_c)

    assert wrapped_of(target, key_id) is None  # destroyed by the load's own transaction
    restored = RealtyLedger(target)
    try:
        assert restored.state(customer)["name"] == ERASED and restored.state(customer)["phone"] == ERASED
        assert restored.audit.verify().clean  # what the interrupted restore did not check: it is whole
    finally:
        restored.close()
    with pytest.raises(StoreNotEmpty):  # the restore is done: a second one is refused, not needed
        restore_store(target, tmp_path / "before-erasure.backup")


def test_keys_shred_registered_destroys_what_a_restore_without_the_register_left_live_once(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    customer = with_details(app, team)
    kept = with_details(app, team)
    backup_store(app.settings, tmp_path / "before-erasure.backup")
    erase(app, team, customer)
    (key_id,) = app.data_keys.owner_keys(customer, destroyed=True)
    target = settings_for(target_url, tmp_path, "target")
    # As an older version left it (or a restore given an empty register): the key came back live.
    outcome = restore_store(target, tmp_path / "before-erasure.backup", register=tmp_path / "no-register.jsonl")
    assert outcome.reshredded == [] and outcome.register_found is False
    assert wrapped_of(target, key_id) is not None

    repaired = shred_registered(target)
    again = shred_registered(target)

    assert repaired.destroyed == [key_id] and again.destroyed == []  # idempotent
    assert wrapped_of(target, key_id) is None
    restored = RealtyLedger(target)
    try:
        assert restored.state(customer)["name"] == ERASED
        assert restored.state(kept)["name"] == NAME
    finally:
        restored.close()


def test_keys_destroyed_on_the_word_of_another_register_are_entered_in_the_stores_own(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    customer = with_details(app, team)
    backup_store(app.settings, tmp_path / "before-erasure.backup")
    erase(app, team, customer)
    (key_id,) = app.data_keys.owner_keys(customer, destroyed=True)
    # Another installation: its own register is elsewhere and knows nothing yet.
    target = settings_for(target_url, tmp_path, "target").model_copy(
        update={"shredding_register": tmp_path / "elsewhere" / "shredded.jsonl"})
    assert target.shredding_register_path != app.settings.shredding_register_path

    outcome = restore_store(target, tmp_path / "before-erasure.backup",
                            register=app.settings.shredding_register_path)

    assert outcome.reshredded == [key_id] and wrapped_of(target, key_id) is None
    from archive.shredding_register import ShreddingRegister

    assert ShreddingRegister(target.shredding_register_path).key_ids() == [key_id]


def test_a_customer_restricted_after_the_backup_comes_back_restricted(
        source: tuple[RealtyLedger, Team], target_url: str, tmp_path: Path) -> None:
    app, team = source
    listing = list_flat(app, team.consultant)
    customer = with_details(app, team)
    match(app, team, customer, listing)
    sign(app, team, customer, listing)  # an open deal: its retention runs, so erasure restricts
    other = with_details(app, team)
    backup_store(app.settings, tmp_path / "before-restriction.backup")
    assert app.request_erasure(team.compliance, customer, legal_basis="service_ended")["status"] == "restricted"
    target = settings_for(target_url, tmp_path, "target")

    outcome = restore_store(target, tmp_path / "before-restriction.backup")

    assert outcome.restricted == [customer] and outcome.reshredded == []
    restored = RealtyLedger(target)
    try:
        assert restored.state(customer)["name"] == RESTRICTED and restored.state(customer)["phone"] == RESTRICTED
        assert restored.state(other)["name"] == NAME
        assert restored.data_keys.restricted_subjects() == [customer]
        # The request itself is after the backup: recorded again, it is carried out in due course.
        again = restored.request_erasure(team.compliance, customer, legal_basis="service_ended")
        assert again["status"] == "restricted"
    finally:
        restored.close()


def test_a_restriction_lifted_again_is_not_restored(source: tuple[RealtyLedger, Team], tmp_path: Path) -> None:
    from archive.shredding_register import ShreddingRegister

    app, team = source
    customer = with_details(app, team)
    app.data_keys.restrict(customer)
    app.data_keys.unrestrict(customer)  # as a failed erasure request does
    assert customer not in ShreddingRegister(app.settings.shredding_register_path).restricted_subject_ids()
    app.data_keys.restrict(customer)
    assert customer in ShreddingRegister(app.settings.shredding_register_path).restricted_subject_ids()


# --- across backends ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_sqlite_backup_restores_into_postgresql_and_back(tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    sqlite_url = f"sqlite:///{tmp_path / 'first' / 'realty.sqlite3'}"
    app = RealtyLedger(settings_for(sqlite_url, tmp_path, "first"))
    try:
        team = register_team(app)
        customer = with_details(app, team)
        app.audit.checkpoint()
        original = table_dump(app)
        backup_store(app.settings, tmp_path / "sqlite.backup")
    finally:
        app.close()
    with scratch_database("postgresql://", tmp_path, "pg") as pg_url:
        outcome = restore_store(settings_for(pg_url, tmp_path, "pg"), tmp_path / "sqlite.backup")
        assert outcome.report.clean and outcome.report.checkpoints_checked == 1
        migrated = RealtyLedger(settings_for(pg_url, tmp_path, "pg"))
        try:
            assert table_dump(migrated) == original
            assert migrated.state(customer)["name"] == NAME
            backup_store(migrated.settings, tmp_path / "postgres.backup")
        finally:
            migrated.close()
    back_url = f"sqlite:///{tmp_path / 'back' / 'realty.sqlite3'}"
    outcome = restore_store(settings_for(back_url, tmp_path, "back"), tmp_path / "postgres.backup")
    assert outcome.report.clean
    back = RealtyLedger(settings_for(back_url, tmp_path, "back"))
    try:
        assert table_dump(back) == original
    finally:
        back.close()


def test_idempotency_keys_come_back_with_the_store(source: tuple[RealtyLedger, Team], target_url: str,
                                                     tmp_path: Path) -> None:
    from service.idempotency import IdempotencyStore

    app, _ = source
    store = IdempotencyStore(app.recorder.datastore)
    assert store.claim("scope-a", "key-1", "print").outcome == "new"
    store.complete("scope-a", "key-1", 201, {"location": "/customers/x"}, b'{"id": "x"}')
    backup_store(app.settings, tmp_path / "store.backup")
    restore_store(settings_for(target_url, tmp_path, "target"), tmp_path / "store.backup")
    restored = RealtyLedger(settings_for(target_url, tmp_path, "target"))
    try:
        replay = IdempotencyStore(restored.recorder.datastore).claim("scope-a", "key-1", "print")
        assert (replay.outcome, replay.status, replay.body) == ("replay", 201, b'{"id": "x"}')
        db = Database(restored.recorder.datastore)
        assert db.query(f"SELECT COUNT(*) FROM {db.table(IDEMPOTENCY)}") == [(1,)]
    finally:
        restored.close()
