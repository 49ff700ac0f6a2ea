"""A customer's erasure request (PIPL Art. 47) and the record that their personal data was shredded.

A mixin of ``Customer``. The request is recorded with its legal basis and the retention end that
the service computed from the policy (None while a retention clock has not started: an open deal,
an unresolved complaint). From that moment the customer is *restricted*: no command but the
erasure's own may be recorded (``Customer._record`` refuses them), and the service hides their
personal data from every role. When no retention period runs, or once it has ended, the service
destroys the customer's keys and records ``PersonalDataErased`` with what it destroyed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.customer_events import CustomerEvent
from domain.errors import ErasureAlreadyRequested, ErasureNotRequested
from domain.identity import Actor, Duty
from domain.recording import RecordedEvent, require_choice


class ErasureBasis(StrEnum):
    """PIPL Art. 47(1): when personal information must be deleted."""

    PURPOSE_ACHIEVED = "purpose_achieved"  # the purpose is achieved or can no longer be achieved
    SERVICE_ENDED = "service_ended"  # the service stopped or the retention period expired
    CONSENT_WITHDRAWN = "consent_withdrawn"
    UNLAWFUL_PROCESSING = "unlawful_processing"
    OTHER_LEGAL_GROUND = "other_legal_ground"


class ErasureRequested(CustomerEvent):
    TOPIC = "realty.customer.erasure_requested"
    legal_basis: str
    retention_until: datetime | None

    def apply(self, c: Any) -> None:
        c.erasure_requested_at = self.occurred_at
        c.erasure_basis = self.legal_basis
        c.restricted_until = self.retention_until


class PersonalDataErased(CustomerEvent):
    TOPIC = "realty.customer.personal_data_erased"
    destroyed_keys: list[str]
    cause: str  # "erasure_request" or "disposition"

    def apply(self, c: Any) -> None:
        c.erased_at = self.occurred_at


class CustomerErasure:
    """Erasure requests and shredding records (needs the aggregate)."""

    id: uuid.UUID
    _record: Any
    erasure_requested_at: datetime | None = None
    erasure_basis: str | None = None
    restricted_until: datetime | None = None
    erased_at: datetime | None = None

    # The events that may be recorded on a restricted customer.
    ERASURE_EVENTS: tuple[type[RecordedEvent], ...] = (ErasureRequested, PersonalDataErased)

    @property
    def is_restricted(self) -> bool:
        return self.erasure_requested_at is not None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def request_erasure(self, *, legal_basis: str, retention_until: datetime | None, actor: Actor,
                        occurred_at: datetime | None = None) -> None:
        actor.require(Duty.HANDLE_ERASURE)
        if self.is_restricted:
            raise ErasureAlreadyRequested(self.id)
        self._record(ErasureRequested, actor, occurred_at,
                     legal_basis=require_choice("legal_basis", legal_basis, ErasureBasis),
                     retention_until=retention_until)

    def record_erasure(self, *, destroyed_keys: list[str], cause: str, actor: Actor,
                       occurred_at: datetime | None = None) -> None:
        """The service destroyed the customer's keys: say so, and which (the shredding record)."""
        actor.require(Duty.HANDLE_ERASURE)
        if cause == "erasure_request" and not self.is_restricted:
            raise ErasureNotRequested(self.id)
        self._record(PersonalDataErased, actor, occurred_at, destroyed_keys=list(destroyed_keys),
                     cause=require_choice("cause", cause, frozenset({"erasure_request", "disposition"})))
