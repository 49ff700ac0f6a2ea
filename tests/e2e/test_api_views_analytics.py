"""The management views over HTTP on both backends: staff performance, process analytics, listings.

Each route shows a caller the rows of their scope only (a sales manager their team's — a sales
manager of the other team sees none of them — compliance every row; listings belong to no team),
refuses an unknown filter and a malformed cursor with a problem, and pages through every row once.
Each test has a store of its own, so the views hold only its events.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import RealtyLedger
from tests.conftest import Team, register_team
from tests.e2e.test_api import api, assert_problem, auth, tokens  # noqa: F401 - fixtures
from tests.e2e.view_pages import every_page, ok

VIEWS = ["listings", "process_analytics", "staff_performance"]
ACCOUNT = "6222020200112233445"


@pytest.fixture
def database_url(own_database_url: str) -> str:
    """The views must see only this test's events: a store of its own (overrides the shared one)."""
    return own_database_url


def catch_up(app: RealtyLedger) -> None:
    runner = app.views.make_runner(VIEWS)
    try:
        assert runner.acquire() == VIEWS
        runner.catch_up()
        assert runner.last_error is None, runner.last_error
    finally:
        runner.release()


def refuses_bad_queries(api: TestClient, token: str, path: str, *, paged: bool = True) -> None:  # noqa: F811
    assert_problem(api.get(path, headers=auth(token), params={"colour": "red"}), 422, "unknown_filter")
    if paged:
        assert_problem(api.get(path, headers=auth(token), params={"cursor": "not a cursor!"}), 422, "invalid_cursor")
        foreign = base64.urlsafe_b64encode(json.dumps(["no_such_sort", 1, "x"]).encode()).decode().rstrip("=")
        assert_problem(api.get(path, headers=auth(token), params={"cursor": foreign}), 422, "invalid_cursor")


@dataclass
class World:
    team: Team
    other: Team
    tokens: dict[str, str]  # by "<team field>" for the caller's team, "other_<field>" for the other
    customers: dict[str, str]
    listings: dict[str, str]


@pytest.fixture
def world(app: RealtyLedger, team: Team, tokens: dict[str, str]) -> Iterator[World]:  # noqa: F811
    """Two teams at work, through the application's commands; the three views caught up."""
    other = register_team(app, name="徐汇二组")
    issued = dict(tokens)
    for field in ("manager", "consultant", "compliance"):
        issued[f"other_{field}"] = app.issue_token(other.admin, other.id(getattr(other, field)), label="tests")[0]
    now = datetime.now(UTC) - timedelta(minutes=30)

    def listing(district: str, rooms: int, area: float, price: int) -> str:
        return app.list_property(team.manager, district=district, address="锦绣路 1 号", area=area, rooms=rooms,
                                 price=price, property_right_status="clear", tenure_years=70,
                                 mortgage_eligible=True).id

    listings = {"a": listing("浦东", 2, 89.5, 5_200_000), "b": listing("浦东", 3, 120.0, 8_800_000),
                "c": listing("徐汇", 1, 45.0, 3_000_000), "d": listing("静安", 2, 70.0, 4_800_000),
                "e": listing("徐汇", 4, 140.0, 12_000_000)}
    app.change_listing_price(team.manager, listings["b"], new_price=8_500_000, reason="业主让价")

    def receive(of: Team) -> str:
        return app.receive_customer(of.consultant, channel="walk_in", reception_started_at=now,
                                    reception_ended_at=now + timedelta(minutes=20)).id

    def needs(of: Team, customer: str) -> None:
        app.record_needs(of.consultant, customer, budget_min=3_000_000, budget_max=6_000_000, area_min=60,
                         area_max=100, rooms=2, districts=["浦东"], purpose="home", payment_method="full",
                         qualification="qualified")

    c = {"signed": receive(team), "lost": receive(team), "theirs": receive(other)}
    needs(team, c["signed"])
    showing = app.schedule_showing(team.consultant, c["signed"], listing_id=listings["a"],
                                   scheduled_for=datetime.now(UTC) + timedelta(hours=1)).entity_id
    app.conduct_showing(team.consultant, c["signed"], showing_id=str(showing), topics_explained=["tenure"])
    request = app.raise_request(team.consultant, c["signed"], subject="学区政策").entity_id
    app.respond_to_request(team.service, c["signed"], request_id=str(request), response="已答复")
    app.answer_survey(team.service, c["signed"], scores={"overall": 5})
    deal = app.draft_deal(team.consultant, customer_id=c["signed"], listing_id=listings["a"], price=5_200_000,
                          terms="首付三成").id
    app.submit_deal_for_review(team.consultant, deal)
    app.approve_deal(team.manager, deal)
    app.sign_deal(team.consultant, deal, contract_number="HT-1")
    app.mark_customer_lost(team.consultant, c["lost"], reason="price")
    needs(other, c["theirs"])
    app.mark_customer_lost(other.consultant, c["theirs"], reason="location")
    app.record_training(team.admin, team.id(team.consultant), course="合规培训", score=90)
    app.record_training(other.manager, other.id(other.consultant), course="合规培训", score=80)
    catch_up(app)
    yield World(team, other, issued, c, listings)


