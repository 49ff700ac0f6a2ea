"""Logical, consistent backups of the ledger's tables, and their restore into an empty store.

What is backed up: every table the ledger owns that is not derived from the log for reading — the
event log (with its chain columns and its notification ids), the library's snapshots if that
table exists, the wrapped data keys and the keyring's metadata, the signed checkpoints, the
Merkle index, and the service's idempotency keys (passed in by the service, ``extra``). The views
and their tracking rows are not: they are derived, and the projector rebuilds them from the log,
from position zero, after a restore. What lies outside the database (the master keys, the signing
keys, the checkpoint journal, the shredding register, document blobs) is not in a backup either.

A backup reads everything in one transaction, so it is one snapshot of the store however long it
takes and whatever is written meanwhile: on PostgreSQL ``REPEATABLE READ, READ ONLY`` through
server-side cursors, on SQLite one read transaction (the write-ahead log keeps its snapshot).
A restore writes everything in one transaction too (PostgreSQL through ``COPY``), after the
PostgreSQL log's table lock, so an interrupted restore leaves the store as empty as it found it;
it keeps each event's notification id and moves PostgreSQL's sequence past the last one. In that
same transaction, before it commits, the shredding register is applied (``RegisterReplay``): the
keys it lists are destroyed again and the subjects it lists restricted again, so no moment exists
where the restored store holds live keys of customers erased after the backup.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.rows import tuple_row

from archive.backup_format import BackupReader, BackupWriter, Column
from archive.data_keys import META, TABLE, destroy_keys, restrict_keys
from archive.shredding_register import ShreddingRegister
from archive.signing import Checkpoint
from archive.sql import Cursor, Database

Progress = Callable[[str, int], Any]  # (part, rows done in it)
_BATCH = 2000


@dataclass(frozen=True)
class Table:
    part: str  # its name in a backup
    name: str  # the table in the store (unqualified)
    columns: tuple[Column, ...]
    order: str  # the columns that order its rows (in the backup's column names)
    optional: bool = False  # backed up when it exists


class StoreNotEmpty(Exception):
    """The store a restore was pointed at holds data already."""


class BackupRefused(Exception):
    """A backup that cannot be taken or restored as asked (no log to back up, an unknown part)."""


def ledger_tables(events_table: str, *, extra: Sequence[Table] = ()) -> list[Table]:
    """The tables of a ledger whose log is ``events_table``, in the order a backup holds them."""
    # The library names the snapshots table as it names the events table (stored_events ->
    # stored_snapshots on SQLite, realty_events -> realty_snapshots on PostgreSQL).
    prefix = events_table.rpartition("events")[0]
    return [
        Table("events", events_table, (("notification_id", "int"), ("originator_id", "uuid"),
                                       ("originator_version", "int"), ("topic", "text"), ("state", "bytes"),
                                       ("position", "int"), ("chain_hash", "bytes")), "notification_id"),
        Table("snapshots", f"{prefix}snapshots", (("originator_id", "uuid"), ("originator_version", "int"),
                                                  ("topic", "text"), ("state", "bytes")),
              "originator_id, originator_version", optional=True),
        Table("data_keys", TABLE, (("key_id", "text"), ("purpose", "text"), ("owner_id", "text"),
                                   ("subject_id", "text"), ("master_version", "int"), ("wrapped", "bytes"),
                                   ("created_at", "text"), ("restricted_at", "text"), ("destroyed_at", "text"),
                                   ("destroyed_reason", "text")), "key_id"),
        Table("keyring_meta", META, (("name", "text"), ("value", "bytes")), "name"),
        Table("checkpoints", f"{events_table}_checkpoints", (("tree_size", "int"), ("origin", "text"),
                                                             ("root_hash", "bytes"), ("timestamp", "text"),
                                                             ("key_id", "text"), ("signature", "bytes")),
              "tree_size", optional=True),
        Table("merkle_nodes", f"{events_table}_merkle_nodes", (("level", "int"), ("idx", "int"), ("hash", "bytes")),
              "level, idx", optional=True),
        *extra,
    ]


def _physical(db: Database, column: str) -> str:
    # SQLite's log is ordered by its rowid, which is what PostgreSQL's notification id is.
    return "rowid" if column == "notification_id" and db.backend == "sqlite" else column


def _columns(db: Database, table: Table) -> str:
    return ", ".join(_physical(db, c) for c, _ in table.columns)


def _order(db: Database, table: Table) -> str:
    return ", ".join(_physical(db, c.strip()) for c in table.order.split(","))


def existing_tables(db: Database, cursor: Any) -> set[str]:
    if db.backend == "sqlite":
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                       (db.datastore.schema,))
    return {name for (name,) in cursor.fetchall()}


class _Snapshot:
    """Reads inside the backup's one transaction."""

    def __init__(self, db: Database, conn: Any, cursor: Any) -> None:
        self.db, self._conn, self._cursor = db, conn, cursor
        self.tables = existing_tables(db, cursor)
        self._named = 0

    def one(self, statement: str) -> tuple[Any, ...] | None:
        self._cursor.execute(statement)
        return self._cursor.fetchone()

    def rows(self, statement: str) -> Iterator[tuple[Any, ...]]:
        if self.db.backend == "sqlite":
            cursor = self._conn.cursor()
            cursor.row_factory = None
            cursor.execute(statement)
            while batch := cursor.fetchmany(_BATCH):
                yield from batch
            return
        # A server-side cursor: the rows come in batches, never all at once.
        self._named += 1
        with self._conn.cursor(name=f"realty_backup_{self._named}", row_factory=tuple_row, binary=True) as cursor:
            cursor.itersize = _BATCH
            cursor.execute(statement)
            yield from cursor


