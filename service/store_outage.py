"""Riding out a database outage: answer at once that the store is unavailable, and take the work
up again as soon as PostgreSQL is back, in the same process.

psycopg_pool's defaults suit a server that never goes away. A caller waits ``timeout`` seconds for
a connection, and the library retries a failed statement ten times, so a request would hang for
ten timeouts (70-100 s measured); a connection that could not be made is retried on an exponential
back-off for five minutes, so a pool goes on failing for up to a minute after the server is back;
and connections broken by a restart stay in the pool until someone trips over them. ``watch``
adjusts one pool (the log's, through the library's datastore, and the views'):

* every new connection reports whether it could be made. While none can, a caller that finds no
  idle connection is refused at once with ``StoreUnavailable`` (which the library does not retry),
  except one caller every ``PROBE_EVERY`` seconds, who waits ``WAIT_WHILE_DOWN`` and so makes the
  pool try the server again; the first connection made ends it. Each change is logged once;
* a slot whose connection cannot be made is given up after ``RECONNECT_FOR`` seconds, so the pool
  grows again as soon as a caller waits, instead of on the back-off's schedule;
* a connection is checked before it is handed out, for the price of one ``poll()`` (no round
  trip): an idle connection whose socket has something to read may have been closed by the server
  (restarted, or the session ended): a peek at the first byte tells (the end of the stream, or an
  error or notice nobody asked for; a live connection loses nothing). If it is dead, the
  pool is drained (every connection made before is replaced, none pinged), because psycopg_pool
  pauses a second or more after each failed check and a pool full of dead connections would
  otherwise cost a caller its whole timeout. The library's ``POSTGRES_PRE_PING`` pings every
  checkout (a round trip per command) and still meets that pause once per dead connection.

A connection that breaks while in use still fails its statement: the library retries its own
statements, and anything else ends in a 503 (``STORE_ERRORS``) that the client may retry. The
pool's constructor is the library's, so the hooks are set on the pool it made: its
``connection_class``, ``timeout`` and ``reconnect_timeout`` attributes, its ``check`` callback and,
on the instance, ``getconn`` (which ``pool.connection()`` calls).
"""

from __future__ import annotations

import logging
import select
import socket
import sqlite3
import threading
import time
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from psycopg_pool import ConnectionPool

log = logging.getLogger("realty.store")


class StoreUnavailable(PersistenceError):
    """No connection can be made to the database now; refused without waiting for one.

    Not an ``OperationalError``: the library retries those ten times, which is what this avoids."""


# Errors that mean "the store cannot do this now" rather than "this request is wrong": the server
# is away, a connection broke, no connection came free in time, a lock or statement timed out.
# (psycopg_pool's PoolTimeout is a psycopg.OperationalError; the library translates psycopg's
# errors into its own.) The HTTP layer answers them 503 with Retry-After.
STORE_ERRORS: tuple[type[Exception], ...] = (StoreUnavailable, OperationalError, InterfaceError,
                                              psycopg.OperationalError, psycopg.InterfaceError,
                                              sqlite3.OperationalError)
RETRY_AFTER_SECONDS = 2

# SQLite's result codes that mean "not now" (another writer, a full or failing disk) rather than a
# mistake in the statement: "no such table" is an sqlite3.OperationalError too, and a defect.
_SQLITE_NOT_NOW = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL")


def is_outage(error: BaseException) -> bool:
    """Whether an error of ``STORE_ERRORS`` means the store cannot do this now (503, retry) rather
    than a defect (500): the library wraps SQLite's errors, so its cause decides."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, sqlite3.Error | psycopg.Error):
        cause = cause.__cause__
    if isinstance(cause, sqlite3.Error):
        name = getattr(cause, "sqlite_errorname", "")
        return isinstance(cause, sqlite3.OperationalError) and name.startswith(_SQLITE_NOT_NOW)
    return isinstance(error, STORE_ERRORS)

PROBE_EVERY = 0.5  # seconds between the callers let through to try the server while it is down
WAIT_WHILE_DOWN = 0.25  # seconds such a caller waits for a connection
RECONNECT_FOR = 2.0  # seconds a pool keeps retrying one failed connection before it gives the slot up


def describe(error: BaseException) -> str:
    """An error in one line for a log: its class and the first line of its message (connection
    errors name the server and the reason; no stored value is ever in the clear to appear here)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


