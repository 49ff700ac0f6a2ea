"""The service views over HTTP on both backends: service desk, satisfaction and reception.

Each route shows a caller the rows of their scope only (a consultant the items of the customers
they hold or the receptions that were theirs, a team role its team's rows, compliance every row),
refuses an unknown filter, a malformed cursor and a limit over 500 with a problem, and pages through
every row once. Each test has a store of its own, so the views hold only its events.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import RealtyLedger
from tests.conftest import Team, register_team
from tests.e2e.test_api import api, assert_problem, auth, tokens  # noqa: F401 - fixtures
from tests.e2e.view_pages import every_page, ok

H = timedelta(hours=1)


@pytest.fixture
def database_url(own_database_url: str) -> str:
    """The views must see only this test's events: a store of its own (overrides the shared one)."""
    return own_database_url


@pytest.fixture
def other(app: RealtyLedger) -> Team:
    return register_team(app, "徐汇二组")


def catch_up(app: RealtyLedger, *views: str) -> None:
    runner = app.views.make_runner(list(views))
    try:
        assert runner.acquire() == sorted(views)
        runner.catch_up()
        assert runner.last_error is None, runner.last_error
    finally:
        runner.release()


def receive(api: TestClient, token: str, started: datetime, minutes: float = 20) -> str:  # noqa: F811
    r = api.post("/customers", headers=auth(token), json={
        "channel": "walk_in", "reception_started_at": started.isoformat(),
        "reception_ended_at": (started + timedelta(minutes=minutes)).isoformat()})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def post(api: TestClient, token: str, path: str, body: dict[str, Any]) -> str:  # noqa: F811
    r = api.post(path, headers=auth(token), json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json().get("entity_id"))


def crafted(sort: str, value: Any, key: Any = "k") -> str:
    """A cursor made by hand: well-formed, but not one a page gave."""
    return base64.urlsafe_b64encode(json.dumps([sort, value, key]).encode()).decode().rstrip("=")


def assert_list_contract(api: TestClient, token: str, path: str, key: str, expected: set[str],  # noqa: F811
                         sort: str, numeric_sort: str | None = None) -> None:
    """Paging returns each row once; an unknown filter, a malformed cursor, a limit over 500 are 422."""
    assert set(every_page(api, token, path, key)) == expected
    assert set(every_page(api, token, path, key, sort=f"-{sort.removeprefix('-')}")) == expected
    assert_problem(api.get(path, headers=auth(token), params={"description": "x"}), 422, "unknown_filter")
    assert_problem(api.get(path, headers=auth(token), params={"cursor": "not-a-cursor!"}), 422, "invalid_cursor")
    for cursor, sorted_by in ((crafted(sort, [1, 2]), sort), (crafted(sort, "x", {"k": 1}), sort),
                              (crafted("raised_at" if sort != "raised_at" else "month", "x"), sort),
                              *(((crafted(numeric_sort, "x"), numeric_sort),) if numeric_sort else ())):
        assert_problem(api.get(path, headers=auth(token), params={"cursor": cursor, "sort": sorted_by}),
                       422, "invalid_cursor")
    assert_problem(api.get(path, headers=auth(token), params={"limit": 501}), 422, "invalid_limit")


def keys(answer: dict[str, Any], key: str) -> set[str]:
    return {item[key] for item in answer["items"]}


# --- service desk --------------------------------------------------------------------------------


