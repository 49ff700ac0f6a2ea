"""Turning aggregates and events into plain data for callers (CLI, HTTP, tests).

Everything returned is JSON-ready: ids and times become strings, enums their values.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from domain.access_log import PersonalDataAccessLog
from domain.customer import Customer
from domain.deal import Deal
from domain.listing import Listing
from domain.recording import RecordedEvent
from domain.service_file import ServiceFile
from domain.staff import StaffMember

# Names used in ids of errors ("customer 1234… not found").
KINDS: dict[type, str] = {
    Customer: "customer",
    Deal: "deal",
    Listing: "listing",
    StaffMember: "staff member",
    PersonalDataAccessLog: "access log",
    ServiceFile: "service file",
    object: "record",
}


def primitive(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): primitive(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [primitive(v) for v in value]
    return value


def kind_of(aggregate: Any) -> str:
    return get_topic(type(aggregate)).removeprefix("realty.")


def describe(aggregate: Any) -> dict[str, Any]:
    """Current (or historical) state of any of our aggregates."""
    data: dict[str, Any] = {
        "id": str(aggregate.id),
        "kind": kind_of(aggregate),
        "version": aggregate.version,
        "created_on": aggregate.created_on.isoformat(),
        "modified_on": aggregate.modified_on.isoformat(),
    }
    for name, value in vars(aggregate).items():
        if not name.startswith("_") and name != "last_occurred_at":
            data[name] = primitive(value)
    data["last_occurred_at"] = primitive(aggregate.last_occurred_at)
    if isinstance(aggregate, Customer):
        data["stage"] = aggregate.stage.value
        data["reception_minutes"] = round(aggregate.reception_minutes, 1)
    if isinstance(aggregate, Deal):
        data["paid"] = aggregate.paid
    if isinstance(aggregate, ServiceFile):
        data["complete"] = aggregate.complete
        data["active_holds"] = [str(h["hold_id"]) for h in aggregate.active_holds]
    return data


def describe_event(event: RecordedEvent) -> dict[str, Any]:
    return {
        "version": event.originator_version,
        "event": type(event).TOPIC,  # type: ignore[attr-defined]
        "name": event.event_name(),
        "recorded_at": event.timestamp.isoformat(),
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": str(event.actor_id),
        "actor_role": event.actor_role,
        "on_behalf_of": primitive(event.on_behalf_of),
        "correlation_id": event.correlation_id,
        "data": primitive(event.payload()),
    }
