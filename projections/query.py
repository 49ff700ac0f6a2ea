"""Listing a view's rows: declared filters, declared sorts, keyset (cursor) pagination.

Only the filters and sorts a view declares can be asked for; anything else is a ``QueryError``
with a stable code, so a typo in a filter name is an error, never a silently unfiltered list.
A cursor carries the sort it was made for and the last row's sort value and key, so the next page
starts strictly after that row however many rows were added meanwhile (no duplicates, no skips
among rows that existed when the first page was read, whatever their order of arrival).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from projections.projection import Projection, Table, ts
from projections.store import ViewStore

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
# Sort value standing in for NULL, so rows without a value sort last and pages stay stable.
_NULL_TEXT = "\uffff"
_NULL_NUMBER = 2**62


class QueryError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Filter:
    column: str
    kind: str = "text"  # text | int | real | bool | time
    op: str = "="  # = | >= | <= | <


@dataclass(frozen=True)
class ListSpec:
    projection: Projection
    table: str
    filters: Mapping[str, Filter]
    sorts: Mapping[str, str]  # sort name -> column
    default_sort: str
    numeric_sorts: frozenset[str] = field(default_factory=frozenset)
    # Columns kept for the view's own bookkeeping, left out of answers.
    hidden: frozenset[str] = field(default_factory=frozenset)
    # Columns holding JSON text, answered as the JSON they hold.
    json_columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def table_spec(self) -> Table:
        return self.projection.table(self.table)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def parse_value(name: str, kind: str, raw: Any) -> Any:
    if kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise QueryError("invalid_filter", f"filter {name} must be a whole number") from None
    if kind == "real":
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise QueryError("invalid_filter", f"filter {name} must be a number") from None
        if not math.isfinite(number):
            raise QueryError("invalid_filter", f"filter {name} must be a finite number")
        return number
    if kind == "bool":
        if str(raw).lower() in ("true", "1", "yes"):
            return True
        if str(raw).lower() in ("false", "0", "no"):
            return False
        raise QueryError("invalid_filter", f"filter {name} must be true or false")
    if kind == "time":
        try:
            value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        except ValueError:
            raise QueryError("invalid_filter", f"filter {name} must be an ISO 8601 date-time") from None
        if value.tzinfo is None:
            raise QueryError("invalid_filter", f"filter {name} must include a time zone offset")
        return ts(value)
    text = str(raw)
    if not text or len(text) > 200:
        raise QueryError("invalid_filter", f"filter {name} must be 1 to 200 characters")
    return text


def _encode_cursor(sort: str, value: Any, key: Any) -> str:
    raw = json.dumps([sort, value, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise QueryError("invalid_cursor", "the cursor is malformed; use next_cursor from a previous page") from None
    if made_for != sort:
        raise QueryError("invalid_cursor", f"the cursor was made for sort {made_for!r}, not {sort!r}")
    return value, key


def _cursor_fits(spec: ListSpec, sort_name: str, value: Any, key: Any) -> bool:
    """Whether a decoded cursor's values have the types of the sort column and the key: a hand-made
    cursor with a list, or a text where PostgreSQL compares numbers, would otherwise be a 500."""
    kinds = dict(spec.table_spec.columns)

    def fits(kind: str, v: Any) -> bool:
        if kind == "text":
            return isinstance(v, str)
        if kind == "bool":
            return isinstance(v, bool | int)
        if isinstance(v, int) and not isinstance(v, bool):
            return abs(v) < 2**63  # SQLite refuses to bind a larger integer
        return isinstance(v, float)

    column_kind = kinds.get(spec.sorts[sort_name], "text")
    if column_kind != "text" and sort_name not in spec.numeric_sorts:  # NULLs stand in as text
        value_fits = isinstance(value, str) or fits(column_kind, value)
    else:
        value_fits = fits(column_kind, value)
    return value_fits and fits(kinds.get(spec.table_spec.key, "text"), key)


def list_rows(store: ViewStore, generation: int, spec: ListSpec, *, filters: Mapping[str, Any],
              forced: Mapping[str, Any] | None = None, sort: str | None = None, cursor: str | None = None,
              limit: int = DEFAULT_LIMIT) -> Page:
    """One page of the view's rows. ``forced`` are filters the caller's scope imposes (by column).
    Generation 0 is a view never built: an empty page, once the query has been checked."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}")
    sort = sort or spec.default_sort
    descending = sort.startswith("-")
    sort_name = sort.removeprefix("-")
    if sort_name not in spec.sorts:
        raise QueryError("invalid_sort", f"sort must be one of {', '.join(sorted(spec.sorts))} (prefix - to reverse)")
    table = spec.table_spec
    where, params = conditions(spec, filters, forced)
    column = spec.sorts[sort_name]
    null = _NULL_NUMBER if sort_name in spec.numeric_sorts else _NULL_TEXT
    sort_expr = f"COALESCE({column}, ?)"
    if cursor:
        value, key = _decode_cursor(cursor, sort)
        if not _cursor_fits(spec, sort_name, value, key):
            raise QueryError("invalid_cursor", "the cursor is malformed; use next_cursor from a previous page")
        where.append(f"({sort_expr}, {table.key}) {'<' if descending else '>'} (?, ?)")
        params.extend([null, value, key])
    if generation == 0:  # never built: nothing to list, but the query was checked all the same
        return Page([], None)
    order = "DESC" if descending else "ASC"
    physical = table.physical(spec.projection.name, generation)
    cols = table.column_names
    statement = (f"SELECT {', '.join(cols)}, {sort_expr} FROM {physical} "  # noqa: S608
                 f"{'WHERE ' + ' AND '.join(where) if where else ''} "
                 f"ORDER BY {sort_expr} {order}, {table.key} {order} LIMIT ?")
    rows = store.query(statement, [null, *params, null, limit + 1])
    bools = [c for c, kind in table.columns if kind == "bool"]
    items = [dict(zip(cols, row[:-1], strict=True)) for row in rows[:limit]]
    for item in items:  # SQLite keeps booleans as 0 and 1
        for column in bools:
            if item[column] is not None:
                item[column] = bool(item[column])
        for column in spec.json_columns:
            if item[column] is not None:
                item[column] = json.loads(item[column])
        for column in spec.hidden:
            del item[column]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(sort, last[-1], last[cols.index(table.key)])
    return Page(items, next_cursor)