@contextmanager
def _snapshot(db: Database) -> Iterator[_Snapshot]:
    if db.backend == "sqlite":
        with db.datastore.transaction(commit=False) as c:  # BEGIN: one read transaction
            conn = c.sqlite_cursor.connection
            cursor = conn.cursor()
            cursor.row_factory = None
            yield _Snapshot(db, conn, cursor)
        return
    with db.datastore.get_connection() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield _Snapshot(db, conn, cursor)


def take_backup(db: Database, tables: Sequence[Table], out: Path, *, source: str,
                progress: Progress | None = None, counted: Callable[[dict[str, int]], Any] | None = None
                ) -> dict[str, Any]:
    """Write a backup of ``tables`` to ``out``; its manifest. ``counted`` is told how many rows each
    part will have (for a progress bar) before the first is written."""
    with _snapshot(db) as snap:
        events = tables[0]
        if events.name not in snap.tables:
            raise BackupRefused(f"there is no ledger at {source} (no table {events.name})")
        present = [t for t in tables if t.name in snap.tables or not t.optional]
        missing = [t.name for t in present if t.name not in snap.tables]
        if missing:
            raise BackupRefused(f"the store at {source} has no table {', '.join(missing)}: open it once with "
                                "this version of realty (realty init) before backing it up")
        counts = {}
        for t in present:
            (count,) = snap.one(f"SELECT COUNT(*) FROM {db.table(t.name)}") or (0,)  # noqa: S608
            counts[t.part] = int(count)
        if counted is not None:
            counted(counts)
        log = db.table(events.name)
        head = snap.one(f"SELECT {db.log_order}, position, chain_hash FROM {log} "  # noqa: S608
                        f"ORDER BY {db.log_order} DESC LIMIT 1")
        checkpoint = None
        checkpoints = next((t for t in present if t.part == "checkpoints"), None)
        if checkpoints is not None:
            row = snap.one(f"SELECT origin, tree_size, root_hash, timestamp, key_id, signature "  # noqa: S608
                           f"FROM {db.table(checkpoints.name)} ORDER BY tree_size DESC LIMIT 1")
            if row is not None:
                origin, size, root, timestamp, key_id, signature = row
                checkpoint = Checkpoint(origin=origin, tree_size=int(size), root_hash=bytes(root),
                                        timestamp=datetime.fromisoformat(timestamp), key_id=key_id,
                                        signature=bytes(signature)).to_json()
        writer = BackupWriter(out)
        try:
            writer.header({
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "backend": db.backend,
                "source": source,
                "head": None if head is None else {"notification_id": int(head[0]), "position": int(head[1]),
                                                   "chain_hash": bytes(head[2]).hex()},
                "checkpoint": checkpoint,
                "rows": counts,
            })
            for t in present:
                rows = snap.rows(f"SELECT {_columns(db, t)} FROM {db.table(t.name)} ORDER BY {_order(db, t)}")  # noqa: S608
                writer.part(t.part, t.columns, _counting(rows, t.part, progress))
            return writer.finish()
        except BaseException:
            writer.abandon()
            raise


def _counting(rows: Iterator[tuple[Any, ...]], part: str, progress: Progress | None) -> Iterator[tuple[Any, ...]]:
    done = 0
    for row in rows:
        yield row
        done += 1
        if progress is not None and done % _BATCH == 0:
            progress(part, done)
    if progress is not None:
        progress(part, done)


def store_contents(db: Database, tables: Sequence[Table], also: Sequence[str] = ()) -> dict[str, int]:
    """The tables of the store that hold rows (and how many): empty when it is a store to restore into."""
    names = [t.name for t in tables] + list(also)
    found: dict[str, int] = {}
    with db.reading() as c:
        present = {n for (n,) in c.query(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if db.backend == "sqlite" else
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            () if db.backend == "sqlite" else (db.datastore.schema,))}
        for name in names:
            if name in present:
                ((count,),) = c.query(f"SELECT COUNT(*) FROM {db.table(name)}")  # noqa: S608
                if count:
                    found[name] = int(count)
    return found


