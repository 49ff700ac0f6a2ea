"""Customer routes: reception, details, needs, the service desk, loss, reassignment, reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from domain.identity import Role
from service.api.deps import AccessDep, ExpectedVersionDep, LedgerDep
from service.api.problems import Problem
from service.api.schemas import common as c
from service.api.schemas import customers as s
from service.application import CommandResult
from service.redaction import redact_event, redact_state

router = APIRouter(prefix="/customers", tags=["customers"])

# Roles that work with a customer's personal data in full; others see it masked.
FULL_VIEW = frozenset({Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.SALES_MANAGER})


def done(result: CommandResult, response: Response) -> c.CommandResultPublic:
    response.headers["ETag"] = f'"{result.version}"'
    return c.CommandResultPublic(**result.as_dict())


@router.post("", name="customers.receive", status_code=201, response_model=c.CommandResultPublic,
             summary="Receive a customer (first contact, 客户首次接触)")
def receive(body: s.CustomerCreate, ledger: LedgerDep, access: AccessDep, response: Response) -> Any:
    caller = access.caller
    assignee = body.assigned_to or str(caller.staff_id)
    if assignee != str(caller.staff_id):
        if caller.role is not Role.SALES_MANAGER:
            raise Problem(403, "forbidden", "Forbidden", "only a sales manager assigns a customer to someone else")
        access_to_assignee = ledger.staff_member(assignee)
        if access_to_assignee["team"] != caller.team:
            raise Problem(403, "forbidden", "Forbidden", "the assignee is not in your team")
    result = ledger.receive_customer(
        caller.acting, channel=body.channel.value, reception_started_at=body.reception_started_at,
        reception_ended_at=body.reception_ended_at, assigned_to=assignee, occurred_at=body.occurred_at,
    )
    response.headers["Location"] = f"/customers/{result.id}"
    return done(result, response)


@router.get("/{customer_id}", name="customers.read", summary="A customer's current state")
def read(customer_id: str, ledger: LedgerDep, access: AccessDep, response: Response) -> dict[str, Any]:
    state = access.load(ledger, customer_id, "customer")
    response.headers["ETag"] = f'"{state["version"]}"'
    return state if access.caller.role in FULL_VIEW else redact_state(state)


@router.get("/{customer_id}/history", name="customers.history", summary="Every event, with who, when and why")
def history(customer_id: str, ledger: LedgerDep, access: AccessDep) -> list[dict[str, Any]]:
    access.load(ledger, customer_id, "customer")
    events = ledger.history(customer_id)
    return events if access.caller.role in FULL_VIEW else [redact_event(e) for e in events]


@router.post("/{customer_id}/personal-details", name="customers.record_personal_details",
             response_model=c.CommandResultPublic, summary="Record name, phone and ID number")
def record_personal_details(customer_id: str, body: s.PersonalDetails, ledger: LedgerDep, access: AccessDep,
                            version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.record_personal_details(
        access.caller.acting, customer_id, name=body.name, phone=body.phone, id_number=body.id_number,
        expected_version=version, occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/needs", name="customers.record_needs", response_model=c.CommandResultPublic,
             summary="Record the customer's needs (需求分析)")
def record_needs(customer_id: str, body: s.Needs, ledger: LedgerDep, access: AccessDep,
                 version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.record_needs(
        access.caller.acting, customer_id, budget_min=body.budget_min, budget_max=body.budget_max,
        area_min=body.area_min, area_max=body.area_max, rooms=body.rooms, districts=body.districts,
        purpose=body.purpose.value, payment_method=body.payment_method.value,
        qualification=body.qualification.value, expected_version=version, occurred_at=body.occurred_at,
    ), response)


@router.post("/{customer_id}/requests", name="customers.raise_request", status_code=201,
             response_model=c.CommandResultPublic, summary="Raise a request (due within 24 hours)")
def raise_request(customer_id: str, body: s.RequestRaise, ledger: LedgerDep, access: AccessDep,
                  version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.raise_request(access.caller.acting, customer_id, subject=body.subject,
                                     expected_version=version, occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/requests/{request_id}/response", name="customers.respond_to_request",
             response_model=c.CommandResultPublic, summary="Respond to a request")
def respond_to_request(customer_id: str, request_id: str, body: s.RequestResponse, ledger: LedgerDep,
                       access: AccessDep, version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.respond_to_request(access.caller.acting, customer_id, request_id=request_id,
                                          response=body.response, expected_version=version,
                                          occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/complaints", name="customers.file_complaint", status_code=201,
             response_model=c.CommandResultPublic, summary="File a complaint (handled within 72 hours)")
def file_complaint(customer_id: str, body: s.ComplaintFile, ledger: LedgerDep, access: AccessDep,
                   version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.file_complaint(access.caller.acting, customer_id, category=body.category,
                                      severity=body.severity.value, description=body.description,
                                      expected_version=version, occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/complaints/{complaint_id}/resolution", name="customers.resolve_complaint",
             response_model=c.CommandResultPublic, summary="Resolve a complaint")
def resolve_complaint(customer_id: str, complaint_id: str, body: s.ComplaintResolution, ledger: LedgerDep,
                      access: AccessDep, version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.resolve_complaint(access.caller.acting, customer_id, complaint_id=complaint_id,
                                         resolution=body.resolution, expected_version=version,
                                         occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/surveys", name="customers.answer_survey", status_code=201,
             response_model=c.CommandResultPublic, summary="Record a satisfaction survey (1-5 per dimension)")
def answer_survey(customer_id: str, body: s.SurveyAnswer, ledger: LedgerDep, access: AccessDep,
                  version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.answer_survey(access.caller.acting, customer_id, scores=body.scores, comment=body.comment,
                                     expected_version=version, occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/loss", name="customers.mark_lost", response_model=c.CommandResultPublic,
             summary="Mark the customer lost (流失), with the reason")
def mark_lost(customer_id: str, body: s.Loss, ledger: LedgerDep, access: AccessDep,
              version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.mark_customer_lost(access.caller.acting, customer_id, reason=body.reason.value,
                                          note=body.note, expected_version=version,
                                          occurred_at=body.occurred_at), response)


@router.post("/{customer_id}/reassignment", name="customers.reassign", response_model=c.CommandResultPublic,
             summary="Hand the customer to another consultant or customer manager")
def reassign(customer_id: str, body: s.Reassignment, ledger: LedgerDep, access: AccessDep,
             version: ExpectedVersionDep, response: Response) -> Any:
    access.load(ledger, customer_id, "customer")
    return done(ledger.reassign_customer(access.caller.acting, customer_id, to_staff=body.to_staff,
                                         reason=body.reason.value, expected_version=version,
                                         occurred_at=body.occurred_at), response)
