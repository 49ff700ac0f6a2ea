"""Customers: who arrives when, and each customer's story from first contact to its planned outcome.

Every customer is given an outcome up front (still in reception or matching, lost, lost and
reactivated, a cancelled deal, or a deal that got as far as signing, transaction or after-sales),
in the shares ``OUTCOMES`` gives, and arrives early enough for that outcome to be reached. The
story then runs the manual's stages: reception (greeting, identity, assignment), needs analysis,
shortlists, showings and feedback, and, for buyers, the deal (``deal_stories``); beside it run
the customer's requests, complaint and corrections (``service_desk_stories``). Complaints are
planned for the whole run at once, so a fixed share of them stays open or is late.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from service.demo import people
from service.demo.deal_stories import DealStories
from service.demo.notes import _Customer, _Listing
from service.demo.scheduler import Step, Thread
from service.demo.vocabulary import (
    ARRIVAL_DAYS,
    CANCEL_REASONS,
    CHANNELS,
    DISTRICT_NAMES,
    DISTRICT_WEIGHTS,
    DISTRICTS,
    LOSSES,
    OBJECTIONS,
    OUTCOMES,
    PAYMENTS,
    PURPOSES,
    RESCHEDULE_REASONS,
)


class CustomerStories(DealStories):
    """Builds on every other story: a customer meets staff, listings, deals and the service desk."""

    def _plan_customers(self, n: int) -> None:
        """The year's ``n`` customers (the demo's others come from the predecessor system)."""
        quotas = _quotas(n, OUTCOMES)
        outcomes = [name for name, count in quotas for _ in range(count)]
        self.rng.shuffle(outcomes)
        planned = []
        for outcome in outcomes:
            low, high = ARRIVAL_DAYS[outcome]
            day = self.today - timedelta(days=self.rng.uniform(low, high))
            arrival = day.replace(hour=self.rng.randint(9, 19), minute=self.rng.randrange(60),
                                  second=self.rng.randrange(60), microsecond=0)
            arrival = max(arrival, self._office(self.start + timedelta(hours=self.rng.uniform(0, 48))))
            planned.append((arrival, outcome))
        planned.sort(key=lambda p: p[0])
        for idx, (arrival, outcome) in enumerate(planned):
            c = _Customer(idx, outcome, arrival, self.rng.choice(self.teams), self._pick(CHANNELS))
            self.customers.append(c)
        # Complaints go to customers who have been with us for a while; a few stay open.
        eligible = [c for c in self.customers if c.arrival <= self.horizon - timedelta(days=14)]
        complainants = self.rng.sample(eligible, min(len(eligible), max(2, round(n * 0.06))))
        n_open = max(1, round(len(complainants) * 0.08))
        n_late = max(1, round(len(complainants) * 0.12))
        self._complaint_plan = {c.idx: ("open" if i < n_open else "late" if i < n_open + n_late else "on_time")
                                for i, c in enumerate(complainants)}
        for c in self.customers:
            self.scheduler.spawn(self._customer_story(c), owner=c)

    # --- customers: the story ------------------------------------------------------------------

    def _customer_story(self, c: _Customer) -> Thread:
        rng = self.rng
        t = yield c.arrival
        t = yield from self._reception(c, t)
        self._side_stories(c, t)
        if c.outcome == "reception":
            return
        t = yield from self._record_needs(c, t)
        if c.outcome == "matching":
            depth = rng.random()
            if depth < 0.2:
                return
            t, _ = yield from self._matching(c, t, showings=0 if depth < 0.45 else rng.randint(1, 4))
            if rng.random() < 0.15:
                t = yield from self._service_survey(c, t)
            return
        if c.outcome in ("lost", "reactivated"):
            if rng.random() < 0.8:
                t, _ = yield from self._matching(c, t, showings=rng.randint(0, 3))
            t = yield from self._lose(c, t)
            if c.outcome == "reactivated":
                t = yield self._days(t, 20, 80)
                reason = rng.choice(("客户主动来电，预算已调整，重新启动购房", "客户家庭计划明确，重新委托找房"))
                assert c.sales is not None
                self._customer_cmd("reactivate_customer", c, c.sales, t, reason=reason)
                c.lost = False
                c.tags.append("reactivated")
                self.counts["reactivated"] += 1
                t = yield from self._record_needs(c, self._days(t, 0.5, 3))
                t, _ = yield from self._matching(c, t, showings=rng.randint(1, 3))
            return
        # Buyers: look, like, and go as far with a deal as their outcome says.
        t, best = yield from self._matching(c, t, showings=rng.randint(1, 3), want_deal=True)
        t = yield from self._deal(c, t, best, self._deal_plan(c.outcome))
        if c.outcome == "cancelled":
            if rng.random() < 0.5:
                t, _ = yield from self._matching(c, t, showings=rng.randint(1, 2))
            else:
                t = yield from self._lose(c, t, reason="financing")

    def _reception(self, c: _Customer, t: datetime) -> Step[datetime]:
        """First contact (客户首次接触): greeting, identity, information, first conversation."""
        rng = self.rng
        consultant = self._pick_consultant(c.team, t)
        c.team = consultant.team or c.team
        receiver = consultant
        if c.channel == "walk_in" and rng.random() < 0.1:
            receiver = c.team.managers[0]  # the manager on duty greets and assigns
        roll = rng.random()
        minutes = (rng.uniform(15, 30) if roll < 0.88 else rng.uniform(6, 14) if roll < 0.94
                   else rng.uniform(35, 95))
        ended = t + timedelta(minutes=round(minutes, 1))
        result = self.app.receive_customer(
            self._as(receiver), channel=c.channel, reception_started_at=t, reception_ended_at=ended,
            assigned_to=consultant.id, occurred_at=t,
        )
        self._wrote(1, c, 1)
        c.id = result.id
        c.owner = c.sales = consultant
        consultant.customers[c.idx] = c
        t = yield t + timedelta(minutes=rng.uniform(2, max(3, minutes * 0.7)))
        c.male = rng.random() < 0.5
        c.name = people.name(self.rng, c.male)
        c.phone = people.mobile(self.rng)
        c.id_number = people.id_number(self.rng, c.male, self.today.year) if rng.random() < 0.7 else None
        c.account = people.bank_card(self.rng)
        assert c.sales is not None  # not ``consultant``: a hand-over may have happened meanwhile
        self._customer_cmd("record_personal_details", c, c.sales, t, name=c.name, phone=c.phone,
                           id_number=c.id_number)
        return max(t, ended)

    def _side_stories(self, c: _Customer, t: datetime) -> None:
        rng = self.rng
        if rng.random() < 0.35:
            self.scheduler.spawn(self._requests(c, self._days(t, 1, 50), rng.choice((1, 1, 1, 2))), owner=c)
        plan = self._complaint_plan.get(c.idx)
        if plan is not None:
            room = max(1.0, (self.horizon - t).total_seconds() / 86400 - 9)
            start = self._days(t, 0.5, min(room, 120.0)) if plan != "open" else self._days(
                t, 0.5, max(1.0, (self.horizon - t).total_seconds() / 86400 - 1))
            self.scheduler.spawn(self._complaint(c, start, plan), owner=c)
        if rng.random() < 0.05 or c.idx % 97 == 3:
            self.scheduler.spawn(self._correction(c, self._days(t, 1, 30)), owner=c)

    def _record_needs(self, c: _Customer, t: datetime) -> Step[datetime]:
        """Needs analysis (需求分析): budget, area, layout, location, purpose, payment method."""
        rng = self.rng
        if c.channel != "walk_in" and c.needs is None:
            t = self._days(t, 0.5, 3)  # a follow-up call after an online or phone contact
        t = yield t
        home = rng.choices(DISTRICT_NAMES, DISTRICT_WEIGHTS)[0]
        others = [d for d in DISTRICT_NAMES if d != home]
        districts = [home, *rng.sample(others, rng.choice((0, 0, 1, 1, 2)))]
        area = rng.triangular(45, 160, 85)
        rooms = 1 if area < 55 else 2 if area < 90 else 3 if area < 135 else 4
        target = area * DISTRICTS[home][1] * rng.uniform(0.9, 1.1)
        buyer = c.outcome in ("cancelled", "signing", "transaction", "after_sales")
        qualification = "qualified" if buyer else self._pick(
            (("qualified", 80), ("pending", 15), ("not_qualified", 5)))
        needs = {
            "budget_min": int(round(target * 0.85 / 10_000) * 10_000),
            "budget_max": int(round(target * 1.12 / 10_000) * 10_000),
            "area_min": float(round(area * 0.85)),
            "area_max": float(round(area * 1.2)),
            "rooms": rooms,
            "districts": districts,
            "purpose": self._pick(PURPOSES),
            "payment_method": self._pick(PAYMENTS),
            "qualification": qualification,
        }
        assert c.sales is not None
        self._customer_cmd("record_needs", c, c.sales, t, **needs)
        c.needs = needs
        return t

    def _shortlist(self, c: _Customer, t: datetime) -> bool:
        """Listing screening (房源筛选): the best free listings for the needs, with scores."""
        ranked = self._rank(c)
        if not ranked:
            return False
        top = ranked[: self.rng.randint(3, 6)]
        matches = [(li.id, max(0, min(100, score + self.rng.randint(-3, 3)))) for score, li in top]
        assert c.sales is not None
        self._customer_cmd("shortlist_listings", c, c.sales, t, matches=matches)
        c.shortlist = [li for _, li in top]
        return True

    def _matching(self, c: _Customer, t: datetime, *, showings: int,
                  want_deal: bool = False) -> Step[tuple[datetime, _Listing | None]]:
        rng = self.rng
        t = yield self._hours(t, 2, 72)
        if not self._shortlist(c, t):
            return t, None
        best: _Listing | None = None
        best_interest = 0
        shown: list[_Listing] = []
        attempts = 0
        while (len(shown) < showings or (want_deal and best is None)) and attempts < showings + 5:
            attempts += 1
            candidates = [li for li in c.shortlist if li.status == "available" and li not in shown]
            if not candidates:
                t = yield self._hours(t, 4, 48)
                if not self._shortlist(c, t):
                    break
                continue
            listing = candidates[0] if rng.random() < 0.6 else rng.choice(candidates)
            must_like = want_deal and len(shown) + 1 >= showings
            t, interest = yield from self._showing(c, t, listing, must_like)
            if interest is not None:
                shown.append(listing)
                if interest >= 4 and interest > best_interest:
                    best, best_interest = listing, interest
        if (
            c.owner is c.sales and c.sales is not None and rng.random() < 0.04
            and c.sales.team is not None
        ):
            t = yield self._hours(t, 2, 48)
            team = c.sales.team
            others = [s for s in team.consultants if s is not c.sales and self._available(s, t)]
            if others:
                lightest = min(others, key=lambda s: (len(s.customers), s.idx))
                self._reassign(c, lightest, team.managers[0], t, "workload")
                c.tags.append("reassigned for workload")
        return t, best

    def _showing(self, c: _Customer, t: datetime, listing: _Listing,
                 must_like: bool) -> Step[tuple[datetime, int | None]]:
        """Schedule, maybe reschedule, then conduct, cancel or miss one showing (带看)."""
        rng = self.rng
        t = yield self._hours(t, 2, 96)
        if listing.status != "available":
            return t, None
        when = self._slot(t, 1, 5)
        assert c.sales is not None
        result = self._customer_cmd("schedule_showing", c, c.sales, t, listing_id=listing.id, scheduled_for=when)
        showing = result.entity_id
        c.showings += 1
        self.counts["showings"] += 1
        if rng.random() < 0.14:
            t = yield self._before(t, when)
            when = self._slot(when, 1, 3)
            self._customer_cmd("reschedule_showing", c, c.sales, t, showing_id=showing, scheduled_for=when,
                               reason=rng.choice(RESCHEDULE_REASONS))
        roll = 1.0 if must_like else rng.random()
        if roll < 0.11:
            t = yield self._before(t, when)
            self._customer_cmd("cancel_showing", c, c.sales, t, showing_id=showing, reason=rng.choice(CANCEL_REASONS))
            return t, None
        if roll < 0.19:
            t = yield when + timedelta(minutes=rng.randint(20, 45))
            self._customer_cmd("record_no_show", c, c.sales, t, showing_id=showing)
            return t, None
        t = yield when + timedelta(minutes=rng.randint(40, 100))
        if listing.status != "available":
            self._customer_cmd("cancel_showing", c, c.sales, t, showing_id=showing,
                               reason="房源已被预订或下架，本次带看取消")
            return t, None
        topics = ["property_rights", "tenure", "mortgage_policy"]
        if rng.random() < 0.2:
            topics = rng.sample(topics, rng.randint(1, 2))
        self._customer_cmd("conduct_showing", c, c.sales, t, showing_id=showing, topics_explained=topics)
        if not must_like and rng.random() < 0.1:
            return t, 0  # no feedback given
        t = yield self._hours(t, 1, 30)
        interest = rng.choice((4, 5, 5)) if must_like else self._pick(((1, 8), (2, 17), (3, 35), (4, 28), (5, 12)))
        objections = [] if interest == 5 and rng.random() < 0.5 else rng.sample(OBJECTIONS, rng.randint(1, 3))
        self._customer_cmd("record_feedback", c, c.sales, t, showing_id=showing, interest=interest,
                           objections=objections)
        return t, interest

    def _lose(self, c: _Customer, t: datetime, reason: str | None = None) -> Step[datetime]:
        """Customer loss (客户流失), with the reason chapter 8 analyses."""
        rng = self.rng
        t = yield self._days(t, 3, 45)
        if reason is None:
            reason = self._pick([(r, w) for r, _, w in LOSSES])
        note = next(n for r, n, _ in LOSSES if r == reason)
        assert c.sales is not None
        self._customer_cmd("mark_customer_lost", c, c.sales, t, reason=reason, note=note)
        c.lost = True
        if reason == "service" and rng.random() < 0.6:
            t = yield self._days(t, 1, 5)
            self._survey(c, t, low=True)
        return t


def _quotas(n: int, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """Split ``n`` by ``shares`` (largest remainder), giving every outcome at least one when n allows."""
    exact = [(name, n * share) for name, share in shares]
    counts = {name: int(x) for name, x in exact}
    if n >= len(shares):
        for name in counts:
            counts[name] = max(1, counts[name])
    order = sorted(exact, key=lambda p: (-(p[1] - int(p[1])), [s[0] for s in shares].index(p[0])))
    i = 0
    while sum(counts.values()) < n:
        counts[order[i % len(order)][0]] += 1
        i += 1
    biggest = max(counts, key=lambda k: counts[k])
    while sum(counts.values()) > n:
        counts[biggest] -= 1
    return [(name, counts[name]) for name, _ in shares]
