"""Reading the event log in batches, in commit order, for the projections.

The log's order is the library's notification id (SQLite's rowid): every insert into the log
holds its write lock (PostgreSQL's table lock, SQLite's single writer), so ids become visible in
the order they were committed and a reader that has seen id N has seen every id below it. Ids may
have gaps on PostgreSQL (a refused insert still uses its sequence numbers); the chain ``position``
next to each row never does, so lags are counted in positions.

A batch is up to ``size`` rows of the topics the views follow, after a position and up to the
head read in the same snapshot. A full batch has looked as far as its last row; a short one as far
as the head. So a view's position moves on past the events it does not care about, and a view that
follows few topics is not charged a batch's fixed cost for every stretch of other events.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from projections.store import ThreadConnections


@dataclass(frozen=True, slots=True)
class LogRow:
    id: int  # notification id: the log position callers see
    position: int  # 0-based chain position (Merkle leaf index)
    originator_id: uuid.UUID
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class Head:
    id: int  # 0 for an empty log
    position: int  # -1 for an empty log


@dataclass(frozen=True)
class Window:
    rows: list[LogRow]
    upto: int  # every id up to here has been looked at
    upto_position: int  # the chain position of the last row at or below ``upto``


EMPTY = Head(0, -1)


class EventLog:
    """The event table, read-only."""

    def read(self, after: int, size: int, topics: Iterable[str] | None = None) -> Window:  # pragma: no cover
        raise NotImplementedError

    def head(self) -> Head:  # pragma: no cover
        raise NotImplementedError

    def wait(self, timeout: float) -> None:
        """Return when the log may have grown, or after ``timeout`` seconds."""
        threading.Event().wait(timeout)

    def close(self) -> None:  # pragma: no cover
        raise NotImplementedError


class SQLiteEventLog(EventLog):
    def __init__(self, path: Path, table: str = "stored_events") -> None:
        self.path = Path(path)
        self.table = table
        self._connections = ThreadConnections(lambda: sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False))

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def _head(self, cursor: sqlite3.Cursor) -> Head:
        row = cursor.execute(
            f"SELECT rowid, position FROM {self.table} ORDER BY rowid DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        return Head(row[0], row[1]) if row else EMPTY

    def head(self) -> Head:
        return self._head(self._conn().cursor())

    def read(self, after: int, size: int, topics: Iterable[str] | None = None) -> Window:
        conn = self._conn()
        cursor = conn.cursor()
        cursor.execute("BEGIN")  # one snapshot for the head and the rows
        try:
            head = self._head(cursor)
            if head.id <= after:
                return Window([], after, -1)
            params: list[Any] = [after, head.id]
            where = ""
            if topics is not None:
                topic_list = sorted(topics)
                where = f" AND topic IN ({','.join('?' * len(topic_list))})"
                params.extend(topic_list)
            cursor.execute(
                f"SELECT rowid, position, originator_id, originator_version, topic, state "  # noqa: S608
                f"FROM {self.table} WHERE rowid > ? AND rowid <= ?{where} ORDER BY rowid LIMIT ?", [*params, size])
            rows = [LogRow(r[0], r[1], uuid.UUID(r[2]), r[3], r[4], r[5]) for r in cursor.fetchall()]
            return window(rows, size, head)
        finally:
            conn.rollback()

    def close(self) -> None:
        self._connections.close()


class PostgresEventLog(EventLog):
    def __init__(self, conninfo: str, table: str = "realty_events", schema: str = "public",
                 channel: str | None = None) -> None:
        self.conninfo = conninfo
        self._table = SQL("{}.{}").format(Identifier(schema), Identifier(table))
        self._channel = channel or table
        self._conn: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, row_factory=tuple_row)
        return self._conn

    def head(self) -> Head:
        with self._lock:
            row = self._connection().execute(
                SQL("SELECT notification_id, position FROM {} ORDER BY notification_id DESC LIMIT 1")
                .format(self._table)).fetchone()
        return Head(row[0], row[1]) if row else EMPTY

    def read(self, after: int, size: int, topics: Iterable[str] | None = None) -> Window:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor(binary=True) as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                head_row = cursor.execute(
                    SQL("SELECT notification_id, position FROM {} ORDER BY notification_id DESC LIMIT 1")
                    .format(self._table)).fetchone()
                head = Head(head_row[0], head_row[1]) if head_row else EMPTY
                if head.id <= after:
                    return Window([], after, -1)
                where = SQL("")
                params: list[Any] = [after, head.id]
                if topics is not None:
                    where = SQL(" AND topic = ANY(%s)")
                    params.append(sorted(topics))
                cursor.execute(SQL(
                    "SELECT notification_id, position, originator_id, originator_version, topic, state "
                    "FROM {} WHERE notification_id > %s AND notification_id <= %s{} ORDER BY notification_id LIMIT %s"
                ).format(self._table, where), [*params, size])
                return window([LogRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in cursor.fetchall()],
                              size, head)

    def wait(self, timeout: float) -> None:
        """Sleep until the log's NOTIFY (sent by every insert) or the timeout."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = psycopg.connect(self.conninfo, autocommit=True)
                self._listener.execute(SQL("LISTEN {}").format(Identifier(self._channel)))
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.Error:
            # The listener is only a wake-up: on a broken connection fall back to the poll.
            if self._listener is not None:
                self._listener.close()
            self._listener = None
            threading.Event().wait(timeout)

    def close(self) -> None:
        for conn in (self._conn, self._listener):
            if conn is not None:
                conn.close()
        self._conn = self._listener = None


def window(rows: list[LogRow], size: int, head: Head) -> Window:
    """A full page ends at its last row; a short one has looked at everything up to the head."""
    if len(rows) == size:
        return Window(rows, rows[-1].id, rows[-1].position)
    return Window(rows, head.id, head.position)


def rows_after(rows: Sequence[LogRow], after: int) -> Sequence[LogRow]:
    """The rows of a batch past ``after`` (rows are in id order)."""
    if not rows or rows[0].id > after:
        return rows
    lo, hi = 0, len(rows)
    while lo < hi:
        mid = (lo + hi) // 2
        if rows[mid].id <= after:
            lo = mid + 1
        else:
            hi = mid
    return rows[lo:]
