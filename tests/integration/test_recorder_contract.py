"""Our recorders keep the library's recorder contract, and the guard keeps its own.

``ChainedSQLiteRecorder`` and ``ChainedPostgresRecorder`` (guarded and hash-chained) stand in for the library's application
recorders, so they must pass the library's ``ApplicationRecorderTestCase`` unchanged, on a real
SQLite file, on SQLite's in-memory mode (which the library's own tests use) and on a real
PostgreSQL. The library's ``AggregateRecorderTestCase`` does not apply: it expects
``insert_events`` to return no notification ids, and an application recorder returns them (the
library does not run it against its application recorders either). Then the guard contract of
``archive.recorders`` on both backends, through the recorders themselves: a guard passes only at
the version the store holds, a refused insert writes nothing, and the check is made under the
log's write lock, so another process's write can delay a guarded insert but never slip past it.

Other tests share the PostgreSQL database (two xdist workers), so each PostgreSQL test works in a
schema and table of its own, created in ``setUp`` and dropped when the test ends; each SQLite test
uses a database of its own.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import unittest
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import ApplicationRecorderTestCase
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from archive.chain import GENESIS, chain_rows, event_leaf, link
from archive.chained import ChainedPostgresRecorder, ChainedSQLiteRecorder
from tests.conftest import require_postgres

if TYPE_CHECKING:
    _TestCase = unittest.TestCase
else:
    _TestCase = object

Recorder = ChainedSQLiteRecorder | ChainedPostgresRecorder

# How long a writer must still be waiting to count as blocked by another writer's lock.
BLOCKED_FOR = 0.3
# Upper bound for anything that should finish promptly once nothing blocks it.
PROMPTLY = 10.0


def event(record_id: uuid.UUID, version: int, topic: str = "contract-test") -> StoredEvent:
    return StoredEvent(originator_id=record_id, originator_version=version, topic=topic, state=b"{}")


# --- backends -----------------------------------------------------------------------------------


class _SQLiteFile(_TestCase):
    """A database file of its own in a fresh temporary directory, as the application uses."""

    def setUp(self) -> None:
        super().setUp()
        directory = tempfile.mkdtemp(prefix="recorder-contract-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        self.db_name = str(Path(directory) / "events.sqlite3")
        self._datastores: list[SQLiteDatastore] = []
        self._threads_before = set(threading.enumerate())
        self.addCleanup(self._close_datastores)

    def _close_datastores(self) -> None:
        # The library's concurrency test leaves its reader threads to stop on their own; closing a
        # connection one of them is still reading from crashes the interpreter, so wait for them.
        for thread in set(threading.enumerate()) - self._threads_before:
            thread.join(timeout=PROMPTLY)
        for datastore in self._datastores:
            datastore.close()

    def create_recorder(self) -> ChainedSQLiteRecorder:
        datastore = SQLiteDatastore(self.db_name)
        self._datastores.append(datastore)
        recorder = ChainedSQLiteRecorder(datastore)
        recorder.create_table()
        return recorder

    def another_process(self, recorder: Recorder) -> Recorder:
        """A recorder with its own connections to the same store, as a second process has."""
        datastore = SQLiteDatastore(self.db_name)
        self._datastores.append(datastore)
        return ChainedSQLiteRecorder(datastore, recorder.events_table_name)

    @contextmanager
    def writer_holding_the_lock(self, recorder: Recorder, appended: StoredEvent) -> Iterator[None]:
        """Another process in the middle of a write: lock taken, event appended, not committed."""
        conn = sqlite3.connect(self.db_name, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            e, table = appended, recorder.events_table_name
            head = conn.execute(f"SELECT position, chain_hash FROM {table} ORDER BY rowid DESC LIMIT 1").fetchone()  # noqa: S608
            position, previous = head or (-1, GENESIS)
            conn.execute(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state, position, chain_hash) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?)",
                (e.originator_id.hex, e.originator_version, e.topic, e.state, position + 1,
                 link(previous, event_leaf(e.originator_id, e.originator_version, e.topic, e.state))))
            yield
            conn.execute("COMMIT")
        finally:
            conn.close()


class _SQLiteInMemory(_SQLiteFile):
    """The library's in-memory mode: a named, shared-cache database of its own per test."""

    def setUp(self) -> None:
        super().setUp()
        self.db_name = f"file:recorder-contract-{uuid.uuid4().hex}?mode=memory&cache=shared"


