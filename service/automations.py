"""The automations that turn time into events: SLA warnings and breaches, the public pool, and the
after-sales return visit; and the end of erasures and dispositions that are due or that a failed
request left half done.

Each pass asks the views what has come due at ``now`` (a clock the tests set), then sends each
candidate through the normal command path as the system actor, where the customer record checks the
rule again. The views may lag or a colleague may have acted meanwhile: a candidate the record no
longer agrees with is refused with a domain error and simply skipped, so a stale view can delay an
automation by one pass but never produce a wrong event. Only one process runs the automations at a
time (the same lease mechanism as a view's, under the name ``automations``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.errors import DomainError
from projections.projection import ts
from projections.store import Lease
from service.store_outage import describe

if TYPE_CHECKING:
    from service.application import RealtyLedger

log = logging.getLogger("realty.automations")

Clock = Callable[[], datetime]
BATCH = 500  # candidates per kind per pass; the next pass takes the rest


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassReport:
    now: datetime
    warnings: int = 0
    breaches: int = 0
    returned_to_pool: int = 0
    return_visits: int = 0
    erasures: int = 0  # restricted customers shredded once their retention period ended
    dispositions: int = 0  # approved dispositions finished after their request failed half way
    skipped: dict[str, int] = field(default_factory=dict)  # domain error code -> candidates refused

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "warnings": self.warnings, "breaches": self.breaches,
                "returned_to_pool": self.returned_to_pool, "return_visits": self.return_visits,
                "erasures": self.erasures, "dispositions": self.dispositions, "skipped": dict(self.skipped)}


class Automations:
    def __init__(self, ledger: RealtyLedger, clock: Clock = system_clock) -> None:
        self.ledger = ledger
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lease: Lease | None = None
        # Files whose disposition was approved or certified and may need finishing, and how far the
        # log has been read for them: a pass reads only the new events, never the whole log again.
        self._dispositions: set[str] = set()
        self._dispositions_read = 0

    def run_once(self, now: datetime | None = None) -> PassReport:
        """One pass at ``now`` (default: the clock): every due candidate of every kind."""
        from service.application import Acting

        now = now or self.clock()
        report = PassReport(now)
        settings = self.ledger.settings
        protection = timedelta(days=settings.pool_protection_days)
        after = timedelta(days=settings.return_visit_after_days)
        views = self.ledger.views

        def attempt(counter: str, command: Callable[[], Any]) -> None:
            try:
                command()
            except DomainError as refused:  # the record says the rule no longer applies
                report.skipped[refused.code] = report.skipped.get(refused.code, 0) + 1
                return
            setattr(report, counter, getattr(report, counter) + 1)

        system = Acting.system(correlation_id=f"automation-{now.strftime('%Y%m%dT%H%M%S')}")
        moment = ts(now)
        # Breaches first: an item past its due time is breached, not warned.
        rows, _ = views.query("service_desk", "SELECT customer_id, item_kind, item_id FROM {items} "
                              "WHERE open = ? AND breached = ? AND due_at <= ? ORDER BY due_at LIMIT ?",
                              (True, False, moment, BATCH))
        for customer_id, kind, item_id in rows:
            attempt("breaches", lambda c=customer_id, k=kind, i=item_id: self.ledger.record_sla_breach(
                system, c, item_kind=k, item_id=i, now=now))
        rows, _ = views.query("service_desk", "SELECT customer_id, item_kind, item_id FROM {items} "
                              "WHERE open = ? AND warned = ? AND breached = ? AND warn_at <= ? AND due_at > ? "
                              "ORDER BY warn_at LIMIT ?", (True, False, False, moment, moment, BATCH))
        for customer_id, kind, item_id in rows:
            attempt("warnings", lambda c=customer_id, k=kind, i=item_id: self.ledger.issue_sla_warning(
                system, c, item_kind=k, item_id=i, now=now))
        rows, _ = views.query("pipeline", "SELECT customer_id FROM {customers} WHERE in_pool = ? "
                              "AND stage IN ('reception', 'matching') AND last_touched_at <= ? "
                              "ORDER BY last_touched_at LIMIT ?", (False, ts(now - protection), BATCH))
        for (customer_id,) in rows:
            attempt("returned_to_pool", lambda c=customer_id: self.ledger.return_to_pool(
                system, c, now=now, protection=protection))
        rows, _ = views.query("pipeline", "SELECT customer_id, handovers FROM {customers} "
                              "WHERE awaiting_visit = ? LIMIT ?", (True, BATCH))
        for customer_id, handovers in rows:
            for deal_id in json.loads(handovers):
                attempt("return_visits", lambda c=customer_id, d=deal_id: self.ledger.schedule_return_visit_after_handover(
                    system, c, deal_id=d, after=after))
        report.erasures = len(self.ledger.carry_out_due_erasures(system, now))
        found, self._dispositions_read = self.ledger.dispositions_after(self._dispositions_read)
        self._dispositions |= found
        for file_id in sorted(self._dispositions):
            state = self.ledger.disposition_state(file_id, now)
            if state == "unfinished":
                attempt("dispositions", lambda f=file_id: self.ledger.carry_out_disposition(system, f))
            elif state == "settled":
                self._dispositions.discard(file_id)
        if (report.warnings or report.breaches or report.returned_to_pool or report.return_visits or report.erasures
                or report.dispositions):
            log.info("automations at %s: %s", now.isoformat(), report.as_dict())
        return report

    # --- running in the background -----------------------------------------------------------

    def start(self, interval: float) -> None:
        if self._thread is not None or interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="realty-automations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def _run(self, interval: float) -> None:
        failures = 0  # passes failed in a row: an outage is logged when it starts and when it ends
        while not self._stop.wait(interval):
            try:
                if self._lease is None:
                    self._lease = self.ledger.views.store.try_lease("automations")
                if self._lease is not None:
                    self.run_once()
            except Exception as error:  # a database that went away: say so once, try again next time
                if not failures:
                    log.warning("automation pass failed (%s); trying again every %s s", describe(error), interval)
                log.debug("automation pass failed", exc_info=True)
                failures += 1
                # The lease is a session's lock, which a restarted server has ended: another process
                # may run the automations by now. Take it again next time if it is free.
                if self._lease is not None:
                    self._lease.release()
                    self._lease = None
                continue
            if failures:
                log.warning("automations work again after %d failed passes", failures)
                failures = 0
