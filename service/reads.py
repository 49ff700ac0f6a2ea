"""What one attempt of a command read, and a process-local cache of records to read from.

Commands read records from the cache when they can. That is safe because every read ends up
checked at write time: records the command writes are checked by their version numbers (the
library's optimistic concurrency), and records it only read are passed to the recorder as
``guards`` (see ``archive.recorders``). A stale read therefore costs a retry, never a decision on
outdated facts; and a rule broken on cached data is confirmed on fresh reads before it is
reported, so a stale cache never refuses a valid command either.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.application import LRUCache

from domain.errors import NotFound


class RecordCache:
    """Aggregates by id, at the latest version this process has seen.

    A cached record is lent to one command at a time: ``take`` removes it, and the command puts it
    back after a successful save. So no two threads ever share an aggregate object, and nothing is
    copied; a command that finds a record out on loan simply reads it from the store.
    """

    def __init__(self, maxsize: int) -> None:
        self._lru: LRUCache[uuid.UUID, Any] | None = LRUCache(maxsize) if maxsize > 0 else None
        self._lock = threading.Lock()

    def take(self, record_id: uuid.UUID) -> Any | None:
        if self._lru is None:
            return None
        try:
            return self._lru.get(record_id, evict=True)
        except KeyError:
            return None

    def peek(self, record_id: uuid.UUID) -> Any | None:
        """A look at a cached record without borrowing it, for a provisional judgement only (one
        that a command's guarded read confirms later): another thread may borrow and change it."""
        if self._lru is None:
            return None
        try:
            return self._lru.get(record_id)
        except KeyError:
            return None

    def give_back(self, aggregate: Any) -> None:
        if self._lru is None:
            return
        with self._lock:  # never replace a newer version another command put back meanwhile
            try:
                held = self._lru.get(aggregate.id)
            except KeyError:
                held = None
            if held is None or held.version < aggregate.version:
                self._lru.put(aggregate.id, aggregate)

    def evict(self, record_id: uuid.UUID) -> None:
        self.take(record_id)


class Reads:
    """One attempt of one command: each record read once, with the version it was read at."""

    def __init__(self, load: Callable[[uuid.UUID], Any], cache: RecordCache, *, fresh: bool) -> None:
        self._load = load
        self._cache = cache
        self.fresh = fresh
        self.used_cache = False
        self._records: dict[uuid.UUID, Any] = {}
        self.read_versions: dict[uuid.UUID, int] = {}

    def get(self, record_id: uuid.UUID, cls: type, kind: str) -> Any:
        record = self._records.get(record_id)
        if record is None:
            record = None if self.fresh else self._cache.take(record_id)
            if record is not None:
                self.used_cache = True
            else:
                record = self._load(record_id)
            self._records[record_id] = record
            self.read_versions[record_id] = record.version
        if not isinstance(record, cls):
            raise NotFound(kind, record_id)
        return record

    def guards(self, written: Iterable[Any]) -> dict[uuid.UUID, int]:
        """The records read but not written, with the versions the decision was based on."""
        written_ids = {a.id for a in written}
        return {rid: v for rid, v in self.read_versions.items() if rid not in written_ids}

    def remember(self, written: Iterable[Any]) -> None:
        """After a successful save: what was read and written goes (back) into the cache."""
        for record in {id(r): r for r in [*self._records.values(), *written]}.values():
            self._cache.give_back(record)

    def forget(self, written: Iterable[Any]) -> None:
        for record_id in [*self._records, *(a.id for a in written)]:
            self._cache.evict(record_id)
