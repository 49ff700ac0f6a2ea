"""The service-desk view on both backends, against what the test itself sent.

Requests and complaints are raised, answered, escalated, warned about and recorded as breached
through the application's commands, back-dated in business time; customers are handed over,
returned to the pool and claimed. The expected rows are worked out here from that plan (24 h and
72 h windows, warnings at 75%) and from the clock's own events in each customer's history — never
from the view's code. A view rebuilt from the log equals the one built batch by batch.

The helpers at the top (``ledger``, ``build``, ``rebuild``, ``snapshot``) serve the other view tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.projection import Projection
from projections.query import ListSpec
from projections.runner import ProjectionRunner
from projections.service_desk import ITEM_LIST, SERVICE_DESK
from service.application import Acting, RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team

H = timedelta(hours=1)
D = timedelta(days=1)


# --- shared by the view tests ------------------------------------------------------------------


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    """A ledger on a store of its own (the views see only this test's events), whose projector
    works in batches of 3 events, so a scenario spans many batches."""
    app = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys",
                                     projection_batch_size=3))
    try:
        yield app
    finally:
        app.close()


@dataclass
class Built:
    """A runner that owns one view; ``catch_up`` after each step of a scenario."""

    runner: ProjectionRunner

    def catch_up(self) -> None:
        self.runner.catch_up()
        assert self.runner.last_error is None, self.runner.last_error


def build(ledger: RealtyLedger, name: str) -> Built:
    runner = ledger.views.make_runner([name])
    assert runner.acquire() == [name]
    built = Built(runner)
    built.catch_up()
    return built


def snapshot(ledger: RealtyLedger, projection: Projection) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
    """Every row of every table of the view's active generation, in key order, and the generation."""
    rows = {}
    generation = ledger.views.active(projection.name).generation
    for table in projection.tables:
        rows[table.name], view = ledger.views.query(
            projection.name, f"SELECT {', '.join(table.column_names)} FROM {{{table.name}}} ORDER BY {table.key}")
        assert view.generation == generation
    return generation, rows


def rebuild(ledger: RealtyLedger, built: Built, projection: Projection) -> None:
    """Rebuild the view from the start of the log, in one batch, the way a new version of it is
    built: a new generation that replaces the active one once it has caught up."""
    built.runner.release()
    newer = type(f"{type(projection).__name__}Next", (type(projection),), {"version": projection.version + 1})()
    runner = ProjectionRunner(ledger.views.store, ledger.views.log, ledger.views.decode, [newer], batch_size=100_000)
    try:
        assert runner.acquire() == [projection.name]
        runner.catch_up()
        assert runner.last_error is None, runner.last_error
    finally:
        runner.release()


def assert_rebuild_equals(ledger: RealtyLedger, built: Built, projection: Projection) -> None:
    before_generation, before = snapshot(ledger, projection)
    assert any(before.values()), "the scenario left the view empty: the comparison would prove nothing"
    rebuild(ledger, built, projection)
    after_generation, after = snapshot(ledger, projection)
    assert after_generation > before_generation  # a new generation, filled from the log
    for table in before:
        assert after[table] == before[table], table


def all_rows(ledger: RealtyLedger, spec: ListSpec, **filters: Any) -> list[dict[str, Any]]:
    """Every row a list answers for these filters, page by page (each row once)."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, _ = ledger.views.list(spec, filters=filters, cursor=cursor, limit=4)
        rows.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    keys = [row[spec.table_spec.key] for row in rows]
    assert len(keys) == len(set(keys)), "a row came twice"
    return rows


def when(text: str | None) -> datetime | None:
    """A view's time text as a time (parsed here, not with the view's helper)."""
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


# --- the scenario --------------------------------------------------------------------------------


@dataclass
class Item:
    id: str
    kind: str  # request | complaint
    customer: str
    raised_at: datetime
    category: str | None = None
    severity: str | None = None
    acknowledged_at: datetime | None = None
    escalated_at: datetime | None = None
    closed_at: datetime | None = None
    status: str = "open"
    warned: bool = False
    breached: bool = False


@dataclass
class Desk:
    """What the test sent: each item's story, and each customer's team and current holder."""

    ledger: RealtyLedger
    team: Team
    other: Team
    now: datetime
    items: dict[str, Item] = field(default_factory=dict)
    holder: dict[str, str | None] = field(default_factory=dict)
    team_of: dict[str, str] = field(default_factory=dict)

    def receive(self, who: Acting, of: Team, at: datetime) -> str:
        customer = self.ledger.receive_customer(who, channel="walk_in", reception_started_at=at,
                                                reception_ended_at=at + timedelta(minutes=20)).id
        self.holder[customer], self.team_of[customer] = str(who.staff_id), of.name
        return customer

    def request(self, who: Acting, customer: str, at: datetime) -> Item:
        result = self.ledger.raise_request(who, customer, subject="学区政策咨询", occurred_at=at)
        item = self.items[str(result.entity_id)] = Item(str(result.entity_id), "request", customer, at)
        return item

    def respond(self, who: Acting, item: Item, at: datetime) -> None:
        self.ledger.respond_to_request(who, item.customer, request_id=item.id, response="已答复", occurred_at=at)
        item.closed_at, item.status = at, "responded"

    def complaint(self, who: Acting, customer: str, at: datetime, category: str, severity: str) -> Item:
        result = self.ledger.file_complaint(who, customer, category=category, severity=severity,
                                            description="带看迟到", occurred_at=at)
        item = self.items[str(result.entity_id)] = Item(str(result.entity_id), "complaint", customer, at,
                                                        category, severity)
        return item

    def acknowledge(self, who: Acting, item: Item, at: datetime) -> None:
        self.ledger.acknowledge_complaint(who, item.customer, complaint_id=item.id, occurred_at=at)
        item.acknowledged_at, item.status = at, "acknowledged"

    def escalate(self, who: Acting, item: Item, to: Acting, at: datetime) -> None:
        self.ledger.escalate_complaint(who, item.customer, complaint_id=item.id, escalated_to=str(to.staff_id),
                                       reason="客户要求经理处理", occurred_at=at)
        item.escalated_at, item.status = at, "escalated"

    def resolve(self, who: Acting, item: Item, at: datetime) -> None:
        self.ledger.resolve_complaint(who, item.customer, complaint_id=item.id, resolution="已致歉", occurred_at=at)
        item.closed_at, item.status = at, "resolved"

    def warn(self, item: Item) -> None:
        self.ledger.issue_sla_warning(Acting.system(), item.customer, item_kind=item.kind, item_id=item.id,
                                      now=datetime.now(UTC))
        item.warned = True

    def breach(self, item: Item) -> None:
        self.ledger.record_sla_breach(Acting.system(), item.customer, item_kind=item.kind, item_id=item.id,
                                      now=datetime.now(UTC))
        item.breached = True


def scenario(ledger: RealtyLedger, between: Callable[[], None] = lambda: None) -> Desk:
    """Five customers of two teams and eleven items; ``between`` runs after each customer's story."""
    team, other = register_team(ledger, "浦东一组"), register_team(ledger, "徐汇二组")
    now = datetime.now(UTC)
    desk = Desk(ledger, team, other, now)

    # The consultant's customer: a request answered in 2 hours, one answered late (26 hours), and a
    # high complaint acknowledged, escalated and resolved within its 72 hours.
    t0 = now - 10 * D
    c1 = desk.receive(team.consultant, team, t0)
    r1 = desk.request(team.consultant, c1, t0 + H)
    desk.respond(team.service, r1, t0 + 3 * H)
    r2 = desk.request(team.consultant, c1, t0 + 4 * H)
    k1 = desk.complaint(team.service, c1, t0 + 5 * H, "服务", "high")
    desk.acknowledge(team.service, k1, t0 + 6 * H)
    desk.escalate(team.service, k1, team.manager, t0 + 7 * H)
    desk.respond(team.service, r2, t0 + 30 * H)
    desk.resolve(team.manager, k1, t0 + 2 * D)
    between()

    # The second consultant's customer, handed over to the consultant an hour ago: a complaint 60
    # hours old (warned, not yet due) and a request 30 hours old (warned and recorded as breached).
    c2 = desk.receive(team.second_consultant, team, now - 10 * D)
    k2 = desk.complaint(team.service, c2, now - 60 * H, "服务", "medium")
    r3 = desk.request(team.second_consultant, c2, now - 30 * H)
    desk.warn(r3)
    desk.breach(r3)
    desk.warn(k2)
    ledger.reassign_customer(team.manager, c2, to_staff=team.id(team.consultant), reason="hand_over",
                             occurred_at=now - H)
    desk.holder[c2] = team.id(team.consultant)
    between()

    # A request 25 hours old that the clock has not looked at yet (overdue, not recorded as
    # breached), and a fresh low complaint.
    c3 = desk.receive(team.consultant, team, now - 3 * D)
    desk.request(team.consultant, c3, now - 25 * H)
    desk.complaint(team.service, c3, now - H, "价格", "low")
    between()

    # The other team: a complaint resolved 8 hours past its due time, a request answered in an hour.
    c4 = desk.receive(other.consultant, other, now - 5 * D)
    k4 = desk.complaint(other.service, c4, now - 80 * H, "流程", "medium")
    r5 = desk.request(other.consultant, c4, now - 2 * H)
    desk.respond(other.service, r5, now - H)
    desk.resolve(other.manager, k4, now - timedelta(minutes=30))
    between()

    # A customer left untouched: returned to the pool, claimed by the customer manager, who then
    # holds the old (answered) request and a new open one.
    c5 = desk.receive(team.second_consultant, team, now - 20 * D)
    r6 = desk.request(team.service, c5, now - 19 * D)
    desk.respond(team.service, r6, now - 19 * D + 2 * H)
    ledger.return_to_pool(Acting.system(), c5, now=datetime.now(UTC))
    desk.holder[c5] = None
    between()
    ledger.claim_from_pool(team.customer_manager, c5, occurred_at=now - 4 * D)
    desk.holder[c5] = team.id(team.customer_manager)
    desk.request(team.service, c5, now - 3 * H)
    between()
    return desk