def test_the_service_desk_shows_each_caller_their_scope_and_which_items_are_overdue_now(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger, team: Team, other: Team,  # noqa: F811
) -> None:
    now = datetime.now(UTC)
    mine = receive(api, tokens["consultant"], now - 3 * 24 * H)
    theirs = receive(api, tokens["second_consultant"], now - 3 * 24 * H)
    overdue = post(api, tokens["consultant"], f"/customers/{mine}/requests",
                   {"subject": "学区政策", "occurred_at": (now - 25 * H).isoformat()})
    fresh = post(api, tokens["service"], f"/customers/{mine}/complaints",
                 {"category": "服务", "severity": "high", "description": "迟到", "occurred_at": (now - H).isoformat()})
    answered = post(api, tokens["service"], f"/customers/{mine}/requests",
                    {"subject": "贷款", "occurred_at": (now - H / 2).isoformat()})
    post(api, tokens["service"], f"/customers/{mine}/requests/{answered}/response", {"response": "已答复"})
    colleagues = post(api, tokens["second_consultant"], f"/customers/{theirs}/requests",
                      {"subject": "税费", "occurred_at": (now - 30 * H).isoformat()})
    customer = app.receive_customer(other.consultant, channel="phone", reception_started_at=now - 2 * H,
                                    reception_ended_at=now - H).id
    other_teams = app.raise_request(other.consultant, customer, subject="户型").entity_id
    catch_up(app, "service_desk")
    path = "/views/service-desk"

    as_consultant = ok(api.get(path, headers=auth(tokens["consultant"])))
    assert keys(as_consultant, "item_id") == {overdue, fresh, answered}
    flags = {i["item_id"]: i["overdue"] for i in as_consultant["items"]}
    assert flags == {overdue: True, fresh: False, answered: False}  # before the clock recorded any breach
    assert not any(i["breached"] for i in as_consultant["items"])
    assert keys(ok(api.get(path, headers=auth(tokens["manager"]))), "item_id") == {overdue, fresh, answered,
                                                                                  colleagues}
    assert keys(ok(api.get(path, headers=auth(tokens["compliance"]))), "item_id") == {
        overdue, fresh, answered, colleagues, other_teams}
    # overdue=true: open and due now or earlier, within the caller's scope.
    assert keys(ok(api.get(path, headers=auth(tokens["manager"]), params={"overdue": "true"})), "item_id") == {
        overdue, colleagues}
    assert keys(ok(api.get(path, headers=auth(tokens["consultant"]), params={"overdue": "true"})), "item_id") == {
        overdue}
    assert_problem(api.get(path, headers=auth(tokens["manager"]), params={"overdue": "false"}), 422, "invalid_filter")
    assert_problem(api.get(path, headers=auth(tokens["manager"]), params={"overdue": "true", "open": "true"}),
                   422, "invalid_filter")
    assert keys(ok(api.get(path, headers=auth(tokens["manager"]), params={"kind": "complaint"})), "item_id") == {
        fresh}
    # A consultant naming another holder still sees only their own items.
    assert ok(api.get(path, headers=auth(tokens["consultant"]),
                      params={"holder": team.id(team.second_consultant)}))["items"] == []
    assert_problem(api.get(path, headers=auth(tokens["archivist"])), 403, "forbidden")
    assert_list_contract(api, tokens["manager"], path, "item_id", {overdue, fresh, answered, colleagues}, "due_at")
    assert_list_contract(api, tokens["consultant"], path, "item_id", {overdue, fresh, answered}, "-raised_at")


# --- satisfaction --------------------------------------------------------------------------------


