"""The process-analytics view on both backends, against the customer records themselves.

Customers of two teams move through the stages over about two months of business time: some
reach after-sales, some are lost at reception or matching (one is reactivated and lost nothing
after all), a cancelled deal sends one back from signing to matching, a handover moves one to
another holder. What the view should hold is worked out here from each customer's own record: its
stage *as the aggregate gives it* at every version (``ledger.state(id, version=v)["stage"]``) and
the business time of that version's event — never from the view's code or ``derive_stage``. The
summaries (conversion, time in stage with median and p90, losses by stage and reason) are checked
against numbers folded here from those visits, with the standard library's statistics. A view
rebuilt from the log equals the one built batch by batch, row for row.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.process_analytics import PROCESS_ANALYTICS, VISIT_ROWS, conversion, losses, stage_times
from projections.query import QueryError
from service.application import RealtyLedger
from tests.conftest import Team, register_team
from tests.integration.views_support import Clock, catch_up, dump, open_ledger, rebuild

ACCOUNT = "6222020200112233445"
STAGES = ("reception", "matching", "signing", "transaction", "after_sales", "lost")


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = open_ledger(own_database_url, tmp_path, projection_batch_size=6)
    try:
        yield app
    finally:
        app.close()


def text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the scenario -------------------------------------------------------------------------------


@dataclass
class Story:
    a: Team
    b: Team
    customers: dict[str, str]


class Walk:
    """Steps of a customer's way, as their consultant and manager take them."""

    def __init__(self, ledger: RealtyLedger, clock: Clock) -> None:
        self.ledger, self.clock = ledger, clock

    def listing(self, team: Team) -> str:
        return self.ledger.list_property(team.manager, district="浦东", address="锦绣路 1 号", area=80.0, rooms=2,
                                         price=5_000_000, property_right_status="clear", tenure_years=70,
                                         mortgage_eligible=True, occurred_at=self.clock(0.1)).id

    def receive(self, team: Team, hours: float) -> str:
        started = self.clock(hours)
        return self.ledger.receive_customer(team.consultant, channel="phone", reception_started_at=started,
                                            reception_ended_at=started + timedelta(minutes=20),
                                            occurred_at=started).id

    def needs(self, team: Team, customer: str, hours: float) -> None:
        self.ledger.record_needs(team.consultant, customer, budget_min=3_000_000, budget_max=6_000_000, area_min=60,
                                 area_max=100, rooms=2, districts=["浦东"], purpose="home", payment_method="full",
                                 qualification="qualified", occurred_at=self.clock(hours))

    def shortlist(self, team: Team, customer: str, hours: float) -> None:
        self.ledger.shortlist_listings(team.consultant, customer, matches=[(self.listing(team), 90)],
                                       occurred_at=self.clock(hours))

    def showing(self, team: Team, customer: str, hours: float) -> None:
        self.ledger.schedule_showing(team.consultant, customer, listing_id=self.listing(team),
                                     scheduled_for=self.clock(hours) + timedelta(days=1), occurred_at=self.clock(0.1))

    def draft(self, team: Team, customer: str, hours: float) -> str:
        listing = self.listing(team)
        return self.ledger.draft_deal(team.consultant, customer_id=customer, listing_id=listing, price=5_000_000,
                                      terms="首付三成", occurred_at=self.clock(hours)).id

    def sign(self, team: Team, deal: str, hours: float) -> None:
        self.ledger.submit_deal_for_review(team.consultant, deal, occurred_at=self.clock(0.5))
        self.ledger.approve_deal(team.manager, deal, occurred_at=self.clock(0.5))
        self.ledger.sign_deal(team.consultant, deal, contract_number="HT-1", occurred_at=self.clock(hours))

    def hand_over(self, team: Team, deal: str, hours: float) -> None:
        c = team.consultant
        self.ledger.require_deal_documents(c, deal, kinds=["id_card"], occurred_at=self.clock(0.5))
        self.ledger.receive_deal_document(c, deal, kind="id_card", occurred_at=self.clock(0.5))
        self.ledger.verify_deal_document(c, deal, kind="id_card", occurred_at=self.clock(0.5))
        self.ledger.record_payment(c, deal, kind="balance", amount=5_000_000, payer_account=ACCOUNT,
                                   occurred_at=self.clock(0.5))
        self.ledger.settle_funds(c, deal, occurred_at=self.clock(0.5))
        self.ledger.confirm_handover(c, deal, occurred_at=self.clock(hours))

    def lose(self, team: Team, customer: str, reason: str, hours: float) -> None:
        self.ledger.mark_customer_lost(team.consultant, customer, reason=reason, note="客户说价格太高",
                                       occurred_at=self.clock(hours))


