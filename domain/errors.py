"""Domain errors with stable codes.

Each error has a ``code`` that never changes once published (clients and the HTTP edge map on
it), a message meant for people, and a ``context`` dict of primitives. Messages and context never
carry personal data: ids and enum values only.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


# --- Generic -------------------------------------------------------------------------------


class InvalidValue(DomainError):
    """A command argument is malformed or out of range."""

    code = "invalid_value"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, kind: str, id: object) -> None:  # noqa: A002 - ids are the vocabulary here
        super().__init__(f"{kind} {id} not found", kind=kind, id=str(id))


class ConcurrencyConflict(DomainError):
    """Another command changed the aggregate first."""

    code = "concurrency_conflict"

    def __init__(self, aggregate_id: object, expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"aggregate {aggregate_id} is at version {actual}, not {expected}",
            aggregate_id=str(aggregate_id),
            expected_version=expected,
            actual_version=actual,
        )


# --- Time -----------------------------------------------------------------------------------


class OccurredInFuture(DomainError):
    code = "occurred_in_future"

    def __init__(self, limit_minutes: int) -> None:
        super().__init__(
            f"occurred_at may be at most {limit_minutes} minutes in the future",
            limit_minutes=limit_minutes,
        )


class OccurredBeforePrevious(DomainError):
    code = "occurred_before_previous_event"

    def __init__(self, previous: str) -> None:
        super().__init__(
            f"occurred_at is earlier than the previous event of this record ({previous})",
            previous=previous,
        )


# --- Identity and duties --------------------------------------------------------------------


class StaffDeactivated(DomainError):
    code = "staff_deactivated"

    def __init__(self, staff_id: object) -> None:
        super().__init__(f"staff member {staff_id} is deactivated", staff_id=str(staff_id))


class NotPermitted(DomainError):
    """The acting role has no duty that covers this command."""

    code = "not_permitted"

    def __init__(self, role: str, duty: str) -> None:
        super().__init__(f"role {role} may not {duty}", role=role, duty=duty)


class CannotHoldCustomers(DomainError):
    code = "cannot_hold_customers"

    def __init__(self, staff_id: object, role: str) -> None:
        super().__init__(
            f"staff member {staff_id} ({role}) cannot hold customers",
            staff_id=str(staff_id),
            role=role,
        )


# --- Customer -------------------------------------------------------------------------------


class CustomerIsLost(DomainError):
    code = "customer_lost"

    def __init__(self, customer_id: object) -> None:
        super().__init__(
            f"customer {customer_id} is marked lost; reactivate first", customer_id=str(customer_id)
        )


class CustomerNotLost(DomainError):
    code = "customer_not_lost"

    def __init__(self, customer_id: object) -> None:
        super().__init__(f"customer {customer_id} is not marked lost", customer_id=str(customer_id))


class ShowingNotFound(NotFound):
    code = "showing_not_found"

    def __init__(self, showing_id: object) -> None:
        super().__init__("showing", showing_id)


class ShowingNotOpen(DomainError):
    """The showing already took place, was cancelled or was missed."""

    code = "showing_not_open"

    def __init__(self, showing_id: object, status: str) -> None:
        super().__init__(
            f"showing {showing_id} is {status}", showing_id=str(showing_id), status=status
        )


class ShowingNotConducted(DomainError):
    code = "showing_not_conducted"

    def __init__(self, showing_id: object, status: str) -> None:
        super().__init__(
            f"showing {showing_id} did not take place (it is {status})",
            showing_id=str(showing_id),
            status=status,
        )


class FeedbackAlreadyRecorded(DomainError):
    code = "feedback_already_recorded"

    def __init__(self, showing_id: object) -> None:
        super().__init__(
            f"feedback for showing {showing_id} is already recorded", showing_id=str(showing_id)
        )


class ListingNotShowable(DomainError):
    code = "listing_not_showable"

    def __init__(self, listing_id: object, status: str) -> None:
        super().__init__(
            f"listing {listing_id} is {status} and cannot be shown",
            listing_id=str(listing_id),
            status=status,
        )


class RequestNotFound(NotFound):
    code = "request_not_found"

    def __init__(self, request_id: object) -> None:
        super().__init__("request", request_id)


class RequestAlreadyAnswered(DomainError):
    code = "request_already_answered"

    def __init__(self, request_id: object) -> None:
        super().__init__(f"request {request_id} already has a response", request_id=str(request_id))


class ComplaintNotFound(NotFound):
    code = "complaint_not_found"

    def __init__(self, complaint_id: object) -> None:
        super().__init__("complaint", complaint_id)


class ComplaintAlreadyResolved(DomainError):
    code = "complaint_already_resolved"

    def __init__(self, complaint_id: object) -> None:
        super().__init__(
            f"complaint {complaint_id} is already resolved", complaint_id=str(complaint_id)
        )


class ReturnVisitNotFound(NotFound):
    code = "return_visit_not_found"

    def __init__(self, visit_id: object) -> None:
        super().__init__("return visit", visit_id)


class ReturnVisitAlreadyCompleted(DomainError):
    code = "return_visit_already_completed"

    def __init__(self, visit_id: object) -> None:
        super().__init__(f"return visit {visit_id} is already completed", visit_id=str(visit_id))


class ComplaintAlreadyAcknowledged(DomainError):
    code = "complaint_already_acknowledged"

    def __init__(self, complaint_id: object) -> None:
        super().__init__(
            f"complaint {complaint_id} is already acknowledged", complaint_id=str(complaint_id)
        )


class CustomerHasOpenDeal(DomainError):
    code = "customer_has_open_deal"

    def __init__(self, customer_id: object, deal_id: object) -> None:
        super().__init__(
            f"customer {customer_id} has open deal {deal_id}; cancel it first",
            customer_id=str(customer_id),
            deal_id=str(deal_id),
        )


class AlreadyAssigned(DomainError):
    code = "already_assigned"

    def __init__(self, staff_id: object) -> None:
        super().__init__(
            f"the customer is already assigned to {staff_id}", staff_id=str(staff_id)
        )


# --- Service levels, the public pool, after-sales (automations) ------------------------------
# Each automation re-checks its rule on the record: a stale candidate is refused with one of
# these codes, never recorded twice or too early.


class SlaWarningNotDue(DomainError):
    code = "sla_warning_not_due"

    def __init__(self, item_kind: str, item_id: object, warn_at: str) -> None:
        super().__init__(
            f"{item_kind} {item_id} is not due a warning before {warn_at}",
            item_kind=item_kind,
            item_id=str(item_id),
            warn_at=warn_at,
        )


class SlaWarningAlreadyIssued(DomainError):
    code = "sla_warning_already_issued"

    def __init__(self, item_kind: str, item_id: object) -> None:
        super().__init__(
            f"{item_kind} {item_id} already has its warning", item_kind=item_kind, item_id=str(item_id)
        )


class SlaNotBreached(DomainError):
    code = "sla_not_breached"

    def __init__(self, item_kind: str, item_id: object, due_at: str) -> None:
        super().__init__(
            f"{item_kind} {item_id} is not overdue before {due_at}",
            item_kind=item_kind,
            item_id=str(item_id),
            due_at=due_at,
        )


class SlaAlreadyBreached(DomainError):
    code = "sla_already_breached"

    def __init__(self, item_kind: str, item_id: object) -> None:
        super().__init__(
            f"{item_kind} {item_id} is already recorded as overdue", item_kind=item_kind, item_id=str(item_id)
        )


class CustomerInPool(DomainError):
    """The customer is in the team's public pool (公客池): claim them first."""

    code = "customer_in_pool"

    def __init__(self, customer_id: object) -> None:
        super().__init__(
            f"customer {customer_id} is in the team's public pool; claim them first", customer_id=str(customer_id)
        )


