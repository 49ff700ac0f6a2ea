"""The working views (projections) as list routes: each role sees the rows of its scope.

Each list answers ``{"items", "next_cursor", "position"}``: ``position`` is the log position the
view has reached, so a caller can tell how fresh the answer is. See ``service.api.view_lists``
for the filters, sorting, paging and ``min_position`` that every list shares.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from projections import pipeline
from service.api.deps import AccessDep
from service.api.permissions import Scope
from service.api.problems import Problem
from service.api.view_lists import holder_scope, list_view, query_params_doc, wait_for_position

router = APIRouter(prefix="/views", tags=["views"])


@router.get("/pipeline", name="views.pipeline", summary="Customers by stage, consultant and team",
            description=query_params_doc(pipeline.CUSTOMERS))
def pipeline_list(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, pipeline.CUSTOMERS, holder_scope())


@router.get("/pipeline/funnel", name="views.funnel", summary="How many customers are at each stage")
def funnel(access: AccessDep, request: Request, team: str | None = None) -> dict[str, Any]:
    unknown = sorted(set(request.query_params) - {"team", "min_position"})
    if unknown:
        raise Problem(422, "unknown_filter", "Invalid query", f"unknown filter {unknown[0]!r}; known: team")
    if len(request.query_params.getlist("team")) > 1:  # as the list views: never silently the last one
        raise Problem(422, "invalid_filter", "Invalid filter", "team given more than once")
    wait_for_position(access, request, ["pipeline"])
    where, params = [], []
    for column, value in {**({"team": team} if team else {}), **holder_scope()(access)}.items():
        where.append(f"{column} = ?")
        params.append(value)
    rows, view = access.ledger.views.query(
        "pipeline", "SELECT stage, COUNT(*) FROM {customers} "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY stage", params)
    counts = {stage: 0 for stage in ("reception", "matching", "signing", "transaction", "after_sales", "lost")}
    counts.update({stage: count for stage, count in rows})
    return {"stages": counts, "total": sum(counts.values()), "position": view.position}


@router.get("/pool", name="views.pool", summary="The team's public pool (公客池): customers anyone of the team may claim",
            description=query_params_doc(pipeline.POOL))
def pool(access: AccessDep, request: Request) -> dict[str, Any]:
    forced = {"in_pool": True, **({} if access.scope is Scope.ANY else {"team": access.caller.team})}
    return list_view(access, request, pipeline.POOL, lambda _: forced)
