"""The management views as routes: staff performance (chapter 6), process analytics (chapter 8)
and the listings on offer with their price history.

Each list answers ``{"items", "next_cursor", "position"}`` like every view list (see
``service.api.view_lists``); each summary answers its groups, a total and ``position``, and takes
the filters of its list (an unknown one is 422 ``unknown_filter``). A sales manager sees their
team's rows (staff rows by the staff member's team, stage visits and losses by the customer's
team); compliance, administrators (staff performance) and service accounts every row. Listings
belong to no team and hold no personal data: every role with a listings route sees them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request

from projections import listings, process_analytics, staff_performance
from service.api.deps import Access, AccessDep
from service.api.permissions import Scope
from service.api.problems import Problem
from service.api.view_lists import holder_scope, list_view, query_params_doc, summary_view

router = APIRouter(prefix="/views", tags=["views"])

STAFF_SCOPE = holder_scope(holder_column="staff_id", team_column="team")


def team_scope(access: Access) -> Mapping[str, Any]:
    """Customers' stage visits and losses can only be narrowed to a team: a scope narrower than a
    team (a holder's own customers) is refused rather than widened."""
    if access.scope is Scope.ANY:
        return {}
    if access.scope is Scope.TEAM:
        return {"team": access.caller.team}
    raise Problem(403, "forbidden", "Forbidden", f"{access.route} is read by team, not by {access.scope.value}")


_SUMMARY_DOC = "Filters: those of the list ({filters}).{extra} Also min_position."




# --- staff performance ---------------------------------------------------------------------------


@router.get("/staff-performance", name="views.staff_performance",
            summary="Per staff member and month: receptions, showings, conversions, complaints, surveys, "
                    "first responses, trainings and assessment",
            description=query_params_doc(staff_performance.MONTHLY_ROWS))
def staff_performance_list(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, staff_performance.MONTHLY_ROWS, STAFF_SCOPE)


@router.get("/staff-performance/summary", name="views.staff_performance_summary",
            summary="Staff performance added up per staff member, team or month",
            description=_SUMMARY_DOC.format(
                filters=", ".join(sorted(staff_performance.MONTHLY_ROWS.filters)),
                extra=f" group_by: {', '.join(staff_performance.GROUPS)} (default team)."))
def staff_performance_summary(access: AccessDep, request: Request) -> dict[str, Any]:
    return summary_view(access, request, staff_performance.STAFF_PERFORMANCE.name, staff_performance.summarise,
                        STAFF_SCOPE, {"group_by": "team"})


@router.get("/staff-performance/staff", name="views.staff_records",
            summary="Each staff member's role, team, status, trainings and latest assessment",
            description=query_params_doc(staff_performance.STAFF_ROWS))
def staff_records(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, staff_performance.STAFF_ROWS, STAFF_SCOPE)


# --- process analytics ---------------------------------------------------------------------------


@router.get("/process-analytics/conversion", name="views.process_analytics",
            summary="Of the customers who entered a stage, how many reached each later stage, by team and month",
            description=_SUMMARY_DOC.format(
                filters=", ".join(sorted(process_analytics.COHORT.filters)),
                extra=" from_stage (default reception) and to_stage (default every other stage): "
                      + ", ".join(process_analytics.STAGES) + "."))
def conversion(access: AccessDep, request: Request) -> dict[str, Any]:
    return summary_view(access, request, process_analytics.PROCESS_ANALYTICS.name, process_analytics.conversion,
                        team_scope, {"from_stage": None, "to_stage": None})


@router.get("/process-analytics/stage-times", name="views.stage_times",
            summary="Hours spent in each stage (median, p90) by stage, team and month entered",
            description=_SUMMARY_DOC.format(filters=", ".join(sorted(process_analytics.VISIT_ROWS.filters)),
                                            extra=""))
def stage_times(access: AccessDep, request: Request) -> dict[str, Any]:
    return summary_view(access, request, process_analytics.PROCESS_ANALYTICS.name, process_analytics.stage_times,
                        team_scope, {})


@router.get("/process-analytics/losses", name="views.losses",
            summary="Customers lost, by the stage they were lost at and the reason",
            description=_SUMMARY_DOC.format(filters=", ".join(sorted(process_analytics.LOSS_ROWS.filters)),
                                            extra=""))
def losses(access: AccessDep, request: Request) -> dict[str, Any]:
    return summary_view(access, request, process_analytics.PROCESS_ANALYTICS.name, process_analytics.losses,
                        team_scope, {})


@router.get("/process-analytics/visits", name="views.stage_visits",
            summary="Each customer's visits to each stage: entered, left, next stage, hours",
            description=query_params_doc(process_analytics.VISIT_ROWS))
def stage_visits(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, process_analytics.VISIT_ROWS, team_scope)


# --- listings ------------------------------------------------------------------------------------


@router.get("/listings", name="views.listings",
            summary="Listings by district, rooms, area, price and status (available, reserved, sold, withdrawn)",
            description=query_params_doc(listings.LISTING_ROWS))
def listing_list(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, listings.LISTING_ROWS)


@router.get("/listings/{listing_id}/prices", name="views.listing_prices",
            summary="A listing's prices: its listing price, then each change (old and new)",
            description=query_params_doc(listings.PRICE_ROWS)
            + " A listing the view does not know (yet) has no rows.")
def listing_prices(access: AccessDep, request: Request, listing_id: str) -> dict[str, Any]:
    return list_view(access, request, listings.PRICE_ROWS, lambda _: {"listing_id": listing_id})
