"""The HTTP API on both backends: identity, permissions, problem details, ETags, request ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.identity import STAFF_ROLES, Role
from service.api.app import create_app, route_names
from service.api.permissions import PERMISSIONS, PUBLIC
from service.application import RealtyLedger
from tests.conftest import Team


@pytest.fixture
def api(app: RealtyLedger) -> Iterator[TestClient]:
    with TestClient(create_app(ledger=app)) as client:
        yield client


@pytest.fixture
def tokens(app: RealtyLedger, team: Team) -> dict[str, str]:
    """A bearer token per member of the team, by the team's field name."""
    issued = {}
    for field in ("manager", "second_manager", "consultant", "second_consultant", "customer_manager",
                  "service", "compliance", "archivist", "admin", "service_account"):
        token, _ = app.issue_token(team.admin, team.id(getattr(team, field)), label="tests")
        issued[field] = token
    return issued


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def now(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def receive(api: TestClient, token: str) -> str:
    response = api.post("/customers", headers=auth(token), json={
        "channel": "walk_in", "reception_started_at": now(-25), "reception_ended_at": now(-5)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert (body["status"], body["code"]) == (status, code)
    return body


def test_the_service_desk_journey_as_each_role_would_do_it(api: TestClient, tokens: dict[str, str],
                                                          team: Team) -> None:
    customer = receive(api, tokens["consultant"])
    r = api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
                 json={"name": "赵雅琴", "phone": "13800138000"})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    r = api.post(f"/customers/{customer}/needs", headers=auth(tokens["consultant"]), json={
        "budget_min": 4_000_000, "budget_max": 6_000_000, "area_min": 70, "area_max": 100, "rooms": 2,
        "districts": ["浦东"], "purpose": "home", "payment_method": "provident_fund", "qualification": "qualified"})
    assert r.status_code == 200, r.text
    request_id = api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                          json={"subject": "学区政策"}).json()["entity_id"]
    r = api.post(f"/customers/{customer}/requests/{request_id}/response",
                 headers=auth(tokens["service"], **{"X-Request-ID": "req-journey-1"}),
                 json={"response": "已发送政策解读"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "req-journey-1"
    complaint = api.post(f"/customers/{customer}/complaints", headers=auth(tokens["service"]),
                         json={"category": "服务", "severity": "high", "description": "迟到"}).json()["entity_id"]
    r = api.post(f"/customers/{customer}/complaints/{complaint}/resolution", headers=auth(tokens["manager"]),
                 json={"resolution": "已致歉"})
    assert r.status_code == 200, r.text
    r = api.post(f"/customers/{customer}/surveys", headers=auth(tokens["service"]),
                 json={"scores": {"overall": 5}, "comment": "满意"})
    assert r.status_code == 201, r.text

    history = api.get(f"/customers/{customer}/history", headers=auth(tokens["manager"])).json()
    roles = [(e["name"].split(".")[1], e["actor_role"]) for e in history]
    assert roles == [
        ("Received", "property_consultant"), ("PersonalDetailsRecorded", "property_consultant"),
        ("NeedsRecorded", "property_consultant"), ("RequestRaised", "property_consultant"),
        ("RequestResponded", "customer_service"), ("ComplaintFiled", "customer_service"),
        ("ComplaintResolved", "sales_manager"), ("SurveyAnswered", "customer_service"),
    ]
    assert history[4]["correlation_id"] == "req-journey-1"  # X-Request-ID becomes the correlation id
    assert history[0]["actor_id"] == team.id(team.consultant)  # identity from the token, not the body


def test_no_token_is_401_and_a_role_without_the_right_is_403(api: TestClient, tokens: dict[str, str]) -> None:
    assert_problem(api.post("/customers", json={}), 401, "unauthenticated")
    assert_problem(api.get("/customers/x", headers=auth("rlt_nonsense")), 401, "unauthenticated")
    assert_problem(api.get("/customers/x", headers={"Authorization": "Basic abc"}), 401, "unauthenticated")
    body = assert_problem(api.post("/customers", headers=auth(tokens["compliance"]), json={}), 403, "forbidden")
    assert "compliance_officer" in body["detail"]


def test_a_record_outside_the_callers_scope_is_as_unknown_as_a_missing_one(
    api: TestClient, tokens: dict[str, str]
) -> None:
    customer = receive(api, tokens["consultant"])
    theirs = api.get(f"/customers/{customer}", headers=auth(tokens["second_consultant"]))
    missing = api.get("/customers/0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10", headers=auth(tokens["second_consultant"]))
    assert_problem(theirs, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert theirs.json()["title"] == missing.json()["title"]
    assert api.get(f"/customers/{customer}", headers=auth(tokens["manager"])).status_code == 200  # same team


def test_bad_input_is_problem_json_and_stores_nothing(api: TestClient, tokens: dict[str, str],
                                                      app: RealtyLedger) -> None:
    customer = receive(api, tokens["consultant"])
    body = assert_problem(api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                                   json={"subject": "x", "sneaky": 1}), 422, "invalid_request")
    assert any(err["field"] == "sneaky" for err in body["errors"])
    assert_problem(api.post(f"/customers/{customer}/surveys", headers=auth(tokens["service"]),
                            json={"scores": {"overall": 9}}), 422, "invalid_value")
    assert_problem(api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                            json={"subject": "x", "occurred_at": now(60)}), 422, "occurred_in_future")
    invalid_utf8 = api.post("/customers", content=b'{"channel": "\xff"}',
                            headers={**auth(tokens["consultant"]), "Content-Type": "application/json"})
    assert_problem(invalid_utf8, 400, "malformed_body")
    big = api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                   content=b'{"subject": "' + b"x" * (1024 * 1024) + b'"}')
    assert_problem(big, 413, "payload_too_large")
    assert app.state(customer)["version"] == 1


def test_a_broken_rule_is_409_with_its_stable_code(api: TestClient, tokens: dict[str, str]) -> None:
    customer = receive(api, tokens["consultant"])
    request_id = api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                          json={"subject": "x"}).json()["entity_id"]
    ok = api.post(f"/customers/{customer}/requests/{request_id}/response", headers=auth(tokens["service"]),
                  json={"response": "好"})
    assert ok.status_code == 200
    again = api.post(f"/customers/{customer}/requests/{request_id}/response", headers=auth(tokens["service"]),
                     json={"response": "再次"})
    assert assert_problem(again, 409, "request_already_answered")["context"]["request_id"] == request_id


