"""Service desk: every customer request and complaint with its due time, warning, breach and holder.

The manual asks for a response to a request within 24 hours and for a complaint to be handled
within 72 hours. A row per item says when it was raised, when it is due (``raised_at`` plus the
window), when the warning falls due (75% of the window), whether the clock's automation has
recorded a warning or a breach, how it ended and how long the first response took. ``holder`` is
the customer's current holder (kept up to date on reassignment, the public pool and claims), so a
consultant's list is the items of the customers they hold; ``team`` is the customer's team.

``breached`` says that the automation recorded the breach. A list answer also says ``overdue``
(open and due now or earlier), computed at read time, so it is right before the automation has
run; see ``service.api.routes.views_desk``.
"""

from __future__ import annotations

import json
from typing import Any

from domain import customer_events as ev
from domain.rules import COMPLAINT_RESOLUTION_WINDOW, REQUEST_RESPONSE_WINDOW, SLA_WARNING_FRACTION
from projections.projection import Projection, Rows, Table, parse_ts, ts
from projections.query import Filter, ListSpec

CUSTOMERS = "customers"
ITEMS = "items"

# Matched by topic: the view must not fail to import while the domain grows.
RETURNED_TO_POOL = "realty.customer.returned_to_pool"
CLAIMED_FROM_POOL = "realty.customer.claimed_from_pool"
SLA_WARNING_ISSUED = "realty.customer.sla_warning_issued"
SLA_BREACHED = "realty.customer.sla_breached"

# The events that change who holds a customer, and in which team.
HOLDER_TOPICS = frozenset({ev.Reassigned.TOPIC, RETURNED_TO_POOL, CLAIMED_FROM_POOL})

REQUEST, COMPLAINT = "request", "complaint"
WINDOWS = {REQUEST: REQUEST_RESPONSE_WINDOW, COMPLAINT: COMPLAINT_RESOLUTION_WINDOW}


def new_holder(topic: str, event: Any, row: dict[str, Any]) -> None:
    """Apply a change of holder (``HOLDER_TOPICS``) to a row with ``holder`` and ``team``.

    A customer returned to the pool is held by no one (``holder`` None) until claimed."""
    if topic == ev.Reassigned.TOPIC:
        row["holder"], row["team"] = str(event.to_staff), event.team
    elif topic == RETURNED_TO_POOL:
        row["holder"], row["team"] = None, event.team
    elif topic == CLAIMED_FROM_POOL:
        row["holder"] = str(event.claimed_by)


def _item_id(event: Any) -> str | None:
    for attribute in ("request_id", "complaint_id", "item_id"):
        value = getattr(event, attribute, None)
        if value is not None:
            return str(value)
    return None


def _minutes(start: str, end: str) -> float:
    return ((parse_ts(end) - parse_ts(start)).total_seconds()) / 60  # type: ignore[operator]


