"""The customer record's events: past tense, explicit stable topics, personal fields declared.

Kept apart from ``domain.customer`` (the commands and rules) so each module stays readable; the
aggregate re-exports every class, so ``Customer.Received`` is the same object as ``Received``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain import customer_values as v
from domain.recording import RecordedEvent
from domain.rules import COMPLAINT_RESOLUTION_WINDOW, REQUEST_RESPONSE_WINDOW

if TYPE_CHECKING:
    from domain.customer import Customer


class CustomerEvent(RecordedEvent):
    RECORD = "Customer"

    def mutate(self, aggregate: Any) -> Any:
        customer = super().mutate(aggregate)
        # The holder's last touch (for the public pool): any event the assigned staff member
        # recorded, or someone recorded on their behalf. Derived on replay, never stored.
        holder = customer.assigned_to
        if holder is not None and holder in (self.actor_id, self.on_behalf_of):
            customer.last_touched_at = self.occurred_at
        return customer


class Received(CustomerEvent, Aggregate.Created):
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
        c.deal_handovers = {}
        c.lost_reason = None
        # The reception is the first touch, whoever recorded it for the assignee.
        c.last_touched_at = self.occurred_at
        c.in_pool = False
        c.pooled_from = None


class PersonalDetailsRecorded(CustomerEvent):
    TOPIC = "realty.customer.personal_details_recorded"
    PERSONAL_FIELDS = ("name", "phone", "id_number")
    name: str
    phone: str
    id_number: str | None

    def apply(self, c: Customer) -> None:
        c.name, c.phone, c.id_number = self.name, self.phone, self.id_number

class ContactDetailsCorrected(CustomerEvent):
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

class NeedsRecorded(CustomerEvent):
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

class ListingsShortlisted(CustomerEvent):
    """Listing screening (房源筛选): the listings matched to the needs, with scores."""

    TOPIC = "realty.customer.listings_shortlisted"
    matches: list[dict[str, Any]]

    def apply(self, c: Customer) -> None:
        c.shortlist = [dict(m) for m in self.matches]

class ShowingScheduled(CustomerEvent):
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

class ShowingRescheduled(CustomerEvent):
    TOPIC = "realty.customer.showing_rescheduled"
    showing_id: uuid.UUID
    scheduled_for: datetime
    reason: str

    def apply(self, c: Customer) -> None:
        c.showings[str(self.showing_id)]["scheduled_for"] = self.scheduled_for

class ShowingConducted(CustomerEvent):
    TOPIC = "realty.customer.showing_conducted"
    showing_id: uuid.UUID
    topics_explained: list[str]

    def apply(self, c: Customer) -> None:
        showing = c.showings[str(self.showing_id)]
        showing["status"] = v.ShowingStatus.CONDUCTED.value
        showing["topics_explained"] = list(self.topics_explained)

class ShowingCancelled(CustomerEvent):
    TOPIC = "realty.customer.showing_cancelled"
    showing_id: uuid.UUID
    reason: str

    def apply(self, c: Customer) -> None:
        c.showings[str(self.showing_id)]["status"] = v.ShowingStatus.CANCELLED.value

class ShowingMissed(CustomerEvent):
    """The customer did not come (no-show)."""

    TOPIC = "realty.customer.showing_missed"
    showing_id: uuid.UUID

    def apply(self, c: Customer) -> None:
        c.showings[str(self.showing_id)]["status"] = v.ShowingStatus.NO_SHOW.value

class FeedbackRecorded(CustomerEvent):
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

class RequestRaised(CustomerEvent):
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
            "warned_at": None,
            "breached_at": None,
        }

class RequestResponded(CustomerEvent):
    TOPIC = "realty.customer.request_responded"
    PERSONAL_FIELDS = ("response",)
    request_id: uuid.UUID
    response: str

    def apply(self, c: Customer) -> None:
        request = c.requests[str(self.request_id)]
        request["responded_at"] = self.occurred_at
        request["responded_by"] = self.actor_id
        request["response"] = self.response

class ComplaintFiled(CustomerEvent):
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
            "warned_at": None,
            "breached_at": None,
        }

class ComplaintAcknowledged(CustomerEvent):
    TOPIC = "realty.customer.complaint_acknowledged"
    complaint_id: uuid.UUID

    def apply(self, c: Customer) -> None:
        complaint = c.complaints[str(self.complaint_id)]
        complaint["status"] = "acknowledged"
        complaint["acknowledged_at"] = self.occurred_at

class ComplaintEscalated(CustomerEvent):
    TOPIC = "realty.customer.complaint_escalated"
    complaint_id: uuid.UUID
    escalated_to: uuid.UUID
    reason: str

    def apply(self, c: Customer) -> None:
        complaint = c.complaints[str(self.complaint_id)]
        complaint["status"] = "escalated"
        complaint["escalated_to"] = self.escalated_to

class ComplaintResolved(CustomerEvent):
    TOPIC = "realty.customer.complaint_resolved"
    PERSONAL_FIELDS = ("resolution",)
    complaint_id: uuid.UUID
    resolution: str

    def apply(self, c: Customer) -> None:
        complaint = c.complaints[str(self.complaint_id)]
        complaint["status"] = "resolved"
        complaint["resolved_at"] = self.occurred_at
        complaint["resolution"] = self.resolution

class ReturnVisitScheduled(CustomerEvent):
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

class ReturnVisitCompleted(CustomerEvent):
    TOPIC = "realty.customer.return_visit_completed"
    PERSONAL_FIELDS = ("summary",)
    visit_id: uuid.UUID
    summary: str

    def apply(self, c: Customer) -> None:
        visit = c.return_visits[str(self.visit_id)]
        visit["completed_at"] = self.occurred_at
        visit["summary"] = self.summary

class SurveyAnswered(CustomerEvent):
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

class Reassigned(CustomerEvent):
    """A sales manager hands the customer over; from the public pool, ``from_staff`` is None."""

    TOPIC = "realty.customer.reassigned"
    from_staff: uuid.UUID | None
    to_staff: uuid.UUID
    team: str
    reason: str

    def apply(self, c: Customer) -> None:
        c.assigned_to, c.team = self.to_staff, self.team
        # The new holder gets a full protection period, and the customer leaves the pool.
        c.last_touched_at = self.occurred_at
        c.in_pool, c.pooled_from = False, None

class MarkedLost(CustomerEvent):
    TOPIC = "realty.customer.marked_lost"
    PERSONAL_FIELDS = ("note",)
    reason: str
    note: str | None

    def apply(self, c: Customer) -> None:
        c.lost_reason = self.reason

class Reactivated(CustomerEvent):
    TOPIC = "realty.customer.reactivated"
    reason: str

    def apply(self, c: Customer) -> None:
        c.lost_reason = None

class DealMilestoneReached(CustomerEvent):
    """Mirrors a deal's progress onto the customer, in the same transaction as the deal."""

    TOPIC = "realty.customer.deal_milestone_reached"
    deal_id: uuid.UUID
    milestone: str

    def apply(self, c: Customer) -> None:
        c.deals[str(self.deal_id)] = self.milestone
        if self.milestone == v.DealMilestone.HANDED_OVER:  # when the after-sales return visit is counted from
            c.deal_handovers[str(self.deal_id)] = self.occurred_at