def test_etags_and_if_match_make_commands_conditional(api: TestClient, tokens: dict[str, str]) -> None:
    customer = receive(api, tokens["consultant"])
    read = api.get(f"/customers/{customer}", headers=auth(tokens["consultant"]))
    assert read.headers["ETag"] == '"1"'
    stale = api.post(f"/customers/{customer}/requests", json={"subject": "a"},
                     headers=auth(tokens["consultant"], **{"If-Match": '"0"'}))
    assert_problem(stale, 412, "precondition_failed")
    fresh = api.post(f"/customers/{customer}/requests", json={"subject": "a"},
                     headers=auth(tokens["consultant"], **{"If-Match": read.headers["ETag"]}))
    assert fresh.status_code == 201 and fresh.headers["ETag"] == '"2"'


def test_personal_data_is_masked_for_roles_that_do_not_need_it(api: TestClient, tokens: dict[str, str]) -> None:
    customer = receive(api, tokens["consultant"])
    api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
             json={"name": "赵雅琴", "phone": "13800138000"})
    assert api.get(f"/customers/{customer}", headers=auth(tokens["consultant"])).json()["phone"] == "13800138000"
    audited = api.get(f"/customers/{customer}", headers=auth(tokens["compliance"]))
    assert audited.status_code == 200
    assert audited.json()["phone"] == "1******8000"
    assert "13800138000" not in api.get(f"/customers/{customer}/history", headers=auth(tokens["compliance"])).text