def test_satisfaction_lists_and_sums_up_the_answers_of_the_callers_team(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger, team: Team, other: Team,  # noqa: F811
) -> None:
    now = datetime.now(UTC)
    first = receive(api, tokens["consultant"], now - 2 * H)
    second = receive(api, tokens["second_consultant"], now - 2 * H)
    surveys = [post(api, tokens["service"], f"/customers/{c}/surveys", {"scores": {"overall": overall}})
               for c, overall in ((first, 5), (first, 4), (first, 2), (second, 5))]
    customer = app.receive_customer(other.consultant, channel="phone", reception_started_at=now - 2 * H,
                                    reception_ended_at=now - H).id
    theirs = app.answer_survey(other.service, customer, scores={"overall": 5}).entity_id
    catch_up(app, "satisfaction")

    assert keys(ok(api.get("/views/satisfaction", headers=auth(tokens["customer_manager"]))), "survey_id") == set(
        surveys)
    assert keys(ok(api.get("/views/satisfaction", headers=auth(tokens["compliance"]))), "survey_id") == {
        *surveys, theirs}
    assert_problem(api.get("/views/satisfaction", headers=auth(tokens["consultant"])), 403, "forbidden")
    assert_list_contract(api, tokens["service"], "/views/satisfaction", "survey_id", set(surveys), "-answered_at",
                         numeric_sort="overall")

    summary = ok(api.get("/views/satisfaction/summary", headers=auth(tokens["manager"]),
                         params={"group_by": "consultant"}))
    groups = {g["consultant"]: g for g in summary["groups"]}
    assert set(groups) == {team.id(team.consultant), team.id(team.second_consultant)}
    assert (groups[team.id(team.consultant)]["count"], groups[team.id(team.consultant)]["satisfied"]) == (3, 2)
    assert groups[team.id(team.consultant)]["meets_target"] is False
    assert groups[team.id(team.second_consultant)]["meets_target"] is True
    assert (summary["total"]["count"], summary["total"]["satisfied"], summary["total"]["target"]) == (4, 3, 0.9)
    assert summary["position"] > 0
    by_team = ok(api.get("/views/satisfaction/summary", headers=auth(tokens["compliance"])))  # default: by team
    assert {g["team"]: g["count"] for g in by_team["groups"]} == {team.name: 4, other.name: 1}
    unhappy = ok(api.get("/views/satisfaction/summary", headers=auth(tokens["manager"]),
                         params={"satisfied": "false"}))
    assert unhappy["total"]["count"] == 1
    assert_problem(api.get("/views/satisfaction/summary", headers=auth(tokens["manager"]),
                           params={"group_by": "customer_id"}), 422, "invalid_group_by")
    assert_problem(api.get("/views/satisfaction/summary", headers=auth(tokens["manager"]),
                           params={"comment": "x"}), 422, "unknown_filter")


# --- reception -----------------------------------------------------------------------------------


def test_reception_shows_a_consultant_their_own_receptions_and_the_team_its_median(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger, team: Team, other: Team,  # noqa: F811
) -> None:
    now = datetime.now(UTC)
    mine = [receive(api, tokens["consultant"], now - 3 * H, minutes) for minutes in (10, 20, 40)]
    theirs = receive(api, tokens["second_consultant"], now - 3 * H, 25)
    other_teams = app.receive_customer(other.consultant, channel="phone", reception_started_at=now - 2 * H,
                                       reception_ended_at=now - H).id
    catch_up(app, "reception")

    as_consultant = ok(api.get("/views/reception", headers=auth(tokens["consultant"])))
    assert keys(as_consultant, "customer_id") == set(mine)
    assert sorted(i["band"] for i in as_consultant["items"]) == ["long", "normal", "short"]
    assert keys(ok(api.get("/views/reception", headers=auth(tokens["manager"]))), "customer_id") == {*mine, theirs}
    assert keys(ok(api.get("/views/reception", headers=auth(tokens["service_account"]))), "customer_id") == {
        *mine, theirs, other_teams}
    assert_problem(api.get("/views/reception", headers=auth(tokens["customer_manager"])), 403, "forbidden")
    assert_list_contract(api, tokens["manager"], "/views/reception", "customer_id", {*mine, theirs}, "-started_at",
                         numeric_sort="minutes")
    assert_list_contract(api, tokens["consultant"], "/views/reception", "customer_id", set(mine), "minutes",
                         numeric_sort="minutes")

    own = ok(api.get("/views/reception/summary", headers=auth(tokens["consultant"]),
                     params={"group_by": "consultant"}))
    assert [g["consultant"] for g in own["groups"]] == [team.id(team.consultant)]
    assert (own["total"]["count"], own["total"]["median_minutes"], own["total"]["within_norm"]) == (3, 20, 1)
    assert own["total"]["p90_minutes"] == pytest.approx(36)  # 20 + 0.8 * (40 - 20)
    teams = ok(api.get("/views/reception/summary", headers=auth(tokens["manager"])))
    assert [(g["team"], g["count"], g["median_minutes"]) for g in teams["groups"]] == [(team.name, 4, 22.5)]
    assert_problem(api.get("/views/reception/summary", headers=auth(tokens["manager"]),
                           params={"group_by": "channel"}), 422, "invalid_group_by")
    assert_problem(api.get("/views/reception/summary", headers=auth(tokens["manager"]),
                           params={"name": "x"}), 422, "unknown_filter")
