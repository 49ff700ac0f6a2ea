"""Service-desk work on a customer: requests (24-hour rule), complaints (72-hour rule), return
visits (回访) and satisfaction surveys (满意度调查), and the clock's part in them: service-level
warnings and breaches, and the after-sales return visit a handover calls for.

A mixin of ``Customer``: the methods trigger the customer's own events and hold no state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.customer_values import ComplaintSeverity, check_score
from domain.errors import (
    ComplaintAlreadyAcknowledged,
    ComplaintAlreadyResolved,
    ComplaintNotFound,
    DealNotHandedOver,
    DomainError,
    InvalidValue,
    NotFound,
    RequestAlreadyAnswered,
    RequestNotFound,
    ReturnVisitAlreadyCompleted,
    ReturnVisitAlreadyScheduled,
    ReturnVisitNotFound,
    SlaAlreadyBreached,
    SlaNotBreached,
    SlaWarningAlreadyIssued,
    SlaWarningNotDue,
)
from domain.identity import Actor, Duty
from domain.recording import require_aware, require_choice, require_text
from domain.rules import SLA_WARNING_FRACTION, SURVEY_DIMENSIONS


class SlaItemKind(StrEnum):
    """What a service level is kept on: a request (24 hours) or a complaint (72 hours)."""

    REQUEST = "request"
    COMPLAINT = "complaint"


def handover_visit_id(deal_id: uuid.UUID) -> uuid.UUID:
    """The id of the after-sales return visit of a deal's handover: one per deal, known in advance,
    so scheduling it twice is refused rather than recorded twice."""
    return uuid.uuid5(deal_id, "after-sales return visit")


def not_before(moment: datetime, last_occurred_at: datetime | None) -> datetime:
    """The business time of a system event: when its rule was broken, but never before the record's
    previous event (a record's history does not go backwards)."""
    return moment if last_occurred_at is None else max(moment, last_occurred_at)


class CustomerServiceDesk:
    """Requests, complaints, return visits and surveys of one customer (needs the aggregate's events)."""

    # Provided by Customer.
    requests: dict[str, dict[str, Any]]
    complaints: dict[str, dict[str, Any]]
    return_visits: dict[str, dict[str, Any]]
    deals: dict[str, str]
    deal_handovers: dict[str, datetime]
    last_occurred_at: datetime | None
    _record: Any
    RequestRaised: Any
    RequestResponded: Any
    ComplaintFiled: Any
    ComplaintAcknowledged: Any
    ComplaintEscalated: Any
    ComplaintResolved: Any
    ReturnVisitScheduled: Any
    ReturnVisitCompleted: Any
    SurveyAnswered: Any
    SlaWarningIssued: Any
    SlaBreached: Any

    def raise_request(
        self, *, subject: str, actor: Actor, occurred_at: datetime | None = None
    ) -> uuid.UUID:
        actor.require(Duty.SERVE_REQUESTS)
        request_id = uuid.uuid4()
        self._record(
            self.RequestRaised,
            actor,
            occurred_at,
            request_id=request_id,
            subject=require_text("subject", subject),
        )
        return request_id

    def respond_to_request(
        self,
        *,
        request_id: uuid.UUID,
        response: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SERVE_REQUESTS)
        _still_open(self.requests, request_id, "responded_at", RequestNotFound, RequestAlreadyAnswered)
        self._record(
            self.RequestResponded,
            actor,
            occurred_at,
            request_id=request_id,
            response=require_text("response", response, 2000),
        )

    def file_complaint(
        self,
        *,
        category: str,
        severity: str,
        description: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> uuid.UUID:
        actor.require(Duty.SERVE_REQUESTS)
        complaint_id = uuid.uuid4()
        self._record(
            self.ComplaintFiled,
            actor,
            occurred_at,
            complaint_id=complaint_id,
            category=require_text("category", category, 50),
            severity=require_choice("severity", severity, ComplaintSeverity),
            description=require_text("description", description, 2000),
        )
        return complaint_id

    def acknowledge_complaint(
        self, *, complaint_id: uuid.UUID, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.SERVE_REQUESTS)
        complaint = self._unresolved_complaint(complaint_id)
        if complaint["acknowledged_at"] is not None:
            raise ComplaintAlreadyAcknowledged(complaint_id)
        self._record(self.ComplaintAcknowledged, actor, occurred_at, complaint_id=complaint_id)

    def escalate_complaint(
        self,
        *,
        complaint_id: uuid.UUID,
        escalated_to: uuid.UUID,
        reason: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SERVE_REQUESTS)
        self._unresolved_complaint(complaint_id)
        self._record(
            self.ComplaintEscalated,
            actor,
            occurred_at,
            complaint_id=complaint_id,
            escalated_to=escalated_to,
            reason=require_text("reason", reason),
        )

    def resolve_complaint(
        self,
        *,
        complaint_id: uuid.UUID,
        resolution: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SERVE_REQUESTS)
        self._unresolved_complaint(complaint_id)
        self._record(
            self.ComplaintResolved,
            actor,
            occurred_at,
            complaint_id=complaint_id,
            resolution=require_text("resolution", resolution, 2000),
        )

    def schedule_return_visit(
        self, *, due_at: datetime, purpose: str, actor: Actor, occurred_at: datetime | None = None
    ) -> uuid.UUID:
        """Return visit (回访)."""
        actor.require(Duty.FOLLOW_UP)
        require_aware("due_at", due_at)
        visit_id = uuid.uuid4()
        self._record(
            self.ReturnVisitScheduled,
            actor,
            occurred_at,
            visit_id=visit_id,
            due_at=due_at,
            purpose=require_text("purpose", purpose),
        )
        return visit_id

    def complete_return_visit(
        self, *, visit_id: uuid.UUID, summary: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.FOLLOW_UP)
        _still_open(self.return_visits, visit_id, "completed_at", ReturnVisitNotFound, ReturnVisitAlreadyCompleted)
        self._record(
            self.ReturnVisitCompleted,
            actor,
            occurred_at,
            visit_id=visit_id,
            summary=require_text("summary", summary, 2000),
        )

    def answer_survey(
        self,
        *,
        scores: dict[str, int],
        comment: str | None,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> uuid.UUID:
        """Satisfaction survey (满意度调查): 1-5 per dimension, ``overall`` required."""
        actor.require(Duty.FOLLOW_UP)
        if "overall" not in scores:
            raise InvalidValue("scores", "must include overall")
        for dimension, score in scores.items():
            require_choice("scores", dimension, frozenset(SURVEY_DIMENSIONS))
            check_score(f"scores.{dimension}", score)
        survey_id = uuid.uuid4()
        self._record(
            self.SurveyAnswered,
            actor,
            occurred_at,
            survey_id=survey_id,
            scores={d: int(s) for d, s in scores.items()},
            comment=None if comment is None else require_text("comment", comment, 2000),
        )
        return survey_id

    # --- the clock: service levels and the after-sales return visit (system actor) -------------

    def issue_sla_warning(self, *, item_kind: str, item_id: uuid.UUID, now: datetime, actor: Actor) -> None:
        """Warn that 75% of an open item's window has passed (a request's 24 hours, a complaint's 72).

        Recorded at the moment the threshold was crossed (or the record's last event, if later).
        Refused once the item is answered or resolved, already warned, or already overdue.
        """
        actor.require(Duty.RECORD_SERVICE_LEVELS)
        kind, item = self._open_sla_item(item_kind, item_id)
        require_aware("now", now)
        if item["breached_at"] is not None:
            raise SlaAlreadyBreached(kind, item_id)
        if item["warned_at"] is not None:
            raise SlaWarningAlreadyIssued(kind, item_id)
        opened = item["raised_at" if kind == SlaItemKind.REQUEST else "filed_at"]
        warn_at = opened + (item["due_at"] - opened) * SLA_WARNING_FRACTION
        if now < warn_at:
            raise SlaWarningNotDue(kind, item_id, warn_at.isoformat())
        self._record(
            self.SlaWarningIssued,
            actor,
            not_before(warn_at, self.last_occurred_at),
            item_kind=kind,
            item_id=item_id,
            due_at=item["due_at"],
        )

    def record_sla_breach(self, *, item_kind: str, item_id: uuid.UUID, now: datetime, actor: Actor) -> None:
        """Record that an item's due time passed with the item still open (with or without a warning).

        Recorded at the due time (or the record's last event, if later). Refused once the item is
        answered or resolved, already recorded overdue, or before its due time.
        """
        actor.require(Duty.RECORD_SERVICE_LEVELS)
        kind, item = self._open_sla_item(item_kind, item_id)
        require_aware("now", now)
        if item["breached_at"] is not None:
            raise SlaAlreadyBreached(kind, item_id)
        if now < item["due_at"]:
            raise SlaNotBreached(kind, item_id, item["due_at"].isoformat())
        self._record(
            self.SlaBreached,
            actor,
            not_before(item["due_at"], self.last_occurred_at),
            item_kind=kind,
            item_id=item_id,
            due_at=item["due_at"],
        )

    def schedule_handover_return_visit(self, *, deal_id: uuid.UUID, after: timedelta, actor: Actor) -> uuid.UUID:
        """The after-sales return visit (回访) of a deal's handover, due ``after`` the handover.

        One per deal (its id comes from the deal's), recorded at the handover time (or the record's
        last event, if later): scheduling it again is refused, so the clock may ask twice.
        """
        actor.require(Duty.FOLLOW_UP)
        if not isinstance(after, timedelta) or after <= timedelta(0):
            raise InvalidValue("after", "must be a positive duration")
        if str(deal_id) not in self.deals:
            raise NotFound("deal", deal_id)
        handed_over_at = self.deal_handovers.get(str(deal_id))
        if handed_over_at is None:
            raise DealNotHandedOver(deal_id)
        visit_id = handover_visit_id(deal_id)
        if str(visit_id) in self.return_visits:
            raise ReturnVisitAlreadyScheduled(deal_id, visit_id)
        self._record(
            self.ReturnVisitScheduled,
            actor,
            not_before(handed_over_at, self.last_occurred_at),
            visit_id=visit_id,
            due_at=handed_over_at + after,
            purpose=f"交房回访: after-sales return visit for the handover of deal {deal_id}",
        )
        return visit_id

    def _open_sla_item(self, item_kind: str, item_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
        kind = require_choice("item_kind", item_kind, SlaItemKind)
        if kind == SlaItemKind.REQUEST:
            return kind, _still_open(self.requests, item_id, "responded_at", RequestNotFound, RequestAlreadyAnswered)
        return kind, self._unresolved_complaint(item_id)

    def _unresolved_complaint(self, complaint_id: uuid.UUID) -> dict[str, Any]:
        complaint = self.complaints.get(str(complaint_id))
        if complaint is None:
            raise ComplaintNotFound(complaint_id)
        if complaint["status"] == "resolved":
            raise ComplaintAlreadyResolved(complaint_id)
        return complaint


def _still_open(
    items: dict[str, dict[str, Any]],
    item_id: uuid.UUID,
    closed_at: str,
    missing: Callable[[uuid.UUID], DomainError],
    closed: Callable[[uuid.UUID], DomainError],
) -> dict[str, Any]:
    """The request or visit with this id, if it exists and is not yet answered or completed."""
    item = items.get(str(item_id))
    if item is None:
        raise missing(item_id)
    if item[closed_at] is not None:
        raise closed(item_id)
    return item
