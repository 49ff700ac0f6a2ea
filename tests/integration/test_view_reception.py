"""The reception view on both backends, against the receptions the test itself recorded.

Customers are received by consultants of two teams over three months, with receptions from 8 to
60 minutes, right at the norm's edges (15 and 30 minutes) included. Count, median, 90th
percentile (the standard library's ``statistics``, inclusive method) and share within the 15-30
minute norm per team, consultant and month are computed here and compared with the view's
summary; the rebuilt view equals the incremental one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections import reception
from projections.reception import RECEPTION, RECEPTION_LIST
from service.application import Acting, RealtyLedger
from tests.conftest import Team, register_team
from tests.integration.test_view_service_desk import all_rows, assert_rebuild_equals, build, ledger  # noqa: F401

D = timedelta(days=1)


@dataclass
class Visit:
    customer: str
    consultant: str
    team: str
    channel: str
    started_at: datetime
    minutes: float

    @property
    def month(self) -> str:
        return self.started_at.astimezone(UTC).strftime("%Y-%m")

    @property
    def band(self) -> str:
        return "short" if self.minutes < 15 else "long" if self.minutes > 30 else "normal"


@dataclass
class Desk:
    ledger: RealtyLedger
    team: Team
    other: Team
    visits: list[Visit] = field(default_factory=list)

    def receive(self, who: Acting, of: Team, started_at: datetime, minutes: float, channel: str = "walk_in",
                assigned_to: Acting | None = None) -> str:
        holder = assigned_to or who
        customer = self.ledger.receive_customer(
            who, channel=channel, reception_started_at=started_at,
            reception_ended_at=started_at + timedelta(minutes=minutes), assigned_to=str(holder.staff_id)).id
        self.visits.append(Visit(customer, str(holder.staff_id), of.name, channel, started_at, minutes))
        return customer


def scenario(ledger: RealtyLedger, between: Callable[[], None] = lambda: None) -> Desk:  # noqa: F811
    team, other = register_team(ledger, "浦东一组"), register_team(ledger, "徐汇二组")
    now = datetime.now(UTC)
    desk = Desk(ledger, team, other)
    months = [now - 75 * D, now - 40 * D, now - 5 * D]  # 35 days apart: three calendar months
    plan = [
        (team.consultant, months[0], (8, 15, 20, 30, 45)),
        (team.consultant, months[1], (14.5, 22.25, 30.5)),
        (team.second_consultant, months[1], (12, 25, 28, 60)),
        (team.second_consultant, months[2], (16, 18, 29.75, 31)),
        (team.customer_manager, months[2], (19,)),
    ]
    for who, start, lengths in plan:
        for i, minutes in enumerate(lengths):
            desk.receive(who, team, start + timedelta(hours=i), minutes, channel=("walk_in", "phone")[i % 2])
        between()
    # Received by the sales manager for a consultant: the reception counts for the consultant.
    desk.receive(team.manager, team, months[2] + timedelta(hours=9), 27, assigned_to=team.consultant)
    for i, minutes in enumerate((10, 20, 20, 35, 24, 26)):
        desk.receive(other.consultant, other, months[2] + timedelta(hours=i), minutes, channel="online")
    between()
    # A hand-over later does not move the reception: it was the consultant's.
    handed = desk.visits[0].customer
    ledger.reassign_customer(team.manager, handed, to_staff=team.id(team.second_consultant), reason="hand_over")
    between()
    return desk


def figures(minutes: list[float]) -> dict[str, Any]:
    """The summary's numbers, computed with the standard library."""
    p90 = minutes[0] if len(minutes) == 1 else statistics.quantiles(minutes, n=10, method="inclusive")[8]
    within = sum(15 <= m <= 30 for m in minutes)
    return {"count": len(minutes), "median_minutes": statistics.median(minutes), "p90_minutes": p90,
            "within_norm": within, "short": sum(m < 15 for m in minutes), "long": sum(m > 30 for m in minutes),
            "share_within_norm": within / len(minutes)}


def assert_summary(answer: dict[str, Any], group_by: str, visits: list[Visit], key: Callable[[Visit], Any]) -> None:
    grouped: dict[Any, list[float]] = {}
    for v in visits:
        grouped.setdefault(key(v), []).append(v.minutes)
    got = {g[group_by]: {k: x for k, x in g.items() if k != group_by} for g in answer["groups"]}
    assert set(got) == set(grouped)
    for name, minutes in grouped.items():
        assert got[name] == pytest.approx(figures(minutes)), name
    assert answer["total"] == pytest.approx(figures([v.minutes for v in visits]))
    assert answer["norm_minutes"] == [15, 30]


def test_each_reception_has_its_length_band_consultant_and_month(ledger: RealtyLedger) -> None:  # noqa: F811
    desk = scenario(ledger)
    build(ledger, RECEPTION.name)
    rows = {r["customer_id"]: r for r in all_rows(ledger, RECEPTION_LIST)}
    assert set(rows) == {v.customer for v in desk.visits}
    for v in desk.visits:
        row = rows[v.customer]
        assert row["minutes"] == pytest.approx(v.minutes)
        assert (row["band"], row["consultant"], row["team"], row["month"], row["channel"]) == (
            v.band, v.consultant, v.team, v.month, v.channel)
        assert row["started_at"] == v.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bands = {v.band for v in desk.visits if v.minutes in (15, 30)}
    assert bands == {"normal"}  # both edges of the norm are within it
    long_ones = {r["customer_id"] for r in all_rows(ledger, RECEPTION_LIST, band="long")}
    assert long_ones == {v.customer for v in desk.visits if v.minutes > 30}
    by_length = [r["minutes"] for r in all_rows(ledger, RECEPTION_LIST, team=desk.team.name)]
    assert len(by_length) == sum(v.team == desk.team.name for v in desk.visits)
    page, _ = ledger.views.list(RECEPTION_LIST, filters={}, sort="-minutes", limit=3)
    assert [r["minutes"] for r in page.items] == sorted((v.minutes for v in desk.visits), reverse=True)[:3]


def test_the_summary_per_team_consultant_and_month_matches_the_standard_library(ledger: RealtyLedger) -> None:  # noqa: F811
    desk = scenario(ledger)
    build(ledger, RECEPTION.name)
    for group_by, key in (("team", lambda v: v.team), ("consultant", lambda v: v.consultant),
                          ("month", lambda v: v.month)):
        answer, _ = reception.summarise(ledger.views, group_by=group_by)
        assert_summary(answer, group_by, desk.visits, key)
    # Scoped to one consultant (as the route scopes a consultant), and filtered by channel.
    mine = desk.team.id(desk.team.consultant)
    answer, _ = reception.summarise(ledger.views, group_by="month", forced={"consultant": mine})
    assert_summary(answer, "month", [v for v in desk.visits if v.consultant == mine], lambda v: v.month)
    answer, _ = reception.summarise(ledger.views, group_by="team", filters={"channel": "phone"})
    assert_summary(answer, "team", [v for v in desk.visits if v.channel == "phone"], lambda v: v.team)


def test_a_rebuilt_reception_view_equals_the_one_built_batch_by_batch_row_for_row(ledger: RealtyLedger) -> None:  # noqa: F811
    built = build(ledger, RECEPTION.name)
    desk = scenario(ledger, between=built.catch_up)
    assert len(all_rows(ledger, RECEPTION_LIST)) == len(desk.visits)
    assert_rebuild_equals(ledger, built, RECEPTION)
    answer, _ = reception.summarise(ledger.views, group_by="consultant")
    assert_summary(answer, "consultant", desk.visits, lambda v: v.consultant)