def play(ledger: RealtyLedger, *, catch_up_between: bool) -> Story:
    step = (lambda: catch_up(ledger, [PROCESS_ANALYTICS.name])) if catch_up_between else (lambda: None)
    clock = Clock(days=80)
    w = Walk(ledger, clock)
    a, b = register_team(ledger, name="浦东一组"), register_team(ledger, name="徐汇二组")
    c: dict[str, str] = {}
    for label, team in (("done", a), ("lost_matching", a), ("comeback", a), ("showing", a), ("new", a),
                        ("lost_late", a), ("handed", a), ("b_signed", b), ("b_lost", b), ("b_matching", b)):
        c[label] = w.receive(team, hours=20)
    step()
    w.needs(a, c["done"], 30)
    w.shortlist(a, c["lost_matching"], 4)
    w.lose(a, c["comeback"], "no_response", 50)
    w.showing(a, c["showing"], 70)
    w.needs(a, c["lost_late"], 12)
    w.needs(a, c["handed"], 8)
    w.needs(b, c["b_signed"], 15)
    w.shortlist(b, c["b_matching"], 40)
    w.lose(b, c["b_lost"], "location", 5)
    step()
    done = w.draft(a, c["done"], 60)
    w.sign(a, done, 30)
    w.lose(a, c["lost_matching"], "price", 100)
    ledger.reactivate_customer(a.consultant, c["comeback"], reason="重新有意向", occurred_at=clock(24))
    w.needs(a, c["comeback"], 48)
    first = w.draft(a, c["comeback"], 72)
    ledger.cancel_deal(a.consultant, first, reason="客户放弃", occurred_at=clock(36))
    b_deal = w.draft(b, c["b_signed"], 20)
    w.sign(b, b_deal, 90)
    step()
    ledger.reassign_customer(a.manager, c["handed"], to_staff=str(a.customer_manager.staff_id), reason="hand_over",
                             occurred_at=clock(6))
    second = w.draft(a, c["comeback"], 100)
    w.sign(a, second, 45)
    w.hand_over(a, done, 120)
    ledger.close_deal(a.consultant, done, occurred_at=clock(48))
    w.lose(a, c["lost_late"], "competitor", 200)
    step()
    handed = w.draft(a, c["handed"], 24)
    w.sign(a, handed, 12)
    catch_up(ledger, [PROCESS_ANALYTICS.name])
    return Story(a, b, c)


# --- what the view should hold, from the customer records ---------------------------------------