class CustomerNotInPool(DomainError):
    code = "customer_not_in_pool"

    def __init__(self, customer_id: object) -> None:
        super().__init__(f"customer {customer_id} is not in the public pool", customer_id=str(customer_id))


class CustomerTouchedRecently(DomainError):
    """The holder worked on the customer within the protection period."""

    code = "customer_touched_recently"

    def __init__(self, customer_id: object, last_touched_at: str, returnable_at: str) -> None:
        super().__init__(
            f"customer {customer_id} was last touched by their holder at {last_touched_at}; "
            f"they return to the pool at {returnable_at} at the earliest",
            customer_id=str(customer_id),
            last_touched_at=last_touched_at,
            returnable_at=returnable_at,
        )


class CustomerNotReturnable(DomainError):
    """Only customers at reception or matching return to the pool; a deal keeps them with their holder."""

    code = "customer_not_returnable"

    def __init__(self, customer_id: object, stage: str) -> None:
        super().__init__(
            f"customer {customer_id} is at stage {stage}; only reception or matching return to the pool",
            customer_id=str(customer_id),
            stage=stage,
        )


class ClaimerNotInTeam(DomainError):
    code = "claimer_not_in_team"

    def __init__(self, staff_id: object, team: str) -> None:
        super().__init__(
            f"staff member {staff_id} is not in the customer's team {team}", staff_id=str(staff_id), team=team
        )


