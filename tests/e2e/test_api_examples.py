"""The OpenAPI description documents an example for every request body, and every example works.

1. Every operation of ``/openapi.json`` that takes a body has an example for it: on the media type,
   or on the schema it refers to (also through the ``anyOf`` of an optional body). The command
   answers carry one too.
2. The examples are executable: on both backends, the documented example of each route is posted
   as it stands — only its placeholder ids (``listing_id``, ``customer_id``, ``to_staff``,
   ``escalated_to``…) replaced by the ids of records prepared through the API or the application —
   as a role that ``PERMISSIONS`` allows on the route, on a record inside that role's scope.
   Schema validation must accept every example: the answer is never 422 ``invalid_request``. The
   walk follows the order of the manual (reception → … → closing, then the staff routes), so the
   domain accepts every example outright and the test asserts a 2xx. A domain 409 for a rule of
   the process (a step taken in the wrong state) would still prove the example a valid body; a
   route whose example could only be shown that way belongs in ``REFUSED_BY_A_STATE_RULE`` —
   today only the rejection of a disposition (none can be proposed before years have passed).
   Document uploads have raw bodies (a PDF, an image), not JSON: they have no JSON example.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from domain.deal import PaymentKind
from service.api.app import route_names
from service.api.permissions import PERMISSIONS
from service.application import Acting, RealtyLedger
from tests.conftest import Team
from tests.e2e.test_api import FIELDS_BY_ROLE, api, auth, tokens  # noqa: F401 - fixtures
from tests.unit.test_content_types import minimal_png

# Body fields that hold the id of a record: the examples carry placeholders there.
ID_FIELDS = frozenset({"customer_id", "listing_id", "to_staff", "escalated_to", "assigned_to", "owner_id"})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Routes whose documented example this walk can only show refused by a rule of the process (409).
# A disposition is rejected only once proposed, and proposed only once a retention period (years)
# has ended: the walk shows the rejection's example refused as "nothing proposed" (409).
REFUSED_BY_A_STATE_RULE: frozenset[str] = frozenset({"service_files.reject_disposition"})
# Who posts: the first of these team members whose role the route's permission entry names.
# Customers and deals are the consultant's (assigned) and of the team (a manager's team scope);
# staff records are the administrator's (any).
CALLERS = ("consultant", "manager", "archivist", "compliance")
STAFF_CALLERS = ("admin",)
ROLE_OF = {field: role for role, field in FIELDS_BY_ROLE.items()}


def resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = openapi["components"]["schemas"][name]
    return schema


def schema_example(openapi: dict[str, Any], schema: dict[str, Any]) -> Any | None:
    """The first example of a schema, of the schema it refers to, or of a branch of its anyOf/oneOf."""
    schema = resolve(openapi, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    for branch in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
        found = schema_example(openapi, branch)
        if found is not None:
            return found
    return None


def body_example(openapi: dict[str, Any], operation: dict[str, Any]) -> Any | None:
    media = operation["requestBody"]["content"].get("application/json")
    if media is None:  # a raw body (a document upload): no JSON example to give
        return None
    if "example" in media:
        return media["example"]
    if media.get("examples"):
        return next(iter(media["examples"].values()))["value"]
    return schema_example(openapi, media["schema"])


def documented_examples(openapi: dict[str, Any]) -> dict[str, Any]:
    """Route name -> the documented example of its body (None where there is none), for every
    operation that takes a body."""
    return {operation["operationId"]: body_example(openapi, operation)
            for operations in openapi["paths"].values() for operation in operations.values()
            if "application/json" in operation.get("requestBody", {}).get("content", {})}


def test_every_request_body_and_command_answer_has_an_example(api: TestClient) -> None:  # noqa: F811
    openapi = api.get("/openapi.json").json()
    examples = documented_examples(openapi)
    assert len(examples) > 40  # the walk below would prove little if the bodies went missing
    missing = sorted(route for route, example in examples.items() if example is None)
    assert not missing, f"operations whose request body has no example: {missing}"
    assert all(isinstance(example, dict) for example in examples.values())
    for answer in ("CommandResultPublic", "TokenIssuedPublic"):
        assert schema_example(openapi, {"$ref": f"#/components/schemas/{answer}"}), answer


def with_real_ids(example: Any, ids: dict[str, str], route: str) -> Any:
    """The example, its placeholder ids replaced; fails on a placeholder the walk gave no id for."""
    if isinstance(example, list):
        return [with_real_ids(item, ids, route) for item in example]
    if not isinstance(example, dict):
        return example
    body = {}
    for key, value in example.items():
        if key in ID_FIELDS:
            assert key in ids, f"{route}: the example names a {key}; give the walk a real one for it"
            body[key] = ids[key]
        else:
            assert not (isinstance(value, str) and UUID.match(value)), (
                f"{route}: {key} looks like an id: add it to ID_FIELDS and give the walk a real one")
            body[key] = with_real_ids(value, ids, route)
    return body


class Walk:
    """Posts documented examples and keeps track of the routes it covered."""

    def __init__(self, api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
        self.api, self.tokens = api, tokens
        openapi = api.get("/openapi.json").json()
        self.examples = documented_examples(openapi)
        self.routes = route_names(api.app)  # type: ignore[arg-type]
        self.success = {  # route name -> the success status its OpenAPI description promises
            operation["operationId"]: int(next(code for code in operation["responses"] if code.startswith("2")))
            for operations in openapi["paths"].values() for operation in operations.values()}
        self.answers: dict[str, int] = {}

    def example(self, route: str) -> dict[str, Any]:
        return copy.deepcopy(self.examples[route])

    def caller(self, route: str) -> str:
        entry = PERMISSIONS[route]
        assert isinstance(entry, dict), route
        preference = STAFF_CALLERS if route.startswith("staff.") else CALLERS
        allowed = [field for field in preference if ROLE_OF[field] in entry]
        assert allowed, f"{route}: none of {preference} may call it: teach the walk who may"
        return allowed[0]

    def post(self, route: str, ids: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
        method, path = self.routes[route]
        body = with_real_ids(self.examples[route], ids or {}, route)
        caller = self.caller(route)
        response = self.api.request(method, path.format(**params), headers=auth(self.tokens[caller]), json=body)
        answer = response.json()
        where = f"{route} as {ROLE_OF[caller].value} with {body}: {response.status_code} {response.text[:300]}"
        assert answer.get("code") != "invalid_request", f"the schema refuses its own example: {where}"
        if route in REFUSED_BY_A_STATE_RULE:
            assert response.status_code < 300 or response.status_code == 409, where
        else:
            assert response.status_code < 300, where
        if response.status_code < 300:
            assert response.status_code == self.success[route], f"not the documented status: {where}"
            if "version" in answer:
                assert response.headers["ETag"] == f'"{answer["version"]}"', where
        self.answers[route] = response.status_code
        return dict(answer)


def test_every_documented_request_body_is_accepted_as_it_stands(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    walk = Walk(api, tokens)
    consultant, manager, customer_manager = team.consultant, team.id(team.manager), team.id(team.customer_manager)

    # Listings: the listed one is shown and sold below; another is withdrawn.
    listing = walk.post("listings.list")["id"]
    walk.post("listings.change_price", listing_id=listing)
    withdrawn = app.list_property(consultant, **walk.example("listings.list")).id
    walk.post("listings.withdraw", listing_id=withdrawn)

    # A customer from reception through the service desk, matching and showings, to a deal.
    c = walk.post("customers.receive")["id"]
    walk.post("customers.record_personal_details", customer_id=c)
    walk.post("customers.record_needs", customer_id=c)
    walk.post("customers.correct_contact_details", customer_id=c)
    request = walk.post("customers.raise_request", customer_id=c)["entity_id"]
    walk.post("customers.respond_to_request", customer_id=c, request_id=request)
    complaint = walk.post("customers.file_complaint", customer_id=c)["entity_id"]
    walk.post("customers.acknowledge_complaint", customer_id=c, complaint_id=complaint)
    walk.post("customers.escalate_complaint", {"escalated_to": manager}, customer_id=c, complaint_id=complaint)
    walk.post("customers.resolve_complaint", customer_id=c, complaint_id=complaint)
    walk.post("customers.mark_lost", customer_id=c)
    walk.post("customers.reactivate", customer_id=c)
    walk.post("customers.shortlist_listings", {"listing_id": listing}, customer_id=c)
    showing = walk.post("customers.schedule_showing", {"listing_id": listing}, customer_id=c)["entity_id"]
    walk.post("customers.reschedule_showing", customer_id=c, showing_id=showing)
    walk.post("customers.conduct_showing", customer_id=c, showing_id=showing)
    walk.post("customers.record_feedback", customer_id=c, showing_id=showing)
    when = datetime.fromisoformat(walk.example("customers.schedule_showing")["scheduled_for"])
    for route in ("customers.cancel_showing", "customers.record_no_show"):
        other = app.schedule_showing(consultant, c, listing_id=listing, scheduled_for=when).entity_id
        walk.post(route, customer_id=c, showing_id=str(other))

    # The deal, from draft to closing; what the examples leave to do (the other required
    # documents, the rest of the price) is done through the application.
    deal = walk.post("deals.draft", {"customer_id": c, "listing_id": listing})["id"]
    walk.post("deals.submit", deal_id=deal)
    walk.post("deals.approve", deal_id=deal)  # a sales manager; the consultant drafted it
    walk.post("deals.sign", deal_id=deal)
    walk.post("deals.require_documents", deal_id=deal)
    first, *others = walk.example("deals.require_documents")["kinds"]
    walk.post("deals.receive_document", deal_id=deal, kind=first)
    walk.post("deals.verify_document", deal_id=deal, kind=first)
    for kind in others:
        app.receive_deal_document(consultant, deal, kind=kind)
        app.verify_deal_document(consultant, deal, kind=kind)
    walk.post("deals.record_payment", deal_id=deal)
    state = app.state(deal)
    if state["paid"] < state["price"]:
        app.record_payment(consultant, deal, kind=PaymentKind.LOAN_DISBURSEMENT.value,
                           amount=state["price"] - state["paid"], payer_account="6222020200112233445")
    walk.post("deals.settle", deal_id=deal)
    walk.post("deals.confirm_handover", deal_id=deal)
    walk.post("deals.close", deal_id=deal)

    # Another deal, of another customer on another listing: rejected in review, then cancelled.
    received = walk.example("customers.receive")
    other_customer = app.receive_customer(consultant, channel=received["channel"],
                                          reception_started_at=datetime.fromisoformat(received["reception_started_at"]),
                                          reception_ended_at=datetime.fromisoformat(received["reception_ended_at"])).id
    other_listing = app.list_property(consultant, **walk.example("listings.list")).id
    rejected = app.draft_deal(consultant, customer_id=other_customer, listing_id=other_listing,
                              price=walk.example("deals.draft")["price"], terms="首付三成").id
    app.submit_deal_for_review(consultant, rejected)
    walk.post("deals.reject", deal_id=rejected)
    walk.post("deals.cancel", deal_id=rejected)

    # The customer's file (服务档案): opened by the consultant, filed by the archivist, reopened with a
    # reason; compliance places a legal hold and releases it.
    service_file = walk.post("service_files.open", {"owner_id": c})["id"]
    app.upload_document(consultant, service_file, content=minimal_png(), kind="id_copy")
    app.file_command(team.archivist, service_file, "check_completeness")
    app.file_command(team.archivist, service_file, "file")
    walk.post("service_files.reopen", file_id=service_file)
    hold = walk.post("service_files.place_hold", file_id=service_file)["entity_id"]
    walk.post("service_files.release_hold", file_id=service_file, hold_id=hold)
    walk.post("service_files.reject_disposition", file_id=service_file)

    # After-sales: a return visit and a survey; then the customer manager takes the customer over.
    visit = walk.post("customers.schedule_return_visit", customer_id=c)["entity_id"]
    walk.post("customers.complete_return_visit", customer_id=c, visit_id=visit)
    walk.post("customers.answer_survey", customer_id=c)
    walk.post("customers.reassign", {"to_staff": customer_manager}, customer_id=c)

    # The public pool: a customer the customer manager received 16 days ago and never touched
    # again goes to the pool on the clock; the consultant claims them.
    started = datetime.now(UTC) - timedelta(days=16)
    pooled = app.receive_customer(team.customer_manager, channel="phone", reception_started_at=started,
                                  reception_ended_at=started + timedelta(minutes=20)).id
    app.return_to_pool(Acting.system(), pooled, now=datetime.now(UTC))
    walk.post("customers.claim", customer_id=pooled)
    assert app.state(pooled)["assigned_to"] == team.id(consultant)

    # Staff: a new member of the team, managed by the administrator; deactivated last.
    staff = walk.post("staff.register")["id"]
    assert app.staff_member(staff)["team"] == team.name  # the example's team is the one walked here
    walk.post("staff.change_role", staff_id=staff)
    walk.post("staff.record_training", staff_id=staff)
    walk.post("staff.record_assessment", staff_id=staff)
    walk.post("staff.award_incentive", staff_id=staff)
    token_id = walk.post("staff.issue_token", staff_id=staff)["token_id"]
    walk.post("staff.revoke_token", staff_id=staff, token_id=token_id)
    walk.post("staff.deactivate", staff_id=staff)

    # The archivist seals the customer's file for the next system (a real `realty archive export`).
    sealed = walk.post("archive.export", {"customer_id": c})
    assert sealed["documents"] == 1 and sealed["download"].endswith(sealed["export_id"])

    # Last, as it stops all processing of them: the other customer asks for erasure (their cancelled
    # deal's file is kept five years, so they are restricted until then).
    assert walk.post("customers.request_erasure", customer_id=other_customer)["status"] == "restricted"

    not_walked = sorted(set(walk.examples) - set(walk.answers))
    assert not not_walked, f"routes with a body this walk does not post: {not_walked}: add them"
    assert app.state(deal)["status"] == "closed" and app.state(c)["assigned_to"] == customer_manager

