"""What every event of the ledger carries, and how aggregates stamp it.

``RecordedEvent`` is the base of all our events: besides the library's originator id, version
and recorded ``timestamp`` it holds who acted (actor id and role, on whose behalf), the
correlation id of the request, and the business time ``occurred_at``. Keeping this metadata in the
event state means the hash chain and the encryption of later issues cover it too.

``PERSONAL_FIELDS`` on an event class names the fields that hold personal information (PIPL):
the archive encrypts and crypto-shreds exactly those.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from domain.errors import InvalidValue, OccurredBeforePrevious, OccurredInFuture
from domain.identity import Actor
from domain.rules import MAX_FUTURE_SKEW

METADATA_FIELDS = ("actor_id", "actor_role", "on_behalf_of", "correlation_id", "occurred_at")
_LIBRARY_FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic")


def utcnow() -> datetime:
    return datetime.now(UTC)


class RecordedEvent(Aggregate.Event):
    actor_id: uuid.UUID
    actor_role: str
    on_behalf_of: uuid.UUID | None
    correlation_id: str
    occurred_at: datetime

    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ()
    # On a record's first event: the field naming the data subject its personal data belongs to
    # (a deal's customer, say); None means the record itself is the subject (a customer).
    SUBJECT_FIELD: ClassVar[str | None] = None
    # The record an event belongs to, for its readable name when it is not nested in the aggregate.
    RECORD: ClassVar[str] = ""

    def mutate(self, aggregate: Any) -> Any:
        aggregate = super().mutate(aggregate)
        aggregate.last_occurred_at = self.occurred_at
        return aggregate

    def payload(self) -> dict[str, Any]:
        """The event's own data: everything but the library's fields and the metadata."""
        skip = set(METADATA_FIELDS) | set(_LIBRARY_FIELDS)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}

    @classmethod
    def event_name(cls) -> str:
        """``Record.Event``, e.g. ``Customer.Received``: stable across module moves."""
        return f"{cls.RECORD}.{cls.__name__}" if cls.RECORD else cls.__qualname__


def business_time(occurred_at: datetime | None, previous: datetime | None) -> datetime:
    """Validate the business time of a new event against the clock and the record's last event.

    Back-dating is allowed (an interaction logged after the fact), running ahead of the clock by
    more than a few minutes is not, and a record's history never goes backwards in time.
    """
    now = utcnow()
    if occurred_at is None:
        # A default "now" must not fall before an event that was itself stamped slightly ahead.
        return max(now, previous) if previous else now
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise InvalidValue("occurred_at", "must include a time zone offset")
    occurred_at = occurred_at.astimezone(UTC)
    if occurred_at > now + MAX_FUTURE_SKEW:
        raise OccurredInFuture(int(MAX_FUTURE_SKEW.total_seconds() // 60))
    if previous is not None and occurred_at < previous:
        raise OccurredBeforePrevious(previous.isoformat())
    return occurred_at


def metadata(actor: Actor, occurred_at: datetime) -> dict[str, Any]:
    return {
        "actor_id": actor.id,
        "actor_role": actor.role.value,
        "on_behalf_of": actor.on_behalf_of,
        "correlation_id": actor.correlation_id,
        "occurred_at": occurred_at,
    }


class Recordable:
    """Mixin for our aggregates: trigger events stamped with the acting identity and time."""

    last_occurred_at: datetime | None = None

    @classmethod
    def _create_recorded(
        cls,
        event_class: type[RecordedEvent],
        actor: Actor,
        occurred_at: datetime | None,
        **payload: Any,
    ) -> Any:
        when = business_time(occurred_at, None)
        record_id = payload.pop("id", None) or uuid.uuid4()
        return cls._create(event_class, id=record_id, **metadata(actor, when), **payload)  # type: ignore[attr-defined]

    def _record(
        self,
        event_class: type[RecordedEvent],
        actor: Actor,
        occurred_at: datetime | None,
        **payload: Any,
    ) -> None:
        when = business_time(occurred_at, self.last_occurred_at)
        self.trigger_event(event_class, **metadata(actor, when), **payload)  # type: ignore[attr-defined]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MARKUP = re.compile(r"[<>{}]")


def require_text(field: str, value: str, max_length: int = 500) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters")
    if _CONTROL.search(value):
        raise InvalidValue(field, "must not contain control characters")
    return value.strip()


def require_name(field: str, value: str) -> str:
    """A person's name: text without markup characters (a name never needs < > { })."""
    text = require_text(field, value, 100)
    if _MARKUP.search(text):
        raise InvalidValue(field, "must not contain < > { or }")
    return text


def require_choice(field: str, value: str, choices: type[Any] | frozenset[str]) -> str:
    allowed = [c.value for c in choices] if isinstance(choices, type) else sorted(choices)
    if value not in allowed:
        raise InvalidValue(field, f"must be one of {', '.join(allowed)}")
    return value


def require_range(field: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(field, "must be a number")
    if not low <= value <= high:
        raise InvalidValue(field, f"must be between {low} and {high}")


def require_aware(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "must be a date-time with a time zone")
    return value


def require_whole(field: str, value: int, low: int, high: int) -> int:
    """Money, counts and scores are whole numbers: 99.9 yuan is refused, not rounded to 99."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, "must be a whole number")
    require_range(field, value, low, high)
    return value
