"""The staff-performance view on both backends, against what the test itself sent.

Two teams work for about two months of business time: receptions, showings (one recorded by a
manager on a consultant's behalf), requests answered after a measured delay, complaints, surveys,
signed deals (one for a customer handed over first), a customer returned to the public pool and
claimed, trainings, assessments, a move to the other team and a deactivation. Every countable step
is written down here as it is sent — who it counts for, in which month, and that person's team
and role then — and the view's rows and summaries are checked against that record, never against
the view's code. A view rebuilt from the log equals the one built batch by batch, row for row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.staff_performance import MONTHLY_ROWS, STAFF_PERFORMANCE, STAFF_ROWS, summarise
from service.application import Acting, RealtyLedger
from tests.conftest import Team
from tests.integration.views_support import Clock, catch_up, dump, open_ledger, rebuild

ACCOUNT = "6222020200112233445"
COUNTS = ("receptions", "showings", "conversions", "complaints", "surveys", "satisfied", "responses", "trainings")


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = open_ledger(own_database_url, tmp_path, projection_batch_size=5)
    try:
        yield app
    finally:
        app.close()


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def register_team_at(ledger: RealtyLedger, name: str, when: datetime) -> Team:
    """``tests.conftest.register_team``, back-dated: later staff events (trainings) must not precede it."""
    def add(person: str, role: str) -> Acting:
        return Acting(ledger.register_staff(Acting.system(), name=person, role=role, team=name, occurred_at=when).id)

    return Team(name=name, manager=add("王建国", "sales_manager"), second_manager=add("陈丽华", "sales_manager"),
                consultant=add("张伟", "property_consultant"), second_consultant=add("刘洋", "property_consultant"),
                customer_manager=add("李娜", "customer_manager"), service=add("赵敏", "customer_service"),
                compliance=add("孙强", "compliance_officer"), archivist=add("周静", "archivist"),
                admin=add("吴刚", "administrator"), service_account=add("报表服务", "service_account"))


@dataclass
class Expected:
    """The test's own record: each staff member's counts per month, and their staff record."""

    staff: dict[str, dict[str, Any]] = field(default_factory=dict)  # staff id -> role, team, active, ...
    months: dict[str, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))  # "staff|month" -> row

    def join(self, team: Team) -> None:
        for member, role in ((team.manager, "sales_manager"), (team.second_manager, "sales_manager"),
                             (team.consultant, "property_consultant"),
                             (team.second_consultant, "property_consultant"),
                             (team.customer_manager, "customer_manager"), (team.service, "customer_service"),
                             (team.compliance, "compliance_officer"), (team.archivist, "archivist"),
                             (team.admin, "administrator"), (team.service_account, "service_account")):
            self.staff[str(member.staff_id)] = {"role": role, "team": team.name, "active": True, "scores": [],
                                                "assessment": None}

    def row(self, who: Acting | str, at: datetime) -> dict[str, Any]:
        staff_id = str(who.staff_id if isinstance(who, Acting) else who)
        row = self.months[f"{staff_id}|{month_of(at)}"]
        if not row:
            row.update({c: 0 for c in COUNTS}, staff_id=staff_id, month=month_of(at), minutes=0.0, scores=[],
                       assessment=None)
        row["team"], row["role"] = self.staff[staff_id]["team"], self.staff[staff_id]["role"]
        return row

    def count(self, who: Acting | str | None, at: datetime, counter: str) -> None:
        if who is not None:
            self.row(who, at)[counter] += 1


@dataclass
class Story:
    a: Team
    b: Team
    expected: Expected
    customers: dict[str, str]


def play(ledger: RealtyLedger, *, catch_up_between: bool) -> Story:
    step = (lambda: catch_up(ledger, [STAFF_PERFORMANCE.name])) if catch_up_between else (lambda: None)
    clock = Clock(days=75)
    a = register_team_at(ledger, "浦东一组", clock())
    b = register_team_at(ledger, "徐汇二组", clock())
    exp = Expected()
    exp.join(a)
    exp.join(b)
    listings = iter([ledger.list_property(a.manager, district="浦东", address="锦绣路 1 号", area=80.0, rooms=2,
                                          price=5_000_000, property_right_status="clear", tenure_years=70,
                                          mortgage_eligible=True, occurred_at=clock()).id for _ in range(4)])
    shown = next(listings)
    holders: dict[str, Acting | None] = {}

    def receive(label: str, by: Acting, holder: Acting) -> str:
        started = clock(30)
        customer = ledger.receive_customer(by, channel="walk_in", reception_started_at=started,
                                           reception_ended_at=started + timedelta(minutes=25),
                                           assigned_to=str(holder.staff_id), occurred_at=started).id
        exp.count(holder, started, "receptions")
        holders[label] = holder
        return customer

    c = {label: receive(label, by, holder) for label, by, holder in (
        ("c0", a.consultant, a.consultant), ("c1", a.consultant, a.second_consultant),
        ("c2", a.manager, a.customer_manager), ("c3", a.consultant, a.consultant),
        ("c4", a.consultant, a.consultant), ("c5", a.second_consultant, a.second_consultant),
        ("b0", b.consultant, b.consultant), ("b1", b.consultant, b.consultant))}
    step()

    # Showings: the consultant's own; one the manager records on the second consultant's behalf
    # (it counts for the second consultant); one the manager conducts himself.
    def showing(customer: str, scheduler: Acting, conductor: Acting, counts_for: Acting) -> None:
        sid = ledger.schedule_showing(scheduler, c[customer], listing_id=shown, scheduled_for=clock(2),
                                      occurred_at=clock()).entity_id
        when = clock(3)
        ledger.conduct_showing(conductor, c[customer], showing_id=str(sid), topics_explained=["tenure"],
                               occurred_at=when)
        exp.count(counts_for, when, "showings")

    showing("c0", a.consultant, a.consultant, a.consultant)
    showing("c1", a.second_consultant, Acting(a.manager.staff_id, on_behalf_of=a.second_consultant.staff_id),
            a.second_consultant)
    showing("c0", a.manager, a.manager, a.manager)
    showing("b0", b.consultant, b.consultant, b.consultant)
    step()

    # Requests: answered by customer service after 5 hours, by the consultant after 26 hours
    # (perhaps in the next month), and one never answered.
    def request(customer: str, responder: Acting | None, after_hours: float) -> None:
        raised = clock(20)
        rid = ledger.raise_request(a.consultant if customer != "b0" else b.consultant, c[customer],
                                   subject="学区政策", occurred_at=raised).entity_id
        if responder is None:
            return
        answered = clock(after_hours)
        ledger.respond_to_request(responder, c[customer], request_id=str(rid), response="已答复", occurred_at=answered)
        exp.row(responder, answered)["responses"] += 1
        exp.row(responder, answered)["minutes"] += (answered - raised).total_seconds() / 60

    request("c0", a.service, 5)
    request("c3", a.consultant, 26)
    request("c3", None, 0)
    request("b0", b.service, 1.5)
    step()

    def complaint(customer: str, by: Acting) -> None:
        when = clock(10)
        ledger.file_complaint(by, c[customer], category="服务", severity="low", description="迟到", occurred_at=when)
        exp.count(holders[customer], when, "complaints")

    def survey(customer: str, by: Acting, overall: int) -> None:
        when = clock(10)
        ledger.answer_survey(by, c[customer], scores={"overall": overall, "attitude": 5}, occurred_at=when)
        exp.count(holders[customer], when, "surveys")
        if overall >= 4:
            exp.count(holders[customer], when, "satisfied")

    complaint("c0", a.service)
    complaint("c2", a.service)
    complaint("b1", b.service)
    survey("c0", a.service, 5)
    survey("c1", a.customer_manager, 3)
    survey("c2", a.service, 4)
    survey("b0", b.service, 2)
    step()

    # Deals: c0's signed (the consultant's conversion); c4 handed over to the customer manager,
    # then drafted by the second manager and signed (the customer manager's); one of team B.
    def signed(customer: str, drafter: Acting, reviewer: Acting) -> None:
        deal = ledger.draft_deal(drafter, customer_id=c[customer], listing_id=next(listings), price=5_000_000,
                                 terms="首付三成", occurred_at=clock(5)).id
        ledger.submit_deal_for_review(drafter, deal, occurred_at=clock())
        ledger.approve_deal(reviewer, deal, occurred_at=clock())
        when = clock(2)
        ledger.sign_deal(drafter, deal, contract_number="HT-1", occurred_at=when)
        exp.count(holders[customer], when, "conversions")

    signed("c0", a.consultant, a.manager)
    ledger.reassign_customer(a.manager, c["c4"], to_staff=str(a.customer_manager.staff_id), reason="hand_over",
                             occurred_at=clock(3))
    holders["c4"] = a.customer_manager
    signed("c4", a.second_manager, a.manager)
    step()

    # c5 is left untouched for the protection period: it goes to the pool (held by no one, so a
    # complaint then counts for no one), then the consultant claims it.
    ledger.return_to_pool(Acting.system(), c["c5"], now=clock(16 * 24))
    holders["c5"] = None
    complaint("c5", a.service)
    ledger.claim_from_pool(a.consultant, c["c5"], occurred_at=clock(2))
    holders["c5"] = a.consultant
    survey("c5", a.service, 4)
    step()

    # Trainings and assessments, across months; the latest assessment of a month is the month's.
    def training(member: Acting, score: int, by: Acting) -> None:
        when = clock(20)
        ledger.record_training(by, str(member.staff_id), course="合规培训", score=score, occurred_at=when)
        row = exp.row(member, when)
        row["trainings"] += 1
        row["scores"].append(score)
        exp.staff[str(member.staff_id)]["scores"].append(score)

    def assessment(member: Acting, period: str, score: int, by: Acting, hours: float = 20) -> None:
        when = clock(hours)
        ledger.record_assessment(by, str(member.staff_id), period=period, score=score, occurred_at=when)
        exp.row(member, when)["assessment"] = (period, score)
        exp.staff[str(member.staff_id)]["assessment"] = (period, score)

    training(a.consultant, 80, a.admin)
    training(a.second_consultant, 70, a.manager)
    assessment(a.consultant, "2026-M1", 78, a.manager)
    assessment(a.consultant, "2026-M1b", 83, a.admin, hours=1)
    training(a.consultant, 91, a.admin)
    training(b.consultant, 88, b.manager)
    step()

    # The second consultant moves to team B; what counts for them afterwards is team B's.
    ledger.change_staff_role(a.admin, str(a.second_consultant.staff_id), role="property_consultant", team=b.name,
                             occurred_at=clock(5))
    exp.staff[str(a.second_consultant.staff_id)]["team"] = b.name
    survey("c1", a.service, 5)
    ledger.deactivate_staff(b.admin, str(b.second_consultant.staff_id), reason="离职", occurred_at=clock(5))
    exp.staff[str(b.second_consultant.staff_id)]["active"] = False
    catch_up(ledger, [STAFF_PERFORMANCE.name])
    return Story(a, b, exp, c)


# --- comparing ----------------------------------------------------------------------------------


def expected_row(row: dict[str, Any]) -> dict[str, Any]:
    scores, minutes = row["scores"], row["minutes"]
    return {
        "row_id": f"{row['staff_id']}|{row['month']}", "staff_id": row["staff_id"], "month": row["month"],
        "team": row["team"], "role": row["role"], **{k: row[k] for k in COUNTS},
        "satisfaction_rate": row["satisfied"] / row["surveys"] if row["surveys"] else None,
        "response_minutes_total": pytest.approx(minutes),
        "mean_response_minutes": pytest.approx(minutes / row["responses"]) if row["responses"] else None,
        "training_score_total": sum(scores), "mean_training_score": sum(scores) / len(scores) if scores else None,
        "assessment_period": row["assessment"][0] if row["assessment"] else None,
        "assessment_score": row["assessment"][1] if row["assessment"] else None,
    }


def view_monthly(ledger: RealtyLedger, **filters: Any) -> dict[str, dict[str, Any]]:
    page, _ = ledger.views.list(MONTHLY_ROWS, filters=filters, limit=500)
    assert page.next_cursor is None
    return {r["row_id"]: r for r in page.items}


def test_each_staff_members_month_counts_what_they_did_that_month(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=True)
    expected = {key: expected_row(row) for key, row in story.expected.months.items()}
    got = view_monthly(ledger)
    assert got == expected
    # The story in plain numbers, summed over the months (the record above agrees with them).
    a = story.a

    def total(member: Acting, counter: str) -> int:
        return sum(r[counter] for r in got.values() if r["staff_id"] == str(member.staff_id))

    assert [total(a.consultant, k) for k in ("receptions", "showings", "conversions", "complaints", "surveys")] == [
        3, 1, 1, 1, 2]
    assert [total(a.second_consultant, k) for k in ("receptions", "showings", "surveys", "satisfied")] == [2, 1, 2, 1]
    assert [total(a.customer_manager, k) for k in ("receptions", "conversions", "complaints", "surveys")] == [
        1, 1, 1, 1]
    assert total(a.manager, "showings") == 1 and total(a.service, "responses") == 1
    assert sum(r["complaints"] for r in got.values()) == 3  # the pooled customer's complaint counts for no one


def test_the_staff_table_holds_each_members_role_team_status_trainings_and_latest_assessment(
        ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=True)
    page, _ = ledger.views.list(STAFF_ROWS, filters={}, limit=500)
    got = {r["staff_id"]: r for r in page.items}
    assert set(got) == set(story.expected.staff)
    for staff_id, exp in story.expected.staff.items():
        row = got[staff_id]
        scores = exp["scores"]
        assert (row["role"], row["team"], row["active"]) == (exp["role"], exp["team"], exp["active"]), staff_id
        assert (row["trainings"], row["mean_training_score"]) == (
            len(scores), sum(scores) / len(scores) if scores else None)
        assert (row["last_assessment_period"], row["last_assessment_score"]) == (exp["assessment"] or (None, None))
    team_b, _ = ledger.views.list(STAFF_ROWS, filters={"team": story.b.name, "active": "true"}, limit=500)
    assert len(team_b.items) == 10  # ten registered, one left, one joined from team A


@pytest.mark.parametrize("group_by", ["team", "staff_id", "month"])
def test_the_summary_adds_the_months_up_per_team_staff_member_or_month(ledger: RealtyLedger, group_by: str) -> None:
    story = play(ledger, catch_up_between=False)
    rows = list(story.expected.months.values())
    months = sorted({r["month"] for r in rows})
    window = {"month_from": months[0], "month_to": months[-1]} if len(months) < 2 else {
        "month_from": months[1], "month_to": months[-1]}
    chosen = [r for r in rows if window["month_from"] <= r["month"] <= window["month_to"]]
    for forced in ({}, {"team": story.a.name}):
        picked = [r for r in chosen if not forced or r["team"] == forced["team"]]
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for r in picked:
            groups[r[group_by]].append(r)
        answer, _ = summarise(ledger.views, group_by=group_by, filters=window, forced=forced)
        assert [g[group_by] for g in answer["groups"]] == sorted(groups)
        for group in answer["groups"]:
            members = groups[group[group_by]]
            assert group["rows"] == len(members)
            for counter in COUNTS:
                assert group[counter] == sum(m[counter] for m in members), (group[group_by], counter)
            surveys, satisfied = sum(m["surveys"] for m in members), sum(m["satisfied"] for m in members)
            assert group["satisfaction_rate"] == (satisfied / surveys if surveys else None)
            responses, minutes = sum(m["responses"] for m in members), sum(m["minutes"] for m in members)
            assert group["mean_response_minutes"] == (pytest.approx(minutes / responses) if responses else None)
            scores = [s for m in members for s in m["scores"]]
            assert group["mean_training_score"] == (pytest.approx(sum(scores) / len(scores)) if scores else None)
        assert answer["total"]["receptions"] == sum(r["receptions"] for r in picked)


def test_filters_and_scope_pin_a_team_and_a_staff_member(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=False)
    a, b = story.a, story.b
    team_b = view_monthly(ledger, team=b.name)
    assert team_b and all(r["team"] == b.name for r in team_b.values())
    assert set(team_b) == {k for k, r in story.expected.months.items() if r["team"] == b.name}
    # The second consultant's rows before the move are team A's, after it team B's.
    theirs = view_monthly(ledger, staff_id=str(a.second_consultant.staff_id))
    assert {r["team"] for r in theirs.values()} == {a.name, b.name}
    page, _ = ledger.views.list(MONTHLY_ROWS, filters={}, forced={"team": "没有这个组"})
    assert page.items == []


def test_the_view_rebuilt_from_the_log_equals_the_one_built_step_by_step(ledger: RealtyLedger) -> None:
    play(ledger, catch_up_between=True)
    before = dump(ledger, STAFF_PERFORMANCE.name)
    assert before["monthly"] and before["staff"] and before["customers"]
    assert len(before["requests"]) == 1  # the one request never answered
    generation = rebuild(ledger, STAFF_PERFORMANCE.name)
    assert dump(ledger, STAFF_PERFORMANCE.name, generation) == before
