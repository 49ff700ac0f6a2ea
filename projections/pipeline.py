"""Pipeline: every customer with their stage, consultant, team, and last and next interaction.

The consultant's working list and the manager's funnel (counts by stage) read this view; the
public-pool automation reads ``last_touched_at`` (the last business time at which the customer's
own consultant acted on the record) to find customers left untouched past the protection period.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from domain import customer_events as ev
from domain.customer_service import handover_visit_id
from domain.customer_values import DealMilestone, derive_stage
from projections.projection import Projection, Rows, Table, ts
from projections.query import Filter, ListSpec

T = "customers"

RETURNED_TO_POOL = ev.ReturnedToPool.TOPIC
CLAIMED_FROM_POOL = ev.ClaimedFromPool.TOPIC

# Events that show matching work (needs, a shortlist, a showing): the customer is past reception.
_MATCHING = frozenset({ev.NeedsRecorded.TOPIC, ev.ListingsShortlisted.TOPIC, ev.ShowingScheduled.TOPIC})
# Events that can change the stage, and those that change the open showings and visits.
_STAGE = _MATCHING | {ev.MarkedLost.TOPIC, ev.Reactivated.TOPIC, ev.DealMilestoneReached.TOPIC}
_PENDING = frozenset({ev.ShowingScheduled.TOPIC, ev.ShowingRescheduled.TOPIC, ev.ShowingConducted.TOPIC,
                      ev.ShowingCancelled.TOPIC, ev.ShowingMissed.TOPIC, ev.ReturnVisitScheduled.TOPIC,
                      ev.ReturnVisitCompleted.TOPIC})


class Pipeline(Projection):
    name = "pipeline"
    version = 1
    tables = (
        Table(T, (
            ("customer_id", "text"), ("team", "text"), ("assigned_to", "text"), ("stage", "text"),
            ("channel", "text"), ("received_at", "text"), ("last_interaction_at", "text"),
            ("next_interaction_at", "text"), ("last_touched_at", "text"), ("in_pool", "bool"),
            ("lost_reason", "text"), ("matching", "bool"), ("deals", "text"), ("pending", "text"),
            # Deals handed over whose after-sales return visit is not scheduled yet (JSON list), for
            # the automation that schedules it; ``awaiting_visit`` says the list is not empty.
            ("handovers", "text"), ("awaiting_visit", "bool"),
            ("version", "int"),
        ), key="customer_id", indexes=(
            ("team", "stage"), ("assigned_to", "stage"), ("stage", "last_interaction_at"),
            ("in_pool", "team"), ("last_touched_at",), ("next_interaction_at",), ("awaiting_visit",),
        )),
    )
    topics = frozenset(cls.TOPIC for cls in (  # type: ignore[attr-defined]
        ev.Received, ev.NeedsRecorded, ev.ListingsShortlisted, ev.ShowingScheduled, ev.ShowingRescheduled,
        ev.ShowingConducted, ev.ShowingCancelled, ev.ShowingMissed, ev.FeedbackRecorded, ev.RequestRaised,
        ev.RequestResponded, ev.ComplaintFiled, ev.ComplaintAcknowledged, ev.ComplaintEscalated,
        ev.ComplaintResolved, ev.ReturnVisitScheduled, ev.ReturnVisitCompleted, ev.SurveyAnswered,
        ev.Reassigned, ev.MarkedLost, ev.Reactivated, ev.DealMilestoneReached, ev.PersonalDetailsRecorded,
        ev.ContactDetailsCorrected, ev.ReturnedToPool, ev.ClaimedFromPool,
    ))

    def keys(self, event: Any) -> list[tuple[str, str]]:
        return [(T, str(event.originator_id))]

    def creates(self, event: Any) -> list[tuple[str, str]]:
        return [(T, str(event.originator_id))] if type(event).TOPIC == ev.Received.TOPIC else []

    def handle(self, event: Any, rows: Rows) -> None:
        topic = type(event).TOPIC
        key = str(event.originator_id)
        when = ts(event.occurred_at)
        if topic == ev.Received.TOPIC:
            row = rows.put(T, {
                "customer_id": key, "team": event.team, "assigned_to": str(event.assigned_to),
                "stage": "reception", "channel": event.channel, "received_at": when,
                "last_interaction_at": when, "next_interaction_at": None, "last_touched_at": when,
                "in_pool": False, "lost_reason": None, "matching": False, "deals": "{}", "pending": "{}",
                "handovers": "[]", "awaiting_visit": False,
                "version": event.originator_version,
            })
        else:
            row = rows.get(T, key)
            if row is None:
                raise LookupError(f"customer {key} has no row (its Received event was never seen)")
            self._apply(topic, event, row, when)
            rows.changed(T, row)
        row["version"] = event.originator_version
        if event.actor_role != "system":  # the clock's events (pool return) are no interaction
            row["last_interaction_at"] = max(row["last_interaction_at"] or "", when or "") or None
        # The holder's last touch, as the customer record derives it: an event the holder recorded,
        # or someone recorded on their behalf (domain.customer_events.CustomerEvent.mutate).
        if row["assigned_to"] is not None and row["assigned_to"] in (str(event.actor_id), str(event.on_behalf_of)):
            row["last_touched_at"] = max(row["last_touched_at"] or "", when or "") or None

    @staticmethod
    def _apply(topic: str, event: Any, row: dict[str, Any], when: str | None) -> None:
        # JSON columns are parsed only by the events that change them (a batch's cost is mostly here).
        if topic in _PENDING:
            pending: dict[str, str] = json.loads(row["pending"])
            if topic in (ev.ShowingScheduled.TOPIC, ev.ShowingRescheduled.TOPIC):
                pending[f"showing:{event.showing_id}"] = ts(event.scheduled_for) or ""
            elif topic in (ev.ShowingConducted.TOPIC, ev.ShowingCancelled.TOPIC, ev.ShowingMissed.TOPIC):
                pending.pop(f"showing:{event.showing_id}", None)
            elif topic == ev.ReturnVisitScheduled.TOPIC:
                pending[f"visit:{event.visit_id}"] = ts(event.due_at) or ""
                handovers = [d for d in json.loads(row["handovers"])
                             if handover_visit_id(uuid.UUID(d)) != event.visit_id]
                row["handovers"], row["awaiting_visit"] = json.dumps(handovers), bool(handovers)
            else:  # ReturnVisitCompleted
                pending.pop(f"visit:{event.visit_id}", None)
            row["pending"] = json.dumps(pending, sort_keys=True)
            row["next_interaction_at"] = min(pending.values()) if pending else None
        elif topic == ev.Reassigned.TOPIC:
            row["assigned_to"], row["team"] = str(event.to_staff), event.team
            row["last_touched_at"] = when  # a new holder starts a new protection period
            row["in_pool"] = False  # a reassignment takes the customer out of the pool, as the record says
        elif topic == ev.MarkedLost.TOPIC:
            row["lost_reason"] = event.reason
        elif topic == ev.Reactivated.TOPIC:
            row["lost_reason"] = None
        elif topic == ev.DealMilestoneReached.TOPIC:
            deals = json.loads(row["deals"])
            deals[str(event.deal_id)] = event.milestone
            row["deals"] = json.dumps(deals, sort_keys=True)
            if event.milestone == DealMilestone.HANDED_OVER:
                handovers = [*json.loads(row["handovers"]), str(event.deal_id)]
                row["handovers"], row["awaiting_visit"] = json.dumps(handovers), True
        elif topic == RETURNED_TO_POOL:
            row["in_pool"], row["assigned_to"] = True, None
        elif topic == CLAIMED_FROM_POOL:
            row["in_pool"] = False
            row["assigned_to"] = str(event.claimed_by)
            row["last_touched_at"] = when
        if topic in _STAGE:
            row["matching"] = bool(row["matching"]) or topic in _MATCHING or topic == ev.DealMilestoneReached.TOPIC
            row["stage"] = derive_stage(lost=row["lost_reason"] is not None,
                                        milestones=json.loads(row["deals"]).values(),
                                        matching=row["matching"]).value


PIPELINE = Pipeline()

CUSTOMERS = ListSpec(
    PIPELINE, T,
    filters={
        "stage": Filter("stage"), "team": Filter("team"), "assigned_to": Filter("assigned_to"),
        "channel": Filter("channel"), "in_pool": Filter("in_pool", "bool"),
        "received_after": Filter("received_at", "time", ">="), "received_before": Filter("received_at", "time", "<"),
        "untouched_since": Filter("last_touched_at", "time", "<"),
        "next_interaction_before": Filter("next_interaction_at", "time", "<"),
    },
    sorts={"received_at": "received_at", "last_interaction_at": "last_interaction_at",
           "next_interaction_at": "next_interaction_at", "last_touched_at": "last_touched_at",
           "stage": "stage"},
    default_sort="-last_interaction_at",
    hidden=frozenset({"matching", "pending", "handovers", "awaiting_visit"}),
    json_columns=frozenset({"deals"}),
)

POOL = ListSpec(
    PIPELINE, T,
    # team narrows the pool for callers who see every team's (a team role's pool is its own).
    filters={"stage": Filter("stage"), "channel": Filter("channel"), "team": Filter("team")},
    sorts={"received_at": "received_at", "last_interaction_at": "last_interaction_at"},
    default_sort="last_interaction_at",
    hidden=CUSTOMERS.hidden,
    json_columns=CUSTOMERS.json_columns,
)
