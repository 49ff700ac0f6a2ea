"""A few SQL statements on the log's own datastore, the same way on SQLite and PostgreSQL.

The archive keeps derived tables next to the events (Merkle nodes, checkpoints) in the same
database, through the connections the library's datastore already holds. Statements are written
with ``?`` placeholders and ``{name}`` table names; ``table`` qualifies a name with PostgreSQL's
schema. Rows come back as tuples on both backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from archive.recorders import SCHEMA_LOCK

Backend = Literal["sqlite", "postgres"]


class Database:
    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        if isinstance(datastore, SQLiteDatastore):
            self.backend: Backend = "sqlite"
        elif isinstance(datastore, PostgresDatastore):
            self.backend = "postgres"
        else:  # pragma: no cover - settings only ever build these two
            raise TypeError(f"no archive tables on a {type(datastore).__name__}")
        self.blob = "BLOB" if self.backend == "sqlite" else "BYTEA"
        # The column that orders the log (the library's notification id; SQLite's rowid).
        self.log_order = "rowid" if self.backend == "sqlite" else "notification_id"

    def table(self, name: str) -> str:
        if self.backend == "sqlite":
            return name
        return SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(name)).as_string(None)

    def _sql(self, statement: str) -> str:
        return statement if self.backend == "sqlite" else statement.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction (committed when the block ends without an error)."""
        if self.backend == "sqlite":
            with self.datastore.transaction(commit=True) as cursor:
                yield Cursor(self, _tuples(cursor))
        else:
            with (self.datastore.get_connection() as conn, conn.transaction(),
                  conn.cursor(row_factory=tuple_row) as cursor):
                yield Cursor(self, cursor)

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A read-only transaction: one consistent snapshot on both backends."""
        if self.backend == "sqlite":
            with self.datastore.transaction(commit=False) as cursor:
                yield Cursor(self, _tuples(cursor))
        else:
            with (self.datastore.get_connection() as conn, conn.transaction(),
                  conn.cursor(row_factory=tuple_row, binary=True) as cursor):
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield Cursor(self, cursor)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement's rows, as tuples. A single statement sees one snapshot by itself, so on
        PostgreSQL it runs without a transaction around it (a BEGIN, a SET and a COMMIT fewer);
        rows come in binary form (no hex decoding of ``bytea``)."""
        if self.backend == "sqlite":
            with self.datastore.transaction(commit=False) as cursor:
                return Cursor(self, _tuples(cursor)).query(statement, params)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as cursor:
            return Cursor(self, cursor).query(statement, params)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as cursor:
            cursor.execute(statement, params)

    def create(self, *statements: str) -> None:
        """Create tables/indexes; on PostgreSQL serialised with the recorders' schema creation."""
        with self.transaction() as cursor:
            if self.backend == "postgres":
                cursor.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for statement in statements:
                cursor.execute(statement)


class Cursor:
    def __init__(self, db: Database, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._db._sql(statement), params)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self._cursor.executemany(self._db._sql(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._db._sql(statement), params)
        return list(self._cursor.fetchall())


def _tuples(cursor: Any) -> Any:
    """The library's SQLite cursor, set to give plain tuples (its connections make ``Row`` objects)."""
    cursor.sqlite_cursor.row_factory = None
    return cursor.sqlite_cursor
