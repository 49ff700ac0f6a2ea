"""Customers and staff over HTTP on both backends: shortlist, showings and feedback, the complaint
desk, return visits, loss and reactivation, contact corrections, and staff management — each step
as the role that would take it — plus the rules that refuse a step, with their stable codes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from service.application import RealtyLedger
from tests.conftest import Team, register_team
from tests.e2e.test_api import api, assert_problem, auth, now, receive, tokens  # noqa: F401 - fixtures

LISTING = {"district": "浦东", "address": "锦绣路1888弄3号1201室", "area": 89.5, "rooms": 2, "price": 5_000_000,
           "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def list_property(api: TestClient, token: str) -> str:  # noqa: F811
    return str(ok(api.post("/listings", headers=auth(token), json=LISTING), 201).json()["id"])


def state(api: TestClient, token: str, customer: str) -> dict[str, Any]:  # noqa: F811
    result: dict[str, Any] = ok(api.get(f"/customers/{customer}", headers=auth(token))).json()
    return result


def schedule(api: TestClient, token: str, customer: str, listing: str) -> str:  # noqa: F811
    r = ok(api.post(f"/customers/{customer}/showings", headers=auth(token),
                    json={"listing_id": listing, "scheduled_for": now(60 * 24)}), 201)
    return str(r.json()["entity_id"])


def events(api: TestClient, token: str, record: str, kind: str = "customers") -> list[tuple[str, str]]:  # noqa: F811
    history = ok(api.get(f"/{kind}/{record}/history", headers=auth(token))).json()
    return [(e["name"].split(".")[1], e["actor_role"]) for e in history]


# --- the journey ---------------------------------------------------------------------------------


def test_a_consultant_shortlists_shows_and_records_feedback_and_the_manager_sees_every_step(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    consultant = auth(tokens["consultant"])
    customer = receive(api, tokens["consultant"])
    first, second = list_property(api, tokens["consultant"]), list_property(api, tokens["manager"])

    ok(api.post(f"/customers/{customer}/shortlist", headers=consultant, json={
        "matches": [{"listing_id": first, "score": 92}, {"listing_id": second, "score": 75}]}))
    assert state(api, tokens["consultant"], customer)["shortlist"] == [
        {"listing_id": first, "score": 92}, {"listing_id": second, "score": 75}]

    showing = schedule(api, tokens["consultant"], customer, first)
    assert state(api, tokens["consultant"], customer)["showings"][showing]["status"] == "scheduled"
    version = state(api, tokens["consultant"], customer)["version"]
    moved_to = now(60 * 48)
    moved = ok(api.post(f"/customers/{customer}/showings/{showing}/rescheduling",
                        headers={**consultant, "If-Match": f'"{version}"'},
                        json={"scheduled_for": moved_to, "reason": "客户出差"}))
    assert moved.headers["ETag"] == f'"{version + 1}"'
    ok(api.post(f"/customers/{customer}/showings/{showing}/conduct", headers=consultant,
                json={"topics_explained": ["tenure", "property_rights", "mortgage_policy"]}))
    ok(api.post(f"/customers/{customer}/showings/{showing}/feedback", headers=consultant,
                json={"interest": 4, "objections": ["价格偏高"]}))

    shown = state(api, tokens["manager"], customer)["showings"][showing]
    assert shown["status"] == "conducted"
    assert shown["topics_explained"] == ["mortgage_policy", "property_rights", "tenure"]
    assert shown["feedback"] == {"interest": 4, "objections": ["价格偏高"]}
    assert shown["scheduled_for"][:16] == moved_to[:16]

    cancelled = schedule(api, tokens["consultant"], customer, second)
    ok(api.post(f"/customers/{customer}/showings/{cancelled}/cancellation", headers=auth(tokens["manager"]),
                json={"reason": "房东临时有事"}))
    missed = schedule(api, tokens["consultant"], customer, second)
    ok(api.post(f"/customers/{customer}/showings/{missed}/no-show", headers=consultant))  # no body needed

    seen = state(api, tokens["manager"], customer)
    assert seen["stage"] == "matching"
    assert {k: v["status"] for k, v in seen["showings"].items()} == {
        showing: "conducted", cancelled: "cancelled", missed: "no_show"}
    assert events(api, tokens["manager"], customer)[1:] == [
        ("ListingsShortlisted", "property_consultant"), ("ShowingScheduled", "property_consultant"),
        ("ShowingRescheduled", "property_consultant"), ("ShowingConducted", "property_consultant"),
        ("FeedbackRecorded", "property_consultant"), ("ShowingScheduled", "property_consultant"),
        ("ShowingCancelled", "sales_manager"), ("ShowingScheduled", "property_consultant"),
        ("ShowingMissed", "property_consultant"),
    ]


def test_a_complaint_is_acknowledged_escalated_to_the_sales_manager_and_resolved(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    service = auth(tokens["service"])
    customer = receive(api, tokens["consultant"])
    complaint = ok(api.post(f"/customers/{customer}/complaints", headers=service, json={
        "category": "服务", "severity": "high", "description": "带看迟到一小时"}), 201).json()["entity_id"]

    ok(api.post(f"/customers/{customer}/complaints/{complaint}/acknowledgement", headers=service))
    assert state(api, tokens["service"], customer)["complaints"][complaint]["status"] == "acknowledged"
    assert_problem(api.post(f"/customers/{customer}/complaints/{complaint}/acknowledgement", headers=service),
                   409, "complaint_already_acknowledged")

    ok(api.post(f"/customers/{customer}/complaints/{complaint}/escalation", headers=service,
                json={"escalated_to": team.id(team.manager), "reason": "客户要求经理处理"}))
    escalated = state(api, tokens["manager"], customer)["complaints"][complaint]
    assert (escalated["status"], escalated["escalated_to"]) == ("escalated", team.id(team.manager))

    ok(api.post(f"/customers/{customer}/complaints/{complaint}/resolution", headers=auth(tokens["manager"]),
                json={"resolution": "经理致歉并更换顾问"}))
    assert state(api, tokens["service"], customer)["complaints"][complaint]["status"] == "resolved"
    assert events(api, tokens["manager"], customer)[1:] == [
        ("ComplaintFiled", "customer_service"), ("ComplaintAcknowledged", "customer_service"),
        ("ComplaintEscalated", "customer_service"), ("ComplaintResolved", "sales_manager")]


def test_a_complaint_is_escalated_only_to_someone_in_the_customers_team(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    other = register_team(app, f"静安-{uuid.uuid4().hex[:6]}")
    customer = receive(api, tokens["consultant"])
    complaint = ok(api.post(f"/customers/{customer}/complaints", headers=auth(tokens["service"]), json={
        "category": "服务", "severity": "low", "description": "x"}), 201).json()["entity_id"]
    outsider = api.post(f"/customers/{customer}/complaints/{complaint}/escalation", headers=auth(tokens["service"]),
                        json={"escalated_to": other.id(other.manager), "reason": "r"})
    missing = api.post(f"/customers/{customer}/complaints/{complaint}/escalation", headers=auth(tokens["service"]),
                       json={"escalated_to": str(uuid.uuid4()), "reason": "r"})
    refused = assert_problem(outsider, 422, "invalid_value")
    assert refused["detail"] == assert_problem(missing, 422, "invalid_value")["detail"]  # nothing to tell apart
    assert state(api, tokens["service"], customer)["complaints"][complaint]["status"] == "filed"


def test_the_customer_manager_schedules_and_completes_a_return_visit(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    keeper = auth(tokens["customer_manager"])
    customer = receive(api, tokens["customer_manager"])
    visit = ok(api.post(f"/customers/{customer}/return-visits", headers=keeper,
                        json={"due_at": now(60 * 24 * 7), "purpose": "入住一周回访"}), 201).json()["entity_id"]
    assert state(api, tokens["customer_manager"], customer)["return_visits"][visit]["completed_at"] is None
    ok(api.post(f"/customers/{customer}/return-visits/{visit}/completion", headers=keeper,
                json={"summary": "客户对物业满意"}))
    done = state(api, tokens["customer_manager"], customer)["return_visits"][visit]
    assert done["completed_at"] is not None and done["summary"] == "客户对物业满意"
    assert_problem(api.post(f"/customers/{customer}/return-visits/{visit}/completion", headers=keeper,
                            json={"summary": "again"}), 409, "return_visit_already_completed")
    assert_problem(api.post(f"/customers/{customer}/return-visits", headers=auth(tokens["consultant"]),
                            json={"due_at": now(60), "purpose": "x"}), 403, "forbidden")  # not a consultant's work
    assert events(api, tokens["customer_manager"], customer)[1:] == [
        ("ReturnVisitScheduled", "customer_manager"), ("ReturnVisitCompleted", "customer_manager")]


def test_a_lost_customer_is_reactivated_and_can_be_shown_listings_again(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    consultant = auth(tokens["consultant"])
    customer = receive(api, tokens["consultant"])
    listing = list_property(api, tokens["consultant"])
    assert_problem(api.post(f"/customers/{customer}/reactivation", headers=consultant, json={"reason": "x"}),
                   409, "customer_not_lost")
    ok(api.post(f"/customers/{customer}/loss", headers=consultant, json={"reason": "price", "note": "预算不足"}))
    assert state(api, tokens["consultant"], customer)["stage"] == "lost"
    assert_problem(api.post(f"/customers/{customer}/showings", headers=consultant,
                            json={"listing_id": listing, "scheduled_for": now(60)}), 409, "customer_lost")
    ok(api.post(f"/customers/{customer}/reactivation", headers=consultant, json={"reason": "客户预算提高，重新看房"}))
    assert state(api, tokens["consultant"], customer)["stage"] == "reception"
    schedule(api, tokens["consultant"], customer, listing)
    assert state(api, tokens["consultant"], customer)["stage"] == "matching"


def test_a_contact_correction_keeps_the_old_value_in_the_history(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    ok(api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
                json={"name": "赵雅琴", "phone": "13800138000"}))
    assert_problem(api.post(f"/customers/{customer}/contact-corrections", headers=auth(tokens["service"]),
                            json={"reason": "nothing named"}), 422, "invalid_value")
    ok(api.post(f"/customers/{customer}/contact-corrections", headers=auth(tokens["service"]),
                json={"phone": "13900139000", "reason": "客户来电更正号码"}))

    now_ = state(api, tokens["consultant"], customer)
    assert (now_["name"], now_["phone"]) == ("赵雅琴", "13900139000")
    history = ok(api.get(f"/customers/{customer}/history", headers=auth(tokens["manager"]))).json()
    recorded, corrected = history[1], history[2]
    assert recorded["data"]["phone"] == "13800138000"  # the old value is still there
    assert (corrected["name"].split(".")[1], corrected["actor_role"]) == ("ContactDetailsCorrected", "customer_service")
    assert corrected["data"] == {"name": None, "phone": "13900139000", "id_number": None, "reason": "客户来电更正号码"}
    audited = ok(api.get(f"/customers/{customer}/history", headers=auth(tokens["compliance"]))).text
    assert "13800138000" not in audited and "13900139000" not in audited


# --- rules that refuse a step ---------------------------------------------------------------------


def test_feedback_for_a_cancelled_showing_is_refused(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    consultant = auth(tokens["consultant"])
    customer = receive(api, tokens["consultant"])
    showing = schedule(api, tokens["consultant"], customer, list_property(api, tokens["consultant"]))
    ok(api.post(f"/customers/{customer}/showings/{showing}/cancellation", headers=consultant, json={"reason": "改期"}))
    version = state(api, tokens["consultant"], customer)["version"]
    body = assert_problem(api.post(f"/customers/{customer}/showings/{showing}/feedback", headers=consultant,
                                   json={"interest": 3, "objections": []}), 409, "showing_not_conducted")
    assert body["context"]["showing_id"] == showing
    assert_problem(api.post(f"/customers/{customer}/showings/{showing}/conduct", headers=consultant,
                            json={"topics_explained": []}), 409, "showing_not_open")
    assert_problem(api.post(f"/customers/{customer}/showings/{uuid.uuid4()}/no-show", headers=consultant),
                   404, "showing_not_found")
    assert state(api, tokens["consultant"], customer)["version"] == version


def test_a_withdrawn_listing_cannot_be_shown(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    customer = receive(api, tokens["consultant"])
    listing = list_property(api, tokens["consultant"])
    ok(api.post(f"/listings/{listing}/withdrawal", headers=auth(tokens["consultant"]), json={"reason": "业主不卖了"}))
    refused = api.post(f"/customers/{customer}/showings", headers=auth(tokens["consultant"]),
                       json={"listing_id": listing, "scheduled_for": now(60)})
    assert assert_problem(refused, 409, "listing_not_showable")["context"]["status"] == "withdrawn"
    assert state(api, tokens["consultant"], customer)["showings"] == {}


def test_a_survey_score_outside_one_to_five_is_invalid(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    customer = receive(api, tokens["customer_manager"])
    assert_problem(api.post(f"/customers/{customer}/surveys", headers=auth(tokens["customer_manager"]),
                            json={"scores": {"overall": 6}}), 422, "invalid_value")
    assert_problem(api.post(f"/customers/{customer}/showings/{uuid.uuid4()}/feedback",
                            headers=auth(tokens["manager"]), json={"interest": 6}), 422, "invalid_request")
    assert state(api, tokens["customer_manager"], customer)["version"] == 1


def test_a_customer_cannot_be_handed_to_a_customer_service_specialist(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    to_service = {"to_staff": team.id(team.service), "reason": "workload"}
    assert_problem(api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["manager"]), json=to_service),
                   409, "cannot_hold_customers")
    assert_problem(api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["consultant"]),
                            json=to_service), 403, "forbidden")
    assert state(api, tokens["consultant"], customer)["assigned_to"] == team.id(team.consultant)


def test_showings_are_the_assigned_consultants_and_customer_data_is_not_the_administrators(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    listing = list_property(api, tokens["consultant"])
    body = {"listing_id": listing, "scheduled_for": now(60)}
    assert_problem(api.post(f"/customers/{customer}/showings", headers=auth(tokens["second_consultant"]), json=body),
                   404, "not_found")  # not their customer, and not told it exists
    for role in ("customer_manager", "service", "compliance", "archivist", "admin"):
        assert_problem(api.post(f"/customers/{customer}/showings", headers=auth(tokens[role]), json=body),
                       403, "forbidden")
    for role in ("archivist", "admin"):
        assert_problem(api.get(f"/customers/{customer}", headers=auth(tokens[role])), 403, "forbidden")
    stale = api.post(f"/customers/{customer}/showings", headers=auth(tokens["consultant"], **{"If-Match": '"9"'}),
                     json=body)
    assert_problem(stale, 412, "precondition_failed")
    assert state(api, tokens["consultant"], customer)["version"] == 1


# --- staff ----------------------------------------------------------------------------------------


def test_the_administrator_trains_and_deactivates_a_member_whose_token_stops_at_once(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    admin, member = auth(tokens["admin"]), team.id(team.second_consultant)
    ok(api.post(f"/staff/{member}/trainings", headers=admin, json={"course": "按揭政策", "score": 88}))
    ok(api.post(f"/staff/{member}/assessments", headers=admin, json={"period": "2025-Q1", "score": 90}))
    ok(api.post(f"/staff/{member}/incentives", headers=admin, json={"kind": "bonus", "amount": 2000, "reason": "季度之星"}))
    record = ok(api.get(f"/staff/{member}", headers=admin)).json()
    assert [t["course"] for t in record["trainings"]] == ["按揭政策"]
    assert record["assessments"][0]["score"] == 90 and record["incentives"][0]["amount"] == 2000
    assert ok(api.get(f"/staff/{member}", headers=auth(tokens["second_consultant"]))).status_code == 200

    etag = api.get(f"/staff/{member}", headers=admin).headers["ETag"]
    ok(api.post(f"/staff/{member}/deactivation", headers={**admin, "If-Match": etag}, json={"reason": "离职"}))
    assert_problem(api.get(f"/staff/{member}", headers=auth(tokens["second_consultant"])), 401, "unauthenticated")
    assert_problem(api.post("/customers", headers=auth(tokens["second_consultant"]), json={}), 401, "unauthenticated")
    assert ok(api.get(f"/staff/{member}", headers=admin)).json()["active"] is False
    assert_problem(api.post(f"/staff/{member}/deactivation", headers=admin, json={"reason": "again"}),
                   409, "staff_already_deactivated")
    assert events(api, tokens["admin"], member, "staff")[-4:] == [
        ("TrainingCompleted", "administrator"), ("AssessmentRecorded", "administrator"),
        ("IncentiveAwarded", "administrator"), ("Deactivated", "administrator")]


def test_a_sales_manager_of_another_team_cannot_deactivate_a_member(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    other = register_team(app, f"静安-{uuid.uuid4().hex[:6]}")
    their_manager, _ = app.issue_token(other.admin, other.id(other.manager), label="tests")
    member = team.id(team.consultant)
    assert_problem(api.post(f"/staff/{member}/deactivation", headers=auth(their_manager), json={"reason": "x"}),
                   404, "not_found")
    assert_problem(api.get(f"/staff/{member}/history", headers=auth(their_manager)), 404, "not_found")
    assert ok(api.get(f"/staff/{member}", headers=auth(tokens["consultant"]))).json()["active"] is True


def test_a_sales_manager_manages_the_sales_roles_of_their_team_and_not_themselves(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    manager = auth(tokens["manager"])
    consultant = team.id(team.consultant)
    ok(api.post(f"/staff/{consultant}/role", headers=manager, json={"role": "customer_manager"}))
    assert ok(api.get(f"/staff/{consultant}", headers=manager)).json()["role"] == "customer_manager"
    assert_problem(api.post(f"/staff/{consultant}/role", headers=manager, json={"role": "administrator"}),
                   403, "forbidden")  # no one is raised above the manager's own rights
    assert_problem(api.post(f"/staff/{consultant}/role", headers=manager,
                            json={"role": "property_consultant", "team": "别的组"}), 403, "forbidden")
    assert_problem(api.post("/staff", headers=manager, json={"name": "新人", "role": "compliance_officer",
                                                             "team": team.name}), 403, "forbidden")
    for path, body in (("incentives", {"kind": "bonus", "amount": 1, "reason": "me"}),
                       ("deactivation", {"reason": "me"})):
        assert_problem(api.post(f"/staff/{team.id(team.manager)}/{path}", headers=manager, json=body),
                       403, "forbidden")
    # Never a token to act as someone else: not the administrator, not a consultant of the team.
    for someone in (team.admin, team.consultant):
        assert_problem(api.post(f"/staff/{team.id(someone)}/tokens", headers=manager, json={"label": "x"}),
                       404, "not_found")
    assert_problem(api.post(f"/staff/{team.id(team.admin)}/deactivation", headers=manager, json={"reason": "x"}),
                   403, "forbidden")
    for role in ("consultant", "customer_manager", "service", "compliance", "archivist"):
        assert_problem(api.post(f"/staff/{consultant}/trainings", headers=auth(tokens[role]),
                                json={"course": "c", "score": 1}), 403, "forbidden")


def test_anyone_revokes_their_own_token_and_it_stops_at_once(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    me = team.id(team.archivist)
    spare = ok(api.post(f"/staff/{me}/tokens", headers=auth(tokens["archivist"]), json={"label": "laptop"}), 201).json()
    assert ok(api.get(f"/staff/{me}", headers=auth(spare["token"]))).status_code == 200
    ok(api.post(f"/staff/{me}/tokens/{spare['token_id']}/revocation", headers=auth(tokens["archivist"]),
                json={"reason": "laptop lost"}))
    assert_problem(api.get(f"/staff/{me}", headers=auth(spare["token"])), 401, "unauthenticated")
    assert_problem(api.post(f"/staff/{me}/tokens/{spare['token_id']}/revocation", headers=auth(tokens["archivist"]),
                            json={"reason": "again"}), 409, "token_already_revoked")
    assert_problem(api.post(f"/staff/{me}/tokens/{uuid.uuid4()}/revocation", headers=auth(tokens["archivist"]),
                            json={"reason": "x"}), 404, "token_not_found")
    manager = team.id(team.manager)
    assert_problem(api.post(f"/staff/{manager}/tokens/{uuid.uuid4()}/revocation", headers=auth(tokens["archivist"]),
                            json={"reason": "x"}), 404, "not_found")  # not their record
    assert_problem(api.post(f"/staff/{me}/trainings", headers=auth(tokens["archivist"]),
                            json={"course": "c", "score": 1}), 403, "forbidden")


def test_staff_history_is_readable_by_the_member_and_never_shows_token_hashes(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    me = team.id(team.consultant)
    own = ok(api.get(f"/staff/{me}/history", headers=auth(tokens["consultant"])))
    assert [e["name"].split(".")[1] for e in own.json()][:2] == ["Registered", "TokenIssued"]
    assert "secret_hash" not in own.text and "张伟" not in own.text  # their own name is masked like in /staff/{id}
    assert "张伟" in ok(api.get(f"/staff/{me}/history", headers=auth(tokens["admin"]))).text
    assert ok(api.get(f"/staff/{me}/history", headers=auth(tokens["compliance"]))).status_code == 200
    assert_problem(api.get(f"/staff/{team.id(team.manager)}/history", headers=auth(tokens["consultant"])),
                   404, "not_found")
