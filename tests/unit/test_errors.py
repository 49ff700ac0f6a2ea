"""Domain errors: codes are published (clients and the HTTP edge map on them), so they never change."""

from __future__ import annotations

import uuid

import domain.errors as errors
from domain.errors import ConcurrencyConflict, DomainError, NotFound

# The published codes. Changing one breaks clients: add new errors, never rename these.
PUBLISHED_CODES = {
    "DomainError": "domain_error",
    "InvalidValue": "invalid_value",
    "NotFound": "not_found",
    "ConcurrencyConflict": "concurrency_conflict",
    "OccurredInFuture": "occurred_in_future",
    "OccurredBeforePrevious": "occurred_before_previous_event",
    "StaffDeactivated": "staff_deactivated",
    "NotPermitted": "not_permitted",
    "CannotHoldCustomers": "cannot_hold_customers",
    "CustomerIsLost": "customer_lost",
    "CustomerNotLost": "customer_not_lost",
    "ShowingNotFound": "showing_not_found",
    "ShowingNotOpen": "showing_not_open",
    "ShowingNotConducted": "showing_not_conducted",
    "FeedbackAlreadyRecorded": "feedback_already_recorded",
    "ListingNotShowable": "listing_not_showable",
    "RequestNotFound": "request_not_found",
    "RequestAlreadyAnswered": "request_already_answered",
    "ComplaintNotFound": "complaint_not_found",
    "ComplaintAlreadyResolved": "complaint_already_resolved",
    "ReturnVisitNotFound": "return_visit_not_found",
    "ReturnVisitAlreadyCompleted": "return_visit_already_completed",
    "AlreadyAssigned": "already_assigned",
    "ListingNotAvailable": "listing_not_available",
    "ListingHasOpenDeal": "listing_has_open_deal",
    "DealNotOnListing": "deal_not_on_listing",
    "InvalidDealTransition": "invalid_deal_transition",
    "SelfApproval": "self_approval",
    "DocumentNotRequired": "document_not_required",
    "DocumentNotReceived": "document_not_received",
    "DocumentsIncomplete": "documents_incomplete",
    "FundsIncomplete": "funds_incomplete",
    "StaffAlreadyDeactivated": "staff_already_deactivated",
    "ComplaintAlreadyAcknowledged": "complaint_already_acknowledged",
    "CustomerHasOpenDeal": "customer_has_open_deal",
    "DocumentAlreadyVerified": "document_already_verified",
    "SelfAssessment": "self_assessment",
    "TokenNotFound": "token_not_found",
    "TokenAlreadyRevoked": "token_already_revoked",
    "Unauthenticated": "unauthenticated",
    "CallerChanged": "caller_changed",
    "SlaWarningNotDue": "sla_warning_not_due",
    "SlaWarningAlreadyIssued": "sla_warning_already_issued",
    "SlaNotBreached": "sla_not_breached",
    "SlaAlreadyBreached": "sla_already_breached",
    "CustomerInPool": "customer_in_pool",
    "CustomerNotInPool": "customer_not_in_pool",
    "CustomerTouchedRecently": "customer_touched_recently",
    "CustomerNotReturnable": "customer_not_returnable",
    "ClaimerNotInTeam": "claimer_not_in_team",
    "ClaimByPreviousHolder": "claim_by_previous_holder",
    "DealNotHandedOver": "deal_not_handed_over",
    "ReturnVisitAlreadyScheduled": "return_visit_already_scheduled",
    "InvalidServiceFileTransition": "invalid_service_file_transition",
    "ServiceFileDisposed": "service_file_disposed",
    "DocumentShredded": "document_shredded",
    "DocumentNotFound": "document_not_found",
    "DocumentAlreadyCollected": "document_already_collected",
    "CompletenessNotChecked": "completeness_not_checked",
    "ServiceFileIncomplete": "service_file_incomplete",
    "HoldNotFound": "hold_not_found",
    "HoldAlreadyReleased": "hold_already_released",
    "LegalHoldActive": "legal_hold_active",
    "RetentionNotEnded": "retention_not_ended",
    "DispositionAlreadyProposed": "disposition_already_proposed",
    "NoPendingDisposition": "no_pending_disposition",
    "DispositionAlreadyApproved": "disposition_already_approved",
    "SamePersonDisposition": "same_person_disposition",
    "DispositionNotApproved": "disposition_not_approved",
    "DispositionIncomplete": "disposition_incomplete",
    "CustomerRestricted": "customer_restricted",
    "ErasureAlreadyRequested": "erasure_already_requested",
    "ErasureNotRequested": "erasure_not_requested",
}


def _error_classes() -> dict[str, type[DomainError]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, DomainError)
    }


def test_every_error_keeps_its_published_code() -> None:
    assert {name: cls.code for name, cls in _error_classes().items()} == PUBLISHED_CODES


def test_no_two_errors_share_a_code() -> None:
    codes = [cls.code for cls in _error_classes().values()]
    assert len(codes) == len(set(codes))


def test_every_specific_not_found_is_still_a_not_found() -> None:
    for name in ("ShowingNotFound", "RequestNotFound", "ComplaintNotFound", "ReturnVisitNotFound", "DocumentNotFound",
                 "HoldNotFound"):
        assert issubclass(_error_classes()[name], NotFound)


def test_a_not_found_names_the_kind_and_id() -> None:
    missing = uuid.uuid4()
    error = errors.ShowingNotFound(missing)
    assert error.context == {"kind": "showing", "id": str(missing)}
    assert str(error) == f"showing {missing} not found"


def test_a_concurrency_conflict_says_which_versions_met() -> None:
    aggregate_id = uuid.uuid4()
    error = ConcurrencyConflict(aggregate_id, 3, 4)
    assert error.code == "concurrency_conflict"
    assert error.context == {"aggregate_id": str(aggregate_id), "expected_version": 3, "actual_version": 4}
