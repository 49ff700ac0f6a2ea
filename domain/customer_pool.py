"""The team's public pool (公客池): a customer their holder has not touched for the protection
period returns to the pool, held by no one, and another consultant or customer manager of the same
team may claim them.

A mixin of ``Customer``. The holder's last touch (``last_touched_at``) and ``in_pool`` are derived
from the events (see ``domain.customer_events``). While a customer is in the pool, the staff who
hold customers (consultants, customer managers) may only claim them: their other work on the
customer waits for a claim. The service desk (customer service, sales managers) carries on, and a
sales manager may still reassign the customer, which takes them out of the pool.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from domain.customer_service import not_before
from domain.customer_values import Stage
from domain.errors import (
    CannotHoldCustomers,
    ClaimByPreviousHolder,
    ClaimerNotInTeam,
    CustomerInPool,
    CustomerIsLost,
    CustomerNotInPool,
    CustomerNotReturnable,
    CustomerTouchedRecently,
    InvalidValue,
    NotPermitted,
)
from domain.identity import HOLDS_CUSTOMERS, Actor, Duty, Role
from domain.recording import RecordedEvent, require_aware

# A deal in signing or transaction (or a handed-over one) keeps the customer with their holder.
RETURNABLE_STAGES = frozenset({Stage.RECEPTION, Stage.MATCHING})
# Who may claim a customer for someone else (everyone else claims for themselves).
_CLAIM_FOR_OTHERS = frozenset({Role.SALES_MANAGER, Role.SYSTEM})


class CustomerPool:
    """Returning a customer to the public pool, and claiming them from it (needs the aggregate)."""

    # Provided by Customer.
    id: uuid.UUID
    assigned_to: uuid.UUID | None
    team: str
    in_pool: bool
    pooled_from: uuid.UUID | None
    last_touched_at: datetime
    last_occurred_at: datetime | None
    is_lost: Any
    stage: Any
    ReturnedToPool: Any
    ClaimedFromPool: Any

    def return_to_pool(self, *, now: datetime, protection: timedelta, actor: Actor) -> None:
        """Return an untouched customer to the team's pool (the system actor, on the clock).

        Only at reception or matching, not lost, not already in the pool, and only once ``now`` is
        at least ``protection`` (whole days) after the holder's last touch. Recorded at the moment
        the protection ran out (or the record's last event, if later).
        """
        actor.require(Duty.RETURN_TO_POOL)
        require_aware("now", now)
        days = _protection_days(protection)
        if self.is_lost:
            raise CustomerIsLost(self.id)
        if self.in_pool:
            raise CustomerInPool(self.id)
        if self.stage not in RETURNABLE_STAGES:
            raise CustomerNotReturnable(self.id, self.stage.value)
        returnable_at = self.last_touched_at + protection
        if now < returnable_at:
            raise CustomerTouchedRecently(self.id, self.last_touched_at.isoformat(), returnable_at.isoformat())
        self._record(
            self.ReturnedToPool,
            actor,
            not_before(returnable_at, self.last_occurred_at),
            from_staff=self.assigned_to,
            team=self.team,
            last_touched_at=self.last_touched_at,
            protection_days=days,
        )

    def claim_from_pool(
        self,
        *,
        claimer_id: uuid.UUID,
        claimer_role: Role,
        claimer_team: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        """A consultant or customer manager of the customer's team takes them from the pool.

        Staff claim for themselves; a sales manager may claim for a member of the team. The
        holder the customer was returned from cannot take them back (a sales manager can reassign).
        """
        actor.require(Duty.CLAIM_FROM_POOL)
        if claimer_id != actor.id and actor.role not in _CLAIM_FOR_OTHERS:
            raise NotPermitted(actor.role.value, "claim customers for someone else")
        if not self.in_pool:
            raise CustomerNotInPool(self.id)
        if self.is_lost:
            raise CustomerIsLost(self.id)
        if claimer_role not in HOLDS_CUSTOMERS:
            raise CannotHoldCustomers(claimer_id, claimer_role.value)
        if claimer_team != self.team:
            raise ClaimerNotInTeam(claimer_id, self.team)
        if claimer_id == self.pooled_from:
            raise ClaimByPreviousHolder(claimer_id)
        self._record(self.ClaimedFromPool, actor, occurred_at, claimed_by=claimer_id)

    def _record(
        self,
        event_class: type[RecordedEvent],
        actor: Actor,
        occurred_at: datetime | None,
        **payload: Any,
    ) -> None:
        # The domain's backstop of the HTTP scopes: in the pool, a holder's work waits for a claim.
        in_pool = getattr(self, "in_pool", False)
        if in_pool and actor.role in HOLDS_CUSTOMERS and event_class is not self.ClaimedFromPool:
            raise CustomerInPool(self.id)
        super()._record(event_class, actor, occurred_at, **payload)  # type: ignore[misc]


def _protection_days(protection: timedelta) -> int:
    day = timedelta(days=1)
    if not isinstance(protection, timedelta) or protection < day or protection % day:
        raise InvalidValue("protection", "must be a whole number of days, at least one")
    return protection.days