class _PostgresSchema(_TestCase):
    """A schema and an events table of its own on the shared ``test`` database, dropped after."""

    def setUp(self) -> None:
        super().setUp()
        self.url = require_postgres()
        suffix = uuid.uuid4().hex[:12]
        self.schema = f"recorder_contract_{suffix}"
        # Unique too, because NOTIFY channels are named after the table, not the schema.
        self.table = f"events_{suffix}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(self.schema)))
        self.addCleanup(self._drop_schema)
        self._datastores: list[PostgresDatastore] = []
        self.addCleanup(self._close_datastores)
        self.datastore = self._new_datastore()

    def _new_datastore(self) -> PostgresDatastore:
        params = conninfo_to_dict(self.url)
        datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "test")),
            host=str(params.get("host", "127.0.0.1")),
            port=str(params.get("port", "5432")),
            user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")),
            schema=self.schema,
            pool_size=1,
            max_overflow=12,  # the library's concurrency test runs 10 writers and 2 readers
        )
        self._datastores.append(datastore)
        return datastore

    def _close_datastores(self) -> None:
        for datastore in self._datastores:
            datastore.close()

    def _drop_schema(self) -> None:
        # Only ever the schema this test created; CASCADE takes its table, type and function.
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(self.schema)))

    def create_recorder(self) -> ChainedPostgresRecorder:
        recorder = ChainedPostgresRecorder(self.datastore, events_table_name=self.table)
        recorder.create_table()
        return recorder

    def another_process(self, recorder: Recorder) -> Recorder:
        return ChainedPostgresRecorder(self._new_datastore(), events_table_name=self.table)

    @contextmanager
    def writer_holding_the_lock(self, recorder: Recorder, appended: StoredEvent) -> Iterator[None]:
        table = SQL("{}.{}").format(Identifier(self.schema), Identifier(self.table))
        with psycopg.connect(self.url) as conn:  # commits when the block ends without error
            conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
            e = appended
            conn.execute(
                SQL("INSERT INTO {t} (originator_id, originator_version, topic, state, position, chain_hash) "
                    "SELECT %s, %s, %s, %s, COALESCE(max(position) + 1, 0), "
                    "sha256(COALESCE((SELECT chain_hash FROM {t} ORDER BY position DESC LIMIT 1), %s) || %s) "
                    "FROM {t}").format(t=table),
                (e.originator_id, e.originator_version, e.topic, e.state, GENESIS,
                 event_leaf(e.originator_id, e.originator_version, e.topic, e.state)),
            )
            yield


# --- the library's contract ---------------------------------------------------------------------


class TestChainedSQLiteRecorderKeepsTheLibraryContractOnAFile(
    _SQLiteFile, ApplicationRecorderTestCase[ChainedSQLiteRecorder]
):
    pass


class TestChainedSQLiteRecorderKeepsTheLibraryContractInMemory(
    _SQLiteInMemory, ApplicationRecorderTestCase[ChainedSQLiteRecorder]
):
    pass


@pytest.mark.postgres
class TestChainedPostgresRecorderKeepsTheLibraryContract(
    _PostgresSchema, ApplicationRecorderTestCase[ChainedPostgresRecorder]
):
    def test_insert_subscribe(self) -> None:
        # Optional in the library's test case; PostgreSQL supports subscriptions, so it applies.
        self.optional_test_insert_subscribe()


# --- the guard contract -------------------------------------------------------------------------


