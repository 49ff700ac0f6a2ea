"""Application recorders that check, inside the write transaction, what a command read.

A command decides on the state of records it reads but does not write: the acting staff member
(still active?), the listing it shows (withdrawn?), the colleague it escalates to. The library
only guards the records it writes (by their version numbers). These recorders accept
``guards={record_id: version_read}`` and refuse the whole insert with an ``IntegrityError`` —
the same error as a lost race on a written record — if any guarded record has a newer event
(on SQLite a ``RecordMovedOn`` that names it; on PostgreSQL the unique violation itself).
The check runs after the log's write lock is taken (PostgreSQL's table lock, SQLite's single
writer), so nothing can slip in between the check and the commit.

This lets the application read from a process-local cache without giving up correctness: stale
reads can only cost a retry, never a decision on outdated facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

Guards = Mapping[uuid.UUID, int]


class RecordMovedOn(IntegrityError):
    """A record the command read has an event newer than the version it read."""


def _check(latest: Mapping[uuid.UUID, int], guards: Guards) -> None:
    for record_id, version in guards.items():
        if latest.get(record_id, 0) != version:
            msg = f"record {record_id} changed after it was read at version {version}"
            raise RecordMovedOn(msg)


class GuardedPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # Copies the event that follows each guarded version back into the table. If a record has
        # moved on, that event exists and its copy violates the primary key: the statement fails
        # with the same unique violation as a lost race on a written record, and the transaction
        # is rolled back. If nothing moved on, it copies nothing. Unlike a SELECT whose result we
        # would inspect, it needs no extra round trip inside the insert's pipeline.
        copy_next = (
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {schema}.{table} e "
        )
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
            "id_type": Identifier(datastore.originator_id_type),
        }
        # Most commands guard one record (the acting staff member): scalar parameters plan faster.
        self.guard_one_statement = SQL(
            copy_next + "WHERE e.originator_id = %s AND e.originator_version = %s"
        ).format(**names)
        self.guard_many_statement = SQL(
            copy_next + "JOIN unnest(%s::{id_type}[], %s::bigint[]) AS g(id, next_version) "
            "ON e.originator_id = g.id AND e.originator_version = g.next_version"
        ).format(**names)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        guards: Guards | None = kwargs.get("guards")
        if not guards:
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        # As the library does (lock, notify, insert), with the guard checked under the lock.
        self._lock_table(curs)
        if len(guards) == 1:
            ((record_id, version),) = guards.items()
            curs.execute(self.guard_one_statement, (record_id, version + 1), prepare=True)
        else:
            ids = list(guards)
            curs.execute(self.guard_many_statement, (ids, [guards[i] + 1 for i in ids]), prepare=True)
        self._notify_channel(curs)
        PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)


class GuardedSQLiteRecorder(SQLiteApplicationRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        guards: Guards | None = kwargs.get("guards")
        if guards:
            # Inside the writer's transaction: SQLite has a single writer, so this is exact.
            latest: dict[uuid.UUID, int] = {}
            for record_id in guards:
                c.execute(
                    f"SELECT MAX(originator_version) FROM {self.events_table_name} "  # noqa: S608
                    "WHERE originator_id = ?",
                    (record_id.hex,),
                )
                row = c.fetchone()
                if row and row[0] is not None:
                    latest[record_id] = int(row[0])
            _check(latest, guards)
        return super()._insert_events(c, stored_events, **kwargs)
