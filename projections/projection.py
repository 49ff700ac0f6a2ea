"""What a view is made of: its tables, the events it follows, and how one batch changes its rows.

A projection never talks SQL while it handles events. The runner gives it a ``Rows`` working set
for one batch: the rows the batch touches are fetched in a few queries up front (``keys``), the
handlers read and change plain dicts, and the runner writes every changed row back in one
``executemany`` per table, in the same transaction as the projection's new position. That is what
makes a batch cost a handful of statements instead of several per event.

View tables hold no personal data (no names, phones, ID numbers, free text from customers): only
ids, stages, times, counts and scores. Times are stored as UTC text in one fixed format
(``ts``), which sorts as time on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from projections.store import Cursor, ViewStore

Key = str


def ts(value: datetime | None) -> str | None:
    """A time as sortable UTC text: ``2026-11-27T21:51:35.000000Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def month(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Table:
    """One table of a view. ``key`` is its single-column primary key (composite keys are joined
    into one text value by the projection)."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, generic type: text, int, real, bool)
    key: str
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def physical(self, projection: str, generation: int) -> str:
        return f"view_{projection}_{self.name}_g{generation}"

    def create_statements(self, store: ViewStore, physical: str) -> list[str]:
        cols = ", ".join(
            f"{c} {store.type(t)}" + (" PRIMARY KEY" if c == self.key else "") for c, t in self.columns)
        statements = [f"CREATE TABLE IF NOT EXISTS {physical} ({cols})"]
        for i, index in enumerate(self.indexes):
            statements.append(f"CREATE INDEX IF NOT EXISTS {physical}_i{i} ON {physical} ({', '.join(index)})")
        return statements


class Projection:
    """Base of every view. Subclasses set the class attributes and write ``handle``."""

    name: ClassVar[str]
    # Bump when the tables or the meaning of a row change: the runner then rebuilds the view into
    # a new generation while the old one keeps answering reads.
    version: ClassVar[int] = 1
    topics: ClassVar[frozenset[str]]
    tables: ClassVar[tuple[Table, ...]]

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def keys(self, event: Any) -> Iterable[tuple[str, Key]]:
        """The rows (table, key) that ``handle`` will read for this event, fetched in bulk first.
        A row not named here is still read correctly, one query at a time."""
        return ()

    def creates(self, event: Any) -> Iterable[tuple[str, Key]]:
        """The rows (table, key) this event makes new: ``handle`` puts them without reading them,
        so the batch reads them neither for this event nor for its later ones. On a big view a
        key that is not there yet costs an index page read all the same (random ids)."""
        return ()

    def handle(self, event: Any, rows: Rows) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ProjectionFailed(Exception):
    """A projection could not handle an event: it stops there, and resumes from there once fixed."""

    def __init__(self, projection: str, position: int, topic: str, originator_id: uuid.UUID, version: int,
                 cause: BaseException, *, when: str = "handling") -> None:
        self.projection = projection
        self.position = position
        self.topic = topic
        self.originator_id = originator_id
        self.originator_version = version
        self.cause = f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"projection {projection} failed {when} the event at position {position} "
            f"({topic}, record {originator_id} version {version}): {self.cause}")


@dataclass
class Rows:
    """One batch's working set of a projection's rows (one generation of its tables)."""

    projection: Projection
    generation: int
    cursor: Cursor
    _rows: dict[str, dict[Key, dict[str, Any] | None]] = field(default_factory=dict)
    _dirty: dict[str, set[Key]] = field(default_factory=dict)

    def _physical(self, table: str) -> str:
        return self.projection.table(table).physical(self.projection.name, self.generation)

    def prefetch(self, wanted: dict[str, set[Key]]) -> None:
        for table_name, keys in wanted.items():
            table = self.projection.table(table_name)
            loaded = self._rows.setdefault(table_name, {})
            missing = [k for k in keys if k not in loaded]
            cols = table.column_names
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                for k in chunk:
                    loaded[k] = None
                found = self.cursor.query(
                    f"SELECT {', '.join(cols)} FROM {self._physical(table_name)} "  # noqa: S608
                    f"WHERE {table.key} IN ({', '.join('?' * len(chunk))})", chunk)
                for row in found:
                    record = dict(zip(cols, row, strict=True))
                    loaded[record[table.key]] = record

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        loaded = self._rows.setdefault(table, {})
        if key not in loaded:
            self.prefetch({table: {key}})
        return loaded[key]

    def put(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        key = row[self.projection.table(table).key]
        self._rows.setdefault(table, {})[key] = row
        self._dirty.setdefault(table, set()).add(key)
        return row

    def changed(self, table: str, row: dict[str, Any]) -> None:
        """Mark a row got from ``get`` and changed in place."""
        self._dirty.setdefault(table, set()).add(row[self.projection.table(table).key])

    def delete(self, table: str, key: Key) -> None:
        self._rows.setdefault(table, {})[key] = None
        self._dirty.setdefault(table, set()).add(key)

    def loaded(self, table: str) -> Iterator[dict[str, Any]]:
        return (row for row in self._rows.get(table, {}).values() if row is not None)

    def flush(self) -> int:
        """Write every changed row back; returns how many rows were written or deleted."""
        written = 0
        for table_name, keys in self._dirty.items():
            table = self.projection.table(table_name)
            physical = self._physical(table_name)
            cols = table.column_names
            rows = self._rows[table_name]
            upserts = [tuple(rows[k][c] for c in cols) for k in keys if rows.get(k) is not None]
            deletes = [(k,) for k in keys if rows.get(k) is None]
            updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != table.key)
            on_conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
            self.cursor.executemany(
                f"INSERT INTO {physical} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "  # noqa: S608
                f"ON CONFLICT ({table.key}) {on_conflict}", upserts)
            self.cursor.executemany(f"DELETE FROM {physical} WHERE {table.key} = ?", deletes)  # noqa: S608
            written += len(upserts) + len(deletes)
        self._dirty.clear()
        return written
