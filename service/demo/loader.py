"""``load_demo``: check the arguments, then tell the whole year, every story at once, and sum it up.

The order of the run is part of the story: founding staff are registered first, then listings,
the year's customers and staff changes are planned (each planning step draws from the seeded
random source in turn), the predecessor system's few customers are recorded (their history lies
years back, before the year's first command) and the archive's work is planned, then every thread
is resumed in business-time order until all are told.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from service.application import RealtyLedger
from service.demo.archive_stories import ArchiveStories, predecessor_customers
from service.demo.customer_stories import CustomerStories
from service.demo.deal_stories import DealStories
from service.demo.listing_stories import ListingStories
from service.demo.service_desk_stories import ServiceDeskStories
from service.demo.staff_stories import StaffStories
from service.demo.summary import DemoSummary, summarise

MAX_FUTURE = timedelta(minutes=5)


def load_demo(
    app: RealtyLedger,
    *,
    customers: int = 200,
    seed: int = 2026,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write a year of deterministic demo history through ``app``'s commands; see the package doc.

    ``progress(k)`` is called each time another customer's story is complete (k = 1 … customers).
    ``now`` (default: the clock) fixes the end of the story: every business time is before the
    start of that day in Shanghai. The same ``seed`` and ``now`` give the same story.
    """
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError("customers must be a whole number of at least 1")
    clock = datetime.now(UTC)
    now = clock if now is None else now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must include a time zone offset")
    if now > clock + MAX_FUTURE:
        raise ValueError("now must not be in the future")
    return _Demo(app, customers=customers, seed=seed, now=now, progress=progress).run()


class _Demo(CustomerStories, DealStories, ListingStories, StaffStories, ServiceDeskStories, ArchiveStories):
    def run(self) -> DemoSummary:
        began = time.perf_counter()
        self._register_founding_staff()
        self._plan_listings()
        older = predecessor_customers(self.n_customers)
        self._plan_customers(self.n_customers - older)
        self._plan_staff_changes()
        self._import_predecessor_customers(older)
        self._plan_archive()
        for staff in list(self.staff):
            self.scheduler.spawn(self._staff_year(staff))
        self.scheduler.spawn(self._incentives())
        self.scheduler.run()
        return summarise(self, time.perf_counter() - began)