# --- what the view should say, worked out from the plan and the events ---------------------------


def sla_event_times(ledger: RealtyLedger, customer: str) -> dict[tuple[str, str], datetime]:
    """(item id, "warned" | "breached") -> the business time of the clock's event, from the history."""
    found = {}
    for event in ledger.history(customer):
        if event["event"] in ("realty.customer.sla_warning_issued", "realty.customer.sla_breached"):
            what = "warned" if event["event"].endswith("warning_issued") else "breached"
            found[(event["data"]["item_id"], what)] = datetime.fromisoformat(event["occurred_at"])
    return found


def expected_rows(desk: Desk) -> dict[str, dict[str, Any]]:
    clock = {k: v for customer in desk.holder for k, v in sla_event_times(desk.ledger, customer).items()}
    rows = {}
    for item in desk.items.values():
        window = timedelta(hours=24 if item.kind == "request" else 72)
        due = item.raised_at + window
        first = min((t for t in (item.acknowledged_at, item.closed_at) if t is not None), default=None)
        rows[item.id] = {
            "item_kind": item.kind, "customer_id": item.customer, "team": desk.team_of[item.customer],
            "holder": desk.holder[item.customer], "category": item.category, "severity": item.severity,
            "status": item.status, "open": item.closed_at is None,
            "raised_at": item.raised_at, "warn_at": item.raised_at + window * 3 / 4, "due_at": due,
            "acknowledged_at": item.acknowledged_at, "escalated_at": item.escalated_at,
            "responded_at": item.closed_at if item.kind == "request" else None,
            "resolved_at": item.closed_at if item.kind == "complaint" else None,
            "closed_at": item.closed_at, "closed_late": None if item.closed_at is None else item.closed_at > due,
            "first_response_at": first,
            "first_response_minutes": None if first is None else (first - item.raised_at) / timedelta(minutes=1),
            "warned": item.warned, "warned_at": clock.get((item.id, "warned")),
            "breached": item.breached, "breached_at": clock.get((item.id, "breached")),
        }
    return rows


