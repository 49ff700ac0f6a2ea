"""The demo's world: what it has written so far, and the helpers every story writes through.

``DemoWorld`` holds the seeded random source every choice comes from, the scheduler, and the
demo's notes on the records written so far. Its command helpers are the only way the stories
write: each call goes through a command method of ``RealtyLedger``, acting as the given staff
member under a fresh ``demo-<run id>-…`` correlation id, and counts the events it wrote. Its
time helpers place business times in office hours and appointments in the working day. The
stories (``staff_stories``, ``listing_stories``, …) are mixins built on this class.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from service.application import Acting, CommandResult, RealtyLedger
from service.demo.notes import _Customer, _Deal, _Listing, _Staff, _Team
from service.demo.scheduler import Scheduler

SHANGHAI = timezone(timedelta(hours=8), "CST")
T = TypeVar("T")


class DemoWorld:
    def __init__(self, app: RealtyLedger, *, customers: int, seed: int, now: datetime,
                 progress: Callable[[int], None] | None) -> None:
        self.app = app
        self.n_customers = customers
        self.seed = seed
        self.rng = random.Random(seed)
        local_now = now.astimezone(SHANGHAI)
        self.today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.horizon = self.today  # nothing happens from today on
        self.start = self.today - timedelta(days=365)
        self.run_id = uuid.uuid4().hex[:12]  # correlation ids only; never a choice
        self._correlation = itertools.count(1)
        self.scheduler = Scheduler(self.horizon, progress)
        self.earliest: datetime | None = None
        # the world as written so far
        self.staff: list[_Staff] = []
        self.teams: list[_Team] = []
        self.admin: _Staff | None = None
        self.listings: list[_Listing] = []
        self.customers: list[_Customer] = []
        self.deals: list[_Deal] = []
        self.events = 0
        self.counts = dict.fromkeys(
            ("reassignments", "showings", "trainings", "assessments", "incentives", "reactivated"), 0)
        self.requests: list[tuple[datetime, datetime | None]] = []
        self.complaints: list[tuple[datetime, datetime | None]] = []
        self.surveys: list[int] = []
        self.predecessors: list[_Customer] = []  # the predecessor system's customers (archive_stories)
        self.archive_counts = dict.fromkeys(("service_files", "documents", "versions", "sealed", "holds"), 0)
        self.contracts = itertools.count(1)
        self.records: dict[str, str] = {}
        self._complaint_plan: dict[int, str] = {}
        self._staff_names: set[str] = set()

    # --- commands: every write goes through the application, and is counted -----------------

    def _as(self, staff: _Staff | None) -> Acting:
        correlation = f"demo-{self.run_id}-{next(self._correlation):07d}"
        if staff is None:
            return Acting.system(correlation)
        assert staff.active, f"{staff.name} is no longer active"  # a bug in the demo, never a rule to work around
        return Acting(staff.id, correlation_id=correlation)

    def _wrote(self, events: int, customer: _Customer | None = None, customer_events: int = 0) -> None:
        self.events += events
        if customer is not None:
            customer.events += customer_events

    def _customer_cmd(self, command: str, c: _Customer, staff: _Staff, t: datetime, **kwargs: Any) -> CommandResult:
        result: CommandResult = getattr(self.app, command)(self._as(staff), customer_id=c.id, occurred_at=t, **kwargs)
        self._wrote(1, c, 1)
        return result

    # Events each deal command writes: the deal's own, and its mirrors on the listing and customer.
    _DEAL_MIRRORS = {"sign_deal": (2, 1), "settle_funds": (1, 0), "confirm_handover": (1, 1),
                     "close_deal": (1, 1), "cancel_deal": (2, 1)}

    def _deal_cmd(self, command: str, deal: _Deal, staff: _Staff, t: datetime, **kwargs: Any) -> CommandResult:
        result: CommandResult = getattr(self.app, command)(self._as(staff), deal_id=deal.id, occurred_at=t, **kwargs)
        extra, on_customer = self._DEAL_MIRRORS.get(command, (0, 0))
        self._wrote(1 + extra, deal.customer, on_customer)
        return result

    def _staff_cmd(self, command: str, target: _Staff, actor: _Staff | None, t: datetime,
                   **kwargs: Any) -> CommandResult:
        result: CommandResult = getattr(self.app, command)(self._as(actor), staff_id=target.id, occurred_at=t,
                                                           **kwargs)
        self._wrote(1)
        return result

    # --- time and chance -------------------------------------------------------------------

    def _pick(self, pairs: Sequence[tuple[T, int]]) -> T:
        items = [p[0] for p in pairs]
        weights = [p[1] for p in pairs]
        return self.rng.choices(items, weights)[0]

    def _office(self, dt: datetime) -> datetime:
        """The same moment if within office hours (09:00-20:00 Shanghai), else the next opening."""
        local = dt.astimezone(SHANGHAI)
        if 9 <= local.hour < 20:
            return local
        if local.hour >= 20:
            local += timedelta(days=1)
        return local.replace(hour=9, minute=self.rng.randrange(60), second=self.rng.randrange(60), microsecond=0)

    def _hours(self, t: datetime, low: float, high: float, office: bool = True) -> datetime:
        dt = (t + timedelta(seconds=self.rng.uniform(low, high) * 3600)).replace(microsecond=0)
        return self._office(dt) if office else dt.astimezone(SHANGHAI)

    def _days(self, t: datetime, low: float, high: float) -> datetime:
        return self._hours(t, low * 24, high * 24)

    def _before(self, t: datetime, appointment: datetime) -> datetime:
        """A moment in office hours between now and an appointment at least a day ahead."""
        moment = self._office((t + (appointment - t) * self.rng.uniform(0.2, 0.8)).replace(microsecond=0))
        return min(moment, appointment - timedelta(hours=1))

    def _slot(self, t: datetime, low_days: int, high_days: int) -> datetime:
        """An appointment: a whole day or more ahead, between 10:00 and 18:00."""
        day = t.astimezone(SHANGHAI) + timedelta(days=self.rng.randint(low_days, high_days))
        return day.replace(hour=self.rng.randint(10, 17), minute=self.rng.choice((0, 15, 30, 45)), second=0,
                           microsecond=0)
