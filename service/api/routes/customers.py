"""Customer routes: reception, details and corrections, needs, shortlist and showings, the service desk
(requests, complaints, return visits, surveys), loss and reactivation, reassignment, claims from the
team's public pool, reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from domain.errors import InvalidValue, NotFound
from domain.identity import Role
from service.api.answers import answer
from service.api.deps import AccessDep, ExpectedVersionDep
from service.api.problems import Problem
from service.api.schemas import common as c
from service.api.schemas import customers as s
from service.application import RealtyLedger
from service.redaction import redact_events, redact_state

router = APIRouter(prefix="/customers", tags=["customers"])

# Roles that work with a customer's personal data in full; others see it masked.
FULL_VIEW = frozenset({Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.SALES_MANAGER})


@router.post("", name="customers.receive", status_code=201, response_model=c.CommandResultPublic,
             summary="Receive a customer (first contact, 客户首次接触)")
def receive(body: s.CustomerCreate, access: AccessDep) -> Any:
    caller = access.caller
    assignee = body.assigned_to or str(caller.staff_id)
    if assignee != str(caller.staff_id):
        if caller.role is not Role.SALES_MANAGER:
            raise Problem(403, "forbidden", "Forbidden", "only a sales manager assigns a customer to someone else")
        access_to_assignee = access.ledger.staff_member(assignee)
        if access_to_assignee["team"] != caller.team:
            raise Problem(403, "forbidden", "Forbidden", "the assignee is not in your team")
    result = access.ledger.receive_customer(
        caller.acting, channel=body.channel.value, reception_started_at=body.reception_started_at,
        reception_ended_at=body.reception_ended_at, assigned_to=assignee, occurred_at=body.occurred_at,
    )
    return answer(result, 201, location=f"/customers/{result.id}")


@router.get("/{customer_id}", name="customers.read", summary="A customer's current state")
def read(customer_id: str, access: AccessDep, response: Response) -> dict[str, Any]:
    state = access.load(customer_id, "customer")
    response.headers["ETag"] = f'"{state["version"]}"'
    return access.disclose(customer_id, "customer", FULL_VIEW, state, redact_state)


@router.get("/{customer_id}/history", name="customers.history", summary="Every event, with who, when and why")
def history(customer_id: str, access: AccessDep) -> list[dict[str, Any]]:
    access.load(customer_id, "customer")
    events = access.ledger.history(customer_id)
    return access.disclose(customer_id, "customer", FULL_VIEW, events, redact_events)


@router.post("/{customer_id}/personal-details", name="customers.record_personal_details",
             response_model=c.CommandResultPublic, summary="Record name, phone and ID number")
def record_personal_details(customer_id: str, body: s.PersonalDetails, access: AccessDep,
                            version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.record_personal_details(
        access.on_record(), customer_id, name=body.name, phone=body.phone, id_number=body.id_number,
        expected_version=version, occurred_at=body.occurred_at))


@router.post("/{customer_id}/needs", name="customers.record_needs", response_model=c.CommandResultPublic,
             summary="Record the customer's needs (需求分析)")
def record_needs(customer_id: str, body: s.Needs, access: AccessDep,
                 version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.record_needs(
        access.on_record(), customer_id, budget_min=body.budget_min, budget_max=body.budget_max,
        area_min=body.area_min, area_max=body.area_max, rooms=body.rooms, districts=body.districts,
        purpose=body.purpose.value, payment_method=body.payment_method.value,
        qualification=body.qualification.value, expected_version=version, occurred_at=body.occurred_at,
    ))


@router.post("/{customer_id}/requests", name="customers.raise_request", status_code=201,
             response_model=c.CommandResultPublic, summary="Raise a request (due within 24 hours)")
def raise_request(customer_id: str, body: s.RequestRaise, access: AccessDep,
                  version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.raise_request(access.on_record(), customer_id, subject=body.subject,
                                              expected_version=version, occurred_at=body.occurred_at), 201)


@router.post("/{customer_id}/requests/{request_id}/response", name="customers.respond_to_request",
             response_model=c.CommandResultPublic, summary="Respond to a request")
def respond_to_request(customer_id: str, request_id: str, body: s.RequestResponse, access: AccessDep,
                       version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.respond_to_request(access.on_record(), customer_id, request_id=request_id,
                                                   response=body.response, expected_version=version,
                                                   occurred_at=body.occurred_at))


@router.post("/{customer_id}/complaints", name="customers.file_complaint", status_code=201,
             response_model=c.CommandResultPublic, summary="File a complaint (handled within 72 hours)")
def file_complaint(customer_id: str, body: s.ComplaintFile, access: AccessDep,
                   version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.file_complaint(access.on_record(), customer_id, category=body.category,
                                               severity=body.severity.value, description=body.description,
                                               expected_version=version, occurred_at=body.occurred_at), 201)


@router.post("/{customer_id}/complaints/{complaint_id}/resolution", name="customers.resolve_complaint",
             response_model=c.CommandResultPublic, summary="Resolve a complaint")
def resolve_complaint(customer_id: str, complaint_id: str, body: s.ComplaintResolution, access: AccessDep,
                      version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.resolve_complaint(access.on_record(), customer_id, complaint_id=complaint_id,
                                                  resolution=body.resolution, expected_version=version,
                                                  occurred_at=body.occurred_at))


@router.post("/{customer_id}/surveys", name="customers.answer_survey", status_code=201,
             response_model=c.CommandResultPublic, summary="Record a satisfaction survey (1-5 per dimension)")
def answer_survey(customer_id: str, body: s.SurveyAnswer, access: AccessDep,
                  version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.answer_survey(access.on_record(), customer_id, scores=body.scores, comment=body.comment,
                                              expected_version=version, occurred_at=body.occurred_at), 201)


@router.post("/{customer_id}/loss", name="customers.mark_lost", response_model=c.CommandResultPublic,
             summary="Mark the customer lost (流失), with the reason")
def mark_lost(customer_id: str, body: s.Loss, access: AccessDep,
              version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.mark_customer_lost(access.on_record(), customer_id, reason=body.reason.value,
                                                   note=body.note, expected_version=version,
                                                   occurred_at=body.occurred_at))


@router.post("/{customer_id}/reassignment", name="customers.reassign", response_model=c.CommandResultPublic,
             summary="Hand the customer to another consultant or customer manager")
def reassign(customer_id: str, body: s.Reassignment, access: AccessDep,
             version: ExpectedVersionDep) -> Any:
    customer = access.load(customer_id, "customer")
    # A customer (and their personal data) never leaves the team through a reassignment.
    _require_team_member(access.ledger, customer, body.to_staff, "to_staff")
    return answer(access.ledger.reassign_customer(access.caller.acting, customer_id, to_staff=body.to_staff,
                                                  reason=body.reason.value, expected_version=version,
                                                  occurred_at=body.occurred_at))


@router.post("/{customer_id}/claim", name="customers.claim", response_model=c.CommandResultPublic,
             summary="Claim a customer from the team's public pool (公客池)")
def claim(customer_id: str, access: AccessDep, version: ExpectedVersionDep, body: s.Claim | None = None) -> Any:
    # Nobody holds a customer in the pool: the scope is the team's, and the caller claims for
    # themselves unless a sales manager names a member of the customer's team.
    caller = access.caller
    claimer = body.claimer if body and body.claimer else str(caller.staff_id)
    if claimer != str(caller.staff_id):
        if caller.role is not Role.SALES_MANAGER:
            raise Problem(403, "forbidden", "Forbidden", "only a sales manager claims a customer for someone else")
        _require_team_member(access.ledger, access.load(customer_id, "customer"), claimer, "claimer")
    return answer(access.ledger.claim_from_pool(access.on_record(), customer_id, claimer=claimer,
                                                expected_version=version,
                                                occurred_at=body.occurred_at if body else None))


@router.post("/{customer_id}/erasure", name="customers.request_erasure", response_model=s.ErasurePublic,
             summary="Record an erasure request (PIPL Art. 47): shred now, or restrict until retention ends")
def request_erasure(customer_id: str, body: s.ErasureRequest, access: AccessDep) -> Any:
    access.load(customer_id, "customer")  # 404 for an unknown customer, before anything is changed
    return access.ledger.request_erasure(access.on_record(), customer_id, legal_basis=body.legal_basis.value)


@router.post("/{customer_id}/contact-corrections", name="customers.correct_contact_details",
             response_model=c.CommandResultPublic,
             summary="Correct name, phone or ID number (the old values stay in the history)")
def correct_contact_details(customer_id: str, body: s.ContactCorrection, access: AccessDep,
                            version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.correct_contact_details(
        access.on_record(), customer_id, reason=body.reason, name=body.name, phone=body.phone,
        id_number=body.id_number, expected_version=version, occurred_at=body.occurred_at))


@router.post("/{customer_id}/shortlist", name="customers.shortlist_listings", response_model=c.CommandResultPublic,
             summary="Shortlist listings matched to the needs (房源筛选), with scores")
def shortlist_listings(customer_id: str, body: s.Shortlist, access: AccessDep,
                       version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.shortlist_listings(
        access.on_record(), customer_id, matches=[(m.listing_id, m.score) for m in body.matches],
        expected_version=version, occurred_at=body.occurred_at))


@router.post("/{customer_id}/showings", name="customers.schedule_showing", status_code=201,
             response_model=c.CommandResultPublic, summary="Schedule a showing (带看); entity_id is the showing")
def schedule_showing(customer_id: str, body: s.ShowingCreate, access: AccessDep,
                     version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.schedule_showing(
        access.on_record(), customer_id, listing_id=body.listing_id, scheduled_for=body.scheduled_for,
        expected_version=version, occurred_at=body.occurred_at), 201)


@router.post("/{customer_id}/showings/{showing_id}/rescheduling", name="customers.reschedule_showing",
             response_model=c.CommandResultPublic, summary="Move a scheduled showing, with the reason")
def reschedule_showing(customer_id: str, showing_id: str, body: s.ShowingReschedule, access: AccessDep,
                       version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.reschedule_showing(
        access.on_record(), customer_id, showing_id=showing_id, scheduled_for=body.scheduled_for,
        reason=body.reason, expected_version=version, occurred_at=body.occurred_at))


@router.post("/{customer_id}/showings/{showing_id}/conduct", name="customers.conduct_showing",
             response_model=c.CommandResultPublic,
             summary="Record that the showing took place and what was explained on site")
def conduct_showing(customer_id: str, showing_id: str, body: s.ShowingConduct, access: AccessDep,
                    version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.conduct_showing(
        access.on_record(), customer_id, showing_id=showing_id,
        topics_explained=[t.value for t in body.topics_explained], expected_version=version,
        occurred_at=body.occurred_at))


@router.post("/{customer_id}/showings/{showing_id}/cancellation", name="customers.cancel_showing",
             response_model=c.CommandResultPublic, summary="Cancel a scheduled showing, with the reason")
def cancel_showing(customer_id: str, showing_id: str, body: s.ShowingCancellation, access: AccessDep,
                   version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.cancel_showing(
        access.on_record(), customer_id, showing_id=showing_id, reason=body.reason, expected_version=version,
        occurred_at=body.occurred_at))


@router.post("/{customer_id}/showings/{showing_id}/no-show", name="customers.record_no_show",
             response_model=c.CommandResultPublic, summary="Record that the customer did not come")
def record_no_show(customer_id: str, showing_id: str, access: AccessDep,
                   version: ExpectedVersionDep, body: s.ShowingNoShow | None = None) -> Any:
    return answer(access.ledger.record_no_show(
        access.on_record(), customer_id, showing_id=showing_id, expected_version=version,
        occurred_at=body.occurred_at if body else None))


@router.post("/{customer_id}/showings/{showing_id}/feedback", name="customers.record_feedback",
             response_model=c.CommandResultPublic, summary="Record the customer's feedback on a showing")
def record_feedback(customer_id: str, showing_id: str, body: s.Feedback, access: AccessDep,
                    version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.record_feedback(
        access.on_record(), customer_id, showing_id=showing_id, interest=body.interest,
        objections=body.objections, expected_version=version, occurred_at=body.occurred_at))


@router.post("/{customer_id}/complaints/{complaint_id}/acknowledgement", name="customers.acknowledge_complaint",
             response_model=c.CommandResultPublic, summary="Acknowledge a complaint")
def acknowledge_complaint(customer_id: str, complaint_id: str, access: AccessDep,
                          version: ExpectedVersionDep,
                          body: s.ComplaintAcknowledgement | None = None) -> Any:
    return answer(access.ledger.acknowledge_complaint(
        access.on_record(), customer_id, complaint_id=complaint_id, expected_version=version,
        occurred_at=body.occurred_at if body else None))


@router.post("/{customer_id}/complaints/{complaint_id}/escalation", name="customers.escalate_complaint",
             response_model=c.CommandResultPublic, summary="Escalate a complaint to a member of the customer's team")
def escalate_complaint(customer_id: str, complaint_id: str, body: s.ComplaintEscalation, access: AccessDep,
                       version: ExpectedVersionDep) -> Any:
    customer = access.load(customer_id, "customer")
    _require_team_member(access.ledger, customer, body.escalated_to, "escalated_to")
    return answer(access.ledger.escalate_complaint(
        access.caller.acting, customer_id, complaint_id=complaint_id, escalated_to=body.escalated_to,
        reason=body.reason, expected_version=version, occurred_at=body.occurred_at))


@router.post("/{customer_id}/return-visits", name="customers.schedule_return_visit", status_code=201,
             response_model=c.CommandResultPublic, summary="Schedule a return visit (回访); entity_id is the visit")
def schedule_return_visit(customer_id: str, body: s.ReturnVisitCreate, access: AccessDep,
                          version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.schedule_return_visit(
        access.on_record(), customer_id, due_at=body.due_at, purpose=body.purpose, expected_version=version,
        occurred_at=body.occurred_at), 201)


@router.post("/{customer_id}/return-visits/{visit_id}/completion", name="customers.complete_return_visit",
             response_model=c.CommandResultPublic, summary="Complete a return visit, with a summary")
def complete_return_visit(customer_id: str, visit_id: str, body: s.ReturnVisitCompletion, access: AccessDep,
                          version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.complete_return_visit(
        access.on_record(), customer_id, visit_id=visit_id, summary=body.summary, expected_version=version,
        occurred_at=body.occurred_at))


@router.post("/{customer_id}/reactivation", name="customers.reactivate", response_model=c.CommandResultPublic,
             summary="Reactivate a lost customer, with the reason")
def reactivate(customer_id: str, body: s.Reactivation, access: AccessDep,
               version: ExpectedVersionDep) -> Any:
    return answer(access.ledger.reactivate_customer(access.on_record(), customer_id, reason=body.reason,
                                                    expected_version=version, occurred_at=body.occurred_at))


def _require_team_member(ledger: RealtyLedger, customer: dict[str, Any], staff_id: str, field: str) -> None:
    """Refuse a staff member outside the customer's team exactly as a missing one (no probing ids)."""
    try:
        member: dict[str, Any] | None = ledger.staff_member(staff_id)
    except NotFound:
        member = None
    if member is None or member["team"] != customer["team"]:
        raise InvalidValue(field, "is not a staff member of the customer's team")