TIMES = ("raised_at", "warn_at", "due_at", "acknowledged_at", "escalated_at", "responded_at", "resolved_at",
         "closed_at", "first_response_at", "warned_at", "breached_at")


def as_seen(row: dict[str, Any]) -> dict[str, Any]:
    seen = {k: v for k, v in row.items() if k != "item_id"}
    for column in TIMES:
        seen[column] = when(seen[column])
    return seen


# --- the tests -----------------------------------------------------------------------------------


def test_every_item_has_its_due_time_warning_breach_first_response_and_current_holder(
    ledger: RealtyLedger,
) -> None:
    desk = scenario(ledger)
    build(ledger, SERVICE_DESK.name)
    seen = {row["item_id"]: as_seen(row) for row in all_rows(ledger, ITEM_LIST)}
    expected = expected_rows(desk)
    assert set(seen) == set(expected)
    for item_id, row in expected.items():
        minutes = row.pop("first_response_minutes")
        got = seen[item_id].pop("first_response_minutes")
        assert got == pytest.approx(minutes, abs=1e-6) if minutes is not None else got is None
        assert seen[item_id] == row, item_id
    # The clock's events: the request's warning at 18 of its 24 hours, its breach at the due time.
    r3 = next(i for i in desk.items.values() if i.breached)
    assert seen[r3.id]["warned_at"] == r3.raised_at + 18 * H
    assert seen[r3.id]["breached_at"] == r3.raised_at + 24 * H