# --- staff performance ---------------------------------------------------------------------------


def test_staff_performance_rows_are_the_callers_team_and_page_once(api: TestClient, world: World) -> None:  # noqa: F811
    t, team, other = world.tokens, world.team, world.other
    path = "/views/staff-performance"
    ours = ok(api.get(path, headers=auth(t["manager"])))["items"]
    theirs = ok(api.get(path, headers=auth(t["other_manager"])))["items"]
    everyone = ok(api.get(path, headers=auth(t["compliance"]), params={"limit": 500}))["items"]
    assert ours and {r["team"] for r in ours} == {team.name}
    assert theirs and {r["team"] for r in theirs} == {other.name}
    assert not {r["row_id"] for r in ours} & {r["row_id"] for r in theirs}  # the other manager sees none of ours
    assert sorted(r["row_id"] for r in everyone) == sorted(r["row_id"] for r in ours + theirs)

    def total(member: Any, counter: str) -> int:  # over months: the story may straddle a month's end
        return sum(r[counter] for r in ours if r["staff_id"] == team.id(member))

    assert [total(team.consultant, k) for k in ("receptions", "showings", "conversions", "surveys", "trainings")] == [
        2, 1, 1, 1, 1]
    assert total(team.service, "responses") == 1
    # A team filter of another team, under a team scope, finds nothing.
    assert ok(api.get(path, headers=auth(t["manager"]), params={"team": other.name}))["items"] == []
    assert every_page(api, t["compliance"], path, "row_id", sort="receptions") == sorted(
        (r["row_id"] for r in everyone), key=lambda k: (next(r["receptions"] for r in everyone if r["row_id"] == k), k))
    refuses_bad_queries(api, t["manager"], path)
    assert_problem(api.get(path, headers=auth(t["consultant"])), 403, "forbidden")


def test_the_staff_performance_summary_adds_up_the_callers_team_only(api: TestClient, world: World) -> None:  # noqa: F811
    t, team, other = world.tokens, world.team, world.other
    path = "/views/staff-performance/summary"
    ours = ok(api.get(path, headers=auth(t["manager"]), params={"group_by": "staff_id"}))
    assert {g["staff_id"] for g in ours["groups"]} <= {team.id(getattr(team, f)) for f in (
        "consultant", "service", "manager", "second_manager", "customer_manager", "second_consultant")}
    assert (ours["total"]["receptions"], ours["total"]["conversions"], ours["total"]["surveys"]) == (2, 1, 1)
    assert ours["total"]["satisfaction_rate"] == 1.0
    theirs = ok(api.get(path, headers=auth(t["other_manager"])))
    assert [g["team"] for g in theirs["groups"]] == [other.name] and theirs["total"]["receptions"] == 1
    both = ok(api.get(path, headers=auth(t["compliance"]), params={"group_by": "team"}))
    assert sorted(g["team"] for g in both["groups"]) == sorted([team.name, other.name])
    assert "position" in both
    refuses_bad_queries(api, t["manager"], path, paged=False)
    assert_problem(api.get(path, headers=auth(t["manager"]), params={"group_by": "colour"}), 422, "invalid_group_by")


