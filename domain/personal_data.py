"""Which event fields hold personal information (PIPL), across the whole model.

Each event class declares its own ``PERSONAL_FIELDS``; this module gathers them so that
redaction, encryption and crypto-shredding all work from the same declaration.
"""

from __future__ import annotations

import functools

from domain.access_log import PersonalDataAccessLog
from domain.customer import Customer
from domain.deal import Deal
from domain.listing import Listing
from domain.recording import RecordedEvent
from domain.service_file import ServiceFile
from domain.staff import StaffMember

# What a personal field reads as once its subject's key has been destroyed (crypto-shredding), and
# while its subject is restricted (an erasure request waiting for a retention period to end).
ERASED = "[erased]"
RESTRICTED = "[restricted]"

AGGREGATES = (Customer, Deal, Listing, StaffMember, PersonalDataAccessLog, ServiceFile)


def event_classes() -> list[type[RecordedEvent]]:
    """Every concrete event class of the model, once each."""
    seen: dict[str, type[RecordedEvent]] = {}
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, RecordedEvent) and name != "Event":
                seen[value.TOPIC] = value  # type: ignore[attr-defined]
    return list(seen.values())


@functools.cache
def personal_field_names() -> frozenset[str]:
    return frozenset(f for cls in event_classes() for f in cls.PERSONAL_FIELDS)


@functools.cache
def personal_fields_of(cls: type) -> tuple[str, ...]:
    return tuple(getattr(cls, "PERSONAL_FIELDS", ()))


@functools.cache
def aggregates_with_personal_data() -> frozenset[type]:
    """The aggregates some of whose events hold personal data: each gets its own record key."""
    return frozenset(a for a in AGGREGATES if any(
        isinstance(v, type) and issubclass(v, RecordedEvent) and v.PERSONAL_FIELDS for v in vars(a).values()))