class ServiceDesk(Projection):
    name = "service_desk"
    version = 1
    tables = (
        # The customer's current team and holder, and their items (to move with the customer).
        Table(CUSTOMERS, (("customer_id", "text"), ("team", "text"), ("holder", "text"), ("items", "text")),
              key="customer_id"),
        Table(ITEMS, (
            ("item_id", "text"), ("item_kind", "text"), ("customer_id", "text"), ("team", "text"),
            ("holder", "text"), ("category", "text"), ("severity", "text"), ("status", "text"),
            ("open", "bool"), ("raised_at", "text"), ("warn_at", "text"), ("due_at", "text"),
            ("acknowledged_at", "text"), ("escalated_at", "text"), ("responded_at", "text"),
            ("resolved_at", "text"), ("closed_at", "text"), ("closed_late", "bool"),
            ("first_response_at", "text"), ("first_response_minutes", "real"),
            ("warned", "bool"), ("warned_at", "text"), ("breached", "bool"), ("breached_at", "text"),
        ), key="item_id", indexes=(
            ("open", "due_at"), ("open", "warn_at"), ("team", "open", "due_at"), ("holder", "open", "due_at"),
            ("customer_id",), ("raised_at",),
        )),
    )
    topics = frozenset(cls.TOPIC for cls in (  # type: ignore[attr-defined]
        ev.Received, ev.RequestRaised, ev.RequestResponded, ev.ComplaintFiled, ev.ComplaintAcknowledged,
        ev.ComplaintEscalated, ev.ComplaintResolved, ev.Reassigned,
    )) | {RETURNED_TO_POOL, CLAIMED_FROM_POOL, SLA_WARNING_ISSUED, SLA_BREACHED}

    def keys(self, event: Any) -> list[tuple[str, str]]:
        wanted = [(CUSTOMERS, str(event.originator_id))]
        item = _item_id(event)
        if item is not None:
            wanted.append((ITEMS, item))
        return wanted

    def creates(self, event: Any) -> list[tuple[str, str]]:
        topic = type(event).TOPIC
        if topic == ev.Received.TOPIC:
            return [(CUSTOMERS, str(event.originator_id))]
        if topic in (ev.RequestRaised.TOPIC, ev.ComplaintFiled.TOPIC):
            return [(ITEMS, _item_id(event) or "")]
        return []

    def handle(self, event: Any, rows: Rows) -> None:
        topic = type(event).TOPIC
        key = str(event.originator_id)
        when = ts(event.occurred_at) or ""
        if topic == ev.Received.TOPIC:
            rows.put(CUSTOMERS, {"customer_id": key, "team": event.team, "holder": str(event.assigned_to),
                                 "items": "[]"})
            return
        customer = rows.get(CUSTOMERS, key)
        if customer is None:
            raise LookupError(f"customer {key} has no row (its Received event was never seen)")
        if topic in HOLDER_TOPICS:
            self._move(topic, event, customer, rows)
        elif topic in (ev.RequestRaised.TOPIC, ev.ComplaintFiled.TOPIC):
            self._raise(topic, event, customer, when, rows)
        else:
            item_id = _item_id(event) or ""
            item = rows.get(ITEMS, item_id)
            if item is None:
                raise LookupError(f"item {item_id} of customer {key} has no row (it was never raised)")
            self._apply(topic, item, when)
            rows.changed(ITEMS, item)

    @staticmethod
    def _move(topic: str, event: Any, customer: dict[str, Any], rows: Rows) -> None:
        new_holder(topic, event, customer)
        rows.changed(CUSTOMERS, customer)
        items: list[str] = json.loads(customer["items"])
        rows.prefetch({ITEMS: set(items)})
        for item_id in items:
            item = rows.get(ITEMS, item_id)
            if item is not None:
                item["holder"], item["team"] = customer["holder"], customer["team"]
                rows.changed(ITEMS, item)

    @staticmethod
    def _raise(topic: str, event: Any, customer: dict[str, Any], when: str, rows: Rows) -> None:
        kind = REQUEST if topic == ev.RequestRaised.TOPIC else COMPLAINT
        item_id = _item_id(event) or ""
        window = WINDOWS[kind]
        rows.put(ITEMS, {
            "item_id": item_id, "item_kind": kind, "customer_id": customer["customer_id"],
            "team": customer["team"], "holder": customer["holder"],
            "category": event.category if kind == COMPLAINT else None,
            "severity": event.severity if kind == COMPLAINT else None,
            "status": "open", "open": True, "raised_at": when,
            "warn_at": ts(event.occurred_at + window * SLA_WARNING_FRACTION),
            "due_at": ts(event.occurred_at + window),
            "acknowledged_at": None, "escalated_at": None, "responded_at": None, "resolved_at": None,
            "closed_at": None, "closed_late": None, "first_response_at": None, "first_response_minutes": None,
            "warned": False, "warned_at": None, "breached": False, "breached_at": None,
        })
        customer["items"] = json.dumps([*json.loads(customer["items"]), item_id])
        rows.changed(CUSTOMERS, customer)

    @staticmethod
    def _apply(topic: str, item: dict[str, Any], when: str) -> None:
        if topic == SLA_WARNING_ISSUED:
            item["warned"], item["warned_at"] = True, when
            return
        if topic == SLA_BREACHED:
            item["breached"], item["breached_at"] = True, when
            return
        if topic == ev.ComplaintEscalated.TOPIC:
            item["status"], item["escalated_at"] = "escalated", item["escalated_at"] or when
            return
        # A first response: the request's answer, or the complaint's acknowledgement or resolution.
        if item["first_response_at"] is None:
            item["first_response_at"] = when
            item["first_response_minutes"] = _minutes(item["raised_at"], when)
        if topic == ev.ComplaintAcknowledged.TOPIC:
            item["status"], item["acknowledged_at"] = "acknowledged", when
            return
        if topic == ev.RequestResponded.TOPIC:
            item["status"], item["responded_at"] = "responded", when
        elif topic == ev.ComplaintResolved.TOPIC:
            item["status"], item["resolved_at"] = "resolved", when
        item["open"], item["closed_at"] = False, when
        item["closed_late"] = when > item["due_at"]


SERVICE_DESK = ServiceDesk()

ITEM_LIST = ListSpec(
    SERVICE_DESK, ITEMS,
    filters={
        "kind": Filter("item_kind"), "status": Filter("status"), "open": Filter("open", "bool"),
        "team": Filter("team"), "holder": Filter("holder"), "customer_id": Filter("customer_id"),
        "category": Filter("category"), "severity": Filter("severity"),
        "warned": Filter("warned", "bool"), "breached": Filter("breached", "bool"),
        "closed_late": Filter("closed_late", "bool"),
        "due_before": Filter("due_at", "time", "<"), "due_by": Filter("due_at", "time", "<="),
        "warn_before": Filter("warn_at", "time", "<"),
        "raised_after": Filter("raised_at", "time", ">="), "raised_before": Filter("raised_at", "time", "<"),
    },
    sorts={"due_at": "due_at", "raised_at": "raised_at", "warn_at": "warn_at"},
    default_sort="due_at",
)
