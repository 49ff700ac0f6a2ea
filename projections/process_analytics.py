"""Process analytics (chapter 8): how customers move between the stages, how long each stage
takes, and where and why customers are lost.

Each customer's stage is derived after every event exactly as the customer record derives it
(``derive_stage``: lost, the latest milestone of each deal, and whether needs, a shortlist,
showings or deals are on record). Every change of stage closes the customer's current *visit* to a
stage and opens the next: a row per (customer, visit) with the stage, when it was entered and
left, the stage that followed, the hours spent, and the customer's team and the month (UTC) when
the visit began. A customer may visit a stage more than once (a cancelled deal takes them from
signing back to matching; a reactivated customer leaves ``lost``). Each loss is a row too: the
stage the customer was lost at, the reason (an enum value, never the staff's note), the team and
the month.

The conversion, time-in-stage and loss summaries are computed from these rows by the routes
(``service.api.routes.views_analytics``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from domain import customer_events as ev
from domain.customer_values import Stage, derive_stage
from projections.projection import Projection, Rows, Table, month, parse_ts, ts
from projections.query import Filter, ListSpec, QueryError, ViewReader, where_clause
from projections.stats import median, percentile

CUSTOMERS = "customers"  # each customer's derivation inputs and current visit
VISITS = "visits"
LOSSES = "losses"

# The stages in the order of the manual's process; ``lost`` may follow any of them.
STAGES = tuple(s.value for s in Stage)


def visit_key(customer_id: str, seq: int) -> str:
    return f"{customer_id}|{seq:04d}"


class ProcessAnalytics(Projection):
    name = "process_analytics"
    version = 1
    tables = (
        # The current visit's own columns are kept here too, so a change of stage writes the
        # visit it ends without reading it back first.
        Table(CUSTOMERS, (
            ("customer_id", "text"), ("team", "text"), ("stage", "text"), ("lost", "bool"), ("needs", "bool"),
            ("shortlist", "bool"), ("showings", "bool"), ("deals", "text"), ("visits", "int"), ("losses", "int"),
            ("visit_team", "text"), ("visit_month", "text"), ("entered_at", "text"), ("version", "int"),
        ), key="customer_id"),
        Table(VISITS, (
            ("visit_id", "text"), ("customer_id", "text"), ("seq", "int"), ("stage", "text"), ("team", "text"),
            ("month", "text"), ("entered_at", "text"), ("left_at", "text"), ("next_stage", "text"),
            ("hours", "real"), ("open", "bool"),
        ), key="visit_id", indexes=(
            ("stage", "month", "team"), ("customer_id", "seq"), ("team", "month"),
        )),
        Table(LOSSES, (
            ("loss_id", "text"), ("customer_id", "text"), ("stage", "text"), ("reason", "text"), ("team", "text"),
            ("month", "text"), ("lost_at", "text"), ("reactivated_at", "text"),
        ), key="loss_id", indexes=(("team", "month"), ("month", "stage", "reason"))),
    )
    topics = frozenset(cls.TOPIC for cls in (  # type: ignore[attr-defined]
        ev.Received, ev.NeedsRecorded, ev.ListingsShortlisted, ev.ShowingScheduled, ev.MarkedLost,
        ev.Reactivated, ev.DealMilestoneReached, ev.Reassigned,
    ))

    def keys(self, event: Any) -> list[tuple[str, str]]:
        return [(CUSTOMERS, str(event.originator_id))]

    def creates(self, event: Any) -> list[tuple[str, str]]:
        return [(CUSTOMERS, str(event.originator_id))] if type(event).TOPIC == ev.Received.TOPIC else []

    def handle(self, event: Any, rows: Rows) -> None:
        topic = type(event).TOPIC
        key = str(event.originator_id)
        when = ts(event.occurred_at)
        if topic == ev.Received.TOPIC:
            customer = rows.put(CUSTOMERS, {
                "customer_id": key, "team": event.team, "stage": None, "lost": False, "needs": False,
                "shortlist": False, "showings": False, "deals": "{}", "visits": 0, "losses": 0,
                "visit_team": None, "visit_month": None, "entered_at": None, "version": event.originator_version,
            })
        else:
            customer = rows.get(CUSTOMERS, key)
            if customer is None:
                raise LookupError(f"customer {key} has no row (their Received event was never seen)")
            rows.changed(CUSTOMERS, customer)
        before = customer["stage"]
        if topic == ev.NeedsRecorded.TOPIC:
            customer["needs"] = True
        elif topic == ev.ListingsShortlisted.TOPIC:
            customer["shortlist"] = bool(event.matches)  # the record keeps the latest shortlist only
        elif topic == ev.ShowingScheduled.TOPIC:
            customer["showings"] = True
        elif topic == ev.DealMilestoneReached.TOPIC:
            deals = json.loads(customer["deals"])
            deals[str(event.deal_id)] = event.milestone
            customer["deals"] = json.dumps(deals, sort_keys=True)
        elif topic == ev.Reassigned.TOPIC:
            customer["team"] = event.team
        elif topic == ev.MarkedLost.TOPIC:
            customer["lost"] = True
            customer["losses"] += 1
            rows.put(LOSSES, {
                "loss_id": visit_key(key, customer["losses"]), "customer_id": key, "stage": before,
                "reason": event.reason, "team": customer["team"], "month": month(event.occurred_at),
                "lost_at": when, "reactivated_at": None,
            })
        elif topic == ev.Reactivated.TOPIC:
            customer["lost"] = False
            loss = rows.get(LOSSES, visit_key(key, customer["losses"]))
            if loss is not None:
                loss["reactivated_at"] = when
                rows.changed(LOSSES, loss)
        deals = json.loads(customer["deals"])
        matching = bool(customer["needs"] or customer["shortlist"] or customer["showings"] or deals)
        stage = derive_stage(lost=bool(customer["lost"]), milestones=deals.values(), matching=matching).value
        customer["version"] = event.originator_version
        if stage != before:
            self._move(rows, customer, stage, event)

    @staticmethod
    def _move(rows: Rows, customer: dict[str, Any], stage: str, event: Any) -> None:
        key = customer["customer_id"]
        when = ts(event.occurred_at)
        if customer["visits"]:
            entered = parse_ts(customer["entered_at"])
            assert entered is not None
            rows.put(VISITS, {
                "visit_id": visit_key(key, customer["visits"]), "customer_id": key, "seq": customer["visits"],
                "stage": customer["stage"], "team": customer["visit_team"], "month": customer["visit_month"],
                "entered_at": customer["entered_at"], "left_at": when, "next_stage": stage,
                "hours": (event.occurred_at - entered).total_seconds() / 3600, "open": False,
            })
        customer["visits"] += 1
        customer["stage"] = stage
        customer["visit_team"], customer["visit_month"], customer["entered_at"] = (
            customer["team"], month(event.occurred_at), when)
        rows.put(VISITS, {
            "visit_id": visit_key(key, customer["visits"]), "customer_id": key, "seq": customer["visits"],
            "stage": stage, "team": customer["team"], "month": customer["visit_month"], "entered_at": when,
            "left_at": None, "next_stage": None, "hours": None, "open": True,
        })


PROCESS_ANALYTICS = ProcessAnalytics()

VISIT_ROWS = ListSpec(
    PROCESS_ANALYTICS, VISITS,
    filters={
        "customer_id": Filter("customer_id"), "stage": Filter("stage"), "next_stage": Filter("next_stage"),
        "team": Filter("team"), "month": Filter("month"), "month_from": Filter("month", "text", ">="),
        "month_to": Filter("month", "text", "<="), "open": Filter("open", "bool"),
        "entered_after": Filter("entered_at", "time", ">="), "entered_before": Filter("entered_at", "time", "<"),
    },
    sorts={"entered_at": "entered_at", "left_at": "left_at", "hours": "hours"},
    default_sort="-entered_at",
    numeric_sorts=frozenset({"hours"}),
)


# The visits a conversion cohort is drawn from: the filters of the visit list that say when and
# in which team a customer entered the stage (the stage itself is the summary's from_stage).
COHORT = ListSpec(
    PROCESS_ANALYTICS, VISITS,
    filters={name: VISIT_ROWS.filters[name] for name in (
        "team", "month", "month_from", "month_to", "entered_after", "entered_before")},
    sorts=VISIT_ROWS.sorts, default_sort=VISIT_ROWS.default_sort, numeric_sorts=VISIT_ROWS.numeric_sorts,
)

LOSS_ROWS = ListSpec(
    PROCESS_ANALYTICS, LOSSES,
    filters={
        "team": Filter("team"), "stage": Filter("stage"), "reason": Filter("reason"), "month": Filter("month"),
        "month_from": Filter("month", "text", ">="), "month_to": Filter("month", "text", "<="),
        "lost_after": Filter("lost_at", "time", ">="), "lost_before": Filter("lost_at", "time", "<"),
    },
    sorts={"lost_at": "lost_at"},
    default_sort="-lost_at",
)


def check_stage(name: str, value: str | None, *, default: str | None = None) -> str | None:
    if value is None:
        return default
    if value not in STAGES:
        raise QueryError("invalid_filter", f"{name} must be one of {', '.join(STAGES)}")
    return value


def _team_month_key(group: tuple[Any, Any]) -> tuple[bool, str, bool, str]:
    return (group[0] is None, group[0] or "", group[1] is None, group[1] or "")


def _rates(entered: int, reached: Mapping[str, int]) -> dict[str, float | None]:
    return {stage: (count / entered if entered else None) for stage, count in reached.items()}


def conversion(views: ViewReader, *, from_stage: str | None = None, to_stage: str | None = None,
               filters: Mapping[str, Any] | None = None,
               forced: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Of the customers who entered ``from_stage`` within the filters (their first such entry there,
    with the team and month of that entry), how many later reached each other stage (or only
    ``to_stage``) — at any later visit, not only the next one — per team and month and in total."""
    start = check_stage("from_stage", from_stage, default="reception")
    assert start is not None
    end = check_stage("to_stage", to_stage)
    if end == start:
        raise QueryError("invalid_filter", "to_stage must differ from from_stage")
    targets = [end] if end else [s for s in STAGES if s != start]
    where, params = where_clause(COHORT, filters or {}, forced)
    cohort_where = f"{where} AND stage = ?" if where else "WHERE stage = ?"
    rows, view = views.query(
        PROCESS_ANALYTICS.name,
        "SELECT e.customer_id, v.team, v.month, y.stage "
        f"FROM (SELECT customer_id, MIN(seq) AS seq FROM {{{VISITS}}} {cohort_where} GROUP BY customer_id) e "  # noqa: S608
        f"JOIN {{{VISITS}}} v ON v.customer_id = e.customer_id AND v.seq = e.seq "
        f"LEFT JOIN {{{VISITS}}} y ON y.customer_id = e.customer_id AND y.seq > e.seq", [*params, start])
    entries: dict[str, tuple[Any, Any]] = {}
    reached: dict[str, set[str]] = {}
    for customer_id, team, month_, later in rows:
        entries[customer_id] = (team, month_)
        if later is not None:
            reached.setdefault(customer_id, set()).add(later)
    groups: dict[tuple[Any, Any], list[str]] = {}
    for customer_id, group in entries.items():
        groups.setdefault(group, []).append(customer_id)

    def figures(customers: list[str]) -> dict[str, Any]:
        counts = {stage: sum(1 for c in customers if stage in reached.get(c, ())) for stage in targets}
        return {"entered": len(customers), "reached": counts, "rate": _rates(len(customers), counts)}

    answer = {
        "from_stage": start,
        "to_stages": targets,
        "groups": [{"team": team, "month": month_, **figures(groups[(team, month_)])}
                   for team, month_ in sorted(groups, key=_team_month_key)],
        "total": figures(list(entries)),
    }
    return answer, view


