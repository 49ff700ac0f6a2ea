"""What every view's list route shares: filters from the query string, the caller's scope as
forced filters, sort and cursor, and read-your-writes through ``min_position``.

Query parameters other than ``sort``, ``cursor``, ``limit`` and ``min_position`` are the view's
filters; a name the view does not declare is a 422 (``unknown_filter``), never ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import Request

from projections.query import DEFAULT_LIMIT, ListSpec, QueryError
from service.api.deps import Access
from service.api.permissions import Scope
from service.api.problems import Problem
from service.projector import ViewBehind

RESERVED = frozenset({"sort", "cursor", "limit", "min_position"})

# The columns a scope pins, per kind of row: who holds it, and which team it belongs to.
Scoping = Callable[[Access], Mapping[str, Any]]


def holder_scope(holder_column: str = "assigned_to", team_column: str = "team") -> Scoping:
    def forced(access: Access) -> Mapping[str, Any]:
        if access.scope is Scope.ANY:
            return {}
        if access.scope is Scope.TEAM:
            return {team_column: access.caller.team}
        return {holder_column: str(access.caller.staff_id)}

    return forced


def _int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:  # "²" passes isdigit() alone
        raise Problem(422, f"invalid_{name}", "Invalid value", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def wait_for_position(access: Access, request: Request, views: Iterable[str]) -> None:
    """Honour ``min_position``: wait briefly for the views to reach it, else 503 with the lag."""
    position = _int(request, "min_position", None, 0, 2**62)
    if position is None:
        return
    ledger = access.ledger
    head = ledger.views.log.head()
    if position > head.id:
        raise Problem(422, "position_beyond_head", "Position beyond the log",
                      f"min_position {position} is beyond the log's head ({head.id})", head=head.id)
    try:
        ledger.views.wait_for(views, position, ledger.settings.read_wait_seconds)
    except ViewBehind as behind:
        if behind.stopped:  # waiting will not help until the view is fixed: say so, and no Retry-After
            raise Problem(503, "view_stopped", "View stopped", str(behind), view=behind.name,
                          reached=behind.reached, lag=behind.lag) from None
        raise Problem(503, "view_behind", "View behind", str(behind), view=behind.name, reached=behind.reached,
                      lag=behind.lag, headers={"Retry-After": "1"}) from None


def list_view(access: Access, request: Request, spec: ListSpec, scoping: Scoping | None = None) -> dict[str, Any]:
    wait_for_position(access, request, [spec.projection.name])
    filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    repeated = [k for k in filters if len(request.query_params.getlist(k)) > 1]
    if repeated:
        raise Problem(422, "invalid_filter", "Invalid filter", f"filter {repeated[0]} given more than once")
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, 10**6)
    try:
        page, view = access.ledger.views.list(
            spec, filters=filters, forced=scoping(access) if scoping else None,
            sort=request.query_params.get("sort"), cursor=request.query_params.get("cursor"),
            limit=limit or DEFAULT_LIMIT)
    except QueryError as e:
        raise Problem(422, e.code, "Invalid query", str(e)) from None
    return {"items": page.items, "next_cursor": page.next_cursor, "position": view.position}


def query_params_doc(spec: ListSpec) -> str:
    """The filters and sorts of a list route, for its OpenAPI description."""
    return (f"Filters: {', '.join(sorted(spec.filters))}. Sorts: {', '.join(sorted(spec.sorts))} "
            f"(prefix - to reverse; default {spec.default_sort}). Also cursor, limit (1-500) and "
            "min_position (wait for the view to reach a command's position).")


Summarise = Callable[..., tuple[dict[str, Any], Any]]


def summary_view(access: Access, request: Request, view: str, summarise: Summarise, scoping: Scoping,
                 named: Mapping[str, str | None]) -> dict[str, Any]:
    """A summary route: the ``named`` query parameters (with their defaults) go to ``summarise`` by
    name, the others are the list's filters (checked there), and the caller's scope is forced."""
    wait_for_position(access, request, [view])
    params = request.query_params
    repeated = [k for k in params if len(params.getlist(k)) > 1]
    if repeated:
        raise Problem(422, "invalid_filter", "Invalid filter", f"{repeated[0]} given more than once")
    arguments = {k: params.get(k, default) for k, default in named.items()}
    filters = {k: v for k, v in params.items() if k not in named and k != "min_position"}
    try:
        answer, active = summarise(access.ledger.views, filters=filters, forced=scoping(access), **arguments)
    except QueryError as e:
        raise Problem(422, e.code, "Invalid query", str(e)) from None
    return {**answer, "position": active.position}
