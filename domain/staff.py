"""StaffMember: the people who act on the record, their roles, training and assessment (ch. 6)."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import (
    CallerChanged,
    InvalidValue,
    SelfAssessment,
    StaffAlreadyDeactivated,
    StaffDeactivated,
    TokenAlreadyRevoked,
    TokenNotFound,
    Unauthenticated,
)
from domain.identity import STAFF_ROLES, Actor, Duty, Role
from domain.recording import (
    Recordable,
    RecordedEvent,
    business_time,
    require_name,
    require_text,
    require_whole,
    utcnow,
)

# The longest a token may live (ten years): past that a lifetime is a typo, not a policy. A token
# meant never to expire is issued without one, so that it says so.
MAX_TOKEN_LIFETIME = timedelta(days=3650)


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
            staff.tokens = {}
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

    class TokenIssued(Event):
        """An API token: only a hash of its secret is recorded; the secret is shown once.

        Version 2 added ``expires_at`` (None: never). Tokens issued before it never expire.
        """

        TOPIC = "realty.staff.token_issued"
        class_version = 2
        token_id: uuid.UUID
        secret_hash: str
        label: str
        expires_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["expires_at"] = None

        def apply(self, staff: StaffMember) -> None:
            staff.tokens[str(self.token_id)] = {
                "secret_hash": self.secret_hash,
                "label": self.label,
                "issued_at": self.occurred_at,
                "expires_at": self.expires_at,
                "revoked_at": None,
            }

    class TokenRevoked(Event):
        TOPIC = "realty.staff.token_revoked"
        token_id: uuid.UUID
        reason: str

        def apply(self, staff: StaffMember) -> None:
            staff.tokens[str(self.token_id)]["revoked_at"] = self.occurred_at


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
            name=require_name("name", name),
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

    def issue_token(
        self,
        *,
        token_id: uuid.UUID,
        secret_hash: str,
        label: str,
        actor: Actor,
        lifetime: timedelta | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record a token; it expires ``lifetime`` after it was issued (None: never)."""
        if actor.id != self.id:
            actor.require(Duty.MANAGE_STAFF)
        self._ensure_active()
        if len(secret_hash) != 64 or any(ch not in "0123456789abcdef" for ch in secret_hash):
            raise InvalidValue("secret_hash", "must be a SHA-256 hex digest")
        if str(token_id) in self.tokens:
            raise InvalidValue("token_id", "is already issued")
        when = business_time(occurred_at, self.last_occurred_at)
        expires_at = None
        if lifetime is not None:
            if not timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
                raise InvalidValue("lifetime", f"must be more than 0 and at most {MAX_TOKEN_LIFETIME.days} days")
            expires_at = when + lifetime
            if expires_at <= utcnow():  # back-dated so far that it would be born dead
                raise InvalidValue("lifetime", "ends before now: the token would never work")
        self._record(
            self.TokenIssued,
            actor,
            when,
            token_id=token_id,
            secret_hash=secret_hash,
            label=require_text("label", label, 100),
            expires_at=expires_at,
        )

    def revoke_token(
        self, *, token_id: uuid.UUID, reason: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        if actor.id != self.id:
            actor.require(Duty.MANAGE_STAFF)
        token = self.tokens.get(str(token_id))
        if token is None:
            raise TokenNotFound(token_id)
        if token["revoked_at"] is not None:
            raise TokenAlreadyRevoked(token_id)
        self._record(self.TokenRevoked, actor, occurred_at, token_id=token_id, reason=require_text("reason", reason))

    def token_matches(self, token_id: uuid.UUID, secret_hash: str, *, at: datetime | None = None) -> bool:
        """True for a live token of an active member at ``at`` (default: now): not revoked, not
        expired; the secret compared in constant time.

        The expiry is judged on every call, not when the record was read: a record cached before
        the token expired still refuses it afterwards.
        """
        token = self.tokens.get(str(token_id))
        if token is None or token["revoked_at"] is not None or not self.active:
            return False
        expires_at = token.get("expires_at")  # absent in states built before tokens expired
        if expires_at is not None and (at or utcnow()) >= expires_at:
            return False
        return hmac.compare_digest(token["secret_hash"], secret_hash)

    def vouch_for(self, token_id: uuid.UUID, secret_hash: str, *, role: str, team: str) -> None:
        """Refuse to act on a token that stopped being valid, or for a caller whose role or team
        moved since the request's permissions were checked with them."""
        if not self.token_matches(token_id, secret_hash):
            raise Unauthenticated(self.id)
        if self.role != role or self.team != team:
            raise CallerChanged(self.id)

    def _ensure_active(self) -> None:
        if not self.active:
            raise StaffDeactivated(self.id)


def _staff_role(role: str) -> str:
    if role not in {r.value for r in STAFF_ROLES}:
        allowed = ", ".join(sorted(r.value for r in STAFF_ROLES))
        raise InvalidValue("role", f"must be one of {allowed}")
    return role
