"""The views of one ledger: where they are stored, the runner that keeps them, and their reads.

Embedded mode (the default) runs the runner in the service process, woken after every command;
``realty projector`` runs the same runner as a process of its own. Either way each view is kept
by one process at a time (see ``projections.runner``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import StoredEvent

from projections import tracking
from projections.listings import LISTINGS
from projections.log import EventLog, LogRow, PostgresEventLog, SQLiteEventLog
from projections.pipeline import PIPELINE
from projections.process_analytics import PROCESS_ANALYTICS
from projections.projection import Projection
from projections.query import ListSpec, Page, list_rows
from projections.reception import RECEPTION
from projections.runner import ProjectionRunner
from projections.satisfaction import SATISFACTION
from projections.service_desk import SERVICE_DESK
from projections.staff_performance import STAFF_PERFORMANCE
from projections.store import PostgresViewStore, SQLiteViewStore, ViewStore
from service import store_outage
from service.settings import Settings

if TYPE_CHECKING:
    from service.application import RealtyLedger


def all_projections() -> list[Projection]:
    return [PIPELINE, SERVICE_DESK, SATISFACTION, RECEPTION, STAFF_PERFORMANCE, PROCESS_ANALYTICS, LISTINGS]


PROJECTION_NAMES = tuple(p.name for p in all_projections())
EMBEDDED_COALESCE = 0.5  # seconds


class UnknownProjection(LookupError):
    pass


class ViewBehind(Exception):
    """A view has not reached the position a reader asked for within the wait (or has stopped)."""

    def __init__(self, name: str, position: int, reached: int, lag: int, stopped: str | None = None) -> None:
        self.name, self.position, self.reached, self.lag, self.stopped = name, position, reached, lag, stopped
        message = f"view {name} has reached position {reached}, not yet {position} ({lag} events behind)"
        super().__init__(message + (f"; it has stopped: {stopped}" if stopped else ""))


@dataclass(frozen=True)
class ActiveView:
    generation: int
    position: int  # the last log position (notification id) the view has seen
    leaf_index: int = -1  # that event's chain position, for counting the lag in events
    error: str | None = None  # the view stopped at an event it cannot handle


def open_view_store(settings: Settings) -> ViewStore:
    path = settings.views_file
    if path is not None:
        return SQLiteViewStore(path)
    store = PostgresViewStore(settings.postgres_conninfo())
    # Its pool waits and reconnects like the log's (a 30 s wait and minutes of back-off otherwise).
    store_outage.watch(store._pool, "views", wait=settings.pool_timeout,  # noqa: SLF001 - the store's own pool
                       ping_always=settings.pool_pre_ping)
    return store


def open_event_log(settings: Settings, ledger: RealtyLedger) -> EventLog:
    db = settings.database
    if db.path is not None:
        return SQLiteEventLog(db.path, ledger.recorder.events_table_name)
    return PostgresEventLog(settings.postgres_conninfo(), ledger.recorder.events_table_name,
                            ledger.recorder.datastore.schema, ledger.recorder.channel_name)


class Views:
    """The ledger's views: lazily opened, so commands and the CLI pay nothing until first use."""

    def __init__(self, ledger: RealtyLedger) -> None:
        self._ledger = ledger
        self._store: ViewStore | None = None
        self._log: EventLog | None = None
        self._lock = threading.Lock()
        self.runner: ProjectionRunner | None = None
        self.projections = {p.name: p for p in all_projections()}

    @property
    def store(self) -> ViewStore:
        with self._lock:
            if self._store is None:
                self._store = open_view_store(self._ledger.settings)
                tracking.create_tracking(self._store)
            return self._store

    @property
    def log(self) -> EventLog:
        with self._lock:
            if self._log is None:
                self._log = open_event_log(self._ledger.settings, self._ledger)
            return self._log

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            raise UnknownProjection(f"no view named {name!r}; views: {', '.join(self.projections)}") from None

    def decode(self, row: LogRow) -> Any:
        return self._ledger.mapper.to_domain_event(
            StoredEvent(row.originator_id, row.originator_version, row.topic, row.state))

    def make_runner(self, only: Iterable[str] | None = None, *, coalesce: float = 0.05) -> ProjectionRunner:
        names = list(only) if only else list(self.projections)
        chosen = [self.projection(n) for n in names]
        return ProjectionRunner(self.store, self.log, self.decode, chosen,
                                batch_size=self._ledger.settings.projection_batch_size, coalesce=coalesce)

    def start_embedded(self) -> ProjectionRunner:
        """Run the projector in this process (the service's embedded mode).

        It shares the process (and its GIL) with the commands, so it gathers up to half a second of
        them into one batch; a reader waiting for its own write (``min_position``) wakes it at once.
        """
        if self.runner is None:
            self.runner = self.make_runner(coalesce=EMBEDDED_COALESCE)
            self.runner.start()
        return self.runner

    def wake(self, *, urgent: bool = False) -> None:
        if self.runner is not None:
            self.runner.wake(urgent=urgent)

    # --- reads -------------------------------------------------------------------------------

    def active(self, name: str) -> ActiveView:
        self.projection(name)
        track = tracking.active(self.store, name)
        if track is None:
            return ActiveView(0, 0)  # not built yet: empty, at the start of the log
        return ActiveView(track.generation, track.last_id, track.last_position, track.error)

    def status(self) -> dict[str, Any]:
        head = self.log.head()
        views: dict[str, Any] = {}
        all_tracks = tracking.tracks(self.store)
        for name in self.projections:
            generations = [t for t in all_tracks if t.name == name]
            current = next((t for t in generations if t.state == "active"), None)
            building = next((t for t in generations if t.state == "building"), None)
            entry: dict[str, Any] = (tracking.describe(current, head.position) if current is not None else
                                     {"generation": None, "state": "not_built", "position": 0,
                                      "lag": head.position + 1, "error": None})
            entry["rebuild"] = tracking.describe(building, head.position) if building is not None else None
            views[name] = entry
        return {"head": {"position": head.id, "leaf_index": head.position}, "views": views}

    def wait_for(self, names: Iterable[str], position: int, timeout: float) -> None:
        """Return once every named view has reached ``position``; ``ViewBehind`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            behind = [(n, self.active(n)) for n in names]
            behind = [(n, a) for n, a in behind if a.position < position]
            if not behind:
                return
            stopped = next(((n, a) for n, a in behind if a.error), None)
            if stopped is not None or time.monotonic() >= deadline:  # a stopped view will not get there
                name, view = stopped or behind[0]
                raise ViewBehind(name, position, view.position, max(0, self.log.head().position - view.leaf_index),
                                 view.error)
            self.wake(urgent=True)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def list(self, spec: ListSpec, *, filters: Mapping[str, Any], forced: Mapping[str, Any] | None = None,
             sort: str | None = None, cursor: str | None = None, limit: int = 50) -> tuple[Page, ActiveView]:
        for attempt in range(3):
            view = self.active(spec.projection.name)
            try:
                return list_rows(self.store, view.generation, spec, filters=filters, forced=forced, sort=sort,
                                 cursor=cursor, limit=limit), view
            except Exception as e:  # a rebuild swapped generations between the lookup and the read
                if attempt == 2 or "does not exist" not in str(e) and "no such table" not in str(e):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def query(self, name: str, statement: str, params: Iterable[Any] = ()) -> tuple[list[tuple[Any, ...]], ActiveView]:
        """An aggregate query over a view's active tables: ``{table}`` in the statement is
        replaced by the physical name of the view's table ``table``."""
        projection = self.projection(name)
        view = self.active(name)
        if view.generation == 0:
            return [], view
        names = {t.name: t.physical(name, view.generation) for t in projection.tables}
        return self.store.query(statement.format(**names), list(params)), view

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._store is not None:
                self._store.close()
                self._store = None