def test_the_staff_records_are_the_callers_team(api: TestClient, world: World) -> None:  # noqa: F811
    t, team, other = world.tokens, world.team, world.other
    path = "/views/staff-performance/staff"
    ours = every_page(api, t["manager"], path, "staff_id")
    theirs = every_page(api, t["other_manager"], path, "staff_id")
    assert len(ours) == len(theirs) == 10 and not set(ours) & set(theirs)
    assert team.id(team.consultant) in ours and other.id(other.consultant) in theirs
    row = next(r for r in ok(api.get(path, headers=auth(t["manager"]), params={"role": "property_consultant",
                                                                              "limit": 500}))["items"]
               if r["staff_id"] == team.id(team.consultant))
    assert (row["trainings"], row["mean_training_score"], row["active"]) == (1, 90.0, True)
    refuses_bad_queries(api, t["manager"], path)


# --- process analytics ---------------------------------------------------------------------------


def test_conversion_stage_times_and_losses_are_the_callers_team(api: TestClient, world: World) -> None:  # noqa: F811
    t, team, other = world.tokens, world.team, world.other
    conversion = "/views/process-analytics/conversion"
    ours = ok(api.get(conversion, headers=auth(t["manager"])))
    assert {g["team"] for g in ours["groups"]} == {team.name}
    assert ours["total"]["entered"] == 2
    assert ours["total"]["reached"] == {"matching": 1, "signing": 1, "transaction": 1, "after_sales": 0, "lost": 1}
    theirs = ok(api.get(conversion, headers=auth(t["other_manager"]), params={"to_stage": "lost"}))
    assert {g["team"] for g in theirs["groups"]} == {other.name}
    assert theirs["total"] == {"entered": 1, "reached": {"lost": 1}, "rate": {"lost": 1.0}}
    assert ok(api.get(conversion, headers=auth(t["compliance"])))["total"]["entered"] == 3
    from_matching = ok(api.get(conversion, headers=auth(t["manager"]), params={"from_stage": "matching",
                                                                               "to_stage": "transaction"}))
    assert from_matching["total"]["entered"] == 1 and from_matching["total"]["reached"] == {"transaction": 1}
    assert_problem(api.get(conversion, headers=auth(t["manager"]), params={"from_stage": "closing"}),
                   422, "invalid_filter")
    assert_problem(api.get(conversion, headers=auth(t["manager"]), params={"stage": "matching"}), 422, "unknown_filter")
    refuses_bad_queries(api, t["manager"], conversion, paged=False)

    times = "/views/process-analytics/stage-times"
    ours = ok(api.get(times, headers=auth(t["manager"])))
    assert {g["team"] for g in ours["groups"]} == {team.name}
    assert {s["stage"]: s["open"] for s in ours["stages"]} == {
        "reception": 0, "matching": 0, "signing": 0, "transaction": 1, "lost": 1}
    reception = next(s for s in ours["stages"] if s["stage"] == "reception")
    assert reception["completed"] == 2 and reception["median_hours"] is not None
    theirs = ok(api.get(times, headers=auth(t["other_manager"])))
    assert {g["team"] for g in theirs["groups"]} == {other.name}
    refuses_bad_queries(api, t["manager"], times, paged=False)

    lost = "/views/process-analytics/losses"
    assert ok(api.get(lost, headers=auth(t["manager"])))["groups"] == [
        {"stage": "reception", "reason": "price", "lost": 1, "reactivated": 0}]
    assert ok(api.get(lost, headers=auth(t["other_manager"])))["groups"] == [
        {"stage": "matching", "reason": "location", "lost": 1, "reactivated": 0}]
    assert ok(api.get(lost, headers=auth(t["compliance"])))["total"] == {"lost": 2, "reactivated": 0}
    refuses_bad_queries(api, t["manager"], lost, paged=False)
    for path in (conversion, times, lost):
        assert_problem(api.get(path, headers=auth(t["consultant"])), 403, "forbidden")