# --- automations: the clock's events, recorded by the system actor ------------------------------


def _sla_item(c: Customer, item_kind: str, item_id: uuid.UUID) -> dict[str, Any]:
    items = c.requests if item_kind == "request" else c.complaints
    return items[str(item_id)]


class SlaWarningIssued(CustomerEvent):
    """75% of a request's 24 hours or a complaint's 72 hours passed with the item still open."""

    TOPIC = "realty.customer.sla_warning_issued"
    item_kind: str  # request | complaint
    item_id: uuid.UUID
    due_at: datetime

    def apply(self, c: Customer) -> None:
        _sla_item(c, self.item_kind, self.item_id)["warned_at"] = self.occurred_at


class SlaBreached(CustomerEvent):
    """The item's due time passed with the item still open (occurred_at: the due time, or later)."""

    TOPIC = "realty.customer.sla_breached"
    item_kind: str  # request | complaint
    item_id: uuid.UUID
    due_at: datetime

    def apply(self, c: Customer) -> None:
        _sla_item(c, self.item_kind, self.item_id)["breached_at"] = self.occurred_at


class ReturnedToPool(CustomerEvent):
    """Untouched by their holder for the protection period: the customer goes to the team's public
    pool (公客池), held by no one until a member of the team claims them."""

    TOPIC = "realty.customer.returned_to_pool"
    from_staff: uuid.UUID
    team: str
    last_touched_at: datetime
    protection_days: int

    def apply(self, c: Customer) -> None:
        c.assigned_to = None
        c.in_pool, c.pooled_from = True, self.from_staff


class ClaimedFromPool(CustomerEvent):
    """A consultant or customer manager of the team takes the customer from the pool; the claim
    starts their protection period."""

    TOPIC = "realty.customer.claimed_from_pool"
    claimed_by: uuid.UUID

    def apply(self, c: Customer) -> None:
        c.assigned_to = self.claimed_by
        c.last_touched_at = self.occurred_at
        c.in_pool, c.pooled_from = False, None
