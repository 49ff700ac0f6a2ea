"""Reception: how long each customer's reception lasted, against the manual's 15-30 minutes.

A row per customer received: who received them (the consultant the customer was assigned to at
reception, kept even if the customer is later handed over: the reception was theirs), the team,
the channel, the reception's start and end (as entered on ``Received``), its length in minutes,
its band and its month. Bands: ``short`` under 15 minutes, ``normal`` from 15 to 30 minutes
inclusive, ``long`` over 30 (``domain.rules.RECEPTION_NORM_MINUTES``). ``summarise`` answers the
count, median, 90th percentile and share within the norm per team, consultant or month.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain import customer_events as ev
from domain.rules import RECEPTION_NORM_MINUTES
from projections.projection import Projection, Rows, Table, month, ts
from projections.query import Filter, ListSpec, ViewReader, check_group, where_clause
from projections.stats import median, percentile

RECEPTIONS = "receptions"
GROUPS = ("consultant", "team", "month")
NORM_LOW, NORM_HIGH = RECEPTION_NORM_MINUTES


def band(minutes: float) -> str:
    if minutes < NORM_LOW:
        return "short"
    if minutes > NORM_HIGH:
        return "long"
    return "normal"


class Reception(Projection):
    name = "reception"
    version = 1
    tables = (
        Table(RECEPTIONS, (
            ("customer_id", "text"), ("team", "text"), ("consultant", "text"), ("channel", "text"),
            ("started_at", "text"), ("ended_at", "text"), ("minutes", "real"), ("band", "text"),
            ("month", "text"),
        ), key="customer_id", indexes=(("team", "month"), ("consultant", "month"), ("month",), ("started_at",))),
    )
    topics = frozenset({ev.Received.TOPIC})

    def handle(self, event: Any, rows: Rows) -> None:
        minutes = (event.reception_ended_at - event.reception_started_at).total_seconds() / 60
        rows.put(RECEPTIONS, {
            "customer_id": str(event.originator_id), "team": event.team, "consultant": str(event.assigned_to),
            "channel": event.channel, "started_at": ts(event.reception_started_at),
            "ended_at": ts(event.reception_ended_at), "minutes": minutes, "band": band(minutes),
            "month": month(event.reception_started_at),
        })


RECEPTION = Reception()

RECEPTION_LIST = ListSpec(
    RECEPTION, RECEPTIONS,
    filters={
        "team": Filter("team"), "consultant": Filter("consultant"), "channel": Filter("channel"),
        "band": Filter("band"), "month": Filter("month"), "month_from": Filter("month", "text", ">="),
        "month_to": Filter("month", "text", "<="), "customer_id": Filter("customer_id"),
        "started_after": Filter("started_at", "time", ">="), "started_before": Filter("started_at", "time", "<"),
    },
    sorts={"started_at": "started_at", "minutes": "minutes", "month": "month"},
    default_sort="-started_at",
    numeric_sorts=frozenset({"minutes"}),
)


def figures(minutes: list[float]) -> dict[str, Any]:
    """Count, median, 90th percentile (``projections.stats``), and how many fell in each band."""
    bands = [band(m) for m in minutes]
    within = bands.count("normal")
    return {
        "count": len(minutes), "median_minutes": median(minutes), "p90_minutes": percentile(minutes, 90),
        "within_norm": within, "short": bands.count("short"), "long": bands.count("long"),
        "share_within_norm": within / len(minutes) if minutes else None,
    }


def summarise(views: ViewReader, *, group_by: str, filters: Mapping[str, Any] | None = None,
              forced: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Reception lengths per ``group_by`` (consultant, team or month) and in total.

    Medians and percentiles are folded in Python from the matching rows' minutes. Returns the
    answer and the view's ``ActiveView`` (its position)."""
    column = check_group(group_by, GROUPS)
    where, params = where_clause(RECEPTION_LIST, filters or {}, forced)
    rows, view = views.query(RECEPTION.name, f"SELECT {column}, minutes FROM {{{RECEPTIONS}}} {where}", params)  # noqa: S608
    grouped: dict[Any, list[float]] = {}
    for key, minutes in rows:
        grouped.setdefault(key, []).append(float(minutes))
    keys = sorted(grouped, key=lambda k: (k is None, k or ""))
    answer = {
        "group_by": group_by,
        "norm_minutes": list(RECEPTION_NORM_MINUTES),
        "groups": [{group_by: key, **figures(grouped[key])} for key in keys],
        "total": figures([m for values in grouped.values() for m in values]),
    }
    return answer, view
