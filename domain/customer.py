"""Customer (客户): one record per customer, from first contact to after-sales service.

The stage (reception → matching → signing → transaction → after-sales, or lost) is never set
directly: it follows from the events, including the deal milestones the application mirrors
onto the customer when a deal moves.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain import customer_values as v
from domain.errors import (
    AlreadyAssigned,
    CannotHoldCustomers,
    ComplaintAlreadyAcknowledged,
    ComplaintAlreadyResolved,
    ComplaintNotFound,
    CustomerHasOpenDeal,
    CustomerIsLost,
    CustomerNotLost,
    FeedbackAlreadyRecorded,
    InvalidValue,
    ListingNotShowable,
    RequestAlreadyAnswered,
    RequestNotFound,
    ReturnVisitAlreadyCompleted,
    ReturnVisitNotFound,
    ShowingNotConducted,
    ShowingNotFound,
    ShowingNotOpen,
    StaffDeactivated,
)
from domain.identity import HOLDS_CUSTOMERS, Actor, Duty, Role
from domain.recording import (
    Recordable,
    RecordedEvent,
    require_choice,
    require_range,
    require_text,
    require_whole,
)
from domain.rules import (
    COMPLAINT_RESOLUTION_WINDOW,
    MAX_RECEPTION,
    REQUEST_RESPONSE_WINDOW,
    SCORE_MAX,
    SCORE_MIN,
    SURVEY_DIMENSIONS,
)

UNSHOWABLE_LISTING_STATUSES = frozenset({"withdrawn", "sold"})


class Customer(Recordable, Aggregate):
    TOPIC = "realty.customer"

    class Event(RecordedEvent):
        pass

    # --- events (past tense; explicit, stable topics) ----------------------------------------

    class Received(Event, Aggregate.Created):
        TOPIC = "realty.customer.received"
        channel: str
        assigned_to: uuid.UUID
        team: str
        reception_started_at: datetime
        reception_ended_at: datetime

        def apply(self, c: Customer) -> None:
            c.channel = self.channel
            c.assigned_to = self.assigned_to
            c.team = self.team
            c.reception_started_at = self.reception_started_at
            c.reception_ended_at = self.reception_ended_at
            c.name = c.phone = c.id_number = None
            c.needs = None
            c.shortlist = []
            c.showings = {}
            c.requests = {}
            c.complaints = {}
            c.return_visits = {}
            c.surveys = {}
            c.deals = {}
            c.lost_reason = None

    Created = Received  # the library looks for a Created class on every aggregate

    class PersonalDetailsRecorded(Event):
        TOPIC = "realty.customer.personal_details_recorded"
        PERSONAL_FIELDS = ("name", "phone", "id_number")
        name: str
        phone: str
        id_number: str | None

        def apply(self, c: Customer) -> None:
            c.name, c.phone, c.id_number = self.name, self.phone, self.id_number

    class ContactDetailsCorrected(Event):
        """A correction: the previous values stay in the history, this event says why."""

        TOPIC = "realty.customer.contact_details_corrected"
        PERSONAL_FIELDS = ("name", "phone", "id_number")
        name: str | None
        phone: str | None
        id_number: str | None
        reason: str

        def apply(self, c: Customer) -> None:
            for field in ("name", "phone", "id_number"):
                if getattr(self, field) is not None:
                    setattr(c, field, getattr(self, field))

    class NeedsRecorded(Event):
        TOPIC = "realty.customer.needs_recorded"
        budget_min: int
        budget_max: int
        area_min: float
        area_max: float
        rooms: int
        districts: list[str]
        purpose: str
        payment_method: str
        qualification: str

        def apply(self, c: Customer) -> None:
            c.needs = self.payload()

    class ListingsShortlisted(Event):
        """Listing screening (房源筛选): the listings matched to the needs, with scores."""

        TOPIC = "realty.customer.listings_shortlisted"
        matches: list[dict[str, Any]]

        def apply(self, c: Customer) -> None:
            c.shortlist = [dict(m) for m in self.matches]

    class ShowingScheduled(Event):
        TOPIC = "realty.customer.showing_scheduled"
        showing_id: uuid.UUID
        listing_id: uuid.UUID
        scheduled_for: datetime

        def apply(self, c: Customer) -> None:
            c.showings[str(self.showing_id)] = {
                "listing_id": self.listing_id,
                "scheduled_for": self.scheduled_for,
                "status": v.ShowingStatus.SCHEDULED.value,
                "topics_explained": [],
                "feedback": None,
            }

    class ShowingRescheduled(Event):
        TOPIC = "realty.customer.showing_rescheduled"
        showing_id: uuid.UUID
        scheduled_for: datetime
        reason: str

        def apply(self, c: Customer) -> None:
            c.showings[str(self.showing_id)]["scheduled_for"] = self.scheduled_for

    class ShowingConducted(Event):
        TOPIC = "realty.customer.showing_conducted"
        showing_id: uuid.UUID
        topics_explained: list[str]

        def apply(self, c: Customer) -> None:
            showing = c.showings[str(self.showing_id)]
            showing["status"] = v.ShowingStatus.CONDUCTED.value
            showing["topics_explained"] = list(self.topics_explained)

    class ShowingCancelled(Event):
        TOPIC = "realty.customer.showing_cancelled"
        showing_id: uuid.UUID
        reason: str

        def apply(self, c: Customer) -> None:
            c.showings[str(self.showing_id)]["status"] = v.ShowingStatus.CANCELLED.value

    class ShowingMissed(Event):
        """The customer did not come (no-show)."""

        TOPIC = "realty.customer.showing_missed"
        showing_id: uuid.UUID

        def apply(self, c: Customer) -> None:
            c.showings[str(self.showing_id)]["status"] = v.ShowingStatus.NO_SHOW.value

    class FeedbackRecorded(Event):
        TOPIC = "realty.customer.feedback_recorded"
        PERSONAL_FIELDS = ("objections",)
        showing_id: uuid.UUID
        interest: int
        objections: list[str]

        def apply(self, c: Customer) -> None:
            c.showings[str(self.showing_id)]["feedback"] = {
                "interest": self.interest,
                "objections": list(self.objections),
            }

    class RequestRaised(Event):
        TOPIC = "realty.customer.request_raised"
        PERSONAL_FIELDS = ("subject",)
        request_id: uuid.UUID
        subject: str

        def apply(self, c: Customer) -> None:
            c.requests[str(self.request_id)] = {
                "subject": self.subject,
                "raised_at": self.occurred_at,
                "due_at": self.occurred_at + REQUEST_RESPONSE_WINDOW,
                "responded_at": None,
                "responded_by": None,
                "response": None,
            }

    class RequestResponded(Event):
        TOPIC = "realty.customer.request_responded"
        PERSONAL_FIELDS = ("response",)
        request_id: uuid.UUID
        response: str

        def apply(self, c: Customer) -> None:
            request = c.requests[str(self.request_id)]
            request["responded_at"] = self.occurred_at
            request["responded_by"] = self.actor_id
            request["response"] = self.response

    class ComplaintFiled(Event):
        TOPIC = "realty.customer.complaint_filed"
        PERSONAL_FIELDS = ("description",)
        complaint_id: uuid.UUID
        category: str
        severity: str
        description: str

        def apply(self, c: Customer) -> None:
            c.complaints[str(self.complaint_id)] = {
                "category": self.category,
                "severity": self.severity,
                "description": self.description,
                "filed_at": self.occurred_at,
                "due_at": self.occurred_at + COMPLAINT_RESOLUTION_WINDOW,
                "status": "filed",
                "acknowledged_at": None,
                "escalated_to": None,
                "resolved_at": None,
                "resolution": None,
            }

    class ComplaintAcknowledged(Event):
        TOPIC = "realty.customer.complaint_acknowledged"
        complaint_id: uuid.UUID

        def apply(self, c: Customer) -> None:
            complaint = c.complaints[str(self.complaint_id)]
            complaint["status"] = "acknowledged"
            complaint["acknowledged_at"] = self.occurred_at

    class ComplaintEscalated(Event):
        TOPIC = "realty.customer.complaint_escalated"
        complaint_id: uuid.UUID
        escalated_to: uuid.UUID
        reason: str

        def apply(self, c: Customer) -> None:
            complaint = c.complaints[str(self.complaint_id)]
            complaint["status"] = "escalated"
            complaint["escalated_to"] = self.escalated_to

    class ComplaintResolved(Event):
        TOPIC = "realty.customer.complaint_resolved"
        PERSONAL_FIELDS = ("resolution",)
        complaint_id: uuid.UUID
        resolution: str

        def apply(self, c: Customer) -> None:
            complaint = c.complaints[str(self.complaint_id)]
            complaint["status"] = "resolved"
            complaint["resolved_at"] = self.occurred_at
            complaint["resolution"] = self.resolution

    class ReturnVisitScheduled(Event):
        TOPIC = "realty.customer.return_visit_scheduled"
        visit_id: uuid.UUID
        due_at: datetime
        purpose: str

        def apply(self, c: Customer) -> None:
            c.return_visits[str(self.visit_id)] = {
                "due_at": self.due_at,
                "purpose": self.purpose,
                "completed_at": None,
                "summary": None,
            }

    class ReturnVisitCompleted(Event):
        TOPIC = "realty.customer.return_visit_completed"
        PERSONAL_FIELDS = ("summary",)
        visit_id: uuid.UUID
        summary: str

        def apply(self, c: Customer) -> None:
            visit = c.return_visits[str(self.visit_id)]
            visit["completed_at"] = self.occurred_at
            visit["summary"] = self.summary

    class SurveyAnswered(Event):
        TOPIC = "realty.customer.survey_answered"
        PERSONAL_FIELDS = ("comment",)
        survey_id: uuid.UUID
        scores: dict[str, int]
        comment: str | None

        def apply(self, c: Customer) -> None:
            c.surveys[str(self.survey_id)] = {
                "scores": dict(self.scores),
                "comment": self.comment,
                "answered_at": self.occurred_at,
            }

    class Reassigned(Event):
        TOPIC = "realty.customer.reassigned"
        from_staff: uuid.UUID
        to_staff: uuid.UUID
        team: str
        reason: str

        def apply(self, c: Customer) -> None:
            c.assigned_to, c.team = self.to_staff, self.team

    class MarkedLost(Event):
        TOPIC = "realty.customer.marked_lost"
        PERSONAL_FIELDS = ("note",)
        reason: str
        note: str | None

        def apply(self, c: Customer) -> None:
            c.lost_reason = self.reason

    class Reactivated(Event):
        TOPIC = "realty.customer.reactivated"
        reason: str

        def apply(self, c: Customer) -> None:
            c.lost_reason = None

    class DealMilestoneReached(Event):
        """Mirrors a deal's progress onto the customer, in the same transaction as the deal."""

        TOPIC = "realty.customer.deal_milestone_reached"
        deal_id: uuid.UUID
        milestone: str

        def apply(self, c: Customer) -> None:
            c.deals[str(self.deal_id)] = self.milestone


    # --- derived state ---------------------------------------------------------------------

    @property
    def is_lost(self) -> bool:
        return self.lost_reason is not None

    @property
    def stage(self) -> v.Stage:
        if self.is_lost:
            return v.Stage.LOST
        milestones = set(self.deals.values())
        if milestones & {v.DealMilestone.HANDED_OVER, v.DealMilestone.CLOSED}:
            return v.Stage.AFTER_SALES
        if v.DealMilestone.SIGNED in milestones:
            return v.Stage.TRANSACTION
        if v.DealMilestone.DRAFTED in milestones:
            return v.Stage.SIGNING
        # A cancelled deal leaves the customer matching again, never back at reception.
        if self.needs or self.shortlist or self.showings or self.deals:
            return v.Stage.MATCHING
        return v.Stage.RECEPTION

    @property
    def reception_minutes(self) -> float:
        return (self.reception_ended_at - self.reception_started_at).total_seconds() / 60

    # --- commands --------------------------------------------------------------------------

    @classmethod
    def receive(
        cls,
        *,
        channel: str,
        assigned_to: uuid.UUID,
        assignee_role: Role,
        team: str,
        reception_started_at: datetime,
        reception_ended_at: datetime,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> Customer:
        """First contact (客户首次接触)."""
        actor.require(Duty.RECEIVE_CUSTOMERS)
        require_choice("channel", channel, v.Channel)
        if assignee_role not in HOLDS_CUSTOMERS:
            raise CannotHoldCustomers(assigned_to, assignee_role.value)
        for field, value in (
            ("reception_started_at", reception_started_at),
            ("reception_ended_at", reception_ended_at),
        ):
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise InvalidValue(field, "must be a date-time with a time zone")
        if not reception_started_at <= reception_ended_at <= reception_started_at + MAX_RECEPTION:
            raise InvalidValue(
                "reception_ended_at", "must be after the start and within the same working day"
            )
        return cls._create_recorded(
            cls.Received,
            actor,
            occurred_at or reception_started_at,
            channel=channel,
            assigned_to=assigned_to,
            team=require_text("team", team, 100),
            reception_started_at=reception_started_at,
            reception_ended_at=reception_ended_at,
        )

    def record_personal_details(
        self,
        *,
        name: str,
        phone: str,
        id_number: str | None,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.MAINTAIN_CUSTOMERS)
        self._record(
            self.PersonalDetailsRecorded,
            actor,
            occurred_at,
            name=require_text("name", name, 100),
            phone=v.check_phone(phone),
            id_number=None if id_number is None else v.check_id_number(id_number),
        )

    def correct_contact_details(
        self,
        *,
        reason: str,
        actor: Actor,
        name: str | None = None,
        phone: str | None = None,
        id_number: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.MAINTAIN_CUSTOMERS)
        if name is None and phone is None and id_number is None:
            raise InvalidValue("correction", "names no field to correct")
        self._record(
            self.ContactDetailsCorrected,
            actor,
            occurred_at,
            name=None if name is None else require_text("name", name, 100),
            phone=None if phone is None else v.check_phone(phone),
            id_number=None if id_number is None else v.check_id_number(id_number),
            reason=require_text("reason", reason),
        )

    def record_needs(
        self,
        *,
        budget_min: int,
        budget_max: int,
        area_min: float,
        area_max: float,
        rooms: int,
        districts: list[str],
        purpose: str,
        payment_method: str,
        qualification: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.MAINTAIN_CUSTOMERS)
        self._ensure_active()
        require_whole("budget_min", budget_min, 1, 10**10)
        require_whole("budget_max", budget_max, budget_min, 10**10)
        require_range("area_min", area_min, 1, 10_000)
        require_range("area_max", area_max, area_min, 10_000)
        require_whole("rooms", rooms, 1, 20)
        if not districts or len(districts) > 20:
            raise InvalidValue("districts", "must name between 1 and 20 districts")
        self._record(
            self.NeedsRecorded,
            actor,
            occurred_at,
            budget_min=int(budget_min),
            budget_max=int(budget_max),
            area_min=float(area_min),
            area_max=float(area_max),
            rooms=int(rooms),
            districts=[require_text("districts", d, 50) for d in districts],
            purpose=require_choice("purpose", purpose, v.Purpose),
            payment_method=require_choice("payment_method", payment_method, v.PaymentMethod),
            qualification=require_choice("qualification", qualification, v.Qualification),
        )

    def shortlist_listings(
        self,
        *,
        matches: list[tuple[uuid.UUID, int]],
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SHOW_LISTINGS)
        self._ensure_active()
        if not matches:
            raise InvalidValue("matches", "must contain at least one listing")
        if len({listing_id for listing_id, _ in matches}) != len(matches):
            raise InvalidValue("matches", "names a listing twice")
        for _, score in matches:
            require_whole("score", score, 0, 100)
        self._record(
            self.ListingsShortlisted,
            actor,
            occurred_at,
            matches=[{"listing_id": str(lid), "score": int(s)} for lid, s in matches],
        )

    def schedule_showing(
        self,
        *,
        listing_id: uuid.UUID,
        listing_status: str,
        scheduled_for: datetime,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> uuid.UUID:
        actor.require(Duty.SHOW_LISTINGS)
        self._ensure_active()
        if listing_status in UNSHOWABLE_LISTING_STATUSES:
            raise ListingNotShowable(listing_id, listing_status)
        _require_aware("scheduled_for", scheduled_for)
        showing_id = uuid.uuid4()
        self._record(
            self.ShowingScheduled,
            actor,
            occurred_at,
            showing_id=showing_id,
            listing_id=listing_id,
            scheduled_for=scheduled_for,
        )
        return showing_id

    def reschedule_showing(
        self,
        *,
        showing_id: uuid.UUID,
        scheduled_for: datetime,
        reason: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SHOW_LISTINGS)
        self._open_showing(showing_id)
        _require_aware("scheduled_for", scheduled_for)
        self._record(
            self.ShowingRescheduled,
            actor,
            occurred_at,
            showing_id=showing_id,
            scheduled_for=scheduled_for,
            reason=require_text("reason", reason),
        )

    def conduct_showing(
        self,
        *,
        showing_id: uuid.UUID,
        topics_explained: list[str],
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SHOW_LISTINGS)
        self._open_showing(showing_id)
        topics = [require_choice("topics_explained", t, v.TopicExplained) for t in topics_explained]
        self._record(
            self.ShowingConducted,
            actor,
            occurred_at,
            showing_id=showing_id,
            topics_explained=sorted(set(topics)),
        )

    def cancel_showing(
        self, *, showing_id: uuid.UUID, reason: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.SHOW_LISTINGS)
        self._open_showing(showing_id)
        self._record(
            self.ShowingCancelled,
            actor,
            occurred_at,
            showing_id=showing_id,
            reason=require_text("reason", reason),
        )

    def record_no_show(
        self, *, showing_id: uuid.UUID, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.SHOW_LISTINGS)
        self._open_showing(showing_id)
        self._record(self.ShowingMissed, actor, occurred_at, showing_id=showing_id)

    def record_feedback(
        self,
        *,
        showing_id: uuid.UUID,
        interest: int,
        objections: list[str],
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.SHOW_LISTINGS)
        showing = self._showing(showing_id)
        if showing["status"] != v.ShowingStatus.CONDUCTED:
            raise ShowingNotConducted(showing_id, showing["status"])
        if showing["feedback"] is not None:
            raise FeedbackAlreadyRecorded(showing_id)
        _require_score("interest", interest)
        self._record(
            self.FeedbackRecorded,
            actor,
            occurred_at,
            showing_id=showing_id,
            interest=interest,
            objections=[require_text("objections", o, 200) for o in objections],
        )

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
        request = self.requests.get(str(request_id))
        if request is None:
            raise RequestNotFound(request_id)
        if request["responded_at"] is not None:
            raise RequestAlreadyAnswered(request_id)
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
            severity=require_choice("severity", severity, v.ComplaintSeverity),
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
        _require_aware("due_at", due_at)
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
        visit = self.return_visits.get(str(visit_id))
        if visit is None:
            raise ReturnVisitNotFound(visit_id)
        if visit["completed_at"] is not None:
            raise ReturnVisitAlreadyCompleted(visit_id)
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
            _require_score(f"scores.{dimension}", score)
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

    def reassign(
        self,
        *,
        to_staff: uuid.UUID,
        to_role: Role,
        to_active: bool,
        to_team: str,
        reason: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        actor.require(Duty.REASSIGN)
        if to_role not in HOLDS_CUSTOMERS:
            raise CannotHoldCustomers(to_staff, to_role.value)
        if not to_active:
            raise StaffDeactivated(to_staff)
        if to_staff == self.assigned_to:
            raise AlreadyAssigned(to_staff)
        self._record(
            self.Reassigned,
            actor,
            occurred_at,
            from_staff=self.assigned_to,
            to_staff=to_staff,
            team=require_text("team", to_team, 100),
            reason=require_choice("reason", reason, v.ReassignmentReason),
        )

    def mark_lost(
        self, *, reason: str, note: str | None, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        """Customer loss (客户流失), with the reason chapter 8 analyses."""
        actor.require(Duty.MAINTAIN_CUSTOMERS)
        self._ensure_active()
        for deal_id, milestone in self.deals.items():
            if milestone in (v.DealMilestone.DRAFTED, v.DealMilestone.SIGNED):
                raise CustomerHasOpenDeal(self.id, deal_id)
        self._record(
            self.MarkedLost,
            actor,
            occurred_at,
            reason=require_choice("reason", reason, v.LossReason),
            note=None if note is None else require_text("note", note, 2000),
        )

    def reactivate(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.MAINTAIN_CUSTOMERS)
        if not self.is_lost:
            raise CustomerNotLost(self.id)
        self._record(self.Reactivated, actor, occurred_at, reason=require_text("reason", reason))

    def reach_deal_milestone(
        self,
        *,
        deal_id: uuid.UUID,
        milestone: v.DealMilestone,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        if milestone is v.DealMilestone.DRAFTED:
            self._ensure_active()
        self._record(
            self.DealMilestoneReached,
            actor,
            occurred_at,
            deal_id=deal_id,
            milestone=milestone.value,
        )

    # --- guards ----------------------------------------------------------------------------

    def _ensure_active(self) -> None:
        if self.is_lost:
            raise CustomerIsLost(self.id)

    def _showing(self, showing_id: uuid.UUID) -> dict[str, Any]:
        showing = self.showings.get(str(showing_id))
        if showing is None:
            raise ShowingNotFound(showing_id)
        return showing

    def _open_showing(self, showing_id: uuid.UUID) -> dict[str, Any]:
        showing = self._showing(showing_id)
        if showing["status"] != v.ShowingStatus.SCHEDULED:
            raise ShowingNotOpen(showing_id, showing["status"])
        return showing

    def _unresolved_complaint(self, complaint_id: uuid.UUID) -> dict[str, Any]:
        complaint = self.complaints.get(str(complaint_id))
        if complaint is None:
            raise ComplaintNotFound(complaint_id)
        if complaint["status"] == "resolved":
            raise ComplaintAlreadyResolved(complaint_id)
        return complaint


def _require_score(field: str, score: int) -> None:
    require_whole(field, score, SCORE_MIN, SCORE_MAX)


def _require_aware(field: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValue(field, "must be a date-time with a time zone")