def test_stage_visits_are_the_callers_team_and_page_once(api: TestClient, world: World) -> None:  # noqa: F811
    t, c = world.tokens, world.customers
    path = "/views/process-analytics/visits"
    ours = every_page(api, t["manager"], path, "visit_id")
    theirs = every_page(api, t["other_manager"], path, "visit_id", sort="hours")
    assert {v.split("|")[0] for v in ours} == {c["signed"], c["lost"]}
    assert {v.split("|")[0] for v in theirs} == {c["theirs"]}
    everyone = every_page(api, t["compliance"], path, "visit_id", sort="-entered_at")
    assert sorted(everyone) == sorted(ours + theirs)
    signed = ok(api.get(path, headers=auth(t["manager"]), params={"customer_id": c["signed"], "sort": "entered_at"}))
    assert [v["stage"] for v in signed["items"]] == ["reception", "matching", "signing", "transaction"]
    assert [v["open"] for v in signed["items"]] == [False, False, False, True]
    refuses_bad_queries(api, t["manager"], path)


# --- listings ------------------------------------------------------------------------------------


def test_listings_are_everyones_and_filter_sort_and_page(api: TestClient, world: World) -> None:  # noqa: F811
    t, ids = world.tokens, world.listings
    path = "/views/listings"
    everyone = every_page(api, t["consultant"], path, "listing_id", sort="price")
    assert everyone == [ids[k] for k in ("c", "d", "a", "b", "e")]
    assert every_page(api, t["other_manager"], path, "listing_id", sort="price") == everyone  # no team owns them
    items = ok(api.get(path, headers=auth(t["manager"]), params={"limit": 500}))["items"]
    by_id = {r["listing_id"]: r for r in items}
    assert (by_id[ids["a"]]["status"], by_id[ids["a"]]["reserved_by_deal"] is not None) == ("reserved", True)
    assert by_id[ids["b"]]["price"] == 8_500_000 and by_id[ids["b"]]["price_changes"] == 1
    found = ok(api.get(path, headers=auth(t["service"]), params={
        "district": "浦东", "status": "available", "price_max": "9000000", "area_min": "100"}))["items"]
    assert [r["listing_id"] for r in found] == [ids["b"]]
    found = ok(api.get(path, headers=auth(t["service"]), params={"rooms_min": "2", "sort": "-area"}))["items"]
    assert [r["listing_id"] for r in found] == [ids["e"], ids["b"], ids["a"], ids["d"]]
    assert_problem(api.get(path, headers=auth(t["manager"]), params={"area_min": "large"}), 422, "invalid_filter")
    refuses_bad_queries(api, t["manager"], path)
    assert_problem(api.get(path, headers=auth(t["archivist"])), 403, "forbidden")


def test_a_listings_price_history_pages_once(api: TestClient, world: World) -> None:  # noqa: F811
    t, ids = world.tokens, world.listings
    path = f"/views/listings/{ids['b']}/prices"
    changes = ok(api.get(path, headers=auth(t["other_manager"])))["items"]
    assert [(r["old_price"], r["new_price"]) for r in changes] == [(None, 8_800_000), (8_800_000, 8_500_000)]
    assert every_page(api, t["compliance"], path, "change_id") == [r["change_id"] for r in changes]
    assert ok(api.get(f"/views/listings/{ids['c']}/prices", headers=auth(t["consultant"])))["items"][0][
        "new_price"] == 3_000_000
    unknown = ok(api.get("/views/listings/0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10/prices", headers=auth(t["consultant"])))
    assert unknown["items"] == []
    refuses_bad_queries(api, t["manager"], path)


def test_a_list_waits_for_a_commands_position_and_refuses_one_beyond_the_log(
        api: TestClient, world: World, app: RealtyLedger) -> None:  # noqa: F811
    t = world.tokens
    head = app.log_head()
    for path in ("/views/listings", "/views/staff-performance", "/views/process-analytics/losses"):
        token = t["compliance"]
        assert ok(api.get(path, headers=auth(token), params={"min_position": head}))["position"] >= head
        assert_problem(api.get(path, headers=auth(token), params={"min_position": head + 10}),
                       422, "position_beyond_head")