FILTERS: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any], Desk], bool]]] = {
    "open": ({"open": "true"}, lambda r, d: r["open"]),
    "closed": ({"open": "false"}, lambda r, d: not r["open"]),
    "complaints": ({"kind": "complaint"}, lambda r, d: r["item_kind"] == "complaint"),
    "resolved": ({"status": "resolved"}, lambda r, d: r["status"] == "resolved"),
    "responded": ({"status": "responded"}, lambda r, d: r["status"] == "responded"),
    "escalated": ({"status": "escalated"}, lambda r, d: r["status"] == "escalated"),
    "the other team": ({"team": "徐汇二组"}, lambda r, d: r["team"] == "徐汇二组"),
    "the consultant's": ({"holder": "CONSULTANT"}, lambda r, d: r["holder"] == d.team.id(d.team.consultant)),
    "breached": ({"breached": "true"}, lambda r, d: r["breached"]),
    "warned": ({"warned": "true"}, lambda r, d: r["warned"]),
    "closed late": ({"closed_late": "true"}, lambda r, d: r["closed_late"] is True),
    "high": ({"severity": "high"}, lambda r, d: r["severity"] == "high"),
    "due before now": ({"due_before": "NOW"}, lambda r, d: r["due_at"] < d.now),
    "warn before now": ({"warn_before": "NOW"}, lambda r, d: r["warn_at"] < d.now),
    "open and due by now (overdue)": ({"open": "true", "due_by": "NOW"},
                                      lambda r, d: r["open"] and r["due_at"] <= d.now),
    "open and due before tomorrow": ({"open": "true", "due_before": "TOMORROW"},
                                     lambda r, d: r["open"] and r["due_at"] < d.now + D),
    "raised in the last two days": ({"raised_after": "TWO_DAYS_AGO"}, lambda r, d: r["raised_at"] >= d.now - 2 * D),
}


def test_each_filter_answers_the_items_the_plan_says(ledger: RealtyLedger) -> None:
    desk = scenario(ledger)
    build(ledger, SERVICE_DESK.name)
    expected = expected_rows(desk)
    values = {"NOW": desk.now.isoformat(), "TOMORROW": (desk.now + D).isoformat(),
              "TWO_DAYS_AGO": (desk.now - 2 * D).isoformat(), "CONSULTANT": desk.team.id(desk.team.consultant)}
    for label, (filters, wanted) in FILTERS.items():
        given = {k: values.get(v, v) for k, v in filters.items()}
        got = {row["item_id"] for row in all_rows(ledger, ITEM_LIST, **given)}
        assert got == {i for i, row in expected.items() if wanted(row, desk)}, label
        assert got or label in ("escalated",), f"{label}: an empty answer proves little"
    # Overdue right now: the request the clock recorded as breached, and the one it has not seen yet.
    overdue = {i for i, r in expected.items() if r["open"] and r["due_at"] <= desk.now}
    assert len(overdue) == 2 and sum(expected[i]["breached"] for i in overdue) == 1
    per_customer = {row["customer_id"] for row in all_rows(ledger, ITEM_LIST, customer_id=next(iter(desk.holder)))}
    assert per_customer == {next(iter(desk.holder))}


def test_the_list_sorted_by_due_time_pages_through_every_item_once_in_order(ledger: RealtyLedger) -> None:
    desk = scenario(ledger)
    build(ledger, SERVICE_DESK.name)
    expected = expected_rows(desk)
    for sort in ("due_at", "-due_at", "raised_at", "-warn_at"):
        rows, cursor = [], None
        while True:
            page, _ = ledger.views.list(ITEM_LIST, filters={}, sort=sort, cursor=cursor, limit=3)
            rows.extend(page.items)
            if (cursor := page.next_cursor) is None:
                break
        column = sort.removeprefix("-")
        order = sorted(expected, key=lambda i: (expected[i][column], i), reverse=sort.startswith("-"))
        assert [r["item_id"] for r in rows] == order, sort


def test_a_rebuilt_service_desk_equals_the_one_built_batch_by_batch_row_for_row(ledger: RealtyLedger) -> None:
    built = build(ledger, SERVICE_DESK.name)
    desk = scenario(ledger, between=built.catch_up)
    expected = expected_rows(desk)
    assert {row["item_id"] for row in all_rows(ledger, ITEM_LIST)} == set(expected)
    assert_rebuild_equals(ledger, built, SERVICE_DESK)
    assert {row["item_id"]: row["holder"] for row in all_rows(ledger, ITEM_LIST)} == {
        i: row["holder"] for i, row in expected.items()}