class ClaimByPreviousHolder(DomainError):
    """The consultant a customer was returned from cannot take them back from the pool."""

    code = "claim_by_previous_holder"

    def __init__(self, staff_id: object) -> None:
        super().__init__(
            f"staff member {staff_id} held the customer when they returned to the pool; "
            "another member of the team claims them, or a sales manager reassigns them",
            staff_id=str(staff_id),
        )


class DealNotHandedOver(DomainError):
    code = "deal_not_handed_over"

    def __init__(self, deal_id: object) -> None:
        super().__init__(f"deal {deal_id} of this customer has not been handed over", deal_id=str(deal_id))


class ReturnVisitAlreadyScheduled(DomainError):
    code = "return_visit_already_scheduled"

    def __init__(self, deal_id: object, visit_id: object) -> None:
        super().__init__(
            f"the after-sales return visit for deal {deal_id} is already scheduled ({visit_id})",
            deal_id=str(deal_id),
            visit_id=str(visit_id),
        )


# --- Listing --------------------------------------------------------------------------------


class ListingNotAvailable(DomainError):
    code = "listing_not_available"

    def __init__(self, listing_id: object, status: str) -> None:
        super().__init__(
            f"listing {listing_id} is {status}", listing_id=str(listing_id), status=status
        )


class ListingHasOpenDeal(DomainError):
    code = "listing_has_open_deal"

    def __init__(self, listing_id: object, deal_id: object) -> None:
        super().__init__(
            f"listing {listing_id} already has open deal {deal_id}",
            listing_id=str(listing_id),
            deal_id=str(deal_id),
        )


class DealNotOnListing(DomainError):
    code = "deal_not_on_listing"

    def __init__(self, listing_id: object, deal_id: object) -> None:
        super().__init__(
            f"deal {deal_id} is not the open deal of listing {listing_id}",
            listing_id=str(listing_id),
            deal_id=str(deal_id),
        )


# --- Deal -----------------------------------------------------------------------------------


class InvalidDealTransition(DomainError):
    """A deal command arrived in a status where the manual does not allow it."""

    code = "invalid_deal_transition"

    def __init__(self, deal_id: object, action: str, status: str, needs: str) -> None:
        super().__init__(
            f"cannot {action} deal {deal_id}: it is {status}, it must be {needs}",
            deal_id=str(deal_id),
            action=action,
            status=status,
        )


class SelfApproval(DomainError):
    """签约审核 is a two-person rule: the drafter cannot review their own draft."""

    code = "self_approval"

    def __init__(self, deal_id: object) -> None:
        super().__init__(
            f"deal {deal_id} was drafted by the reviewer; another sales manager must review it",
            deal_id=str(deal_id),
        )


class DocumentNotRequired(DomainError):
    code = "document_not_required"

    def __init__(self, kind: str) -> None:
        super().__init__(f"document {kind} was not required for this deal", kind=kind)


class DocumentNotReceived(DomainError):
    code = "document_not_received"

    def __init__(self, kind: str) -> None:
        super().__init__(f"document {kind} has not been received", kind=kind)


