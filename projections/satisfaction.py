"""Satisfaction: every survey answer, with the consultant and team it counts for, and its month.

The manual's target is a satisfaction of 90% or more. An answer is *satisfied* when its
``overall`` score (required in every survey, 1-5) is 4 or 5 (``domain.rules.SATISFIED_SCORES``);
the other dimensions are kept for reading but do not decide it. The answer counts for the
customer's holder and team at the time it was answered (a later reassignment does not move it).
``summarise`` answers the share of satisfied answers per consultant, team or month against the
target.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from domain import customer_events as ev
from domain.rules import SATISFACTION_TARGET, SATISFIED_SCORES, SURVEY_DIMENSIONS
from projections.projection import Projection, Rows, Table, month, ts
from projections.query import Filter, ListSpec, ViewReader, check_group, where_clause
from projections.service_desk import CLAIMED_FROM_POOL, HOLDER_TOPICS, RETURNED_TO_POOL, new_holder

CUSTOMERS = "customers"
ANSWERS = "answers"
GROUPS = ("consultant", "team", "month")


class Satisfaction(Projection):
    name = "satisfaction"
    version = 1
    tables = (
        Table(CUSTOMERS, (("customer_id", "text"), ("team", "text"), ("holder", "text")), key="customer_id"),
        Table(ANSWERS, (
            ("survey_id", "text"), ("customer_id", "text"), ("consultant", "text"), ("team", "text"),
            ("month", "text"), ("answered_at", "text"), ("satisfied", "bool"),
            *((dimension, "int") for dimension in SURVEY_DIMENSIONS),
        ), key="survey_id", indexes=(("team", "month"), ("consultant", "month"), ("month",), ("answered_at",))),
    )
    topics = frozenset({ev.Received.TOPIC, ev.SurveyAnswered.TOPIC, ev.Reassigned.TOPIC, RETURNED_TO_POOL,
                        CLAIMED_FROM_POOL})

    def keys(self, event: Any) -> list[tuple[str, str]]:
        return [(CUSTOMERS, str(event.originator_id))]

    def creates(self, event: Any) -> list[tuple[str, str]]:
        return [(CUSTOMERS, str(event.originator_id))] if type(event).TOPIC == ev.Received.TOPIC else []

    def handle(self, event: Any, rows: Rows) -> None:
        topic = type(event).TOPIC
        key = str(event.originator_id)
        if topic == ev.Received.TOPIC:
            rows.put(CUSTOMERS, {"customer_id": key, "team": event.team, "holder": str(event.assigned_to)})
            return
        customer = rows.get(CUSTOMERS, key)
        if customer is None:
            raise LookupError(f"customer {key} has no row (its Received event was never seen)")
        if topic in HOLDER_TOPICS:
            new_holder(topic, event, customer)
            rows.changed(CUSTOMERS, customer)
            return
        scores = {d: int(s) for d, s in event.scores.items()}
        rows.put(ANSWERS, {
            "survey_id": str(event.survey_id), "customer_id": key, "consultant": customer["holder"],
            "team": customer["team"], "month": month(event.occurred_at), "answered_at": ts(event.occurred_at),
            "satisfied": scores["overall"] in SATISFIED_SCORES,
            **{d: scores.get(d) for d in SURVEY_DIMENSIONS},
        })


SATISFACTION = Satisfaction()

ANSWER_LIST = ListSpec(
    SATISFACTION, ANSWERS,
    filters={
        "team": Filter("team"), "consultant": Filter("consultant"), "customer_id": Filter("customer_id"),
        "month": Filter("month"), "month_from": Filter("month", "text", ">="), "month_to": Filter("month", "text", "<="),
        "satisfied": Filter("satisfied", "bool"), "overall": Filter("overall", "int"),
        "answered_after": Filter("answered_at", "time", ">="), "answered_before": Filter("answered_at", "time", "<"),
    },
    sorts={"answered_at": "answered_at", "month": "month", "overall": "overall"},
    default_sort="-answered_at",
    numeric_sorts=frozenset({"overall"}),
)




def share_of(satisfied: int, count: int) -> dict[str, Any]:
    share = Fraction(satisfied, count) if count else None
    return {"count": count, "satisfied": satisfied, "share": float(share) if share is not None else None,
            "target": SATISFACTION_TARGET,
            "meets_target": share is not None and share >= Fraction(str(SATISFACTION_TARGET))}


def summarise(views: ViewReader, *, group_by: str, filters: Mapping[str, Any] | None = None,
              forced: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Satisfied answers per ``group_by`` (consultant, team or month) and in total, against the target.

    ``filters`` are the list's (by name), ``forced`` the caller's scope (by column). Returns the
    answer and the view's ``ActiveView`` (its position)."""
    column = check_group(group_by, GROUPS)
    where, params = where_clause(ANSWER_LIST, filters or {}, forced)
    rows, view = views.query(
        SATISFACTION.name,
        f"SELECT {column}, COUNT(*), SUM(CASE WHEN satisfied THEN 1 ELSE 0 END) FROM {{{ANSWERS}}} "  # noqa: S608
        f"{where} GROUP BY {column}", params)
    groups = sorted(((key, int(count), int(satisfied or 0)) for key, count, satisfied in rows),
                    key=lambda g: (g[0] is None, g[0] or ""))
    answer = {
        "group_by": group_by,
        "groups": [{group_by: key, **share_of(satisfied, count)} for key, count, satisfied in groups],
        "total": share_of(sum(g[2] for g in groups), sum(g[1] for g in groups)),
    }
    return answer, view
