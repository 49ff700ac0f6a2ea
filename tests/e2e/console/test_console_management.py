"""The management pages in a real browser, on the demo data: a sales manager walks the pipeline,
the service desk, satisfaction, process and reception pages, and each figure the page draws (read
back from the SVG's data-* attributes and the tables) equals what the API answers that manager.
The compliance officer, whose scope is every team, sees more, and may narrow to one team."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from service.console.charts import percent
from tests.e2e.console.harness import Console, new_page, screenshot, sign_in

STAGES = ("reception", "matching", "signing", "transaction", "after_sales", "lost")
PAGES = ("pipeline", "service-desk", "satisfaction", "process", "reception")


def every_row(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    rows, cursor = [], None
    while True:
        answer = api.get(path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
        answer.raise_for_status()
        rows += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if not cursor:
            return rows


def get(api: httpx.Client, path: str, **params: Any) -> Any:
    answer = api.get(path, params=params)
    answer.raise_for_status()
    return answer.json()


def bars(page: Any, figure: str) -> dict[str, dict[str, float]]:
    """Each bar of a chart: its key -> {series: value}."""
    found = page.eval_on_selector_all(
        f"[data-figure='{figure}'] svg g[data-key]",
        "gs => gs.map(g => [g.dataset.key, Array.from(g.querySelectorAll('rect[data-series]'))"
        ".map(r => [r.dataset.series, r.dataset.value])])")
    return {key: {series: float(value) for series, value in segments} for key, segments in found}


def data(page: Any, selector: str, *names: str) -> list[dict[str, str]]:
    """The data-* attributes ``names`` of every element the selector finds, in page order."""
    return page.eval_on_selector_all(
        selector, "(els, names) => els.map(e => Object.fromEntries(names.map(n => [n, e.dataset[n]])))", list(names))


def go(page: Any, console: Console, name: str, query: str = "") -> None:
    answer = page.goto(f"{console.base}/console/management/{name}{query}")
    assert answer.status == 200, name


def test_the_pipeline_draws_the_managers_funnel_and_consultants_as_the_api_counts_them(
        console: Console, page: Any) -> None:
    sign_in(page, console, "sales_manager", next_path="/console/management/pipeline")
    with console.api("sales_manager") as api:
        funnel = get(api, "/views/pipeline/funnel")
        customers = every_row(api, "/views/pipeline")
    team = customers[0]["team"]
    assert funnel["total"] == len(customers) > 0

    drawn = bars(page, "funnel")
    assert list(drawn) == list(STAGES)
    assert {stage: values["value"] for stage, values in drawn.items()} == funnel["stages"]
    assert page.locator("[data-funnel-total]").get_attribute("data-funnel-total") == str(funnel["total"])

    expected: dict[str, Counter[str]] = {}
    for row in customers:
        expected.setdefault(row["assigned_to"] or "pool", Counter())[row["stage"]] += 1
    rows = page.locator("table[data-table='by-consultant'] tbody tr")
    assert rows.count() == len(expected)
    for i in range(rows.count()):
        row = rows.nth(i)
        staff = row.get_attribute("data-staff")
        assert row.get_attribute("data-team") == team  # the manager's team only
        cells = data(page, f"table[data-table='by-consultant'] tbody tr:nth-child({i + 1}) td[data-stage]",
                     "stage", "value")
        assert {c["stage"]: int(c["value"]) for c in cells} == {s: expected[staff][s] for s in STAGES}
    stacked = bars(page, "by-consultant")
    assert {key.split("|")[1] or "pool": {s: int(v) for s, v in values.items()} for key, values in stacked.items()} \
        == {staff: {s: counts[s] for s in STAGES} for staff, counts in expected.items()}
    assert page.locator("[data-scope='team']").is_visible()
    assert page.locator("select[data-filter='team']").count() == 0  # the API pins a manager's team
    screenshot(page, "management-pipeline-zh-CN")

    # Asking for another team by hand changes nothing: the page shows what the API lets them see.
    go(page, console, "pipeline", "?team=%E5%BE%90%E6%B1%87%E4%BA%8C%E7%BB%84")
    assert {stage: v["value"] for stage, v in bars(page, "funnel").items()} == funnel["stages"]


def test_the_service_desk_counts_and_lists_the_items_the_api_gives(console: Console, page: Any) -> None:
    sign_in(page, console, "sales_manager", next_path="/console/management/service-desk")
    with console.api("sales_manager") as api:
        open_items = every_row(api, "/views/service-desk", open="true")
        breached = every_row(api, "/views/service-desk", breached="true")
        closed_late = every_row(api, "/views/service-desk", closed_late="true")
    assert open_items or breached or closed_late, "the demo has service-desk items"

    drawn = bars(page, "service-desk")
    assert set(drawn) == {"on_time", "due_soon", "overdue", "breached", "closed_late"}
    for kind in ("request", "complaint"):
        mine = [i for i in open_items if i["item_kind"] == kind]
        assert drawn["overdue"][kind] == sum(1 for i in mine if i["overdue"])
        assert drawn["on_time"][kind] + drawn["due_soon"][kind] == sum(1 for i in mine if not i["overdue"])
        assert drawn["breached"][kind] == sum(1 for i in breached if i["item_kind"] == kind)
        assert drawn["closed_late"][kind] == sum(1 for i in closed_late if i["item_kind"] == kind)
        for state in drawn:  # the table beside the chart says the same
            cell = page.locator(f"table[data-table='desk-counts'] tr[data-kind='{kind}'] td[data-state='{state}']")
            assert float(cell.get_attribute("data-value")) == drawn[state][kind]

    listed = data(page, "table[data-table='desk-open'] tbody tr", "item", "due")
    assert [r["item"] for r in listed] == [i["item_id"] for i in sorted(open_items, key=lambda i: i["due_at"])]
    late = {i["item_id"] for i in open_items if i["overdue"]} | {i["item_id"] for i in breached + closed_late}
    assert {r["item"] for r in data(page, "table[data-table='desk-broken'] tbody tr", "item")} == late
    screenshot(page, "management-service-desk-zh-CN")


def test_satisfaction_is_drawn_per_month_against_the_ninety_percent_line(console: Console, page: Any) -> None:
    sign_in(page, console, "sales_manager", next_path="/console/management/satisfaction")
    with console.api("sales_manager") as api:
        summary = get(api, "/views/satisfaction/summary", group_by="month")
    assert summary["groups"], "the demo has survey answers"
    target = page.locator("[data-figure='satisfaction'] svg line[data-target]")
    assert float(target.get_attribute("data-target")) == summary["total"]["target"] == 0.9
    points = {p["key"]: p for p in data(page, "[data-figure='satisfaction'] svg g[data-key]", "key", "value", "below")}
    assert set(points) == {g["month"] for g in summary["groups"]}
    for group in summary["groups"]:
        point = points[group["month"]]
        assert float(point["value"]) == pytest.approx(group["share"])
        assert point["below"] == ("false" if group["meets_target"] else "true")
    figure = page.locator("[data-figure='share']")
    assert float(figure.get_attribute("data-value")) == pytest.approx(summary["total"]["share"])
    months = [r["month"] for r in data(page, "table[data-table='satisfaction'] tbody tr", "month")]
    assert months == sorted(g["month"] for g in summary["groups"])
    screenshot(page, "management-satisfaction-zh-CN")

    # A month range narrows the chart as it narrows the API's answer.
    last = max(g["month"] for g in summary["groups"])
    go(page, console, "satisfaction", f"?month_from={last}&month_to={last}")
    assert [p["key"] for p in data(page, "[data-figure='satisfaction'] svg g[data-key]", "key")] == [last]


def test_stage_conversion_and_time_in_stage_are_the_apis(console: Console, page: Any) -> None:
    sign_in(page, console, "sales_manager", next_path="/console/management/process")
    steps = list(zip(STAGES[:5], STAGES[1:5]))
    with console.api("sales_manager") as api:
        conversions = {f"{a}-{b}": get(api, "/views/process-analytics/conversion", from_stage=a, to_stage=b)["total"]
                       for a, b in steps}
        times = get(api, "/views/process-analytics/stage-times")
    drawn = bars(page, "conversion")
    assert set(drawn) == set(conversions)
    for key, total in conversions.items():
        end = key.split("-")[1]
        assert drawn[key]["value"] == pytest.approx(total["rate"][end])
        row = page.locator(f"table[data-table='conversion'] tr[data-step='{key}']")
        assert int(row.get_attribute("data-entered")) == total["entered"]
        assert int(row.get_attribute("data-reached")) == total["reached"][end]
    timed = bars(page, "stage-times")
    for stage in times["stages"]:
        row = page.locator(f"table[data-table='stage-times'] tr[data-stage='{stage['stage']}']")
        if stage["median_hours"] is None:
            assert row.get_attribute("data-median") == "" and stage["stage"] not in timed
            continue
        assert float(row.get_attribute("data-median")) == pytest.approx(stage["median_hours"])
        assert timed[stage["stage"]]["median"] == pytest.approx(stage["median_hours"])
        assert timed[stage["stage"]]["p90"] == pytest.approx(stage["p90_hours"])
    screenshot(page, "management-process-zh-CN")


def test_reception_durations_against_the_fifteen_to_thirty_minute_norm(console: Console, page: Any) -> None:
    sign_in(page, console, "sales_manager", next_path="/console/management/reception")
    with console.api("sales_manager") as api:
        summary = get(api, "/views/reception/summary")
        monthly = get(api, "/views/reception/summary", group_by="month")
        receptions = every_row(api, "/views/reception")
    total = summary["total"]
    assert total["count"] == len(receptions) > 0
    share = page.locator("[data-figure='share_within_norm']")
    assert float(share.get_attribute("data-value")) == pytest.approx(total["share_within_norm"])
    assert int(page.locator("dd[data-figure='count']").get_attribute("data-value")) == total["count"]
    band = page.locator("[data-figure='distribution'] svg rect[data-band]")
    assert (band.get_attribute("data-low"), band.get_attribute("data-high")) == ("15", "30")
    assert summary["norm_minutes"] == [15, 30]
    drawn = bars(page, "reception-bands")
    assert {k: v["value"] for k, v in drawn.items()} == {"short": total["short"], "normal": total["within_norm"],
                                                         "long": total["long"]}
    rows = {r["key"]: r for r in data(page, "[data-figure='distribution'] svg g[data-key]", "key", "count",
                                      "median", "p90")}
    assert int(rows["all"]["count"]) == total["count"]
    assert float(rows["all"]["median"]) == pytest.approx(total["median_minutes"])
    for group in monthly["groups"]:
        row = rows[group["month"]]
        assert int(row["count"]) == group["count"]
        assert float(row["median"]) == pytest.approx(group["median_minutes"])
        assert float(row["p90"]) == pytest.approx(group["p90_minutes"])
    dots = page.eval_on_selector_all("[data-figure='distribution'] svg g[data-key='all'] circle[data-value]",
                                     "cs => cs.map(c => Number(c.dataset.value))")
    assert sorted(dots) == pytest.approx(sorted(r["minutes"] for r in receptions))
    screenshot(page, "management-reception-zh-CN")


def test_the_pages_in_english(console: Console, english_page: Any) -> None:
    page = english_page
    sign_in(page, console, "sales_manager", next_path="/console/management/pipeline")
    assert page.locator("html").get_attribute("lang") == "en"
    with console.api("sales_manager") as api:
        funnel = get(api, "/views/pipeline/funnel")
        reception = get(api, "/views/reception/summary")["total"]
    for name in PAGES:
        go(page, console, name)
        assert page.locator("[data-figure] svg[role='img']").count() >= 1
        assert page.locator("[data-nav]").first.is_visible()
        screenshot(page, f"management-{name}-en")
        if name == "pipeline":
            assert {s: v["value"] for s, v in bars(page, "funnel").items()} == funnel["stages"]
            assert page.locator("[data-figure='funnel'] svg").get_attribute("aria-label") == "Customers at each stage"
        if name == "reception":  # the share as the page writes it for an English reader
            shown = page.locator("dd[data-figure='share_within_norm']").inner_text()
            assert shown.strip() == percent(reception["share_within_norm"])


def test_a_compliance_officer_sees_every_team_and_may_narrow_to_one(console: Console, browser: Any) -> None:
    page = new_page(browser)
    try:
        sign_in(page, console, "compliance_officer", next_path="/console/management/pipeline")
        with console.api("compliance_officer") as everyone, console.api("sales_manager") as manager:
            all_teams = get(everyone, "/views/pipeline/funnel")
            own = get(manager, "/views/pipeline/funnel")
            team = get(manager, "/views/pipeline", limit=1)["items"][0]["team"]
            all_reception = get(everyone, "/views/reception/summary")["total"]
            team_reception = get(manager, "/views/reception/summary")["total"]
        assert all_teams["total"] > own["total"]  # the demo has customers in more than one team
        assert {s: v["value"] for s, v in bars(page, "funnel").items()} == all_teams["stages"]
        assert page.locator("[data-scope='any']").is_visible()
        teams = {r["team"] for r in data(page, "table[data-table='by-consultant'] tbody tr", "team")}
        assert len(teams) > 1 and team in teams

        page.select_option("select[data-filter='team']", team)  # submits itself
        page.wait_for_url("**/management/pipeline?team=*")
        assert {s: v["value"] for s, v in bars(page, "funnel").items()} == own["stages"]
        assert {r["team"] for r in data(page, "table[data-table='by-consultant'] tbody tr", "team")} == {team}

        go(page, console, "reception")
        share = page.locator("[data-figure='share_within_norm']").get_attribute("data-value")
        assert float(share) == pytest.approx(all_reception["share_within_norm"])
        go(page, console, "reception", f"?team={team}")
        share = page.locator("[data-figure='share_within_norm']").get_attribute("data-value")
        assert float(share) == pytest.approx(team_reception["share_within_norm"])
    finally:
        page.context.close()


def test_a_consultant_sees_only_their_own_service_desk_and_receptions_and_no_other_management_page(
        console: Console, page: Any) -> None:
    """As the permission table says: a consultant reads the service desk items and receptions of the
    customers they hold, nothing else here."""
    sign_in(page, console, "property_consultant")
    assert [k for k in (p.replace("-", "_") for p in PAGES) if page.locator(f"[data-nav='{k}']").count()] \
        == ["service_desk", "reception"]
    for name in (p for p in PAGES if p not in ("service-desk", "reception")):
        answer = page.goto(f"{console.base}/console/management/{name}")
        assert answer.status == 403, name
        assert page.locator("[data-code='forbidden']").is_visible()
    go(page, console, "reception")
    with console.api("property_consultant") as api:
        own = get(api, "/views/reception/summary")["total"]
    assert page.locator("[data-scope='assigned']").is_visible()
    assert int(page.locator("dd[data-figure='count']").get_attribute("data-value")) == own["count"]
