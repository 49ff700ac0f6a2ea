"""The log's recorders: guarded (``archive.recorders``) and hash-chained (``archive.chain``).

Each stored event row carries two more columns: ``position``, its 0-based place in the log (the
Merkle leaf index; notification ids may have gaps, positions never do), and ``chain_hash``. Both
are computed by the database in the very statement that inserts the row, from the newest row in
the table, while the log's write lock is held (PostgreSQL's EXCLUSIVE table lock, SQLite's single
writer): no other insert can come between reading the head and writing after it, so the chain
follows exactly the commit order that readers of the log see.

Only the leaf hashes are computed in Python (they depend on nothing but the event). On SQLite the
link is a deterministic SQL function registered on the connection; PostgreSQL has ``sha256()``.

A store written before the chain existed is chained once, when it is opened (``create_table``): the
two columns are added and filled in log order, in one transaction under the write lock. Its rows
from before are then as protected as any later ones from that moment on, not from when they were
written; the audit guide says so.
"""

from __future__ import annotations

import sqlite3
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
from archive.recorders import GuardedPostgresRecorder, GuardedSQLiteRecorder, RecordMovedOn

__all__ = ["ChainedPostgresRecorder", "ChainedSQLiteRecorder", "RecordMovedOn"]


class ChainedSQLiteRecorder(GuardedSQLiteRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.events_table_name
        # An INSERT takes the write lock before it reads, so the head it reads is the newest row.
        self.insert_events_statement = (
            f"INSERT INTO {table} (originator_id, originator_version, topic, state, position, chain_hash) "  # noqa: S608
            "SELECT ?, ?, ?, ?, COALESCE(head.position + 1, 0), realty_link(COALESCE(head.chain_hash, ?), ?) "
            f"FROM (SELECT 1) LEFT JOIN (SELECT position, chain_hash FROM {table} ORDER BY rowid DESC LIMIT 1) "
            "AS head"
        )

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
        self._check_guards(c, kwargs.get("guards"))
        returning = []
        for s in stored_events:
            oid = s.originator_id
            params = (oid.hex if isinstance(oid, uuid.UUID) else oid, s.originator_version, s.topic, s.state,
                      GENESIS, event_leaf(oid, s.originator_version, s.topic, s.state))
            try:
                c.execute(self.insert_events_statement, params)
            except sqlite3.OperationalError as e:
                # A connection of the pool's that has not met the link function yet: the statement
                # failed while being prepared, before touching anything, so register and run it.
                if "realty_link" not in str(e):
                    raise
                c.sqlite_cursor.connection.create_function("realty_link", 2, link, deterministic=True)
                c.execute(self.insert_events_statement, params)
            returning.append(c.lastrowid)
        return returning


class ChainedPostgresRecorder(GuardedPostgresRecorder):
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
        if len(stored_events) == 1:
            (s,) = stored_events
            curs.execute(self.insert_one_statement, (
                s.originator_id, s.originator_version, s.topic, s.state, GENESIS,
                event_leaf(s.originator_id, s.originator_version, s.topic, s.state)), prepare=True)
            return
        leaves = [event_leaf(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events]
        rows = [self.construct_pg_stored_event(s.originator_id, s.originator_version, s.topic, s.state)
                for s in stored_events]
        curs.execute(self.insert_events_statement, (leaves, GENESIS, rows), prepare=True)
