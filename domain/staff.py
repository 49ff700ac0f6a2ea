"""StaffMember: the people who act on the record, their roles, training and assessment (ch. 6)."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate

from domain.errors import InvalidValue, SelfAssessment, StaffAlreadyDeactivated, StaffDeactivated
from domain.identity import STAFF_ROLES, Actor, Duty, Role
from domain.recording import Recordable, RecordedEvent, require_text, require_whole


class StaffMember(Recordable, Aggregate):
    TOPIC = "realty.staff"

    class Event(RecordedEvent):
        pass

    class Registered(Event, Aggregate.Created):
        TOPIC = "realty.staff.registered"
        PERSONAL_FIELDS = ("name",)
        name: str
        role: str
        team: str

        def apply(self, staff: StaffMember) -> None:
            staff.name, staff.role, staff.team = self.name, self.role, self.team
            staff.active = True
            staff.trainings = []
            staff.assessments = []
            staff.incentives = []

    Created = Registered

    class RoleChanged(Event):
        TOPIC = "realty.staff.role_changed"
        old_role: str
        new_role: str
        team: str

        def apply(self, staff: StaffMember) -> None:
            staff.role, staff.team = self.new_role, self.team

    class TrainingCompleted(Event):
        TOPIC = "realty.staff.training_completed"
        course: str
        score: int

        def apply(self, staff: StaffMember) -> None:
            staff.trainings.append({"course": self.course, "score": self.score, "at": self.occurred_at})

    class AssessmentRecorded(Event):
        TOPIC = "realty.staff.assessment_recorded"
        period: str
        score: int

        def apply(self, staff: StaffMember) -> None:
            staff.assessments.append(
                {"period": self.period, "score": self.score, "by": self.actor_id}
            )

    class IncentiveAwarded(Event):
        TOPIC = "realty.staff.incentive_awarded"
        kind: str
        amount: int
        reason: str

        def apply(self, staff: StaffMember) -> None:
            staff.incentives.append({"kind": self.kind, "amount": self.amount, "reason": self.reason})

    class Deactivated(Event):
        TOPIC = "realty.staff.deactivated"
        reason: str

        def apply(self, staff: StaffMember) -> None:
            staff.active = False


    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @classmethod
    def register(
        cls, *, name: str, role: str, team: str, actor: Actor, occurred_at: datetime | None = None
    ) -> StaffMember:
        actor.require(Duty.MANAGE_STAFF)
        return cls._create_recorded(
            cls.Registered,
            actor,
            occurred_at,
            name=require_text("name", name, 100),
            role=_staff_role(role),
            team=require_text("team", team, 100),
        )

    def acting_as(self, correlation_id: str, on_behalf_of: uuid.UUID | None = None) -> Actor:
        """The identity this staff member acts with; refused once deactivated."""
        if not self.active:
            raise StaffDeactivated(self.id)
        return Actor(
            id=self.id, role=Role(self.role), on_behalf_of=on_behalf_of, correlation_id=correlation_id
        )

    def change_role(
        self, *, role: str, team: str | None, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.MANAGE_STAFF)
        self._ensure_active()
        new_role = _staff_role(role)
        new_team = self.team if team is None else require_text("team", team, 100)
        if new_role == self.role and new_team == self.team:
            raise InvalidValue("role", "is unchanged")
        self._record(
            self.RoleChanged, actor, occurred_at, old_role=self.role, new_role=new_role, team=new_team
        )

    def complete_training(
        self, *, course: str, score: int, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.MANAGE_STAFF)
        self._ensure_active()
        require_whole("score", score, 0, 100)
        self._record(
            self.TrainingCompleted,
            actor,
            occurred_at,
            course=require_text("course", course, 200),
            score=int(score),
        )

    def record_assessment(
        self, *, period: str, score: int, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.MANAGE_STAFF)
        self._ensure_active()
        if actor.id == self.id:
            raise SelfAssessment(self.id)
        require_whole("score", score, 0, 100)
        self._record(
            self.AssessmentRecorded,
            actor,
            occurred_at,
            period=require_text("period", period, 20),
            score=int(score),
        )

    def award_incentive(
        self, *, kind: str, amount: int, reason: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.MANAGE_STAFF)
        self._ensure_active()
        require_whole("amount", amount, 0, 10**8)
        self._record(
            self.IncentiveAwarded,
            actor,
            occurred_at,
            kind=require_text("kind", kind, 50),
            amount=int(amount),
            reason=require_text("reason", reason),
        )

    def deactivate(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.MANAGE_STAFF)
        if not self.active:
            raise StaffAlreadyDeactivated(self.id)
        self._record(self.Deactivated, actor, occurred_at, reason=require_text("reason", reason))

    def _ensure_active(self) -> None:
        if not self.active:
            raise StaffDeactivated(self.id)


def _staff_role(role: str) -> str:
    if role not in {r.value for r in STAFF_ROLES}:
        allowed = ", ".join(sorted(r.value for r in STAFF_ROLES))
        raise InvalidValue("role", f"must be one of {allowed}")
    return role