class DocumentAlreadyVerified(DomainError):
    code = "document_already_verified"

    def __init__(self, kind: str) -> None:
        super().__init__(f"document {kind} is already verified", kind=kind)


class DocumentsIncomplete(DomainError):
    code = "documents_incomplete"

    def __init__(self, missing: list[str]) -> None:
        text = ", ".join(sorted(missing)) if missing else "none were required yet"
        super().__init__(f"transaction documents not verified: {text}", missing=sorted(missing))


class FundsIncomplete(DomainError):
    code = "funds_incomplete"

    def __init__(self, paid: int, price: int) -> None:
        super().__init__(
            f"payments total {paid} of a price of {price}; settle when fully paid",
            paid=paid,
            price=price,
        )


# --- Staff ----------------------------------------------------------------------------------


class SelfAssessment(DomainError):
    code = "self_assessment"

    def __init__(self, staff_id: object) -> None:
        super().__init__(
            f"staff member {staff_id} cannot record their own assessment", staff_id=str(staff_id)
        )


class StaffAlreadyDeactivated(DomainError):
    code = "staff_already_deactivated"

    def __init__(self, staff_id: object) -> None:
        super().__init__(f"staff member {staff_id} is already deactivated", staff_id=str(staff_id))


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: object) -> None:
        super().__init__("token", token_id)


class TokenAlreadyRevoked(DomainError):
    code = "token_already_revoked"

    def __init__(self, token_id: object) -> None:
        super().__init__(f"token {token_id} is already revoked", token_id=str(token_id))


# --- Callers ----------------------------------------------------------------------------------
# A command sent over HTTP carries the token it was authorised with; the staff record it reads
# (and guards at write time) must still vouch for that token and for the role and team the
# request's permission checks used.


class Unauthenticated(DomainError):
    """The token a command was sent with is unknown, revoked, or its holder is deactivated."""

    code = "unauthenticated"

    def __init__(self, staff_id: object) -> None:
        super().__init__("the token is not valid", staff_id=str(staff_id))


class CallerChanged(DomainError):
    """The caller's role or team changed while the request ran, after its permissions were checked."""

    code = "caller_changed"

    def __init__(self, staff_id: object) -> None:
        super().__init__(
            f"the role or team of staff member {staff_id} changed while the request ran; send it again",
            staff_id=str(staff_id),
        )


# --- Service files (服务档案, ch. 7): archiving, holds, disposition ----------------------------


class InvalidServiceFileTransition(DomainError):
    """A service-file command arrived in a status where the archiving flow does not allow it."""

    code = "invalid_service_file_transition"

    def __init__(self, file_id: object, action: str, status: str, needs: str) -> None:
        super().__init__(
            f"cannot {action} service file {file_id}: it is {status}, it must be {needs}",
            file_id=str(file_id),
            action=action,
            status=status,
        )


class ServiceFileDisposed(DomainError):
    """The file was destroyed under the retention policy: nothing is recorded or read any more."""

    code = "service_file_disposed"

    def __init__(self, file_id: object) -> None:
        super().__init__(f"service file {file_id} has been disposed of", file_id=str(file_id))


class DocumentNotFound(NotFound):
    code = "document_not_found"

    def __init__(self, document_id: object, version: int | None = None) -> None:
        super().__init__("document" if version is None else f"version {version} of document", document_id)


class DocumentAlreadyCollected(DomainError):
    code = "document_already_collected"

    def __init__(self, document_id: object) -> None:
        super().__init__(
            f"document {document_id} is already on file; add a new version instead", document_id=str(document_id)
        )


class CompletenessNotChecked(DomainError):
    """Filing needs a completeness check after the last document was collected."""

    code = "completeness_not_checked"

    def __init__(self, file_id: object) -> None:
        super().__init__(
            f"service file {file_id} has not been checked for completeness since its last document",
            file_id=str(file_id),
        )


class ServiceFileIncomplete(DomainError):
    code = "service_file_incomplete"

    def __init__(self, file_id: object, missing: list[str]) -> None:
        super().__init__(
            f"service file {file_id} lacks: {', '.join(missing)}", file_id=str(file_id), missing=list(missing)
        )


