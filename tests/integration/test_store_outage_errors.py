"""Which store errors are an outage (503, retry later) and which are a defect (500): SQLite reports
a busy database and a missing table with the same exception class, and the library wraps both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from eventsourcing.persistence import OperationalError

from service.store_outage import StoreUnavailable, is_outage


def sqlite_error(statement: str) -> sqlite3.OperationalError:
    first = sqlite3.connect(":memory:")
    try:
        first.execute(statement)
    except sqlite3.OperationalError as error:
        return error
    finally:
        first.close()
    raise AssertionError("the statement did not fail")


def wrapped(error: BaseException) -> OperationalError:
    try:
        raise OperationalError(error) from error
    except OperationalError as outer:
        return outer


def test_a_missing_table_is_a_defect_not_an_outage_even_wrapped_by_the_library() -> None:
    missing = sqlite_error("SELECT * FROM no_such_table")
    assert getattr(missing, "sqlite_errorname", "") == "SQLITE_ERROR"
    assert not is_outage(missing)
    assert not is_outage(wrapped(missing))


def test_a_busy_sqlite_database_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            busy = error
        else:
            raise AssertionError("the second writer was let in")
    finally:
        other.close()
        holder.close()
    assert getattr(busy, "sqlite_errorname", "") == "SQLITE_BUSY"
    assert is_outage(busy) and is_outage(wrapped(busy))


def test_postgresql_connection_failures_and_our_own_refusal_are_outages() -> None:
    assert is_outage(StoreUnavailable("no connection can be made"))
    assert is_outage(psycopg.OperationalError("connection refused"))
    assert is_outage(wrapped(psycopg.OperationalError("server closed the connection unexpectedly")))
    assert is_outage(OperationalError("couldn't get a connection after 5.00 sec"))
