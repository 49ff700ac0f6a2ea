"""Service-desk work on a customer: requests (24-hour rule), complaints (72-hour rule), return
visits (回访) and satisfaction surveys (满意度调查).

A mixin of ``Customer``: the methods trigger the customer's own events and hold no state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.customer_values import ComplaintSeverity, check_score
from domain.errors import (
    ComplaintAlreadyAcknowledged,
    ComplaintAlreadyResolved,
    ComplaintNotFound,
    DomainError,
    InvalidValue,
    RequestAlreadyAnswered,
    RequestNotFound,
    ReturnVisitAlreadyCompleted,
    ReturnVisitNotFound,
)
from domain.identity import Actor, Duty
from domain.recording import require_aware, require_choice, require_text
from domain.rules import SURVEY_DIMENSIONS


class CustomerServiceDesk:
    """Requests, complaints, return visits and surveys of one customer (needs the aggregate's events)."""

    # Provided by Customer.
    requests: dict[str, dict[str, Any]]
    complaints: dict[str, dict[str, Any]]
    return_visits: dict[str, dict[str, Any]]
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