class _GuardContract(_TestCase):
    if TYPE_CHECKING:

        def create_recorder(self) -> Recorder: ...
        def another_process(self, recorder: Recorder) -> Recorder: ...
        def writer_holding_the_lock(self, recorder: Recorder, appended: StoredEvent) -> Any: ...

    def record_at(self, recorder: Recorder, version: int) -> uuid.UUID:
        """A record with events up to ``version``."""
        record_id = uuid.uuid4()
        recorder.insert_events([event(record_id, v) for v in range(1, version + 1)])
        return record_id

    def assert_refused_and_nothing_written(
        self, recorder: Recorder, written: StoredEvent, guards: dict[uuid.UUID, int]
    ) -> IntegrityError:
        before = recorder.max_notification_id()
        with self.assertRaises(IntegrityError) as refused:
            recorder.insert_events([written], guards=guards)
        self.assertEqual(recorder.select_events(written.originator_id), [])
        self.assertEqual(recorder.max_notification_id(), before)
        return refused.exception

    def test_an_insert_guarded_at_the_current_version_is_recorded(self) -> None:
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 2)
        written = event(uuid.uuid4(), 1)

        ids = recorder.insert_events([written], guards={guarded: 2})

        self.assertEqual(recorder.select_events(written.originator_id), [written])
        self.assertEqual(ids, [recorder.max_notification_id()])

    def test_an_insert_guarded_at_a_stale_version_is_refused_and_writes_nothing(self) -> None:
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 3)
        written = event(uuid.uuid4(), 1)

        for stale in (2, 1, 0):
            refused = self.assert_refused_and_nothing_written(recorder, written, {guarded: stale})
            self.assertIn(str(guarded), str(refused), "the refusal names the record that moved on")

        # The refusal left nothing behind that blocks the next writer.
        recorder.insert_events([written], guards={guarded: 3})
        self.assertEqual(recorder.select_events(written.originator_id), [written])

    def test_a_guard_at_version_zero_on_a_record_without_events_passes(self) -> None:
        recorder = self.create_recorder()
        written = event(uuid.uuid4(), 1)

        recorder.insert_events([written], guards={uuid.uuid4(): 0})

        self.assertEqual(recorder.select_events(written.originator_id), [written])

    def test_a_guard_at_version_one_on_a_record_without_events_is_refused(self) -> None:
        recorder = self.create_recorder()
        self.record_at(recorder, 1)  # some other record, so the log is not empty
        self.assert_refused_and_nothing_written(recorder, event(uuid.uuid4(), 1), {uuid.uuid4(): 1})

    def test_a_guard_at_a_version_the_store_never_had_is_refused(self) -> None:
        # A decision on a version that was never recorded (say, of a save that failed) is no
        # better than one on a stale version.
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 2)
        self.assert_refused_and_nothing_written(recorder, event(uuid.uuid4(), 1), {guarded: 3})

    def test_several_guards_at_their_current_versions_let_the_insert_through(self) -> None:
        recorder = self.create_recorder()
        guards = {self.record_at(recorder, v): v for v in (1, 2, 3)} | {uuid.uuid4(): 0}
        written = [event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)]

        recorder.insert_events(written, guards=guards)

        for e in written:
            self.assertEqual(recorder.select_events(e.originator_id), [e])

    def test_one_stale_guard_among_several_refuses_the_whole_insert(self) -> None:
        recorder = self.create_recorder()
        current = {self.record_at(recorder, v): v for v in (1, 2, 3)}
        stale = self.record_at(recorder, 2)
        before = recorder.max_notification_id()
        written = [event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)]

        with self.assertRaises(IntegrityError) as refused:
            recorder.insert_events(written, guards={**current, stale: 1})

        self.assertIn(str(stale), str(refused.exception))
        for e in written:
            self.assertEqual(recorder.select_events(e.originator_id), [])
        self.assertEqual(recorder.max_notification_id(), before)

    def test_no_guards_and_empty_guards_insert_as_the_library_does(self) -> None:
        recorder = self.create_recorder()
        for guards in (None, {}):
            written = event(uuid.uuid4(), 1)
            recorder.insert_events([written], guards=guards)
            self.assertEqual(recorder.select_events(written.originator_id), [written])

    def test_a_write_by_another_process_after_the_read_refuses_the_guarded_insert(self) -> None:
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 1)
        (read,) = recorder.select_events(guarded, desc=True, limit=1)

        self.another_process(recorder).insert_events([event(guarded, read.originator_version + 1)])

        written = event(uuid.uuid4(), 1)
        self.assert_refused_and_nothing_written(recorder, written, {guarded: read.originator_version})

    def run_against_a_writer_holding_the_lock(
        self, recorder: Recorder, appended: StoredEvent, written: StoredEvent, guards: dict[uuid.UUID, int]
    ) -> Future[Any]:
        """Start the guarded insert while another process holds the log's write lock with
        ``appended`` not yet committed; check the insert waits for it; return its outcome."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            with self.writer_holding_the_lock(recorder, appended):
                insert = pool.submit(recorder.insert_events, [written], guards=guards)
                done, _ = wait([insert], timeout=BLOCKED_FOR)
                if done:
                    self.fail(
                        "the guarded insert did not wait for the writer holding the lock; it ended with "
                        f"{insert.exception()!r}"
                    )
            wait([insert], timeout=PROMPTLY)
            self.assertTrue(insert.done(), "the guarded insert still waits after the other writer committed")
        return insert

    def test_the_guard_is_checked_under_the_write_lock(self) -> None:
        # Another process appends to the guarded record and is about to commit when the guarded
        # insert starts: the check must see that append (wait for the lock, then refuse), never
        # pass on the state before it.
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 1)
        written = event(uuid.uuid4(), 1)

        appended = event(guarded, 2)
        insert = self.run_against_a_writer_holding_the_lock(recorder, appended, written, {guarded: 1})

        self.assertIsInstance(insert.exception(), IntegrityError)
        self.assertEqual(recorder.select_events(written.originator_id), [])
        self.assertEqual([e.originator_version for e in recorder.select_events(guarded)], [1, 2])

    def test_a_guarded_insert_waits_for_a_writer_of_another_record_and_then_succeeds(self) -> None:
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 1)
        unrelated = event(uuid.uuid4(), 1)
        written = event(uuid.uuid4(), 1)

        insert = self.run_against_a_writer_holding_the_lock(recorder, unrelated, written, {guarded: 1})

        self.assertIsNone(insert.exception())
        self.assertEqual(recorder.select_events(written.originator_id), [written])
        # Serialised by the lock: the other writer's event comes first in the log.
        order = [n.originator_id for n in recorder.select_notifications(start=None, limit=10)]
        self.assertLess(order.index(unrelated.originator_id), order.index(written.originator_id))


# --- the chain contract ---------------------------------------------------------------------------


class _ChainContract(_TestCase):
    if TYPE_CHECKING:

        def create_recorder(self) -> Recorder: ...
        def another_process(self, recorder: Recorder) -> Recorder: ...

    def assert_chain_whole(self, recorder: Recorder) -> int:
        """Every row at the next position, linked to the row before; the number of rows."""
        rows = recorder.select_notifications(start=None, limit=100_000)
        stored = _positions_and_links(recorder)
        expected = list(chain_rows((n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in rows))
        self.assertEqual(stored, [(position, chain_hash) for _, position, chain_hash in expected])
        return len(rows)

    def test_the_chain_stays_whole_when_processes_write_in_turn_and_a_refused_insert_rolls_back(self) -> None:
        # Each recorder remembers the head it wrote; another process's writes and a rolled-back
        # insert of its own make that memory stale, and the next insert must notice.
        mine = self.create_recorder()
        theirs = self.another_process(mine)
        guarded = uuid.uuid4()
        mine.insert_events([event(guarded, 1)])
        for round_ in range(6):
            mine.insert_events([event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)])
            with self.assertRaises(IntegrityError):  # refused by the guard, before any row
                mine.insert_events([event(uuid.uuid4(), 1)], guards={guarded: 7})
            with self.assertRaises(IntegrityError):  # refused after its first row went in: rolled back
                mine.insert_events([event(uuid.uuid4(), 1), event(guarded, 1)])
            theirs.insert_events([event(uuid.uuid4(), 1)])
            if round_ % 2:
                mine.insert_events([event(uuid.uuid4(), 1)])
        self.assertEqual(self.assert_chain_whole(mine), 1 + 6 * 3 + 3)


def _positions_and_links(recorder: Recorder) -> list[tuple[int, bytes]]:
    table = recorder.events_table_name
    if isinstance(recorder, ChainedSQLiteRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position, chain_hash FROM {table} ORDER BY rowid")  # noqa: S608
            return [(int(r[0]), bytes(r[1])) for r in c.fetchall()]
    with recorder.datastore.get_connection() as conn:
        rows = conn.execute(SQL("SELECT position, chain_hash FROM {}.{} ORDER BY notification_id").format(
            Identifier(recorder.datastore.schema), Identifier(table))).fetchall()
        return [(int(r["position"]), bytes(r["chain_hash"])) for r in rows]


class TestTheChainOnSQLite(_SQLiteFile, _ChainContract, unittest.TestCase):
    pass


@pytest.mark.postgres
class TestTheChainOnPostgreSQL(_PostgresSchema, _ChainContract, unittest.TestCase):
    pass


class TestTheGuardOnSQLite(_SQLiteFile, _GuardContract, unittest.TestCase):
    pass


@pytest.mark.postgres
class TestTheGuardOnPostgreSQL(_PostgresSchema, _GuardContract, unittest.TestCase):
    def test_a_refused_guard_never_leaves_the_connection_unable_to_insert(self) -> None:
        # psycopg prepares a statement on its sixth use; if that use is queued in a pipeline after
        # a guard that fails, the server never prepares it while psycopg believes it has, and every
        # later insert on that connection failed ("prepared statement ... does not exist"). So:
        # a refusal after every number of successful inserts, each time on a fresh connection.
        self.create_recorder()  # the table (creating it takes two connections)
        params = conninfo_to_dict(self.url)
        guarded = uuid.uuid4()
        for successes in range(9):
            one_connection = PostgresDatastore(
                dbname=str(params.get("dbname", "test")), host=str(params.get("host", "127.0.0.1")),
                port=str(params.get("port", "5432")), user=str(params.get("user", "postgres")),
                password=str(params.get("password", "")), schema=self.schema, pool_size=1, max_overflow=0)
            self._datastores.append(one_connection)
            recorder = ChainedPostgresRecorder(one_connection, events_table_name=self.table)
            if successes == 0:
                recorder.insert_events([event(guarded, 1)])
            for _ in range(successes):
                recorder.insert_events([event(uuid.uuid4(), 1)], guards={guarded: 1})
            with self.assertRaises(IntegrityError):
                recorder.insert_events([event(uuid.uuid4(), 1)], guards={guarded: 5})
            written = event(uuid.uuid4(), 1)
            recorder.insert_events([written], guards={guarded: 1})
            self.assertEqual(recorder.select_events(written.originator_id), [written], successes)

    def test_a_guarded_insert_wakes_subscribers(self) -> None:
        # The guarded path takes the lock and notifies itself rather than through the library.
        recorder = self.create_recorder()
        guarded = self.record_at(recorder, 1)
        start = recorder.max_notification_id()
        written = event(uuid.uuid4(), 1)

        with recorder.subscribe(gt=start) as subscription:
            recorder.insert_events([written], guards={guarded: 1})
            received = next(iter(subscription))

        self.assertEqual((received.originator_id, received.originator_version), (written.originator_id, 1))


# The library's abstract test case would otherwise be collected and fail for want of a recorder.
del ApplicationRecorderTestCase
