"""Application recorders that check, inside the write transaction, what a command read.

A command decides on the state of records it reads but does not write: the acting staff member
(still active?), the listing it shows (withdrawn?), the colleague it escalates to. The library
only guards the records it writes (by their version numbers). These recorders accept
``guards={record_id: version_read}`` and refuse the whole insert with an ``IntegrityError`` —
the same error as a lost race on a written record — if any guarded record is not at the version
read: it has a newer event, or never had that version (on SQLite a ``RecordMovedOn`` that names
it; on PostgreSQL the constraint violation itself, which names it too). The check runs after the
log's write lock is taken (PostgreSQL's table lock, SQLite's single writer), so nothing can slip
in between the check and the commit.

This lets the application read from a process-local cache without giving up correctness: stale
reads can only cost a retry, never a decision on outdated facts.

They also accept ``mark=RowMark(...)``: "also update this one row of another table, in the same
transaction, or record nothing". The service uses it to note on a request's Idempotency-Key claim
that its command was recorded, in the very transaction that records it (``service.idempotency``);
if the row is not there any more as named, the insert fails with ``RowMissing``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor, errors
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

Guards = Mapping[uuid.UUID, int]

# PostgreSQL advisory lock that serialises schema creation across processes ("realty" in ASCII).
SCHEMA_LOCK = 0x7265616C7479


class RecordMovedOn(IntegrityError):
    """A record the command read has an event newer than the version it read."""


class RowMissing(IntegrityError):
    """The row a ``RowMark`` names is not there (any more): nothing of the insert was recorded."""


@dataclass(frozen=True)
class RowMark:
    """One row of another table (same database and schema) to update in the events' transaction,
    after the events: ``UPDATE table SET values... WHERE where...``, which must match a row.

    ``position_column``, if given, is also set to the notification id of the last event inserted.
    The first ``where`` column must be NOT NULL: on PostgreSQL a missed row makes the statement
    insert a NULL there, so the failure surfaces in the insert's pipeline without a round trip.
    Table and column names come from code, never from input.
    """

    table: str
    where: Mapping[str, Any]
    values: Mapping[str, Any]
    position_column: str | None = None

    def missing(self) -> RowMissing:
        return RowMissing(f"no row of {self.table} where {', '.join(self.where)} as given")


class GuardedPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # Copies the event that follows each guarded version back into the table. If a record has
        # moved on, that event exists and its copy violates the primary key: the statement fails
        # with the same unique violation as a lost race on a written record, and the transaction
        # is rolled back. If a guarded version was never recorded (a read of a save that failed,
        # say), it inserts a row without a version, which violates the not-null constraint: so a
        # guard passes only at the version the store holds, as on SQLite. Otherwise it copies
        # nothing. Unlike a SELECT whose result we would inspect, it needs no extra round trip
        # inside the insert's pipeline.
        copy_next = (
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT g.id, e.originator_version, "
            "COALESCE(e.topic, 'guarded version ' || g.version || ' was never recorded'), e.state "
            "FROM {guards} LEFT JOIN {schema}.{table} e "
            "ON e.originator_id = g.id AND e.originator_version = g.version + 1 "
            "WHERE e.originator_id IS NOT NULL OR (g.version > 0 AND NOT EXISTS (SELECT FROM {schema}.{table} r "
            "WHERE r.originator_id = g.id AND r.originator_version = g.version))"
        )
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
        }
        id_type = Identifier(datastore.originator_id_type)
        # Most commands guard one record (the acting staff member): scalar parameters plan faster.
        self.guard_one_statement = SQL(copy_next).format(
            guards=SQL("(SELECT %s::{}, %s::bigint) AS g(id, version)").format(id_type), **names
        )
        self.guard_many_statement = SQL(copy_next).format(
            guards=SQL("unnest(%s::{}[], %s::bigint[]) AS g(id, version)").format(id_type), **names
        )

    def create_table(self) -> None:
        # Processes starting together (API workers, test workers) would otherwise race on the
        # library's CREATE OR REPLACE FUNCTION and CREATE TYPE ("tuple concurrently updated").
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        mark: RowMark | None = kwargs.get("mark")
        try:
            return super().insert_events(stored_events, **kwargs)
        except IntegrityError as error:
            cause = error.__cause__
            if (mark is not None and isinstance(cause, errors.NotNullViolation)
                    and cause.diag.table_name == mark.table):
                raise mark.missing() from None
            raise

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        guards: Guards | None = kwargs.get("guards")
        if not guards:
            super()._insert_stored_events(curs, stored_events, **kwargs)
        else:
            # As the library does (lock, notify, insert), with the guard checked under the lock.
            self._lock_table(curs)
            self._check_guards(curs, guards)
            self._notify_channel(curs)
            PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)
        self._mark_row(curs, kwargs.get("mark"))

    def _mark_row(self, curs: Cursor[DictRow], mark: RowMark | None) -> None:
        """Queue the mark's UPDATE after the insert (pipelined: a missed row fails at the insert's
        sync). On a cursor of its own: the insert's cursor must keep the insert's notification ids,
        which the library fetches after the sync."""
        if mark is None:
            return
        names = list(mark.values)
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(mark.table))
        sets = [SQL("{} = %s").format(Identifier(name)) for name in names]
        if mark.position_column is not None:
            sets.append(SQL("{} = (SELECT MAX(notification_id) FROM {}.{})").format(
                Identifier(mark.position_column), Identifier(self.datastore.schema),
                Identifier(self.events_table_name)))
        statement = SQL(
            "WITH marked AS (UPDATE {table} SET {sets} WHERE {where} RETURNING 1) "
            "INSERT INTO {table} ({first}) SELECT NULL WHERE NOT EXISTS (SELECT FROM marked)"
        ).format(table=table, sets=SQL(", ").join(sets), first=Identifier(next(iter(mark.where))),
                 where=SQL(" AND ").join(SQL("{} = %s").format(Identifier(n)) for n in mark.where))
        # Never prepared, as the NOTIFY: after an earlier statement of the pipeline failed (a lost
        # race), psycopg would take it for prepared when the server never saw it.
        curs.connection.cursor().execute(statement, [*mark.values.values(), *mark.where.values()], prepare=False)

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        # Never a prepared statement: it is queued in the insert's pipeline after the guard, and
        # psycopg (3.3) records a statement as prepared when it is first auto-prepared even if the
        # pipeline was aborted before the server saw it (a failed guard), after which every use on
        # that connection fails with "prepared statement ... does not exist".
        curs.execute(SQL("NOTIFY {0}").format(Identifier(self.channel_name)), prepare=False)

    def _check_guards(self, curs: Cursor[DictRow], guards: Guards | None) -> None:
        """Queue the guard statement (pipelined: a failure surfaces at the insert's sync)."""
        if not guards:
            return
        if len(guards) == 1:
            ((record_id, version),) = guards.items()
            curs.execute(self.guard_one_statement, (record_id, version), prepare=True)
        else:
            ids = list(guards)
            curs.execute(self.guard_many_statement, (ids, [guards[i] for i in ids]), prepare=True)


class GuardedSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.events_table_name
        # One statement per guarded record, in the spirit of the PostgreSQL recorder's: it copies
        # back the event that follows the guarded version (if the record has moved on, the copy
        # violates the primary key), or, if the guarded version was never recorded, inserts a row
        # whose rowid is text (SQLite's "datatype mismatch"); otherwise it inserts nothing. Either
        # failure is an IntegrityError, re-raised as a ``RecordMovedOn`` naming the record.
        #
        # Being an INSERT, it takes the write lock before it reads (waiting for it as any first
        # write does). The library begins transactions deferred, so a plain SELECT first would
        # read a snapshot that another process could commit past, and the insert would then fail
        # at once with "database is locked" instead of waiting and checking that commit.
        self.guard_statement = (
            f"INSERT INTO {table} (rowid, originator_id, originator_version, topic, state) "  # noqa: S608
            f"SELECT NULL, originator_id, originator_version, topic, state FROM {table} "
            "WHERE originator_id = :id AND originator_version = :version + 1 "
            "UNION ALL SELECT 'guarded version ' || :version || ' was never recorded', :id, :version, '', x'' "
            f"WHERE :version > 0 AND NOT EXISTS (SELECT 1 FROM {table} "
            "WHERE originator_id = :id AND originator_version = :version)"
        )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._check_guards(c, kwargs.get("guards"))
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            self._mark_row(c, kwargs.get("mark"), ids[-1])
        return ids

    @staticmethod
    def _mark_row(c: SQLiteCursor, mark: RowMark | None, last_id: int) -> None:
        """The mark's UPDATE, after the events (the write lock is ours): no row, nothing recorded."""
        if mark is None:
            return
        values = dict(mark.values)
        if mark.position_column is not None:
            values[mark.position_column] = last_id
        statement = (f'UPDATE "{mark.table}" SET ' + ", ".join(f'"{n}" = ?' for n in values)  # noqa: S608
                     + " WHERE " + " AND ".join(f'"{n}" = ?' for n in mark.where))
        cursor = c.sqlite_cursor
        cursor.execute(statement, (*values.values(), *mark.where.values()))
        if cursor.rowcount != 1:
            raise mark.missing()

    def _check_guards(self, c: SQLiteCursor, guards: Guards | None) -> None:
        for record_id, version in (guards or {}).items():
            try:
                c.execute(self.guard_statement, {"id": record_id.hex, "version": version})
            except sqlite3.IntegrityError:
                msg = f"record {record_id} changed after it was read at version {version}"
                raise RecordMovedOn(msg) from None
