"""The console's management pages: the pipeline, the service desk, satisfaction against 90%, stage
conversion and time in stage (chapter 8), and reception durations against the 15-30 minute norm.

Every figure comes from the API as the signed-in user (``user.api``): a sales manager's pages show
their team, because the API forces their scope; a role whose scope is every team (compliance) may
pick one with the team filter. The pages draw their charts on the server (``service.console.charts``)
and show the same figures in a table beside each chart.

Staff appear by a short form of their id: their names are personal data, and reading a staff
record to get one would be a personal-data read on the access log for every consultant on every
page view.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.permissions import Scope, allowed_scope
from service.console import charts
from service.console.api_client import ConsoleApi
from service.console.i18n import format_month, parse_instant
from service.console.render import page, short_id
from service.console.sections import section
from service.console.session import ConsoleUser, UserDep

router = APIRouter(prefix="/console", include_in_schema=False)

STAGES = ("reception", "matching", "signing", "transaction", "after_sales", "lost")
STAGE_COLORS = dict(zip(STAGES, ("#2f6f9f", "#56a3a6", "#e0a030", "#c8553d", "#6b8e23", "#9aa5b1")))
ACTIVE_STAGES = STAGES[:-1]  # the five stages of the manual, in their order; lost is where they leave
KINDS = ("request", "complaint")
KIND_COLORS = {"request": "#2f6f9f", "complaint": "#c8553d"}
SATISFACTION_TARGET = 0.9  # shown as the API answers it (``target``); this is only the fallback
RECEPTION_NORM = (15.0, 30.0)  # likewise (``norm_minutes``)
PAGE_SIZE = 500  # the list routes' largest page
MAX_PAGES = 40  # 20,000 rows: past that a page says its figures are cut short
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# --- shared --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Numbers:
    """Figures written for the page's language (units from the catalogue)."""

    user: ConsoleUser

    def count(self, value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f}"

    def decimal(self, value: float | None, digits: int = 1) -> str:
        return "–" if value is None else f"{value:,.{digits}f}"

    def share(self, value: float | None) -> str:
        return "–" if value is None else charts.percent(value)

    def hours(self, value: float | None) -> str:
        return "–" if value is None else self.user.t("management.unit.hours", value=self.decimal(value))

    def days(self, value: float | None) -> str:
        return "–" if value is None else self.user.t("management.unit.days", value=self.decimal(value / 24))

    def minutes(self, value: float | None) -> str:
        return "–" if value is None else self.user.t("management.unit.minutes", value=self.decimal(value))


def staff_label(user: ConsoleUser, staff_id: str | None) -> str:
    """A consultant as the pages show them: the short id, ``me`` for oneself, the pool for none."""
    if not staff_id:
        return user.t("management.pool")
    if staff_id == str(user.principal.staff_id):
        return user.t("management.me", id=short_id(staff_id))
    return user.t("management.staff", id=short_id(staff_id))


async def read_all(api: ConsoleApi, path: str, **filters: Any) -> tuple[list[dict[str, Any]], bool]:
    """Every row of a view list, page after page (``complete`` is False past ``MAX_PAGES``)."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        answer = await api.get(path, limit=PAGE_SIZE, cursor=cursor, **filters)
        rows.extend(answer["items"])
        cursor = answer.get("next_cursor")
        if not cursor:
            return rows, True
    return rows, False


@dataclass(frozen=True)
class Filters:
    """What the page was asked to narrow to: a team (only a role that sees every team may pick
    one; for the others the API pins their own), and a month range where the page has one."""

    team: str | None
    may_pick_team: bool
    scope: str  # the user's scope on the page's data: any, team or assigned (their own records)
    teams: list[str]
    month_from: str | None
    month_to: str | None

    def api(self, months: bool = True) -> dict[str, str | None]:
        chosen: dict[str, str | None] = {"team": self.team}
        if months:
            chosen.update(month_from=self.month_from, month_to=self.month_to)
        return chosen


async def filters(user: ConsoleUser, route: str, team: str, month_from: str = "", month_to: str = "") -> Filters:
    scope = allowed_scope(route, user.principal)
    may_pick = scope is Scope.ANY
    teams: list[str] = []
    if may_pick and user.can("views.reception_summary"):
        # Every team that has received a customer: the teams that have figures to show.
        summary = await user.api.get("/views/reception/summary", group_by="team")
        teams = sorted(g["team"] for g in summary["groups"] if g.get("team"))
    chosen = team.strip()[:100] if may_pick and team.strip() else None
    if chosen and chosen not in teams:
        teams.append(chosen)
    return Filters(chosen, may_pick, scope.value if scope else "", teams,
                   month_from if _MONTH.match(month_from) else None, month_to if _MONTH.match(month_to) else None)


def stage_name(user: ConsoleUser, stage: str) -> str:
    return user.t(f"management.stage.{stage}")


def months_between(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last``, so a month without figures shows as a gap."""
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last and len(out) < 240:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _render(request: Request, user: ConsoleUser, template: str, title_key: str, **context: Any) -> Response:
    return page(request, user, template, title=user.t(title_key), num=Numbers(user), **context)