def _times(visits: list[tuple[float | None, bool]]) -> dict[str, Any]:
    hours = [float(h) for h, is_open in visits if not is_open and h is not None]
    return {"completed": len(hours), "open": sum(1 for _, is_open in visits if is_open),
            "median_hours": median(hours), "p90_hours": percentile(hours, 90)}


def stage_times(views: ViewReader, *, filters: Mapping[str, Any] | None = None,
                forced: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Hours spent in each stage per stage, team and month entered, and per stage in total: the
    median and 90th percentile of the visits that have ended (``completed``); visits still under
    way are counted (``open``) but have no length yet."""
    where, params = where_clause(VISIT_ROWS, filters or {}, forced)
    rows, view = views.query(
        PROCESS_ANALYTICS.name, f"SELECT stage, team, month, hours, open FROM {{{VISITS}}} {where}", params)  # noqa: S608
    by_group: dict[tuple[str, Any, Any], list[tuple[float | None, bool]]] = {}
    by_stage: dict[str, list[tuple[float | None, bool]]] = {}
    for stage, team, month_, hours, is_open in rows:
        visit = (hours, bool(is_open))
        by_group.setdefault((stage, team, month_), []).append(visit)
        by_stage.setdefault(stage, []).append(visit)
    order = {stage: i for i, stage in enumerate(STAGES)}
    answer = {
        "groups": [{"stage": stage, "team": team, "month": month_, **_times(by_group[(stage, team, month_)])}
                   for stage, team, month_ in sorted(by_group, key=lambda g: (order[g[0]], *_team_month_key(g[1:])))],
        "stages": [{"stage": stage, **_times(by_stage[stage])} for stage in sorted(by_stage, key=order.__getitem__)],
    }
    return answer, view


def losses(views: ViewReader, *, filters: Mapping[str, Any] | None = None,
           forced: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Customers lost, per stage they were lost at and reason, with how many were reactivated since."""
    where, params = where_clause(LOSS_ROWS, filters or {}, forced)
    rows, view = views.query(
        PROCESS_ANALYTICS.name,
        "SELECT stage, reason, COUNT(*), SUM(CASE WHEN reactivated_at IS NULL THEN 0 ELSE 1 END) "
        f"FROM {{{LOSSES}}} {where} GROUP BY stage, reason", params)  # noqa: S608
    order = {stage: i for i, stage in enumerate(STAGES)}
    groups = sorted(((stage, reason, int(count), int(back or 0)) for stage, reason, count, back in rows),
                    key=lambda g: (order.get(g[0], len(order)), g[1]))
    by_stage: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for stage, reason, count, _ in groups:
        by_stage[stage] = by_stage.get(stage, 0) + count
        by_reason[reason] = by_reason.get(reason, 0) + count
    answer = {
        "groups": [{"stage": stage, "reason": reason, "lost": count, "reactivated": back}
                   for stage, reason, count, back in groups],
        "by_stage": by_stage,
        "by_reason": dict(sorted(by_reason.items())),
        "total": {"lost": sum(g[2] for g in groups), "reactivated": sum(g[3] for g in groups)},
    }
    return answer, view
