"""Application recorders that check, inside the write transaction, what a command read.

A command decides on the state of records it reads but does not write: the acting staff member
(still active?), the listing it shows (withdrawn?), the colleague it escalates to. The library
only guards the records it writes (by their version numbers). These recorders accept
``guards={record_id: version_read}`` and refuse the whole insert with an ``IntegrityError`` —
the same error as a lost race on a written record — if any guarded record has a newer event.
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
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
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
        self.select_latest_versions_statement = SQL(
            "SELECT originator_id, MAX(originator_version) AS version FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(schema=Identifier(datastore.schema), table=Identifier(events_table_name))

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        guards: Guards | None = kwargs.get("guards")
        if guards:
            self._lock_table(curs)  # taken again by the insert below; a no-op the second time
            curs.execute(self.select_latest_versions_statement, (list(guards),), prepare=True)
            # Fetching in pipeline mode waits for this statement's result: one extra round trip,
            # paid only by commands that read records they do not write.
            latest = {row["originator_id"]: row["version"] for row in curs.fetchall()}
            _check(latest, guards)
        super()._insert_stored_events(curs, stored_events, **kwargs)


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
