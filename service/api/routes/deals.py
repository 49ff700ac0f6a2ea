"""Deal routes: drafting, review by another person, signing, documents, payments, settlement,
handover, closing and cancelling, and reads.

A deal has no team or holder of its own: who may see or move it is judged on its customer
(``Access.load_deal``), and a consultant also keeps the deals they drafted. The domain refuses
what no edge may allow (a reviewer approving their own draft is 403 ``self_approval``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from domain.deal import DocumentKind
from domain.identity import Role
from service.api.answers import answer
from service.api.deps import AccessDep, ExpectedVersionDep
from service.api.schemas import common as c
from service.api.schemas import deals as s
from service.redaction import redact_events, redact_state

router = APIRouter(prefix="/deals", tags=["deals"])

# Roles that handle the money of a deal and see payer accounts in full; others see them masked.
FULL_VIEW = frozenset({Role.PROPERTY_CONSULTANT, Role.SALES_MANAGER})


def occurred_at(body: c.Body | None) -> Any:
    return None if body is None else body.occurred_at


@router.post("", name="deals.draft", status_code=201, response_model=c.CommandResultPublic,
             summary="Draft a deal for a customer on a listing (the listing then holds it)")
def draft(body: s.DealCreate, access: AccessDep) -> Any:
    access.load(body.customer_id, "customer")  # the deal's scope is its customer's
    result = access.ledger.draft_deal(access.caller.acting, customer_id=body.customer_id, listing_id=body.listing_id,
                                      price=body.price, terms=body.terms, occurred_at=body.occurred_at)
    return answer(result, 201, location=f"/deals/{result.id}")


@router.get("/{deal_id}", name="deals.read", summary="A deal's current state")
def read(deal_id: str, access: AccessDep, response: Response) -> dict[str, Any]:
    state = access.load_deal(deal_id)
    response.headers["ETag"] = f'"{state["version"]}"'
    return access.disclose(deal_id, "deal", FULL_VIEW, state, redact_state)


@router.get("/{deal_id}/history", name="deals.history", summary="Every event, with who, when and why")
def history(deal_id: str, access: AccessDep) -> list[dict[str, Any]]:
    access.load_deal(deal_id)
    events = access.ledger.history(deal_id)
    return access.disclose(deal_id, "deal", FULL_VIEW, events, redact_events)


@router.post("/{deal_id}/submission", name="deals.submit", response_model=c.CommandResultPublic,
             summary="Submit the deal for signing review (签约审核)")
def submit(deal_id: str, access: AccessDep, version: ExpectedVersionDep,
           body: s.DealStep | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.submit_deal_for_review(access.caller.acting, deal_id, expected_version=version,
                                                       occurred_at=occurred_at(body)))


@router.post("/{deal_id}/approval", name="deals.approve", response_model=c.CommandResultPublic,
             summary="Approve the deal in review (never one you drafted)")
def approve(deal_id: str, access: AccessDep, version: ExpectedVersionDep,
            body: s.DealApproval | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.approve_deal(access.caller.acting, deal_id, note=None if body is None else body.note,
                                             expected_version=version, occurred_at=occurred_at(body)))


@router.post("/{deal_id}/rejection", name="deals.reject", response_model=c.CommandResultPublic,
             summary="Reject the deal in review, with the reason (never one you drafted)")
def reject(deal_id: str, body: s.DealRejection, access: AccessDep,
           version: ExpectedVersionDep) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.reject_deal(access.caller.acting, deal_id, reason=body.reason, expected_version=version,
                                            occurred_at=body.occurred_at))


@router.post("/{deal_id}/signing", name="deals.sign", response_model=c.CommandResultPublic,
             summary="Sign the approved contract (the listing becomes reserved)")
def sign(deal_id: str, body: s.DealSigning, access: AccessDep, version: ExpectedVersionDep) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.sign_deal(access.caller.acting, deal_id, contract_number=body.contract_number,
                                          expected_version=version, occurred_at=body.occurred_at))


@router.post("/{deal_id}/required-documents", name="deals.require_documents", response_model=c.CommandResultPublic,
             summary="Name the transaction documents the deal needs (交易文件准备)")
def require_documents(deal_id: str, body: s.RequiredDocuments, access: AccessDep,
                      version: ExpectedVersionDep) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.require_deal_documents(access.caller.acting, deal_id,
                                                       kinds=[k.value for k in body.kinds],
                                                       expected_version=version, occurred_at=body.occurred_at))


@router.post("/{deal_id}/documents/{kind}/receipt", name="deals.receive_document",
             response_model=c.CommandResultPublic, summary="Record that a required document was received")
def receive_document(deal_id: str, kind: DocumentKind, access: AccessDep,
                     version: ExpectedVersionDep, body: s.DealStep | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.receive_deal_document(access.caller.acting, deal_id, kind=kind.value,
                                                      expected_version=version, occurred_at=occurred_at(body)))


@router.post("/{deal_id}/documents/{kind}/verification", name="deals.verify_document",
             response_model=c.CommandResultPublic, summary="Record that a received document was verified")
def verify_document(deal_id: str, kind: DocumentKind, access: AccessDep,
                    version: ExpectedVersionDep, body: s.DealStep | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.verify_deal_document(access.caller.acting, deal_id, kind=kind.value,
                                                     expected_version=version, occurred_at=occurred_at(body)))


@router.post("/{deal_id}/payments", name="deals.record_payment", status_code=201,
             response_model=c.CommandResultPublic,
             summary="Record a payment (a deposit any time before settlement; the rest once signed)")
def record_payment(deal_id: str, body: s.PaymentRecord, access: AccessDep,
                   version: ExpectedVersionDep) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.record_payment(access.caller.acting, deal_id, kind=body.kind.value, amount=body.amount,
                                               payer_account=body.payer_account, expected_version=version,
                                               occurred_at=body.occurred_at), 201)


@router.post("/{deal_id}/settlement", name="deals.settle", response_model=c.CommandResultPublic,
             summary="Settle the funds (资金结算): documents verified, price paid; the listing is sold")
def settle(deal_id: str, access: AccessDep, version: ExpectedVersionDep,
           body: s.DealStep | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.settle_funds(access.caller.acting, deal_id, expected_version=version,
                                             occurred_at=occurred_at(body)))


@router.post("/{deal_id}/handover", name="deals.confirm_handover", response_model=c.CommandResultPublic,
             summary="Confirm the handover (交房确认)")
def confirm_handover(deal_id: str, access: AccessDep, version: ExpectedVersionDep,
                     body: s.Handover | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.confirm_handover(access.caller.acting, deal_id,
                                                 note=None if body is None else body.note,
                                                 expected_version=version, occurred_at=occurred_at(body)))


@router.post("/{deal_id}/closing", name="deals.close", response_model=c.CommandResultPublic,
             summary="Close the handed-over deal")
def close(deal_id: str, access: AccessDep, version: ExpectedVersionDep,
          body: s.DealStep | None = None) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.close_deal(access.caller.acting, deal_id, expected_version=version,
                                           occurred_at=occurred_at(body)))


@router.post("/{deal_id}/cancellation", name="deals.cancel", response_model=c.CommandResultPublic,
             summary="Cancel the deal before settlement, with the reason (the listing is released)")
def cancel(deal_id: str, body: s.DealCancellation, access: AccessDep,
           version: ExpectedVersionDep) -> Any:
    access.load_deal(deal_id)
    return answer(access.ledger.cancel_deal(access.caller.acting, deal_id, reason=body.reason, expected_version=version,
                                            occurred_at=body.occurred_at))