class HoldNotFound(NotFound):
    code = "hold_not_found"

    def __init__(self, hold_id: object) -> None:
        super().__init__("legal hold", hold_id)


class HoldAlreadyReleased(DomainError):
    code = "hold_already_released"

    def __init__(self, hold_id: object) -> None:
        super().__init__(f"legal hold {hold_id} is already released", hold_id=str(hold_id))


class LegalHoldActive(DomainError):
    """A legal hold suspends disposition: nothing under a hold is proposed, approved or destroyed."""

    code = "legal_hold_active"

    def __init__(self, file_id: object, hold_ids: list[str]) -> None:
        super().__init__(
            f"service file {file_id} is under legal hold ({', '.join(hold_ids)})",
            file_id=str(file_id),
            hold_ids=list(hold_ids),
        )


class RetentionNotEnded(DomainError):
    code = "retention_not_ended"

    def __init__(self, file_id: object, retention_end: str) -> None:
        super().__init__(
            f"service file {file_id} must be kept until {retention_end}",
            file_id=str(file_id),
            retention_end=retention_end,
        )


class DispositionAlreadyProposed(DomainError):
    code = "disposition_already_proposed"

    def __init__(self, file_id: object) -> None:
        super().__init__(
            f"the disposition of service file {file_id} is already proposed", file_id=str(file_id)
        )


class NoPendingDisposition(DomainError):
    code = "no_pending_disposition"

    def __init__(self, file_id: object) -> None:
        super().__init__(f"no disposition of service file {file_id} is proposed", file_id=str(file_id))


class DispositionAlreadyApproved(DomainError):
    code = "disposition_already_approved"

    def __init__(self, file_id: object) -> None:
        super().__init__(
            f"the disposition of service file {file_id} is already approved", file_id=str(file_id)
        )


class SamePersonDisposition(DomainError):
    """Disposition is a two-person rule: whoever proposed it cannot approve it."""

    code = "same_person_disposition"

    def __init__(self, file_id: object) -> None:
        super().__init__(
            f"the disposition of service file {file_id} was proposed by the approver; "
            "another compliance officer must approve it",
            file_id=str(file_id),
        )


class DispositionNotApproved(DomainError):
    code = "disposition_not_approved"

    def __init__(self, file_id: object) -> None:
        super().__init__(
            f"the disposition of service file {file_id} is not approved", file_id=str(file_id)
        )


class DispositionIncomplete(DomainError):
    """A disposition certificate must name every version on file, and only those."""

    code = "disposition_incomplete"

    def __init__(self, file_id: object, not_destroyed: list[str], unknown: list[str]) -> None:
        super().__init__(
            f"the destroyed documents do not match service file {file_id}: "
            f"{len(not_destroyed)} versions on file not listed, {len(unknown)} listed not on file",
            file_id=str(file_id),
            not_destroyed=list(not_destroyed),
            unknown=list(unknown),
        )


class CustomerRestricted(DomainError):
    """PIPL Art. 47(2): an erasure request met a running retention period; only storage goes on."""

    code = "customer_restricted"

    def __init__(self, customer_id: object) -> None:
        super().__init__(
            f"customer {customer_id} asked for erasure and is restricted: their record is kept but no longer "
            "processed", customer_id=str(customer_id)
        )


class ErasureAlreadyRequested(DomainError):
    code = "erasure_already_requested"

    def __init__(self, customer_id: object) -> None:
        super().__init__(f"customer {customer_id} has already asked for erasure", customer_id=str(customer_id))


class ErasureNotRequested(DomainError):
    code = "erasure_not_requested"

    def __init__(self, customer_id: object) -> None:
        super().__init__(f"customer {customer_id} has not asked for erasure", customer_id=str(customer_id))


class DocumentShredded(DomainError):
    """The document's key was destroyed (an erasure or a disposition): its bytes are gone for good."""

    code = "document_shredded"

    def __init__(self, document_id: object) -> None:
        super().__init__(f"document {document_id} was shredded", document_id=str(document_id))
