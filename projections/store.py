"""Where the views live, and the lock that keeps one projection from running twice at once.

PostgreSQL: the views are tables in the log's own database (so internal services can read them
as SQL), reached through a small connection pool; a projection is owned by holding a session
advisory lock on a dedicated connection, which PostgreSQL releases when the process dies.

SQLite: the views live in a file of their own beside the log (``<store>-views.sqlite3``), so the
projector's batch writes never hold the log's write lock and never slow a command down; a
projection is owned by an exclusive ``flock`` on a lock file, which the kernel releases when the
process dies (kill -9 included).

Statements are written once with ``?`` placeholders; rows come back as tuples on both backends.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg_pool import ConnectionPool

Backend = Literal["sqlite", "postgres"]

# Generic column types, and what each backend calls them.
_TYPES = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "real": "REAL", "bool": "INTEGER"},
    "postgres": {"text": "TEXT", "int": "BIGINT", "real": "DOUBLE PRECISION", "bool": "BOOLEAN"},
}


class Cursor:
    """A cursor inside one transaction, taking ``?`` placeholders on both backends."""

    def __init__(self, backend: Backend, cursor: Any) -> None:
        self.backend = backend
        self._cursor = cursor

    def _sql(self, statement: str) -> str:
        return statement if self.backend == "sqlite" else statement.replace("?", "%s")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._sql(statement), params)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self._cursor.executemany(self._sql(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(statement), params)
        return list(self._cursor.fetchall())


class ThreadConnections:
    """One SQLite connection per thread (a connection must not serve two threads at once), all
    closed together."""

    def __init__(self, open_connection: Callable[[], sqlite3.Connection]) -> None:
        self._open = open_connection
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class Lease(Protocol):
    def release(self) -> None: ...


class ViewStore:
    """The views' database: transactions, one-off queries and projection leases."""

    backend: Backend

    def type(self, generic: str) -> str:
        return _TYPES[self.backend][generic]

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as cursor:
            return cursor.query(statement, params)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as cursor:
            cursor.execute(statement, params)

    def try_lease(self, name: str) -> Lease | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class SQLiteViewStore(ViewStore):
    backend: Backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadConnections(self._open)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the projector's writes
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        conn = self._connection()
        cursor = conn.cursor()
        # IMMEDIATE: a writer takes the lock before it reads, so two writers never deadlock on an
        # upgrade; plain reads go through here too and cost a brief lock only when nothing writes.
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield Cursor("sqlite", cursor)
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # A read outside any transaction: SQLite's WAL gives the statement one snapshot by itself.
        cursor = self._connection().cursor()
        try:
            cursor.execute(statement, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def try_lease(self, name: str) -> Lease | None:
        lock_path = self.path.with_name(f"{self.path.name}.{name}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return _FileLease(fd)

    def close(self) -> None:
        self._connections.close()


class _FileLease:
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class PostgresViewStore(ViewStore):
    backend: Backend = "postgres"

    def __init__(self, conninfo: str, *, max_size: int = 4) -> None:
        self.conninfo = conninfo
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=max_size, open=True,
                                    kwargs={"autocommit": True}, name="realty-views")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield Cursor("postgres", cursor)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn, conn.cursor() as cursor:
            return Cursor("postgres", cursor).query(statement, params)

    def try_lease(self, name: str) -> Lease | None:
        conn = psycopg.connect(self.conninfo, autocommit=True)
        key = lock_key(name)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not row or not row[0]:
            conn.close()
            return None
        return _SessionLease(conn, key)

    def close(self) -> None:
        self._pool.close()


class _SessionLease:
    def __init__(self, conn: psycopg.Connection[Any], key: int) -> None:
        self._conn: psycopg.Connection[Any] | None = conn
        self._key = key

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            # Unlock before closing: the server ends a closed session a moment later, and another
            # process asking for the lease in between would be refused for nothing.
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except psycopg.Error:
            pass  # the session is gone already, and its lock with it
        finally:
            self._conn.close()
            self._conn = None


def lock_key(name: str) -> int:
    """A stable 63-bit advisory-lock key for a projection's name."""
    digest = hashlib.sha256(f"realty-projection:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
