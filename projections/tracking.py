"""Each view's position in the log, per generation of its tables.

A view's tables carry a generation number. The ``active`` generation answers reads; a rebuild
fills a ``building`` generation from the start of the log while the active one keeps answering,
and the two swap in one transaction once the new one has caught up. The position of each
generation is written in the same transaction as the rows a batch changed, so a crash can never
leave rows without their position or a position without its rows.

On PostgreSQL a swap also re-points the stable read-only SQL views (schema ``realty_read``) that
internal services query, and grants them to the ``realty_readers`` group role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.projection import Projection, ts
from projections.store import Cursor, ViewStore

TRACKS = "projection_tracks"
READ_SCHEMA = "realty_read"
READERS_ROLE = "realty_readers"
# Serialises the creation of the tracking table across processes starting together.
_CREATE_LOCK = 0x7265616C7476


@dataclass(frozen=True)
class Track:
    name: str
    generation: int
    state: str  # building | active
    version: int
    last_id: int
    last_position: int
    error: str | None
    updated_at: str | None

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.generation


_COLUMNS = "name, generation, state, version, last_id, last_position, error, updated_at"


def create_tracking(store: ViewStore) -> None:
    with store.transaction() as cursor:
        if store.backend == "postgres":
            cursor.execute("SELECT pg_advisory_xact_lock(?)", (_CREATE_LOCK,))
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TRACKS} (name TEXT NOT NULL, generation {store.type('int')} NOT NULL, "
            f"state TEXT NOT NULL, version {store.type('int')} NOT NULL, last_id {store.type('int')} NOT NULL, "
            f"last_position {store.type('int')} NOT NULL, error TEXT, updated_at TEXT, "
            "PRIMARY KEY (name, generation))")


def tracks(source: ViewStore | Cursor, name: str | None = None) -> list[Track]:
    where, params = ("WHERE name = ?", (name,)) if name else ("", ())
    rows = source.query(f"SELECT {_COLUMNS} FROM {TRACKS} {where} ORDER BY name, generation", params)  # noqa: S608
    return [Track(*row) for row in rows]


def lock_owned(cursor: Cursor, names: list[str]) -> dict[tuple[str, int], Track]:
    """These views' generations as committed now, locked until the transaction ends (PostgreSQL;
    SQLite's writer already holds the database), so two writers of one view cannot both use a
    position read before the other's batch was committed."""
    if not names:
        return {}
    lock = " FOR UPDATE" if cursor.backend == "postgres" else ""
    rows = cursor.query(f"SELECT {_COLUMNS} FROM {TRACKS} WHERE name IN ({', '.join('?' * len(names))})"  # noqa: S608
                        f" ORDER BY name, generation{lock}", names)
    return {(row[0], row[1]): Track(*row) for row in rows}


def active(source: ViewStore | Cursor, name: str) -> Track | None:
    return next((t for t in tracks(source, name) if t.state == "active"), None)


def now_text() -> str:
    return ts(datetime.now(UTC)) or ""


def start_generation(store: ViewStore, projection: Projection, state: str) -> Track:
    """New empty tables for the projection's next generation, tracked from the log's start."""
    with store.transaction() as cursor:
        existing = tracks(cursor, projection.name)
        building = next((t for t in existing if t.state == "building"), None)
        if building is not None:  # one rebuild at a time; asking twice is not an error
            return building
        if state == "active" and any(t.state == "active" for t in existing):
            return next(t for t in existing if t.state == "active")
        generation = max((t.generation for t in existing), default=0) + 1
        for table in projection.tables:
            for statement in table.create_statements(store, table.physical(projection.name, generation)):
                cursor.execute(statement)
        track = Track(projection.name, generation, state, projection.version, 0, -1, None, now_text())
        cursor.execute(f"INSERT INTO {TRACKS} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                       (track.name, track.generation, track.state, track.version, track.last_id,
                        track.last_position, track.error, track.updated_at))
        if state == "active" and store.backend == "postgres":
            _point_read_views(cursor, projection, generation)
    return track


def advance(cursor: Cursor, moved: list[Track], last_id: int, last_position: int) -> None:
    """Move these generations to a position, in one statement."""
    if not moved:
        return
    keys = " OR ".join("(name = ? AND generation = ?)" for _ in moved)
    cursor.execute(f"UPDATE {TRACKS} SET last_id = ?, last_position = ?, error = NULL, updated_at = ? "  # noqa: S608
                   f"WHERE {keys}",
                   [last_id, last_position, now_text(), *(v for t in moved for v in (t.name, t.generation))])


def record_failure(store: ViewStore, track: Track, message: str) -> None:
    store.execute(f"UPDATE {TRACKS} SET error = ?, updated_at = ? WHERE name = ? AND generation = ?",  # noqa: S608
                  (message[:2000], now_text(), track.name, track.generation))


def drop_generation(store: ViewStore, projection: Projection, track: Track) -> None:
    """Forget a generation that will never answer reads (a rebuild by a version no longer running)."""
    with store.transaction() as cursor:
        cursor.execute(f"DELETE FROM {TRACKS} WHERE name = ? AND generation = ?", (track.name, track.generation))  # noqa: S608
        for table in projection.tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table.physical(projection.name, track.generation)}")


def swap(cursor: Cursor, projection: Projection, new: Track, old: Track | None) -> None:
    """Make ``new`` the generation that answers reads, and drop ``old``'s tables."""
    cursor.execute(f"UPDATE {TRACKS} SET state = 'active', updated_at = ? WHERE name = ? AND generation = ?",  # noqa: S608
                   (now_text(), new.name, new.generation))
    if cursor.backend == "postgres":
        _point_read_views(cursor, projection, new.generation)
    if old is not None:
        cursor.execute(f"DELETE FROM {TRACKS} WHERE name = ? AND generation = ?", (old.name, old.generation))  # noqa: S608
        for table in projection.tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table.physical(projection.name, old.generation)}")


def _point_read_views(cursor: Cursor, projection: Projection, generation: int) -> None:
    # Two projectors starting together on a fresh database would otherwise race on the catalog
    # (GRANT on one schema from two transactions fails with "tuple concurrently updated"); the
    # lock is held until this transaction ends.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('realty.read_views'))")
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {READ_SCHEMA}")
    cursor.execute(f"DO $$ BEGIN CREATE ROLE {READERS_ROLE} NOLOGIN; "
                   "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    cursor.execute(f"GRANT USAGE ON SCHEMA {READ_SCHEMA} TO {READERS_ROLE}")
    for table in projection.tables:
        view = f"{READ_SCHEMA}.{projection.name}_{table.name}"
        cursor.execute(f"DROP VIEW IF EXISTS {view}")
        cursor.execute(f"CREATE VIEW {view} AS SELECT {', '.join(table.column_names)} "  # noqa: S608
                       f"FROM {table.physical(projection.name, generation)}")
        cursor.execute(f"GRANT SELECT ON {view} TO {READERS_ROLE}")


def describe(track: Track, head_position: int) -> dict[str, Any]:
    return {
        "generation": track.generation,
        "state": track.state,
        "version": track.version,
        "position": track.last_id,
        "lag": max(0, head_position - track.last_position),
        "error": track.error,
        "updated_at": track.updated_at,
    }
