"""The log's recorders: guarded (``archive.recorders``) and hash-chained (``archive.chain``).

Each stored event row carries two more columns: ``position``, its 0-based place in the log (the
Merkle leaf index; notification ids may have gaps, positions never do), and ``chain_hash``. Both
are fixed in the very statement that inserts the row, against the newest row in the table, while
the log's write lock is held (PostgreSQL's EXCLUSIVE table lock, SQLite's single
writer): no other insert can come between reading the head and writing after it, so the chain
follows exactly the commit order that readers of the log see.

On PostgreSQL only the leaf hashes are computed in Python (they depend on nothing but the
event) and the links by ``sha256()`` in the statement. On SQLite the position and link are computed
in Python from the head this process remembers, and the statement inserts only if that head is
still the newest row (see ``ChainedSQLiteRecorder``).

A store written before the chain existed is chained once, when it is opened (``create_table``): the
two columns are added and filled in log order, in one transaction under the write lock. Its rows
from before are then as protected as any later ones from that moment on, not from when they were
written; the audit guide says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from archive.chain import GENESIS, chain_rows, event_leaf, link
from archive.data_keys import DataKeys
from archive.recorders import GuardedPostgresRecorder, GuardedSQLiteRecorder, RecordMovedOn

__all__ = ["ChainedPostgresRecorder", "ChainedSQLiteRecorder", "RecordMovedOn"]


class ChainedSQLiteRecorder(GuardedSQLiteRecorder):
    # Set by the application once its keyring is open (``archive.data_keys``).
    data_keys: DataKeys | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.events_table_name
        # The head (newest row) this process last wrote is remembered, and each insert carries its
        # position and link computed from it in Python, on the condition that the head is still
        # that row. An INSERT takes the write lock before it reads, so the condition is checked
        # against the newest row; if another process (or a rolled-back transaction of ours) has
        # made the memory wrong, nothing is inserted and the head is read under the lock instead.
        # Computing in Python rather than in an SQL function keeps the statement from needing the
        # GIL while it holds the database's write lock (under load, a convoy of waiting threads).
        self.insert_events_statement = (
            f"INSERT INTO {table} (originator_id, originator_version, topic, state, position, chain_hash) "  # noqa: S608
            f"SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT MAX(rowid) FROM {table}) IS ? "
            f"AND (SELECT chain_hash FROM {table} WHERE rowid = ?) IS ?"
        )
        # The usual command guards one record (its actor): that guard rides on the first insert as
        # two more conditions, so the write lock is held for one statement, not two. If the insert
        # does not happen, the guard is checked on its own (naming the record) before the head.
        self.insert_guarded_statement = self.insert_events_statement + (
            f" AND NOT EXISTS (SELECT 1 FROM {table} WHERE originator_id = ? AND originator_version = ?)"  # noqa: S608
            f" AND (? = 0 OR EXISTS (SELECT 1 FROM {table} WHERE originator_id = ? AND originator_version = ?))"
        )
        self.head_statement = f"SELECT rowid, position, chain_hash FROM {table} ORDER BY rowid DESC LIMIT 1"  # noqa: S608
        self._head: tuple[int | None, int, bytes | None] = (None, -1, None)  # rowid, position, chain hash

    def construct_create_table_statements(self) -> list[str]:
        table = self.events_table_name
        return [
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
            "position INTEGER NOT NULL, chain_hash BLOB NOT NULL, "
            "PRIMARY KEY (originator_id, originator_version))",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_position_idx ON {table} (position)",
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        table = self.events_table_name
        c.execute(f"SELECT name FROM pragma_table_info('{table}')")
        columns = {row[0] for row in c.fetchall()}
        if columns and "chain_hash" not in columns:  # written before the chain: chain it now
            c.execute(f"ALTER TABLE {table} ADD COLUMN position INTEGER")
            c.execute(f"ALTER TABLE {table} ADD COLUMN chain_hash BLOB")
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} ORDER BY rowid")
            c.executemany(f"UPDATE {table} SET position = ?, chain_hash = ? WHERE rowid = ?",  # noqa: S608
                          [(p, h, rowid) for rowid, p, h in chain_rows(tuple(r) for r in c.fetchall())])
        super()._create_table(c)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        keys = self.data_keys
        if keys is not None:  # the keys these events are sealed with, in the same transaction
            rows = keys.take_pending()
            if rows:
                c.executemany(keys.insert_sqlite, rows)
        guards = dict(kwargs.get("guards") or {})
        riding = next(iter(guards.items())) if len(guards) == 1 and stored_events else None
        if riding is None:
            self._check_guards(c, guards)
        cursor = c.sqlite_cursor
        rowid, position, previous = self._head
        returning = []
        for s in stored_events:
            oid = s.originator_id
            leaf = event_leaf(oid, s.originator_version, s.topic, s.state)
            row = (oid.hex if isinstance(oid, uuid.UUID) else oid, s.originator_version, s.topic, s.state)
            chain_hash = link(previous or GENESIS, leaf)
            if riding is not None:
                guarded, version = riding[0].hex, riding[1]
                cursor.execute(self.insert_guarded_statement, (*row, position + 1, chain_hash, rowid, rowid, previous,
                                                               guarded, version + 1, version, guarded, version))
            else:
                cursor.execute(self.insert_events_statement, (*row, position + 1, chain_hash, rowid, rowid, previous))
            if cursor.rowcount != 1 and riding is not None:
                self._check_guards(c, guards)  # the statement took the write lock: this names a moved record
            riding = None
            if cursor.rowcount != 1:  # the remembered head is not the newest row: read it (we hold the lock)
                rowid, position, previous = cursor.execute(self.head_statement).fetchone() or (None, -1, None)
                chain_hash = link(previous or GENESIS, leaf)
                cursor.execute(self.insert_events_statement, (*row, position + 1, chain_hash, rowid, rowid, previous))
                if cursor.rowcount != 1:  # pragma: no cover - the write lock is ours
                    raise RecordMovedOn("the log's head moved while the write lock was held")
            rowid, position, previous = cursor.lastrowid, position + 1, chain_hash
            returning.append(rowid)
        if returning:  # an Idempotency-Key claim, say (archive.recorders); nothing recorded, nothing marked
            self._mark_row(c, kwargs.get("mark"), rowid)
        self._head = (rowid, position, previous)  # if this transaction rolls back, the next insert finds out
        return returning


class ChainedPostgresRecorder(GuardedPostgresRecorder):
    data_keys: DataKeys | None = None

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema, table = Identifier(datastore.schema), Identifier(events_table_name)
        self.sql_create_statements[self.create_table_statement_index] = SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "originator_id {originator_id_type} NOT NULL, "
            "originator_version bigint NOT NULL, "
            "topic text, "
            "state bytea, "
            "notification_id bigserial, "
            "position bigint NOT NULL, "
            "chain_hash bytea NOT NULL, "
            "PRIMARY KEY (originator_id, originator_version))"
        ).format(schema=schema, table=table, originator_id_type=Identifier(datastore.originator_id_type))
        self.sql_create_statements.append(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {schema}.{table} (position)"
        ).format(index=Identifier(f"{events_table_name}_position_idx"), schema=schema, table=table))
        # The links of a batch are sequential (each hashes the one before), hence the recursion;
        # rows are inserted in batch order, so notification ids follow positions.
        self.insert_events_statement = SQL(
            "WITH RECURSIVE head AS ("
            "  SELECT position, chain_hash FROM {schema}.{table} ORDER BY notification_id DESC LIMIT 1), "
            "leaves AS (SELECT leaf, ord FROM unnest(%s::bytea[]) WITH ORDINALITY AS u(leaf, ord)), "
            "links(ord, position, chain_hash) AS ("
            "  SELECT 0::bigint, COALESCE((SELECT position FROM head), -1), "
            "         COALESCE((SELECT chain_hash FROM head), %s::bytea) "
            "  UNION ALL "
            "  SELECT l.ord, links.position + 1, sha256(links.chain_hash || l.leaf) "
            "  FROM links JOIN leaves l ON l.ord = links.ord + 1) "
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state, position, chain_hash) "
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, links.position, links.chain_hash "
            "FROM unnest(%s::{schema}.{stored_event_type}[]) WITH ORDINALITY "
            "  AS e(originator_id, originator_version, topic, state, ord) "
            "JOIN links ON links.ord = e.ord ORDER BY e.ord "
            "RETURNING notification_id"
        ).format(schema=schema, table=table, stored_event_type=Identifier(self.stored_event_type_name))
        # Most saves append one event: scalar parameters and no recursion plan a lot faster.
        self.insert_one_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state, position, chain_hash) "
            "SELECT %s, %s, %s, %s, COALESCE(head.position + 1, 0), sha256(COALESCE(head.chain_hash, %s) || %s) "
            "FROM (SELECT 1) AS one LEFT JOIN ("
            "  SELECT position, chain_hash FROM {schema}.{table} ORDER BY notification_id DESC LIMIT 1"
            ") AS head ON true "
            "RETURNING notification_id"
        ).format(schema=schema, table=table)

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        schema, table = self.datastore.schema, self.events_table_name
        curs.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                     (schema, table))
        columns = {row["column_name"] for row in curs.fetchall()}
        if columns and "chain_hash" not in columns:  # written before the chain: chain it now
            name = SQL("{}.{}").format(Identifier(schema), Identifier(table))
            curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(name))
            curs.execute(SQL("ALTER TABLE {} ADD COLUMN position bigint, ADD COLUMN chain_hash bytea").format(name))
            curs.execute(SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                             "ORDER BY notification_id").format(name))
            rows = [tuple(r.values()) for r in curs.fetchall()]
            curs.executemany(SQL("UPDATE {} SET position = %s, chain_hash = %s WHERE notification_id = %s").format(name),
                             [(p, h, nid) for nid, p, h in chain_rows(rows)])
            curs.execute(SQL("ALTER TABLE {} ALTER COLUMN position SET NOT NULL, "
                             "ALTER COLUMN chain_hash SET NOT NULL").format(name))
        super()._create_table(curs)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # As the library does (lock, notify, insert), with the guards checked under the lock.
        self._lock_table(curs)
        self._check_guards(curs, kwargs.get("guards"))
        self._notify_channel(curs)
        keys = self.data_keys
        if keys is not None:  # the keys these events are sealed with, in the same transaction
            rows = keys.take_pending()
            if rows:
                curs.executemany(keys.insert_postgres, rows)
        if len(stored_events) == 1:
            (s,) = stored_events
            curs.execute(self.insert_one_statement, (
                s.originator_id, s.originator_version, s.topic, s.state, GENESIS,
                event_leaf(s.originator_id, s.originator_version, s.topic, s.state)), prepare=True)
        else:
            leaves = [event_leaf(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events]
            rows = [self.construct_pg_stored_event(s.originator_id, s.originator_version, s.topic, s.state)
                    for s in stored_events]
            curs.execute(self.insert_events_statement, (leaves, GENESIS, rows), prepare=True)
        self._mark_row(curs, kwargs.get("mark"))  # an Idempotency-Key claim, say (archive.recorders)
