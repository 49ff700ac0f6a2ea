"""Claiming a customer from the team's public pool (公客池) over HTTP, on both backends: the route is
scoped on the team (nobody holds a pooled customer), a consultant claims for themselves, a sales
manager for a member of the team, and the rules refuse with their stable codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from service.application import Acting, RealtyLedger
from tests.conftest import Team, register_team
from tests.e2e.test_api import api, assert_problem, auth, tokens  # noqa: F401 - fixtures


def pooled(app: RealtyLedger, holder: Acting) -> str:
    """A customer received 16 days ago and never touched again, returned to the pool by the clock."""
    started = datetime.now(UTC) - timedelta(days=16)
    customer = app.receive_customer(holder, channel="walk_in", reception_started_at=started,
                                    reception_ended_at=started + timedelta(minutes=20)).id
    app.return_to_pool(Acting.system(), customer, now=datetime.now(UTC))
    return customer


def test_a_consultant_of_the_team_claims_a_customer_from_the_pool(
    app: RealtyLedger, api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = pooled(app, team.customer_manager)
    # The customer manager held them: once in the pool, their customer routes no longer find them.
    assert_problem(api.get(f"/customers/{customer}", headers=auth(tokens["customer_manager"])), 404, "not_found")

    response = api.post(f"/customers/{customer}/claim", headers=auth(tokens["consultant"]))

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{response.json()["version"]}"'
    state = api.get(f"/customers/{customer}", headers=auth(tokens["consultant"])).json()
    assert (state["in_pool"], state["assigned_to"]) == (False, team.id(team.consultant))
    again = api.post(f"/customers/{customer}/claim", headers=auth(tokens["second_consultant"]), json={})
    assert_problem(again, 409, "customer_not_in_pool")


def test_the_previous_holder_cannot_claim_back_and_a_stranger_is_told_nothing(
    app: RealtyLedger, api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = pooled(app, team.consultant)
    other = register_team(app, name="徐汇二组")
    stranger, _ = app.issue_token(other.admin, other.id(other.consultant), label="tests")

    assert_problem(api.post(f"/customers/{customer}/claim", headers=auth(tokens["consultant"])),
                   409, "claim_by_previous_holder")
    assert_problem(api.post(f"/customers/{customer}/claim", headers=auth(stranger)), 404, "not_found")
    assert_problem(api.post(f"/customers/{customer}/claim", headers=auth(tokens["service"])), 403, "forbidden")
    assert app.state(customer)["in_pool"] is True


def test_a_sales_manager_claims_for_a_member_of_the_team_and_no_one_else_names_another(
    app: RealtyLedger, api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = pooled(app, team.consultant)
    other = register_team(app, name="长宁五组")

    naming = api.post(f"/customers/{customer}/claim", headers=auth(tokens["second_consultant"]),
                      json={"claimer": team.id(team.customer_manager)})
    assert_problem(naming, 403, "forbidden")
    outside = api.post(f"/customers/{customer}/claim", headers=auth(tokens["manager"]),
                       json={"claimer": other.id(other.consultant)})
    assert_problem(outside, 422, "invalid_value")
    for_himself = api.post(f"/customers/{customer}/claim", headers=auth(tokens["manager"]))
    assert_problem(for_himself, 409, "cannot_hold_customers")

    claimed = api.post(f"/customers/{customer}/claim", headers=auth(tokens["manager"]),
                       json={"claimer": team.id(team.second_consultant)})

    assert claimed.status_code == 200, claimed.text
    assert app.state(customer)["assigned_to"] == team.id(team.second_consultant)
    assert app.history(customer)[-1]["actor_id"] == team.id(team.manager)
