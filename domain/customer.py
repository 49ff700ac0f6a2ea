"""Customer (客户): one record per customer, from first contact to after-sales service.

The stage (reception → matching → signing → transaction → after-sales, or lost) is never set
directly: it follows from the events, including the deal milestones the application mirrors
onto the customer when a deal moves. The events live in ``domain.customer_events``; the service
desk's commands (requests, complaints, return visits, surveys, service-level warnings and breaches)
in ``domain.customer_service``; the team's public pool (公客池) in ``domain.customer_pool``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain import customer_events as ev
from domain import customer_values as v
from domain.customer_erasure import CustomerErasure, ErasureRequested, PersonalDataErased
from domain.customer_pool import CustomerPool
from domain.customer_service import CustomerServiceDesk
from domain.errors import (
    AlreadyAssigned,
    CannotHoldCustomers,
    CustomerHasOpenDeal,
    CustomerIsLost,
    CustomerNotLost,
    CustomerRestricted,
    FeedbackAlreadyRecorded,
    InvalidValue,
    ListingNotShowable,
    ShowingNotConducted,
    ShowingNotFound,
    ShowingNotOpen,
    StaffDeactivated,
)
from domain.identity import HOLDS_CUSTOMERS, Actor, Duty, Role
from domain.recording import (
    Recordable,
    RecordedEvent,
    require_aware,
    require_choice,
    require_name,
    require_range,
    require_text,
    require_whole,
)
from domain.rules import MAX_RECEPTION

UNSHOWABLE_LISTING_STATUSES = frozenset({"withdrawn", "sold"})


class Customer(CustomerErasure, CustomerPool, CustomerServiceDesk, Recordable, Aggregate):
    TOPIC = "realty.customer"

    Event = ev.CustomerEvent
    Received = ev.Received
    Created = ev.Received  # the library looks for a Created class on every aggregate
    PersonalDetailsRecorded = ev.PersonalDetailsRecorded
    ContactDetailsCorrected = ev.ContactDetailsCorrected
    NeedsRecorded = ev.NeedsRecorded
    ListingsShortlisted = ev.ListingsShortlisted
    ShowingScheduled = ev.ShowingScheduled
    ShowingRescheduled = ev.ShowingRescheduled
    ShowingConducted = ev.ShowingConducted
    ShowingCancelled = ev.ShowingCancelled
    ShowingMissed = ev.ShowingMissed
    FeedbackRecorded = ev.FeedbackRecorded
    RequestRaised = ev.RequestRaised
    RequestResponded = ev.RequestResponded
    ComplaintFiled = ev.ComplaintFiled
    ComplaintAcknowledged = ev.ComplaintAcknowledged
    ComplaintEscalated = ev.ComplaintEscalated
    ComplaintResolved = ev.ComplaintResolved
    ReturnVisitScheduled = ev.ReturnVisitScheduled
    ReturnVisitCompleted = ev.ReturnVisitCompleted
    SurveyAnswered = ev.SurveyAnswered
    Reassigned = ev.Reassigned
    MarkedLost = ev.MarkedLost
    Reactivated = ev.Reactivated
    DealMilestoneReached = ev.DealMilestoneReached
    SlaWarningIssued = ev.SlaWarningIssued
    SlaBreached = ev.SlaBreached
    ReturnedToPool = ev.ReturnedToPool
    ClaimedFromPool = ev.ClaimedFromPool
    ErasureRequested = ErasureRequested
    PersonalDataErased = PersonalDataErased

    # --- derived state ---------------------------------------------------------------------

    @property
    def is_lost(self) -> bool:
        return self.lost_reason is not None

    @property
    def stage(self) -> v.Stage:
        matching = bool(self.needs or self.shortlist or self.showings or self.deals)
        return v.derive_stage(lost=self.is_lost, milestones=self.deals.values(), matching=matching)

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
        require_aware("reception_started_at", reception_started_at)
        require_aware("reception_ended_at", reception_ended_at)
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
            name=require_name("name", name),
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
            name=None if name is None else require_name("name", name),
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
        require_aware("scheduled_for", scheduled_for)
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
        require_aware("scheduled_for", scheduled_for)
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
        v.check_score("interest", interest)
        self._record(
            self.FeedbackRecorded,
            actor,
            occurred_at,
            showing_id=showing_id,
            interest=interest,
            objections=[require_text("objections", o, 200) for o in objections],
        )

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

    def _record(self, event_class: type[RecordedEvent], actor: Actor, occurred_at: datetime | None,
                **payload: Any) -> None:
        # PIPL Art. 47(2): once erasure is asked for, nothing but the erasure itself is recorded.
        if self.is_restricted and event_class not in self.ERASURE_EVENTS:
            raise CustomerRestricted(self.id)
        super()._record(event_class, actor, occurred_at, **payload)

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