def walk_of(ledger: RealtyLedger, customer: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The customer's visits to stages and their losses, from the aggregate's stage at each version."""
    visits: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    previous: str | None = None
    for event in ledger.history(customer):
        state = ledger.state(customer, version=event["version"])
        stage, at = state["stage"], datetime.fromisoformat(event["occurred_at"])
        if event["name"].endswith(".MarkedLost"):
            lost.append({"customer_id": customer, "stage": previous, "reason": event["data"]["reason"],
                         "team": state["team"], "month": at.astimezone(UTC).strftime("%Y-%m"),
                         "lost_at": text(at), "reactivated_at": None})
        if event["name"].endswith(".Reactivated"):
            lost[-1]["reactivated_at"] = text(at)
        if stage != previous:
            if visits:
                visits[-1].update(left_at=text(at), next_stage=stage, open=False,
                                  hours=(at - visits[-1]["_at"]).total_seconds() / 3600)
            visits.append({"customer_id": customer, "seq": len(visits) + 1, "stage": stage, "team": state["team"],
                           "month": at.astimezone(UTC).strftime("%Y-%m"), "entered_at": text(at), "left_at": None,
                           "next_stage": None, "hours": None, "open": True, "_at": at})
        previous = stage
    for visit in visits:
        del visit["_at"]
    return visits, lost


def expected(ledger: RealtyLedger, story: Story) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    visits, lost = [], []
    for customer in story.customers.values():
        v, lo = walk_of(ledger, customer)
        visits += v
        lost += lo
    return visits, lost


def view_visits(ledger: RealtyLedger, **filters: Any) -> list[dict[str, Any]]:
    page, _ = ledger.views.list(VISIT_ROWS, filters=filters, limit=500)
    assert page.next_cursor is None
    return page.items


def key(visit: dict[str, Any]) -> tuple[str, int]:
    return visit["customer_id"], visit["seq"]


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]  # linear between closest ranks


# --- the tests ----------------------------------------------------------------------------------


def test_each_customers_visits_to_the_stages_are_those_their_record_went_through(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=True)
    visits, _ = expected(ledger, story)
    got = sorted(view_visits(ledger), key=key)
    want = sorted(visits, key=key)
    assert [{k: v for k, v in g.items() if k not in ("visit_id", "hours")} for g in got] == [
        {k: v for k, v in w.items() if k != "hours"} for w in want]
    assert [g["hours"] for g in got] == [pytest.approx(w["hours"]) if w["hours"] is not None else None for w in want]
    # The ways the story promised, as the records tell them.
    ways = defaultdict(list)
    for v in sorted(visits, key=key):
        ways[v["customer_id"]].append(v["stage"])
    c = story.customers
    assert ways[c["done"]] == ["reception", "matching", "signing", "transaction", "after_sales"]
    assert ways[c["comeback"]] == ["reception", "lost", "reception", "matching", "signing", "matching", "signing",
                                   "transaction"]
    assert ways[c["lost_matching"]] == ["reception", "matching", "lost"]
    assert ways[c["new"]] == ["reception"]


def test_losses_name_the_stage_lost_at_the_reason_and_any_reactivation(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=True)
    _, lost = expected(ledger, story)
    rows, _ = ledger.views.query(PROCESS_ANALYTICS.name, "SELECT customer_id, stage, reason, team, month, lost_at, "
                                 "reactivated_at FROM {losses}")
    names = ("customer_id", "stage", "reason", "team", "month", "lost_at", "reactivated_at")
    assert sorted(tuple(r) for r in rows) == sorted(tuple(d[n] for n in names) for d in lost)
    assert len(lost) == 4

    answer, _ = losses(ledger.views)
    counts = Counter((d["stage"], d["reason"]) for d in lost)
    back = Counter((d["stage"], d["reason"]) for d in lost if d["reactivated_at"])
    assert {(g["stage"], g["reason"]): (g["lost"], g["reactivated"]) for g in answer["groups"]} == {
        k: (n, back[k]) for k, n in counts.items()}
    assert answer["by_stage"] == dict(Counter(d["stage"] for d in lost))
    assert answer["total"] == {"lost": 4, "reactivated": 1}
    team_a, _ = losses(ledger.views, forced={"team": story.a.name})
    assert team_a["total"]["lost"] == sum(1 for d in lost if d["team"] == story.a.name) == 3
    at_matching, _ = losses(ledger.views, filters={"stage": "matching"})
    assert at_matching["total"]["lost"] == sum(1 for d in lost if d["stage"] == "matching") == 2


def conversion_expected(visits: list[dict[str, Any]], start: str, *, team: str | None = None,
                        month_from: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Of the customers who entered ``start`` (first entry within the filters), who reached what later."""
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in sorted(visits, key=key):
        by_customer[v["customer_id"]].append(v)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for walk in by_customer.values():
        entry = next((v for v in walk if v["stage"] == start and (team is None or v["team"] == team)
                      and (month_from is None or v["month"] >= month_from)), None)
        if entry is None:
            continue
        group = groups.setdefault((entry["team"], entry["month"]), {"entered": 0, "reached": Counter()})
        group["entered"] += 1
        for stage in {v["stage"] for v in walk if v["seq"] > entry["seq"]}:
            group["reached"][stage] += 1
    return groups


@pytest.mark.parametrize("start", ["reception", "matching", "signing"])
def test_conversion_counts_who_entered_a_stage_and_what_they_reached_later_by_team_and_month(
        ledger: RealtyLedger, start: str) -> None:
    story = play(ledger, catch_up_between=False)
    visits, _ = expected(ledger, story)
    months = sorted({v["month"] for v in visits})
    for filters, forced in (({}, {}), ({}, {"team": story.a.name}), ({"month_from": months[-1]}, {})):
        want = conversion_expected(visits, start, team=forced.get("team"), month_from=filters.get("month_from"))
        answer, _ = conversion(ledger.views, from_stage=start, filters=filters, forced=forced)
        targets = [s for s in STAGES if s != start]
        assert answer["to_stages"] == targets
        assert [(g["team"], g["month"]) for g in answer["groups"]] == sorted(want)
        for g in answer["groups"]:
            w = want[(g["team"], g["month"])]
            assert g["entered"] == w["entered"]
            assert g["reached"] == {s: w["reached"][s] for s in targets}
            assert g["rate"] == {s: w["reached"][s] / w["entered"] for s in targets}
        assert answer["total"]["entered"] == sum(w["entered"] for w in want.values())
    answer, _ = conversion(ledger.views, from_stage="reception", to_stage="transaction")
    # done, comeback, handed and b_signed reached a transaction; done went on to after-sales
    assert answer["total"] == {"entered": len(story.customers), "reached": {"transaction": 4},
                               "rate": {"transaction": 4 / len(story.customers)}}


def test_time_in_stage_is_the_median_and_p90_of_the_visits_that_ended(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=False)
    visits, _ = expected(ledger, story)
    answer, _ = stage_times(ledger.views)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for v in visits:
        groups[(v["stage"], v["team"], v["month"])].append(v)
    assert [(g["stage"], g["team"], g["month"]) for g in answer["groups"]] == sorted(
        groups, key=lambda k: (STAGES.index(k[0]), k[1], k[2]))
    for g in answer["groups"]:
        members = groups[(g["stage"], g["team"], g["month"])]
        hours = [v["hours"] for v in members if not v["open"]]
        assert g["completed"] == len(hours) and g["open"] == len(members) - len(hours)
        assert g["median_hours"] == (pytest.approx(statistics.median(hours)) if hours else None)
        assert g["p90_hours"] == (pytest.approx(p90(hours)) if hours else None)
    for s in answer["stages"]:
        hours = [v["hours"] for v in visits if v["stage"] == s["stage"] and not v["open"]]
        assert s["median_hours"] == (pytest.approx(statistics.median(hours)) if hours else None)
        assert s["p90_hours"] == (pytest.approx(p90(hours)) if hours else None)
    reception = next(s for s in answer["stages"] if s["stage"] == "reception")
    assert reception["completed"] >= 8 and reception["median_hours"] > 0
    only_b, _ = stage_times(ledger.views, forced={"team": story.b.name})
    assert {g["team"] for g in only_b["groups"]} == {story.b.name}


def test_bad_stage_names_and_unknown_filters_are_refused_by_name(ledger: RealtyLedger) -> None:
    play(ledger, catch_up_between=False)
    for call, code in ((lambda: conversion(ledger.views, from_stage="closing"), "invalid_filter"),
                       (lambda: conversion(ledger.views, from_stage="matching", to_stage="matching"), "invalid_filter"),
                       (lambda: conversion(ledger.views, filters={"stage": "matching"}), "unknown_filter"),
                       (lambda: stage_times(ledger.views, filters={"colour": "red"}), "unknown_filter"),
                       (lambda: losses(ledger.views, filters={"note": "x"}), "unknown_filter")):
        with pytest.raises(QueryError) as refused:
            call()
        assert refused.value.code == code


def test_the_view_rebuilt_from_the_log_equals_the_one_built_step_by_step(ledger: RealtyLedger) -> None:
    play(ledger, catch_up_between=True)
    before = dump(ledger, PROCESS_ANALYTICS.name)
    assert before["visits"] and before["losses"] and before["customers"]
    generation = rebuild(ledger, PROCESS_ANALYTICS.name)
    assert dump(ledger, PROCESS_ANALYTICS.name, generation) == before


@pytest.mark.parametrize("sort", ["-entered_at", "hours", "left_at"])
def test_pages_of_visits_return_every_visit_once_in_order(ledger: RealtyLedger, sort: str) -> None:
    story = play(ledger, catch_up_between=False)
    whole, _ = ledger.views.list(VISIT_ROWS, filters={}, sort=sort, limit=500)
    seen: list[str] = []
    cursor = None
    while True:
        page, _ = ledger.views.list(VISIT_ROWS, filters={}, sort=sort, cursor=cursor, limit=4)
        seen.extend(v["visit_id"] for v in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [v["visit_id"] for v in whole.items]
    assert len(set(seen)) == len(seen) == len(expected(ledger, story)[0])
    # A handover keeps the customer in their team: every visit of theirs is team A's.
    handed = view_visits(ledger, customer_id=story.customers["handed"])
    assert {v["team"] for v in handed} == {story.a.name}
    assert [v["stage"] for v in sorted(handed, key=key)] == ["reception", "matching", "signing", "transaction"]