class ViewReader(Protocol):
    """What a summary needs of the ledger's views (``service.projector.Views``)."""

    def query(self, name: str, statement: str, params: Any = ()) -> tuple[list[tuple[Any, ...]], Any]: ...


def conditions(spec: ListSpec, filters: Mapping[str, Any],
               forced: Mapping[str, Any] | None) -> tuple[list[str], list[Any]]:
    """The conditions of a list's declared filters (by name) and of the scope's forced columns."""
    where: list[str] = []
    params: list[Any] = []
    for name, raw in filters.items():
        declared = spec.filters.get(name)
        if declared is None:
            raise QueryError("unknown_filter", f"unknown filter {name!r}; known: {', '.join(sorted(spec.filters))}")
        where.append(f"{declared.column} {declared.op} ?")
        params.append(parse_value(name, declared.kind, raw))
    for column, value in (forced or {}).items():
        where.append(f"{column} = ?")
        params.append(value)
    return where, params


def where_clause(spec: ListSpec, filters: Mapping[str, Any], forced: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """A WHERE clause for a summary over a list's rows (see ``conditions``)."""
    where, params = conditions(spec, filters, forced)
    return ("WHERE " + " AND ".join(where) if where else ""), params


def check_group(group_by: str, groups: tuple[str, ...]) -> str:
    if group_by not in groups:
        raise QueryError("invalid_group_by", f"group_by must be one of {', '.join(groups)}")
    return group_by