class PoolWatch:
    """The reachability of one pool's server, as its connection attempts find it."""

    def __init__(self, pool: ConnectionPool[Any], name: str, wait: float, *, ping_always: bool = False) -> None:
        self.pool, self.name, self.wait, self.ping_always = pool, name, wait, ping_always
        self.down = False
        self._next_probe = 0.0
        self._lock = threading.Lock()

    def connected(self) -> None:
        with self._lock:
            was_down, self.down = self.down, False
        if was_down:
            log.warning("%s: the database answers again", self.name)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_down, self.down = self.down, True
        if not was_down:
            log.warning("%s: no connection to the database (%s); requests get 503 until it is back",
                        self.name, describe(error))

    def timeout_for(self, asked: float | None) -> float | None:
        """How long this caller may wait for a connection: as asked while the server answers;
        while it does not, briefly if it is this moment's probe or an idle connection is there
        (it may be dead: the check finds out), else not at all (``StoreUnavailable``)."""
        if not self.down:
            return asked
        with self._lock:
            probe = time.monotonic() >= self._next_probe
            if probe:
                self._next_probe = time.monotonic() + PROBE_EVERY
        if probe or self.pool.get_stats().get("pool_available", 0):
            return min(asked if asked is not None else self.wait, WAIT_WHILE_DOWN)
        raise StoreUnavailable(f"{self.name}: no connection to the database can be made now")

    def check(self, conn: psycopg.Connection[Any]) -> None:
        """psycopg_pool's ``check`` callback: is this idle connection still open at the server's end?
        (With ``ping_always``, the ``pool_pre_ping`` setting, a round trip says so for every one.)"""
        try:
            if self.ping_always:
                ConnectionPool.check_connection(conn)
            elif _closed_by_server(conn):
                raise psycopg.OperationalError("the server has closed this connection")
        except Exception:
            # The server has restarted (or gone): every connection made before is as dead. Replaced
            # all at once, without a round trip each, the next caller need not wait for them.
            self.pool.drain()
            raise


def _closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """Has the server closed this idle connection? Then its socket holds the end of the stream, or
    the server's goodbye (an ErrorResponse or NoticeResponse no request asked for). The socket is
    only peeked at: anything else there (a message the connection still expects) stays for it."""
    if conn.closed:
        return True
    fd = conn.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    if not poller.poll(0):
        return False
    peek = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)  # a duplicate descriptor: closing it is safe
    try:
        first = peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        peek.close()
    return first in (b"", b"E", b"N")


def watch(pool: ConnectionPool[Any], name: str, *, wait: float, ping_always: bool = False) -> PoolWatch:
    """Set ``pool`` up to ride out outages (see the module's docstring); ``wait`` is the timeout
    callers wait for a connection while the server answers."""
    watcher = PoolWatch(pool, name, wait, ping_always=ping_always)
    base = pool.connection_class

    class ReportingConnection(base):  # type: ignore[valid-type, misc]
        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                conn = super().connect(*args, **kwargs)
            except psycopg.Error as error:
                watcher.failed(error)
                raise
            watcher.connected()
            return conn

    getconn = pool.getconn

    def getconn_unless_down(timeout: float | None = None) -> Any:
        return getconn(watcher.timeout_for(timeout))

    pool.connection_class = ReportingConnection
    pool.getconn = getconn_unless_down  # type: ignore[method-assign]
    pool.timeout = wait
    pool.reconnect_timeout = RECONNECT_FOR
    pool._check = watcher.check  # noqa: SLF001 - the constructor's ``check``; the library builds the pool
    if isinstance(pool.kwargs, dict):
        # A server that does not answer at all (a dead host, not a refused port) fails a connection
        # attempt in this time rather than libpq's default of over two minutes.
        pool.kwargs["connect_timeout"] = max(2, round(wait))
    return watcher