@dataclass
class RegisterReplay:
    """What a shredding register says to do again to a store that may predate it: destroy the keys
    it lists that the store still holds, restrict the subjects it lists as restricted. ``source``
    is the register read; ``own`` the store's own register, which gets a line (before the commit)
    for what is done here on the word of another one (``--shredding-register PATH``)."""

    source: ShreddingRegister
    own: ShreddingRegister
    reason: str = "restore: destroyed again, as the shredding register lists"
    destroyed: list[str] = field(default_factory=list)
    restricted: list[str] = field(default_factory=list)  # subjects whose keys were restricted again

    def apply(self, db: Database, c: Cursor) -> None:
        """Inside the caller's transaction (its commit makes it all true at once)."""
        # The store's own register lists all of it already: no second line for it.
        elsewhere = self.source.path.resolve() != self.own.path.resolve()
        note = self.own if elsewhere else None
        listed = self.source.key_ids()
        if listed:
            self.destroyed = destroy_keys(db, c, key_ids=listed, reason=self.reason, register=note)
        for subject in self.source.restricted_subject_ids():
            if restrict_keys(db, c, subject, register=note):
                self.restricted.append(subject)


def restore_backup(db: Database, tables: Sequence[Table], reader: BackupReader, *,
                   progress: Progress | None = None, also: Sequence[str] = (),
                   replay: RegisterReplay | None = None) -> dict[str, int]:
    """Load a backup into the store's (existing, empty) tables in one transaction; the rows per part.

    The store is checked for emptiness again inside the transaction (on PostgreSQL under the log's
    table lock), and the file's digests are checked again as it is read: anything wrong rolls the
    whole restore back. ``replay`` is applied after the last row, before the commit."""
    by_part = {t.part: t for t in tables}
    loaded: dict[str, int] = {}
    with _loading(db) as load:
        if db.backend == "postgres":  # the lock every append takes: no writer can slip in meanwhile
            load.execute(f"LOCK TABLE {db.table(tables[0].name)} IN EXCLUSIVE MODE")
        for name in [t.name for t in tables] + list(also):
            if name in load.tables and load.scalar(f"SELECT COUNT(*) FROM {db.table(name)}"):  # noqa: S608
                raise StoreNotEmpty(f"table {name} is not empty")
        for part in reader.parts():
            table = by_part.get(part.name)
            if table is None:
                raise BackupRefused(f"the backup has a part {part.name!r} that this version of realty does not know")
            if tuple(part.columns) != table.columns:
                raise BackupRefused(f"the backup's part {part.name} has other columns than this version's "
                                    f"table {table.name}")
            loaded[part.name] = load.rows(table, _counting(part.rows, part.name, progress))
        if reader.manifest is None:  # pragma: no cover - parts() ends only after the manifest is checked
            raise BackupRefused("the backup ended without its manifest")
        events = tables[0]
        if db.backend == "postgres" and loaded.get("events"):
            log = db.table(events.name)
            load.execute(f"SELECT setval(pg_get_serial_sequence('{log}', 'notification_id'), "  # noqa: S608
                         f"(SELECT MAX(notification_id) FROM {log}))")
        if replay is not None:
            replay.apply(db, load.cursor())
    if replay is not None and replay.destroyed and db.backend == "sqlite":
        # As after DataKeys.destroy: the old page images wait in the write-ahead log until copied over.
        db.query("PRAGMA wal_checkpoint(TRUNCATE)")
    return loaded


class _Load:
    def __init__(self, db: Database, cursor: Any) -> None:
        self.db, self._cursor = db, cursor
        self.tables = existing_tables(db, cursor)

    def execute(self, statement: str) -> None:
        self._cursor.execute(statement)

    def cursor(self) -> Cursor:
        """The loading transaction's cursor as ``archive.sql`` statements use it (``?`` placeholders)."""
        return Cursor(self.db, self._cursor)

    def scalar(self, statement: str) -> Any:
        self._cursor.execute(statement)
        row = self._cursor.fetchone()
        return None if row is None else row[0]

    def rows(self, table: Table, rows: Iterator[tuple[Any, ...]]) -> int:
        uuids = [i for i, (_, kind) in enumerate(table.columns) if kind == "uuid"]
        count = 0

        def stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
            nonlocal count
            count += 1
            if not uuids or self.db.backend == "postgres":
                return row
            values = list(row)  # the library keeps SQLite's ids as 32 hex digits
            for i in uuids:
                if isinstance(values[i], uuid.UUID):
                    values[i] = values[i].hex
            return tuple(values)

        target, columns = self.db.table(table.name), _columns(self.db, table)
        if self.db.backend == "postgres":
            with self._cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(stored(row))
        else:
            marks = ", ".join("?" for _ in table.columns)
            self._cursor.executemany(f"INSERT INTO {target} ({columns}) VALUES ({marks})",  # noqa: S608
                                     (stored(r) for r in rows))
        return count


@contextmanager
def _loading(db: Database) -> Iterator[_Load]:
    if db.backend == "sqlite":
        with db.datastore.transaction(commit=True) as c:
            cursor = c.sqlite_cursor.connection.cursor()
            cursor.row_factory = None
            yield _Load(db, cursor)
        return
    with db.datastore.get_connection() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as cursor:
        yield _Load(db, cursor)
