"""Deal (交易): from draft through signing review (签约审核), signing, transaction execution
(documents, payments, fund settlement 资金结算, handover 交房确认) to closing, or cancellation.

The listing and the customer mirror the deal's milestones; the application saves all three in one
transaction. This aggregate holds only the deal's own rules.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import Aggregate

from domain.errors import (
    DocumentAlreadyVerified,
    DocumentNotReceived,
    DocumentNotRequired,
    DocumentsIncomplete,
    FundsIncomplete,
    InvalidDealTransition,
    InvalidValue,
    SelfApproval,
)
from domain.identity import Actor, Duty
from domain.recording import Recordable, RecordedEvent, require_choice, require_text, require_whole


class DealStatus(StrEnum):
    DRAFTED = "drafted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SIGNED = "signed"
    SETTLED = "settled"
    HANDED_OVER = "handed_over"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class DocumentKind(StrEnum):
    ID_CARD = "id_card"
    PURCHASE_QUALIFICATION = "purchase_qualification"
    INCOME_PROOF = "income_proof"
    LOAN_APPROVAL = "loan_approval"
    PROPERTY_CERTIFICATE = "property_certificate"
    MARRIAGE_CERTIFICATE = "marriage_certificate"


class PaymentKind(StrEnum):
    DEPOSIT = "deposit"  # 定金, may come before signing
    DOWN_PAYMENT = "down_payment"
    LOAN_DISBURSEMENT = "loan_disbursement"
    BALANCE = "balance"


# Statuses from which the deal can still be cancelled: before money is settled.
_CANCELLABLE = frozenset(
    {DealStatus.DRAFTED, DealStatus.IN_REVIEW, DealStatus.APPROVED, DealStatus.REJECTED, DealStatus.SIGNED}
)


class Deal(Recordable, Aggregate):
    TOPIC = "realty.deal"

    class Event(RecordedEvent):
        pass

    class Drafted(Event, Aggregate.Created):
        TOPIC = "realty.deal.drafted"
        SUBJECT_FIELD = "customer_id"  # the payer's account on a deal is its customer's personal data
        customer_id: uuid.UUID
        listing_id: uuid.UUID
        price: int
        terms: str
        drafted_by: uuid.UUID

        def apply(self, deal: Deal) -> None:
            deal.customer_id, deal.listing_id = self.customer_id, self.listing_id
            deal.price, deal.terms, deal.drafted_by = self.price, self.terms, self.drafted_by
            deal.status = DealStatus.DRAFTED.value
            deal.reviewed_by = None
            deal.rejection_reason = None
            deal.contract_number = None
            deal.documents = {}
            deal.payments = []
            deal.cancellation_reason = None

    Created = Drafted

    class SubmittedForReview(Event):
        TOPIC = "realty.deal.submitted_for_review"

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.IN_REVIEW.value

    class Approved(Event):
        TOPIC = "realty.deal.approved"
        note: str | None

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.APPROVED.value
            deal.reviewed_by = self.actor_id

    class Rejected(Event):
        TOPIC = "realty.deal.rejected"
        reason: str

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.REJECTED.value
            deal.reviewed_by = self.actor_id
            deal.rejection_reason = self.reason

    class Signed(Event):
        TOPIC = "realty.deal.signed"
        contract_number: str

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.SIGNED.value
            deal.contract_number = self.contract_number

    class DocumentsRequired(Event):
        TOPIC = "realty.deal.documents_required"
        kinds: list[str]

        def apply(self, deal: Deal) -> None:
            for kind in self.kinds:
                deal.documents.setdefault(kind, "required")

    class DocumentReceived(Event):
        TOPIC = "realty.deal.document_received"
        kind: str

        def apply(self, deal: Deal) -> None:
            deal.documents[self.kind] = "received"

    class DocumentVerified(Event):
        TOPIC = "realty.deal.document_verified"
        kind: str

        def apply(self, deal: Deal) -> None:
            deal.documents[self.kind] = "verified"

    class PaymentRecorded(Event):
        TOPIC = "realty.deal.payment_recorded"
        PERSONAL_FIELDS = ("payer_account",)
        payment_id: uuid.UUID
        kind: str
        amount: int
        payer_account: str

        def apply(self, deal: Deal) -> None:
            deal.payments.append(
                {
                    "payment_id": self.payment_id,
                    "kind": self.kind,
                    "amount": self.amount,
                    "payer_account": self.payer_account,
                    "at": self.occurred_at,
                }
            )

    class FundsSettled(Event):
        TOPIC = "realty.deal.funds_settled"
        total: int

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.SETTLED.value

    class HandoverConfirmed(Event):
        TOPIC = "realty.deal.handover_confirmed"
        note: str | None

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.HANDED_OVER.value

    class Closed(Event):
        TOPIC = "realty.deal.closed"

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.CLOSED.value

    class Cancelled(Event):
        TOPIC = "realty.deal.cancelled"
        reason: str

        def apply(self, deal: Deal) -> None:
            deal.status = DealStatus.CANCELLED.value
            deal.cancellation_reason = self.reason


    @property
    def paid(self) -> int:
        return sum(p["amount"] for p in self.payments)

    @property
    def is_open(self) -> bool:
        return self.status not in (DealStatus.CLOSED, DealStatus.CANCELLED)

    @classmethod
    def draft(
        cls,
        *,
        customer_id: uuid.UUID,
        listing_id: uuid.UUID,
        price: int,
        terms: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> Deal:
        actor.require(Duty.HANDLE_DEALS)
        require_whole("price", price, 1, 10**10)
        return cls._create_recorded(
            cls.Drafted,
            actor,
            occurred_at,
            customer_id=customer_id,
            listing_id=listing_id,
            price=int(price),
            terms=require_text("terms", terms, 5000),
            drafted_by=actor.id,
        )

    def submit_for_review(self, *, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("submit", DealStatus.DRAFTED, DealStatus.REJECTED)
        self._record(self.SubmittedForReview, actor, occurred_at)

    def approve(self, *, note: str | None, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.REVIEW_DEALS)
        self._require("approve", DealStatus.IN_REVIEW)
        if actor.id == self.drafted_by:
            raise SelfApproval(self.id)
        self._record(
            self.Approved, actor, occurred_at, note=None if note is None else require_text("note", note)
        )

    def reject(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.REVIEW_DEALS)
        self._require("reject", DealStatus.IN_REVIEW)
        if actor.id == self.drafted_by:
            raise SelfApproval(self.id)
        self._record(self.Rejected, actor, occurred_at, reason=require_text("reason", reason))

    def sign(self, *, contract_number: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("sign", DealStatus.APPROVED)
        self._record(
            self.Signed,
            actor,
            occurred_at,
            contract_number=require_text("contract_number", contract_number, 64),
        )

    def require_documents(
        self, *, kinds: list[str], actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("require documents for", DealStatus.SIGNED)
        if not kinds:
            raise InvalidValue("kinds", "must name at least one document")
        checked = sorted({require_choice("kinds", k, DocumentKind) for k in kinds})
        self._record(self.DocumentsRequired, actor, occurred_at, kinds=checked)

    def receive_document(self, *, kind: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("receive documents for", DealStatus.SIGNED)
        if kind not in self.documents:
            raise DocumentNotRequired(kind)
        if self.documents[kind] == "verified":
            raise DocumentAlreadyVerified(kind)
        self._record(self.DocumentReceived, actor, occurred_at, kind=kind)

    def verify_document(self, *, kind: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("verify documents for", DealStatus.SIGNED)
        if kind not in self.documents:
            raise DocumentNotRequired(kind)
        if self.documents[kind] == "required":
            raise DocumentNotReceived(kind)
        if self.documents[kind] == "verified":
            raise DocumentAlreadyVerified(kind)
        self._record(self.DocumentVerified, actor, occurred_at, kind=kind)

    def record_payment(
        self,
        *,
        kind: str,
        amount: int,
        payer_account: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> uuid.UUID:
        actor.require(Duty.HANDLE_DEALS)
        require_choice("kind", kind, PaymentKind)
        if kind == PaymentKind.DEPOSIT:
            self._require(
                "take a deposit on",
                DealStatus.DRAFTED,
                DealStatus.IN_REVIEW,
                DealStatus.APPROVED,
                DealStatus.REJECTED,
                DealStatus.SIGNED,
            )
        else:
            self._require(f"record a {kind} on", DealStatus.SIGNED)
        require_whole("amount", amount, 1, 10**10)
        if self.paid + amount > self.price:
            raise InvalidValue("amount", "would take payments above the deal price")
        account = require_text("payer_account", payer_account, 34).replace(" ", "")
        if not account.isdigit() or not 12 <= len(account) <= 19:
            raise InvalidValue("payer_account", "must be a bank card or account number of 12-19 digits")
        payment_id = uuid.uuid4()
        self._record(
            self.PaymentRecorded,
            actor,
            occurred_at,
            payment_id=payment_id,
            kind=kind,
            amount=int(amount),
            payer_account=account,
        )
        return payment_id

    def settle_funds(self, *, actor: Actor, occurred_at: datetime | None = None) -> None:
        """Fund settlement (资金结算): every required document verified, the price paid in full."""
        actor.require(Duty.HANDLE_DEALS)
        self._require("settle", DealStatus.SIGNED)
        # The manual asks for transaction documents (交易文件准备): at least one must be on file.
        missing = [k for k, state in self.documents.items() if state != "verified"]
        if missing or not self.documents:
            raise DocumentsIncomplete(missing)
        if self.paid != self.price:
            raise FundsIncomplete(self.paid, self.price)
        self._record(self.FundsSettled, actor, occurred_at, total=self.paid)

    def confirm_handover(
        self, *, note: str | None, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        """Handover confirmation (交房确认)."""
        actor.require(Duty.HANDLE_DEALS)
        self._require("hand over", DealStatus.SETTLED)
        self._record(
            self.HandoverConfirmed,
            actor,
            occurred_at,
            note=None if note is None else require_text("note", note),
        )

    def close(self, *, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("close", DealStatus.HANDED_OVER)
        self._record(self.Closed, actor, occurred_at)

    def cancel(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_DEALS)
        self._require("cancel", *_CANCELLABLE)
        self._record(self.Cancelled, actor, occurred_at, reason=require_text("reason", reason))

    def _require(self, action: str, *allowed: DealStatus) -> None:
        if self.status not in allowed:
            raise InvalidDealTransition(
                self.id, action, self.status, " or ".join(s.value for s in allowed)
            )