# --- pipeline ------------------------------------------------------------------------------------


@router.get("/management/pipeline", name="console.management.pipeline")
async def pipeline(request: Request, user: UserDep, team: str = "") -> Response:
    user.require(*section("pipeline").needs)
    chosen = await filters(user, "views.pipeline", team)
    funnel = await user.api.get("/views/pipeline/funnel", team=chosen.team)
    customers, complete = await read_all(user.api, "/views/pipeline", team=chosen.team)

    per_holder: dict[tuple[str, str], Counter[str]] = {}
    for row in customers:
        per_holder.setdefault((row.get("team") or "", row.get("assigned_to") or ""), Counter())[row["stage"]] += 1
    several_teams = len({t for t, _ in per_holder}) > 1
    holders = sorted(per_holder.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    table = [{"team": t, "staff_id": s, "label": staff_label(user, s), "counts": [c[stage] for stage in STAGES],
              "total": sum(c.values())} for (t, s), c in holders]

    funnel_chart = charts.bar_chart(
        [charts.Bar(stage, stage_name(user, stage), (funnel["stages"].get(stage, 0),), color=STAGE_COLORS[stage],
                    note=charts.percent(funnel["stages"].get(stage, 0) / funnel["total"]) if funnel["total"] else "")
         for stage in STAGES] if funnel["total"] else [],
        title=user.t("management.pipeline.funnel_title"), empty=user.t("management.empty"),
        fmt=Numbers(user).count, kind="funnel")
    consultant_chart = charts.bar_chart(
        [charts.Bar(f"{r['team']}|{r['staff_id']}",
                    f"{r['label']} · {r['team']}" if several_teams else r["label"], tuple(r["counts"]))
         for r in table],
        series=[charts.Series(stage, stage_name(user, stage), STAGE_COLORS[stage]) for stage in STAGES],
        title=user.t("management.pipeline.by_consultant_title"), empty=user.t("management.empty"),
        fmt=Numbers(user).count, kind="by-consultant")
    return _render(request, user, "management/pipeline.html", "management.pipeline.title", filters=chosen,
                   funnel=funnel, funnel_chart=funnel_chart, consultant_chart=consultant_chart, table=table,
                   stages=STAGES, stage_totals=[sum(r["counts"][i] for r in table) for i in range(len(STAGES))],
                   customers=len(customers), complete=complete)


# --- service desk --------------------------------------------------------------------------------

DESK_STATES = ("on_time", "due_soon", "overdue", "breached", "closed_late")


def desk_states(item: dict[str, Any], now: datetime) -> list[str]:
    """Where an item counts: open on time, due soon (past its 75% warning mark), overdue (open past
    its due time, as the API says), breached (the breach is on the record), closed late."""
    states = []
    if item["open"]:
        if item.get("overdue"):
            states.append("overdue")
        else:
            warn = parse_instant(item.get("warn_at"))
            states.append("due_soon" if item.get("warned") or (warn is not None and warn <= now) else "on_time")
    if item.get("breached"):
        states.append("breached")
    if item.get("closed_late"):
        states.append("closed_late")
    return states


@router.get("/management/service-desk", name="console.management.service_desk")
async def service_desk(request: Request, user: UserDep, team: str = "") -> Response:
    user.require(*section("service_desk").needs)
    chosen = await filters(user, "views.service_desk", team)
    now = datetime.now(UTC)
    items: dict[str, dict[str, Any]] = {}
    complete = True
    for narrowing in ({"open": "true"}, {"breached": "true"}, {"closed_late": "true"}):
        rows, whole = await read_all(user.api, "/views/service-desk", team=chosen.team, **narrowing)
        complete = complete and whole
        for row in rows:
            items[row["item_id"]] = row
    for item in items.values():
        item["states"] = desk_states(item, now)
    counts = {(state, kind): 0 for state in DESK_STATES for kind in KINDS}
    for item in items.values():
        for state in item["states"]:
            counts[(state, item["item_kind"])] += 1
    chart = charts.bar_chart(
        [charts.Bar(state, user.t(f"management.desk.state.{state}"),
                    tuple(counts[(state, kind)] for kind in KINDS)) for state in DESK_STATES] if items else [],
        series=[charts.Series(kind, user.t(f"management.desk.kind.{kind}"), KIND_COLORS[kind]) for kind in KINDS],
        title=user.t("management.desk.chart_title"), empty=user.t("management.empty"), horizontal=False,
        fmt=Numbers(user).count, kind="service-desk")
    open_items = sorted((i for i in items.values() if i["open"]), key=lambda i: i["due_at"])
    broken = sorted((i for i in items.values() if {"overdue", "breached", "closed_late"} & set(i["states"])),
                    key=lambda i: i["due_at"], reverse=True)
    return _render(request, user, "management/service_desk.html", "management.desk.title", filters=chosen,
                   chart=chart, counts=counts, states=DESK_STATES, kinds=KINDS, open_items=open_items,
                   broken=broken, complete=complete)


# --- satisfaction --------------------------------------------------------------------------------


@router.get("/management/satisfaction", name="console.management.satisfaction")
async def satisfaction(request: Request, user: UserDep, team: str = "", month_from: str = "",
                       month_to: str = "") -> Response:
    user.require(*section("satisfaction").needs)
    chosen = await filters(user, "views.satisfaction_summary", team, month_from, month_to)
    summary = await user.api.get("/views/satisfaction/summary", group_by="month", **chosen.api())
    groups = sorted((g for g in summary["groups"] if g.get("month")), key=lambda g: g["month"])
    target = float(summary["total"].get("target") or SATISFACTION_TARGET)
    by_month = {g["month"]: g for g in groups}
    months = months_between(groups[0]["month"], groups[-1]["month"]) if groups else []
    points = [charts.Point(m, format_month(m, user.language),
                           by_month[m]["share"] if m in by_month and by_month[m]["count"] else None,
                           note=f"{by_month[m]['satisfied']} / {by_month[m]['count']}" if m in by_month else "")
              for m in months]
    chart = charts.target_chart(points, title=user.t("management.satisfaction.chart_title"),
                                empty=user.t("management.empty"), target=target,
                                target_label=user.t("management.satisfaction.target", share=charts.percent(target)),
                                below_label=user.t("management.satisfaction.below"))
    return _render(request, user, "management/satisfaction.html", "management.satisfaction.title", filters=chosen,
                   chart=chart, groups=groups, total=summary["total"], target=target)


# --- process (chapter 8) -------------------------------------------------------------------------


@router.get("/management/process", name="console.management.process")
async def process(request: Request, user: UserDep, team: str = "", month_from: str = "",
                  month_to: str = "") -> Response:
    user.require(*section("process").needs)
    chosen = await filters(user, "views.process_analytics", team, month_from, month_to)
    steps = []
    for start, end in zip(ACTIVE_STAGES, ACTIVE_STAGES[1:]):
        answer = await user.api.get("/views/process-analytics/conversion", from_stage=start, to_stage=end,
                                    **chosen.api())
        total = answer["total"]
        steps.append({"from": start, "to": end, "entered": total["entered"], "reached": total["reached"][end],
                      "rate": total["rate"][end] if total["entered"] else None})
    cohort = (await user.api.get("/views/process-analytics/conversion", **chosen.api()))["total"]
    times = await user.api.get("/views/process-analytics/stage-times", **chosen.api())
    stage_rows = sorted(times["stages"], key=lambda s: STAGES.index(s["stage"]) if s["stage"] in STAGES else 99)
    numbers = Numbers(user)
    conversion_chart = charts.bar_chart(
        [charts.Bar(f"{s['from']}-{s['to']}", user.t("management.process.step", start=stage_name(user, s["from"]),
                                                      end=stage_name(user, s["to"])),
                    (s["rate"] or 0.0,), color=STAGE_COLORS[s["to"]], note=f"{s['reached']} / {s['entered']}")
         for s in steps] if any(s["entered"] for s in steps) else [],
        title=user.t("management.process.conversion_title"), empty=user.t("management.empty"),
        fmt=charts.percent, max_value=1.0, kind="conversion")
    timed = [s for s in stage_rows if s["median_hours"] is not None]
    times_chart = charts.bar_chart(
        [charts.Bar(s["stage"], stage_name(user, s["stage"]), (s["median_hours"], s["p90_hours"])) for s in timed],
        series=[charts.Series("median", user.t("management.process.median"), charts.PALETTE[0]),
                charts.Series("p90", user.t("management.process.p90"), charts.PALETTE[2])],
        stacked=False, title=user.t("management.process.times_title"), empty=user.t("management.empty"),
        fmt=lambda v: numbers.decimal(v, 0 if v >= 100 or float(v).is_integer() else 1), kind="stage-times")
    return _render(request, user, "management/process.html", "management.process.title", filters=chosen,
                   steps=steps, cohort=cohort, stage_rows=stage_rows, conversion_chart=conversion_chart,
                   times_chart=times_chart, stages=STAGES)


# --- reception -----------------------------------------------------------------------------------


@router.get("/management/reception", name="console.management.reception")
async def reception(request: Request, user: UserDep, team: str = "", month_from: str = "",
                    month_to: str = "") -> Response:
    user.require(*section("reception").needs)
    chosen = await filters(user, "views.reception_summary", team, month_from, month_to)
    total_answer = await user.api.get("/views/reception/summary", group_by="team", **chosen.api())
    monthly = await user.api.get("/views/reception/summary", group_by="month", **chosen.api())
    by_consultant = await user.api.get("/views/reception/summary", group_by="consultant", **chosen.api())
    total = total_answer["total"]
    norm = tuple(float(x) for x in (total_answer.get("norm_minutes") or RECEPTION_NORM))
    months = sorted((g for g in monthly["groups"] if g.get("month")), key=lambda g: g["month"])
    minutes: dict[str, list[float]] = {}
    complete = True
    if user.can("views.reception"):
        rows, complete = await read_all(user.api, "/views/reception", **chosen.api())
        for row in rows:
            if row.get("minutes") is not None:
                minutes.setdefault(row["month"], []).append(float(row["minutes"]))
    numbers = Numbers(user)
    everything = [v for values in minutes.values() for v in values]
    dist_rows = []
    if total["count"]:
        dist_rows.append(charts.Distribution("all", user.t("management.reception.all"), tuple(sorted(everything)),
                                             total["median_minutes"], total["p90_minutes"]))
    dist_rows += [charts.Distribution(g["month"], format_month(g["month"], user.language),
                                      tuple(sorted(minutes.get(g["month"], []))), g["median_minutes"],
                                      g["p90_minutes"]) for g in months]
    band_label = user.t("management.reception.norm", low=numbers.count(norm[0]), high=numbers.count(norm[1]))
    distribution = charts.distribution_chart(
        dist_rows, title=user.t("management.reception.distribution_title"), empty=user.t("management.empty"),
        band=(norm[0], norm[1]), band_label=band_label, median_label=user.t("management.reception.median"),
        p90_label=user.t("management.reception.p90"), fmt=lambda v: numbers.decimal(v, 0),
        first_is_total=bool(total["count"]))
    bands = (("short", total["short"], "#e0a030"), ("normal", total["within_norm"], charts.GOOD),
             ("long", total["long"], charts.BAD))
    share_chart = charts.bar_chart(
        [charts.Bar(key, user.t(f"management.reception.band.{key}", low=numbers.count(norm[0]),
                                high=numbers.count(norm[1])), (count,), color=color,
                    note=charts.percent(count / total["count"]) if total["count"] else "")
         for key, count, color in bands] if total["count"] else [],
        title=user.t("management.reception.share_title"), empty=user.t("management.empty"),
        fmt=numbers.count, kind="reception-bands")
    consultants = sorted(by_consultant["groups"], key=lambda g: (-g["count"], g.get("consultant") or ""))
    return _render(request, user, "management/reception.html", "management.reception.title", filters=chosen,
                   total=total, norm=norm, months=months, consultants=consultants, distribution=distribution,
                   share_chart=share_chart, complete=complete, staff_label=lambda s: staff_label(user, s))

