"""The catch-up runner: follows the log and keeps every view it owns up to date, in batches.

One loop reads a batch of the log once for all the views this process owns (the events of the
topics they follow), hands each view the events past its own position, and commits every view's changed rows together with its new
position in one transaction. A crash therefore loses the whole batch or nothing; the next start
reads the batch again from the stored positions, so nothing is counted twice or skipped.

A view is owned by one process at a time (``ViewStore.try_lease``); processes started with the
same views share them, each taking whichever lease is free, and a process that dies frees its
leases at once, for another to pick up on its next try.

A view that cannot handle an event stops there: its error, naming the position, topic and record,
is stored with its position and shown by ``status``; the other views go on. It resumes from that
position when the process starts again (after the fix), never skipping the event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from projections import tracking
from projections.log import EventLog, LogRow, rows_after
from projections.projection import Projection, ProjectionFailed, Rows
from projections.store import Cursor, Lease, ViewStore
from projections.tracking import Track

log = logging.getLogger("realty.projections")

Decode = Callable[[LogRow], Any]


@dataclass(frozen=True)
class StepResult:
    events: int  # rows of the log read in this step
    upto: int  # the log position every owned view has now reached (at least)
    more: bool = False  # the batch was full: the log may hold more right away


class ProjectionRunner:
    def __init__(self, store: ViewStore, log_: EventLog, decode: Decode, projections: Iterable[Projection], *,
                 batch_size: int = 2000, idle_wait: float = 0.5, lease_retry: float = 5.0,
                 coalesce: float = 0.05) -> None:
        self.store = store
        self.log = log_
        self.decode = decode
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.lease_retry = lease_retry
        # After a wake-up, wait this long for the rest of a burst of commands: one batch for many
        # events costs a fraction of one batch each (the service's commands pay for less). A reader
        # waiting for its own write cuts the wait short (``wake(urgent=True)``).
        self.coalesce = coalesce
        self._urgent = threading.Event()
        self._leases: dict[str, Lease] = {}
        self._failed: set[tuple[str, int]] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: ProjectionFailed | None = None
        tracking.create_tracking(store)

    # --- ownership ---------------------------------------------------------------------------

    @property
    def owned(self) -> list[str]:
        return sorted(self._leases)

    def acquire(self) -> list[str]:
        """Take the lease of every view not yet owned that no other process holds."""
        for name, projection in self.projections.items():
            if name in self._leases:
                continue
            lease = self.store.try_lease(name)
            if lease is None:
                continue
            self._leases[name] = lease
            self._prepare(projection)
        return self.owned

    def _prepare(self, projection: Projection) -> None:
        existing = tracking.tracks(self.store, projection.name)
        current = next((t for t in existing if t.state == "active"), None)
        building = next((t for t in existing if t.state == "building"), None)
        if building is not None and building.version != projection.version:
            # A rebuild begun by another version of the view: this version never feeds it, so start over.
            tracking.drop_generation(self.store, projection, building)
            building = None
        if current is None:
            tracking.start_generation(self.store, projection, "active")
        elif current.version != projection.version and building is None:
            log.info("view %s changed (version %s -> %s): rebuilding it while the old copy answers reads",
                     projection.name, current.version, projection.version)
            tracking.start_generation(self.store, projection, "building")

    def release(self) -> None:
        for lease in self._leases.values():
            lease.release()
        self._leases.clear()

    # --- one batch ---------------------------------------------------------------------------

    def _tracks(self) -> list[Track]:
        owned = set(self._leases)
        # A generation made by another version of the view is never fed by this version's code: its
        # tables may lack this version's columns, or mean something else by a row. It keeps
        # answering reads where it stopped until the rebuild has caught up with it and replaces it.
        return [t for t in tracking.tracks(self.store) if t.name in owned and t.key not in self._failed
                and t.version == self.projections[t.name].version]

    def step(self) -> StepResult:
        """Read one batch of the log and apply it to every owned view; 0 events when up to date."""
        tracks = self._tracks()
        if not tracks:
            return StepResult(0, 0)
        after = min(t.last_id for t in tracks)
        topics: set[str] = set()
        for t in tracks:
            topics |= self.projections[t.name].topics
        window = self.log.read(after, self.batch_size, topics)
        if window.upto <= after:
            if any(t.state == "building" for t in tracks):  # caught up with nothing to read (an empty log)
                with self.store.transaction() as cursor:
                    self._swap_caught_up(cursor)
            return StepResult(0, after)
        decoded: dict[int, Any] = {}
        failures: list[tuple[Track, ProjectionFailed]] = []
        lost: set[str] = set()
        with self.store.transaction() as cursor:
            # Fencing: a lease can end without this process noticing (its session killed), and
            # another process may then keep the view too. A position that moved since it was read
            # means exactly that: leave the view to the other process rather than apply a batch twice.
            now = tracking.lock_owned(cursor, sorted({t.name for t in tracks}))
            lost = {t.name for t in tracks if (fresh := now.get(t.key)) is None
                    or (fresh.last_id, fresh.state) != (t.last_id, t.state)}
            advanced: list[Track] = []
            for track in tracks:
                if track.name in lost or window.upto <= track.last_id:
                    continue
                projection = self.projections[track.name]
                pending = rows_after(window.rows, track.last_id)
                if any(row.topic in projection.topics for row in pending):  # else nothing to do but move on
                    cursor.execute("SAVEPOINT view_batch")
                    try:
                        self._apply(projection, track, pending, decoded, cursor)
                    except ProjectionFailed as failure:
                        cursor.execute("ROLLBACK TO SAVEPOINT view_batch")
                        failures.append((track, failure))
                        continue
                    cursor.execute("RELEASE SAVEPOINT view_batch")
                advanced.append(track)
            tracking.advance(cursor, advanced, window.upto, window.upto_position)
            if any(t.state == "building" and t.name not in lost for t in tracks):
                self._swap_caught_up(cursor, skip=lost)
        for name in lost:
            log.warning("view %s is kept by another process now (this one's lease ended): leaving it", name)
            self._leases.pop(name).release()
        for track, failure in failures:
            self._failed.add(track.key)
            self.last_error = failure
            log.error("%s", failure)
            tracking.record_failure(self.store, track, str(failure))
        return StepResult(len(window.rows) or 1, window.upto, more=len(window.rows) >= self.batch_size)

    def _apply(self, projection: Projection, track: Track, rows: Sequence[LogRow], decoded: dict[int, Any],
               cursor: Cursor) -> None:
        events: list[tuple[LogRow, Any]] = []
        for row in rows:
            if row.topic not in projection.topics:
                continue
            event = decoded.get(row.id)
            if event is None:
                try:
                    event = decoded[row.id] = self.decode(row)
                except Exception as error:
                    raise ProjectionFailed(projection.name, row.id, row.topic, row.originator_id,
                                           row.originator_version, error) from error
            events.append((row, event))
        work = Rows(projection, track.generation, cursor)
        wanted: dict[str, set[str]] = {}
        created: set[tuple[str, str]] = set()  # rows put by an event of the batch before any read
        for _, event in events:
            created.update(projection.creates(event))
            for table, key in projection.keys(event):
                if (table, key) not in created:
                    wanted.setdefault(table, set()).add(key)
        try:
            work.prefetch(wanted)
        except Exception as error:  # the tables do not fit the projection: this view stops, not the runner
            first = events[0][0]
            raise ProjectionFailed(projection.name, first.id, first.topic, first.originator_id,
                                   first.originator_version, error,
                                   when="reading the rows for the batch starting with") from error
        for row, event in events:
            try:
                projection.handle(event, work)
            except Exception as error:
                raise ProjectionFailed(projection.name, row.id, row.topic, row.originator_id,
                                       row.originator_version, error) from error
        try:
            work.flush()
        except Exception as error:  # the database refused the rows (a constraint, a type): name the batch's end
            last = events[-1][0]
            raise ProjectionFailed(projection.name, last.id, last.topic, last.originator_id, last.originator_version,
                                   error, when="writing the rows of the batch ending with") from error

    def _swap_caught_up(self, cursor: Cursor, skip: set[str] | frozenset[str] = frozenset()) -> None:
        for name in self._leases:
            if name in skip:
                continue
            generations = tracking.tracks(cursor, name)
            current = next((t for t in generations if t.state == "active"), None)
            building = next((t for t in generations if t.state == "building"), None)
            if building is not None and building.version == self.projections[name].version and (
                    current is None or building.last_id >= current.last_id):
                tracking.swap(cursor, self.projections[name], building, current)
                log.info("view %s: generation %s caught up and now answers reads", name, building.generation)

    # --- running -----------------------------------------------------------------------------

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Run batches until every owned view has reached the log's head as it was at the start."""
        head = self.log.head().id
        total = 0
        while True:
            result = self.step()
            total += result.events
            if progress is not None:
                progress(result.upto)
            if result.events == 0 or result.upto >= head:
                if not self._pending_swap():
                    return total

    def _pending_swap(self) -> bool:
        owned = set(self._leases)
        return any(t.state == "building" and t.name in owned and t.key not in self._failed
                   and t.version == self.projections[t.name].version for t in tracking.tracks(self.store))

    def wake(self, *, urgent: bool = False) -> None:
        """A hint that the log grew (embedded mode calls it after each command); ``urgent`` when
        someone waits for the views to reach a position."""
        self._wake.set()
        if urgent:
            self._urgent.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="realty-projector", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """The runner's thread is alive (a health check's question)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._urgent.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.release()

    def _run(self) -> None:
        next_acquire = 0.0
        failures = 0  # steps failed in a row: an outage is logged when it starts and when it ends
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_acquire and len(self._leases) < len(self.projections):
                    self.acquire()
                    next_acquire = time.monotonic() + self.lease_retry
                more = self.step().more
                if failures:
                    log.warning("projector works again after %d failed steps", failures)
                    failures = 0
                if not more:
                    self._idle()  # up to date: wait for the log to grow, and gather a burst
            except Exception as error:  # a database that went away: say so once and keep trying
                if not failures:
                    first_line = (str(error).strip().splitlines() or [""])[0]
                    log.warning("projector step failed (%s: %s); retrying until it works", type(error).__name__,
                                first_line)
                log.debug("projector step failed", exc_info=True)
                failures += 1
                # A lease is a session's lock: a restarted server has ended it, and another process
                # may hold the view by now. Let go of them all and take back whichever is free.
                self.release()
                next_acquire = 0.0
                self._stop.wait(min(5.0, self.idle_wait * 4))

    def _idle(self) -> None:
        if not self._wake.is_set():
            if self.store.backend == "sqlite":
                self._wake.wait(self.idle_wait)
            else:
                self.log.wait(self.idle_wait)
        self._wake.clear()
        if not self._stop.is_set():
            self._urgent.wait(self.coalesce)
        self._urgent.clear()
