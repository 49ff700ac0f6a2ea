"""The deal: signing review (签约审核), signing, documents, payments, fund settlement (资金结算),
handover (交房确认), closing and cancellation."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from domain.deal import Deal, DealStatus
from domain.errors import (
    DocumentAlreadyVerified,
    DocumentNotReceived,
    DocumentNotRequired,
    DocumentsIncomplete,
    FundsIncomplete,
    InvalidDealTransition,
    InvalidValue,
    NotPermitted,
    SelfApproval,
)
from domain.identity import Actor, Role
from tests.unit.builders import (
    DEAL_PRICE,
    PAYER_ACCOUNT,
    actor,
    ago,
    consultant,
    deal_in,
    manager,
    recorded,
    refused,
    refused_creation,
)

# --- drafting and review (签约审核) ------------------------------------------------------------


def test_drafting_a_deal_records_its_terms_and_who_drafted_it() -> None:
    customer_id, listing_id = uuid.uuid4(), uuid.uuid4()
    by = consultant(on_behalf_of=uuid.uuid4())
    at = ago(hours=5)

    deal = Deal.draft(
        customer_id=customer_id, listing_id=listing_id, price=3_800_000, terms=" 全款 ", actor=by, occurred_at=at
    )

    event = recorded(deal, Deal.Drafted, by, at)
    assert event.drafted_by == by.id
    assert (deal.customer_id, deal.listing_id, deal.price, deal.terms) == (customer_id, listing_id, 3_800_000, "全款")
    assert deal.drafted_by == by.id
    assert deal.status == DealStatus.DRAFTED
    assert deal.documents == {} and deal.payments == [] and deal.paid == 0
    assert deal.is_open


@pytest.mark.parametrize(
    ("field", "overrides"),
    [("price", {"price": 0}), ("price", {"price": "lots"}), ("terms", {"terms": ""})],
    ids=["zero-price", "price-not-a-number", "no-terms"],
)
def test_a_malformed_draft_is_refused(field: str, overrides: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "customer_id": uuid.uuid4(),
        "listing_id": uuid.uuid4(),
        "price": DEAL_PRICE,
        "terms": "全款",
        "actor": consultant(),
    }
    with refused_creation(InvalidValue, "invalid_value") as excinfo:
        Deal.draft(**{**arguments, **overrides})
    assert excinfo.value.context["field"] == field


@pytest.mark.parametrize("role", [Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.COMPLIANCE_OFFICER])
def test_only_consultants_and_sales_managers_draft_deals(role: Role) -> None:
    with refused_creation(NotPermitted, "not_permitted"):
        Deal.draft(
            customer_id=uuid.uuid4(), listing_id=uuid.uuid4(), price=DEAL_PRICE, terms="全款", actor=actor(role)
        )


def test_submitting_a_draft_puts_it_in_review() -> None:
    deal = deal_in("drafted")
    by = consultant()
    at = ago(hours=4)

    deal.submit_for_review(actor=by, occurred_at=at)

    recorded(deal, Deal.SubmittedForReview, by, at)
    assert deal.status == DealStatus.IN_REVIEW


def test_a_second_sales_manager_approves_the_deal() -> None:
    deal = deal_in("in_review")
    by = manager()
    at = ago(hours=3)

    deal.approve(note="条款合规", actor=by, occurred_at=at)

    event = recorded(deal, Deal.Approved, by, at)
    assert event.note == "条款合规"
    assert deal.status == DealStatus.APPROVED
    assert deal.reviewed_by == by.id


def test_a_sales_manager_cannot_approve_their_own_draft() -> None:
    drafter = manager()
    deal = deal_in("in_review", drafter=drafter)
    with refused(deal, SelfApproval, "self_approval") as excinfo:
        deal.approve(note=None, actor=drafter)
    assert excinfo.value.context == {"deal_id": str(deal.id)}
    assert deal.status == DealStatus.IN_REVIEW
    assert deal.reviewed_by is None


def test_a_sales_manager_cannot_reject_their_own_draft_either() -> None:
    drafter = manager()
    deal = deal_in("in_review", drafter=drafter)
    with refused(deal, SelfApproval, "self_approval"):
        deal.reject(reason="再想想", actor=drafter)
    assert deal.status == DealStatus.IN_REVIEW


def test_the_drafter_cannot_approve_their_draft_in_another_request_or_on_someones_behalf() -> None:
    drafter = manager()
    deal = deal_in("in_review", drafter=drafter)
    same_person = Actor(id=drafter.id, role=Role.SALES_MANAGER, on_behalf_of=uuid.uuid4())
    with refused(deal, SelfApproval, "self_approval"):
        deal.approve(note=None, actor=same_person)


@pytest.mark.parametrize("role", [Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.COMPLIANCE_OFFICER])
def test_only_a_sales_manager_reviews_a_contract(role: Role) -> None:
    deal = deal_in("in_review")
    with refused(deal, NotPermitted, "not_permitted") as excinfo:
        deal.approve(note=None, actor=actor(role))
    assert excinfo.value.context == {"role": role.value, "duty": "review contracts"}
    with refused(deal, NotPermitted, "not_permitted"):
        deal.reject(reason="不行", actor=actor(role))


def test_a_rejected_deal_records_the_reason_and_can_be_resubmitted() -> None:
    deal = deal_in("in_review")
    by = manager()
    at = ago(hours=3)

    deal.reject(reason="付款条款不清", actor=by, occurred_at=at)

    event = recorded(deal, Deal.Rejected, by, at)
    assert event.reason == "付款条款不清"
    assert (deal.status, deal.reviewed_by, deal.rejection_reason) == (DealStatus.REJECTED, by.id, "付款条款不清")

    deal.submit_for_review(actor=consultant(), occurred_at=ago(hours=2))
    assert deal.status == DealStatus.IN_REVIEW


def test_a_rejection_needs_a_reason() -> None:
    deal = deal_in("in_review")
    with refused(deal, InvalidValue, "invalid_value"):
        deal.reject(reason=" ", actor=manager())


# --- signing ---------------------------------------------------------------------------------


def test_signing_an_approved_deal_records_the_contract_number() -> None:
    deal = deal_in("approved")
    by = consultant()
    at = ago(hours=2)

    deal.sign(contract_number="HT-2024-0042", actor=by, occurred_at=at)

    event = recorded(deal, Deal.Signed, by, at)
    assert event.contract_number == "HT-2024-0042"
    assert (deal.status, deal.contract_number) == (DealStatus.SIGNED, "HT-2024-0042")


@pytest.mark.parametrize("status", ["drafted", "in_review", "signed", "settled"])
def test_a_deal_that_is_not_approved_cannot_be_signed(status: str) -> None:
    deal = deal_in(status)
    with refused(deal, InvalidDealTransition, "invalid_deal_transition") as excinfo:
        deal.sign(contract_number="HT-X", actor=consultant())
    assert excinfo.value.context == {"deal_id": str(deal.id), "action": "sign", "status": status}


def test_a_rejected_deal_cannot_be_signed() -> None:
    deal = deal_in("in_review")
    deal.reject(reason="不行", actor=manager())
    with refused(deal, InvalidDealTransition, "invalid_deal_transition"):
        deal.sign(contract_number="HT-X", actor=consultant())


# --- the transitions no status allows ---------------------------------------------------------------

_COMMANDS: dict[str, Callable[[Deal], Any]] = {
    "submit": lambda d: d.submit_for_review(actor=consultant()),
    "approve": lambda d: d.approve(note=None, actor=manager()),
    "reject": lambda d: d.reject(reason="不行", actor=manager()),
    "require documents for": lambda d: d.require_documents(kinds=["id_card"], actor=consultant()),
    "receive documents for": lambda d: d.receive_document(kind="id_card", actor=consultant()),
    "verify documents for": lambda d: d.verify_document(kind="id_card", actor=consultant()),
    "record a balance on": lambda d: d.record_payment(
        kind="balance", amount=1, payer_account=PAYER_ACCOUNT, actor=consultant()
    ),
    "take a deposit on": lambda d: d.record_payment(
        kind="deposit", amount=1, payer_account=PAYER_ACCOUNT, actor=consultant()
    ),
    "settle": lambda d: d.settle_funds(actor=consultant()),
    "hand over": lambda d: d.confirm_handover(note=None, actor=consultant()),
    "close": lambda d: d.close(actor=consultant()),
    "cancel": lambda d: d.cancel(reason="客户放弃", actor=consultant()),
}

_OUT_OF_ORDER = [
    ("submit", "in_review"),
    ("submit", "approved"),
    ("approve", "drafted"),
    ("approve", "approved"),
    ("reject", "signed"),
    ("require documents for", "approved"),
    ("receive documents for", "in_review"),
    ("verify documents for", "settled"),
    ("record a balance on", "approved"),
    ("take a deposit on", "settled"),
    ("settle", "approved"),
    ("settle", "settled"),
    ("hand over", "signed"),
    ("hand over", "approved"),
    ("close", "settled"),
    ("cancel", "settled"),
    ("cancel", "handed_over"),
    ("cancel", "closed"),
]


@pytest.mark.parametrize(("command", "status"), _OUT_OF_ORDER, ids=[f"{c}-when-{s}" for c, s in _OUT_OF_ORDER])
def test_a_deal_command_out_of_order_is_refused(command: str, status: str) -> None:
    deal = deal_in(status)
    with refused(deal, InvalidDealTransition, "invalid_deal_transition") as excinfo:
        _COMMANDS[command](deal)
    assert excinfo.value.context["action"] == command
    assert excinfo.value.context["status"] == status
    assert deal.status == status


def test_settling_before_signing_is_refused() -> None:
    deal = deal_in("approved")
    with refused(deal, InvalidDealTransition, "invalid_deal_transition") as excinfo:
        deal.settle_funds(actor=consultant())
    assert "must be signed" in excinfo.value.message


def test_handover_before_settlement_is_refused() -> None:
    deal = deal_in("signed")
    with refused(deal, InvalidDealTransition, "invalid_deal_transition") as excinfo:
        deal.confirm_handover(note=None, actor=consultant())
    assert "must be settled" in excinfo.value.message


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_a_cancelled_deal_accepts_no_further_command(command: str) -> None:
    deal = deal_in("drafted")
    deal.cancel(reason="客户放弃", actor=consultant())
    with refused(deal, InvalidDealTransition, "invalid_deal_transition"):
        _COMMANDS[command](deal)


# --- documents (交易文件准备) -----------------------------------------------------------------------


def test_requiring_documents_lists_each_kind_once() -> None:
    deal = deal_in("signed")
    by = consultant()
    at = ago(hours=2)

    deal.require_documents(kinds=["loan_approval", "id_card", "loan_approval"], actor=by, occurred_at=at)

    event = recorded(deal, Deal.DocumentsRequired, by, at)
    assert event.kinds == ["id_card", "loan_approval"]
    assert deal.documents == {"id_card": "required", "loan_approval": "required"}


def test_requiring_a_document_again_does_not_undo_its_verification() -> None:
    deal = deal_in("signed")
    deal.require_documents(kinds=["id_card"], actor=consultant())
    deal.receive_document(kind="id_card", actor=consultant())
    deal.verify_document(kind="id_card", actor=consultant())
    deal.require_documents(kinds=["id_card", "income_proof"], actor=consultant())
    assert deal.documents == {"id_card": "verified", "income_proof": "required"}


@pytest.mark.parametrize("kinds", [[], ["selfie"]], ids=["none", "unknown-kind"])
def test_a_malformed_document_requirement_is_refused(kinds: list[str]) -> None:
    deal = deal_in("signed")
    with refused(deal, InvalidValue, "invalid_value") as excinfo:
        deal.require_documents(kinds=kinds, actor=consultant())
    assert excinfo.value.context["field"] == "kinds"


def test_receiving_and_verifying_a_document_records_each_step() -> None:
    deal = deal_in("signed")
    deal.require_documents(kinds=["property_certificate"], actor=consultant(), occurred_at=ago(hours=3))
    clerk, checker = consultant(), manager()

    received_at = ago(hours=2)
    deal.receive_document(kind="property_certificate", actor=clerk, occurred_at=received_at)
    received = recorded(deal, Deal.DocumentReceived, clerk, received_at)
    assert received.kind == "property_certificate"
    assert deal.documents["property_certificate"] == "received"

    at = ago(hours=1)
    deal.verify_document(kind="property_certificate", actor=checker, occurred_at=at)
    verified = recorded(deal, Deal.DocumentVerified, checker, at)
    assert verified.kind == "property_certificate"
    assert deal.documents["property_certificate"] == "verified"


@pytest.mark.parametrize("step", ["receive", "verify"])
def test_a_document_that_was_not_required_is_refused(step: str) -> None:
    deal = deal_in("signed")
    deal.require_documents(kinds=["id_card"], actor=consultant())
    command = deal.receive_document if step == "receive" else deal.verify_document
    with refused(deal, DocumentNotRequired, "document_not_required") as excinfo:
        command(kind="marriage_certificate", actor=consultant())
    assert excinfo.value.context == {"kind": "marriage_certificate"}


def test_a_document_cannot_be_verified_before_it_is_received() -> None:
    deal = deal_in("signed")
    deal.require_documents(kinds=["income_proof"], actor=consultant())
    with refused(deal, DocumentNotReceived, "document_not_received") as excinfo:
        deal.verify_document(kind="income_proof", actor=consultant())
    assert excinfo.value.context == {"kind": "income_proof"}
    assert deal.documents["income_proof"] == "required"


# --- payments --------------------------------------------------------------------------------


def test_a_payment_records_its_kind_amount_and_the_payers_account() -> None:
    deal = deal_in("signed")
    by = consultant()
    at = ago(hours=1)

    payment_id = deal.record_payment(
        kind="down_payment", amount=1_400_000, payer_account="6222 0202 0011 2233 445", actor=by, occurred_at=at
    )

    event = recorded(deal, Deal.PaymentRecorded, by, at)
    assert (event.payment_id, event.kind, event.amount, event.payer_account) == (
        payment_id,
        "down_payment",
        1_400_000,
        PAYER_ACCOUNT,
    )
    assert deal.payments == [
        {
            "payment_id": payment_id,
            "kind": "down_payment",
            "amount": 1_400_000,
            "payer_account": PAYER_ACCOUNT,
            "at": at,
        }
    ]
    assert deal.paid == 1_400_000


@pytest.mark.parametrize("status", ["drafted", "in_review", "approved"])
def test_a_deposit_may_be_taken_before_signing(status: str) -> None:
    deal = deal_in(status)
    deal.record_payment(kind="deposit", amount=50_000, payer_account=PAYER_ACCOUNT, actor=consultant())
    assert deal.paid == 50_000


@pytest.mark.parametrize("kind", ["down_payment", "loan_disbursement", "balance"])
def test_only_a_deposit_comes_before_signing(kind: str) -> None:
    deal = deal_in("approved")
    with refused(deal, InvalidDealTransition, "invalid_deal_transition"):
        deal.record_payment(kind=kind, amount=50_000, payer_account=PAYER_ACCOUNT, actor=consultant())
    assert deal.paid == 0


def test_payments_cannot_add_up_to_more_than_the_price() -> None:
    deal = deal_in("signed")
    deal.record_payment(kind="deposit", amount=100_000, payer_account=PAYER_ACCOUNT, actor=consultant())
    with refused(deal, InvalidValue, "invalid_value") as excinfo:
        deal.record_payment(
            kind="balance", amount=DEAL_PRICE - 99_999, payer_account=PAYER_ACCOUNT, actor=consultant()
        )
    assert excinfo.value.context["field"] == "amount"
    assert deal.paid == 100_000


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("kind", {"kind": "bribe"}),
        ("amount", {"amount": 0}),
        ("amount", {"amount": -5}),
        ("payer_account", {"payer_account": "12345"}),
        ("payer_account", {"payer_account": "6222-0202-0011-2233"}),
        ("payer_account", {"payer_account": "62220202001122334455"}),
        ("payer_account", {"payer_account": ""}),
    ],
    ids=["unknown-kind", "zero", "negative", "too-short", "not-digits", "too-long", "blank"],
)
def test_a_malformed_payment_is_refused(field: str, overrides: dict[str, Any]) -> None:
    deal = deal_in("signed")
    arguments: dict[str, Any] = {"kind": "balance", "amount": 10_000, "payer_account": PAYER_ACCOUNT}
    with refused(deal, InvalidValue, "invalid_value") as excinfo:
        deal.record_payment(**{**arguments, **overrides}, actor=consultant())
    assert excinfo.value.context["field"] == field


# --- fund settlement (资金结算), handover (交房确认), closing ---------------------------------------------


def _signed_deal_with_documents(*states: str) -> Deal:
    """A signed deal requiring id_card and income_proof, brought to the given document states."""
    deal = deal_in("signed")
    deal.require_documents(kinds=["id_card", "income_proof"], actor=consultant())
    for kind, state in zip(["id_card", "income_proof"], states, strict=True):
        if state in ("received", "verified"):
            deal.receive_document(kind=kind, actor=consultant())
        if state == "verified":
            deal.verify_document(kind=kind, actor=consultant())
    return deal


def test_settling_funds_records_the_total_once_documents_are_verified_and_the_price_is_paid() -> None:
    deal = _signed_deal_with_documents("verified", "verified")
    deal.record_payment(kind="deposit", amount=100_000, payer_account=PAYER_ACCOUNT, actor=consultant())
    deal.record_payment(
        kind="loan_disbursement", amount=DEAL_PRICE - 100_000, payer_account=PAYER_ACCOUNT, actor=consultant()
    )
    by = manager()
    at = ago(minutes=-1)

    deal.settle_funds(actor=by, occurred_at=at)

    event = recorded(deal, Deal.FundsSettled, by, at)
    assert event.total == DEAL_PRICE
    assert deal.status == DealStatus.SETTLED


@pytest.mark.parametrize(
    ("states", "missing"),
    [
        (("required", "verified"), ["id_card"]),
        (("verified", "received"), ["income_proof"]),
        (("received", "required"), ["id_card", "income_proof"]),
    ],
)
def test_funds_are_not_settled_while_a_required_document_is_unverified(
    states: tuple[str, str], missing: list[str]
) -> None:
    deal = _signed_deal_with_documents(*states)
    deal.record_payment(kind="balance", amount=DEAL_PRICE, payer_account=PAYER_ACCOUNT, actor=consultant())
    with refused(deal, DocumentsIncomplete, "documents_incomplete") as excinfo:
        deal.settle_funds(actor=consultant())
    assert excinfo.value.context == {"missing": missing}
    assert deal.status == DealStatus.SIGNED


def test_funds_are_not_settled_when_no_transaction_document_was_required() -> None:
    deal = deal_in("signed")
    deal.record_payment(kind="balance", amount=DEAL_PRICE, payer_account=PAYER_ACCOUNT, actor=consultant())
    with refused(deal, DocumentsIncomplete, "documents_incomplete") as excinfo:
        deal.settle_funds(actor=consultant())
    assert excinfo.value.context == {"missing": []}
    assert "none were required" in str(excinfo.value)


def test_a_verified_document_is_not_received_or_verified_again() -> None:
    deal = _signed_deal_with_documents("verified", "verified")
    for again in (deal.receive_document, deal.verify_document):
        with refused(deal, DocumentAlreadyVerified, "document_already_verified") as excinfo:
            again(kind="id_card", actor=consultant())
        assert excinfo.value.context == {"kind": "id_card"}
    assert deal.documents["id_card"] == "verified"


@pytest.mark.parametrize("paid", [0, DEAL_PRICE - 1])
def test_funds_are_not_settled_before_the_price_is_paid_in_full(paid: int) -> None:
    deal = _signed_deal_with_documents("verified", "verified")
    if paid:
        deal.record_payment(kind="balance", amount=paid, payer_account=PAYER_ACCOUNT, actor=consultant())
    with refused(deal, FundsIncomplete, "funds_incomplete") as excinfo:
        deal.settle_funds(actor=consultant())
    assert excinfo.value.context == {"paid": paid, "price": DEAL_PRICE}
    assert deal.status == DealStatus.SIGNED


def test_confirming_the_handover_of_a_settled_deal() -> None:
    deal = deal_in("settled")
    by = consultant()
    at = ago(hours=1)

    deal.confirm_handover(note="钥匙两把已交付", actor=by, occurred_at=at)

    event = recorded(deal, Deal.HandoverConfirmed, by, at)
    assert event.note == "钥匙两把已交付"
    assert deal.status == DealStatus.HANDED_OVER
    assert deal.is_open


def test_closing_a_handed_over_deal_ends_it() -> None:
    deal = deal_in("handed_over")
    by = manager()
    at = ago(hours=1)

    deal.close(actor=by, occurred_at=at)

    recorded(deal, Deal.Closed, by, at)
    assert deal.status == DealStatus.CLOSED
    assert not deal.is_open


@pytest.mark.parametrize("status", ["drafted", "in_review", "approved", "signed"])
def test_a_deal_can_be_cancelled_until_funds_are_settled(status: str) -> None:
    deal = deal_in(status)
    by = consultant()
    at = ago(hours=1)

    deal.cancel(reason="客户贷款未获批", actor=by, occurred_at=at)

    event = recorded(deal, Deal.Cancelled, by, at)
    assert event.reason == "客户贷款未获批"
    assert (deal.status, deal.cancellation_reason) == (DealStatus.CANCELLED, "客户贷款未获批")
    assert not deal.is_open


def test_a_rejected_deal_can_be_cancelled() -> None:
    deal = deal_in("in_review")
    deal.reject(reason="不行", actor=manager())
    deal.cancel(reason="放弃", actor=consultant())
    assert deal.status == DealStatus.CANCELLED


def test_a_cancellation_needs_a_reason() -> None:
    deal = deal_in("signed")
    with refused(deal, InvalidValue, "invalid_value"):
        deal.cancel(reason="", actor=consultant())


# --- duties -----------------------------------------------------------------------------------


def _deal_for(command: str) -> Deal:
    """A deal in which ``command`` is the natural next step."""
    if command in ("require_documents", "record_payment", "receive_document", "verify_document"):
        deal = deal_in("signed")
        deal.require_documents(kinds=["id_card"], actor=consultant())
        if command == "verify_document":
            deal.receive_document(kind="id_card", actor=consultant())
        return deal
    if command == "settle_funds":
        deal = _signed_deal_with_documents("verified", "verified")
        deal.record_payment(kind="balance", amount=DEAL_PRICE, payer_account=PAYER_ACCOUNT, actor=consultant())
        return deal
    return deal_in(
        {
            "submit_for_review": "drafted",
            "sign": "approved",
            "confirm_handover": "settled",
            "close": "handed_over",
            "cancel": "drafted",
        }[command]
    )


_HANDLING: dict[str, Callable[[Deal, Actor], Any]] = {
    "submit_for_review": lambda d, a: d.submit_for_review(actor=a),
    "sign": lambda d, a: d.sign(contract_number="HT-1", actor=a),
    "require_documents": lambda d, a: d.require_documents(kinds=["income_proof"], actor=a),
    "receive_document": lambda d, a: d.receive_document(kind="id_card", actor=a),
    "verify_document": lambda d, a: d.verify_document(kind="id_card", actor=a),
    "record_payment": lambda d, a: d.record_payment(kind="balance", amount=1, payer_account=PAYER_ACCOUNT, actor=a),
    "settle_funds": lambda d, a: d.settle_funds(actor=a),
    "confirm_handover": lambda d, a: d.confirm_handover(note=None, actor=a),
    "close": lambda d, a: d.close(actor=a),
    "cancel": lambda d, a: d.cancel(reason="…", actor=a),
}


def test_every_deal_command_is_covered_by_the_duty_tests() -> None:
    commands = {name for name, value in vars(Deal).items() if inspect.isfunction(value) and not name.startswith("_")}
    assert commands == set(_HANDLING) | {"approve", "reject"}


@pytest.mark.parametrize("command", sorted(_HANDLING))
@pytest.mark.parametrize("role", [Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.ARCHIVIST])
def test_a_role_that_does_not_handle_deals_cannot_move_one(command: str, role: Role) -> None:
    deal = _deal_for(command)
    with refused(deal, NotPermitted, "not_permitted") as excinfo:
        _HANDLING[command](deal, actor(role))
    assert excinfo.value.context == {"role": role.value, "duty": "handle deals"}


@pytest.mark.parametrize("command", sorted(_HANDLING))
def test_a_sales_manager_and_the_system_actor_may_handle_a_deal(command: str) -> None:
    for someone in (manager(), Actor.system()):
        deal = _deal_for(command)
        version = deal.version
        _HANDLING[command](deal, someone)
        assert deal.version == version + 1
        assert deal.pending_events[-1].actor_role == someone.role.value


def test_the_system_actor_may_review_a_deal() -> None:
    deal = deal_in("in_review")
    deal.approve(note="自动审核", actor=Actor.system())
    assert deal.status == DealStatus.APPROVED
    assert deal.reviewed_by == Actor.system().id


# --- the record is its events ---------------------------------------------------------------------


def test_replaying_a_deals_events_rebuilds_the_same_deal() -> None:
    deal = deal_in("closed")

    rebuilt = None
    for event in deal.pending_events:
        rebuilt = event.mutate(rebuilt)

    assert isinstance(rebuilt, Deal)
    assert {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"} == {
        k: v for k, v in vars(deal).items() if k != "_pending_events"
    }
