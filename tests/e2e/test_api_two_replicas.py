"""Two API replicas on one store: a command may be let in on the replica's cached staff record,
yet a token revoked, a member deactivated, or a role or team changed through the *other* replica is
honoured at once — the command proves the token again on the record it guards, and a refusal made
on the cache is confirmed on a fresh read first.

Replica ``api`` serves the ``app`` ledger, whose record cache holds every team member (their tokens
were issued through it); ``elsewhere`` is a second ledger on the same store, standing in for the
other replica. Both are real applications with their own caches, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team
from tests.e2e.test_api import api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures


@pytest.fixture
def elsewhere(database_url: str) -> Iterator[RealtyLedger]:
    other = RealtyLedger(load_settings(database_url=database_url))
    try:
        yield other
    finally:
        other.close()


def raise_request(api: TestClient, token: str, customer: str):  # type: ignore[no-untyped-def]  # noqa: F811
    return api.post(f"/customers/{customer}/requests", headers=auth(token), json={"subject": "学区政策"})


def test_a_token_revoked_elsewhere_acts_on_nothing_here(
    api: TestClient, app: RealtyLedger, elsewhere: RealtyLedger, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    assert raise_request(api, tokens["consultant"], customer).status_code == 201  # cached, and valid
    token_id = tokens["consultant"].split("_", 3)[2]
    elsewhere.revoke_token(team.admin, team.id(team.consultant), token_id=token_id, reason="电脑丢失")
    assert app.authenticate_cached(tokens["consultant"]) is not None  # this replica has not seen it

    colleagues = receive(api, tokens["second_consultant"])
    before = elsewhere.event_count()
    # A refusal the route itself makes on the cached identity (a colleague's customer: 404) is
    # confirmed on the store first, which says the token is dead.
    assert_problem(api.post("/deals", headers=auth(tokens["consultant"]), json={
        "customer_id": colleagues, "listing_id": customer, "price": 1, "terms": "x"}), 401, "unauthenticated")
    assert app.authenticate_cached(tokens["consultant"]) is None  # that fresh read refreshed the cache
    assert_problem(raise_request(api, tokens["consultant"], customer), 401, "unauthenticated")
    assert elsewhere.event_count() == before  # nothing recorded
    assert_problem(api.get(f"/customers/{customer}", headers=auth(tokens["consultant"])), 401, "unauthenticated")


def test_a_member_deactivated_elsewhere_is_refused_here_even_where_the_cache_would_refuse_anyway(
    api: TestClient, elsewhere: RealtyLedger, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    elsewhere.deactivate_staff(team.admin, team.id(team.service), reason="离职")
    before = elsewhere.event_count()
    # Let in on the cache; the command's own read of the staff record (guarded) refuses.
    assert_problem(raise_request(api, tokens["service"], customer), 401, "unauthenticated")
    # The cache says "a customer-service specialist may not reassign" (403); the store says the
    # token is dead, and that is what the caller hears.
    assert_problem(api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["service"]),
                            json={"to_staff": team.id(team.consultant), "reason": "workload"}), 401, "unauthenticated")
    assert elsewhere.event_count() == before


def test_a_consultant_promoted_elsewhere_may_reassign_here_at_once(
    api: TestClient, elsewhere: RealtyLedger, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["second_consultant"])
    elsewhere.change_staff_role(team.admin, team.id(team.consultant), role="sales_manager")
    moved = api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["consultant"]),
                     json={"to_staff": team.id(team.customer_manager), "reason": "hand_over"})
    assert moved.status_code == 200, moved.text
    event = elsewhere.history(customer)[-1]
    assert (event["name"], event["actor_id"], event["actor_role"]) == (
        "Customer.Reassigned", team.id(team.consultant), "sales_manager")


def test_a_manager_demoted_elsewhere_is_stopped_at_the_write_and_then_refused(
    api: TestClient, elsewhere: RealtyLedger, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    elsewhere.change_staff_role(team.admin, team.id(team.manager), role="property_consultant")
    before = elsewhere.event_count()
    reassign = {"to_staff": team.id(team.customer_manager), "reason": "hand_over"}
    # Let in as a sales manager on the cached record; the write's guard sees the new role.
    body = assert_problem(api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["manager"]),
                                   json=reassign), 409, "caller_changed")
    assert "send it again" in body["detail"]
    assert elsewhere.event_count() == before
    # Sent again, the request is judged on the new role from the start.
    assert_problem(api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["manager"]),
                            json=reassign), 403, "forbidden")
    assert elsewhere.event_count() == before


def test_a_specialist_moved_into_the_customers_team_elsewhere_gets_a_409_then_works(  # noqa: F811
    api: TestClient, app: RealtyLedger, elsewhere: RealtyLedger, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    app.change_staff_role(team.admin, team.id(team.service), role="customer_service", team="徐汇二组")
    assert app.authenticate_cached(tokens["service"]).team == "徐汇二组"  # type: ignore[union-attr]
    elsewhere.change_staff_role(team.admin, team.id(team.service), role="customer_service", team=team.name)
    before = elsewhere.event_count()
    # The cache still says 徐汇二组, so the customer looks out of scope; the fresh read disagrees.
    assert_problem(raise_request(api, tokens["service"], customer), 409, "caller_changed")
    assert elsewhere.event_count() == before
    assert raise_request(api, tokens["service"], customer).status_code == 201
    assert elsewhere.event_count() == before + 1