def test_tokens_are_shown_once_and_never_readable_again(api: TestClient, tokens: dict[str, str],
                                                        team: Team) -> None:
    issued = api.post(f"/staff/{team.id(team.consultant)}/tokens", headers=auth(tokens["consultant"]),
                      json={"label": "手机"})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    token = issued.json()["token"]
    assert api.get("/healthz").status_code == 200
    me = api.get(f"/staff/{team.id(team.consultant)}", headers=auth(token))
    assert me.status_code == 200
    assert token.split("_", 3)[3] not in me.text and "secret_hash" not in me.text
    other = api.post(f"/staff/{team.id(team.manager)}/tokens", headers=auth(token), json={"label": "x"})
    assert_problem(other, 404, "not_found")  # not their record


FIELDS_BY_ROLE = {
    Role.SALES_MANAGER: "manager", Role.PROPERTY_CONSULTANT: "consultant", Role.CUSTOMER_MANAGER: "customer_manager",
    Role.CUSTOMER_SERVICE: "service", Role.COMPLIANCE_OFFICER: "compliance", Role.ARCHIVIST: "archivist",
    Role.ADMINISTRATOR: "admin", Role.SERVICE_ACCOUNT: "service_account",
}


def test_every_route_has_a_permission_entry_and_nothing_else_does(api: TestClient) -> None:
    routes = route_names(api.app)  # type: ignore[arg-type]
    assert set(routes) == set(PERMISSIONS)


def test_the_permission_matrix_holds_for_every_route_and_role(
    api: TestClient, tokens: dict[str, str], team: Team
) -> None:
    customer = receive(api, tokens["consultant"])
    params = {"customer_id": customer, "request_id": "0" * 32, "complaint_id": "0" * 32,
              "showing_id": "0" * 32, "visit_id": "0" * 32, "token_id": "0" * 32,
              "staff_id": team.id(team.consultant), "kind": "id_card", "aggregate": "customers",
              "record_id": customer, "file_id": "0" * 32, "document_id": "0" * 32, "hold_id": "0" * 32, "export_id": "0" * 32,
              "listing_id": (listing := api.post("/listings", headers=auth(tokens["consultant"]), json={
                  "district": "浦东", "address": "锦绣路1号", "area": 89.5, "rooms": 2, "price": 5_000_000,
                  "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True,
              }).json()["id"]),
              "deal_id": api.post("/deals", headers=auth(tokens["consultant"]), json={
                  "customer_id": customer, "listing_id": listing, "price": 5_000_000, "terms": "首付三成",
              }).json()["id"]}
    for name, (method, path) in route_names(api.app).items():  # type: ignore[arg-type]
        url = path.format(**params)
        entry = PERMISSIONS[name]
        if entry == PUBLIC:
            assert api.request(method, url).status_code == 200, name
            continue
        assert api.request(method, url).status_code == 401, name  # nothing without a token
        for role in sorted(STAFF_ROLES):
            response = api.request(method, url, headers=auth(tokens[FIELDS_BY_ROLE[role]]),
                                   json={} if method == "POST" else None)
            allowed = isinstance(entry, dict) and role in entry
            if allowed:
                assert response.status_code != 403, (name, role, response.text)
            else:
                assert_problem(response, 403, "forbidden")


def test_the_openapi_description_names_every_problem_answer(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"503"} if operation["operationId"].startswith("health.") else {
                "401", "403", "404", "409", "412", "413", "422"}
            assert expected <= set(operation["responses"]), (method, path)
            assert operation.get("summary"), (method, path)


def test_the_openapi_description_states_the_bearer_scheme_and_where_if_match_counts(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    if_match: set[str] = set()
    for operations in schema["paths"].values():
        for operation in operations.values():
            public = operation["operationId"].startswith("health.")
            assert operation.get("security") == (None if public else [{"bearer": []}]), operation["operationId"]
            if any(p["name"] == "If-Match" and p["in"] == "header" for p in operation.get("parameters", [])):
                if_match.add(operation["operationId"])
    # Commands on an existing record are conditional; creations and reads are not.
    assert {"customers.raise_request", "deals.approve", "staff.deactivate", "listings.change_price"} <= if_match
    assert not if_match & {"customers.receive", "deals.draft", "customers.read", "staff.issue_token"}
