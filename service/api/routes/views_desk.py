"""The service views as routes: the service desk, satisfaction surveys and reception times.

Each list answers ``{"items", "next_cursor", "position"}`` like every view list (see
``service.api.view_lists``); each summary answers its groups, a total and ``position``. A
consultant sees the rows of the customers they hold (the service desk) or the receptions that were
theirs; a team role its team's rows; compliance and service accounts every row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from projections import reception, satisfaction, service_desk
from projections.projection import ts
from service.api.deps import AccessDep
from service.api.problems import Problem
from service.api.view_lists import holder_scope, list_view, query_params_doc, summary_view

router = APIRouter(prefix="/views", tags=["views"])

DESK_SCOPE = holder_scope(holder_column="holder", team_column="team")
CONSULTANT_SCOPE = holder_scope(holder_column="consultant", team_column="team")

_OVERDUE_DOC = (" Also overdue=true: the open items due now or earlier (shorthand for open=true&due_by=<now>; "
                "cannot be combined with open or due_by). Every item carries overdue: open and due_at <= now, "
                "true before the clock has recorded the breach.")
_SUMMARY_DOC = ("group_by: {groups} (default team). Filters: those of the list ({filters}). Also "
                "min_position.")


def _overdue_as_filters(request: Request, now: datetime) -> Request:
    """``overdue=true`` rewritten into the declared filters it stands for, at ``now``."""
    given = request.query_params.getlist("overdue")
    if not given:
        return request
    if len(given) > 1 or given[0].lower() != "true":
        raise Problem(422, "invalid_filter", "Invalid filter",
                      "overdue takes only true (for closed items, filter open=false)")
    clash = [name for name in ("open", "due_by") if name in request.query_params]
    if clash:
        raise Problem(422, "invalid_filter", "Invalid filter", f"overdue=true already sets {clash[0]}")
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "overdue"]
    pairs += [("open", "true"), ("due_by", now.isoformat())]
    return Request({**request.scope, "query_string": urlencode(pairs).encode()}, request.receive)


@router.get("/service-desk", name="views.service_desk",
            summary="Open and closed requests and complaints with due times, warnings, breaches and holders",
            description=query_params_doc(service_desk.ITEM_LIST) + _OVERDUE_DOC)
def service_desk_list(access: AccessDep, request: Request) -> dict[str, Any]:
    now = datetime.now(UTC)
    answer = list_view(access, _overdue_as_filters(request, now), service_desk.ITEM_LIST, DESK_SCOPE)
    cutoff = ts(now) or ""
    for item in answer["items"]:
        item["overdue"] = bool(item["open"]) and item["due_at"] <= cutoff
    return answer


@router.get("/satisfaction", name="views.satisfaction", summary="Survey answers by consultant, team and month",
            description=query_params_doc(satisfaction.ANSWER_LIST))
def satisfaction_list(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, satisfaction.ANSWER_LIST, CONSULTANT_SCOPE)


@router.get("/satisfaction/summary", name="views.satisfaction_summary",
            summary="Share of satisfied answers (overall 4-5) per consultant, team or month, against 90%",
            description=_SUMMARY_DOC.format(groups=", ".join(satisfaction.GROUPS),
                                            filters=", ".join(sorted(satisfaction.ANSWER_LIST.filters))))
def satisfaction_summary(access: AccessDep, request: Request) -> dict[str, Any]:
    return summary_view(access, request, satisfaction.SATISFACTION.name, satisfaction.summarise, CONSULTANT_SCOPE,
                        {"group_by": "team"})


@router.get("/reception", name="views.reception", summary="Reception lengths against the 15-30 minute norm",
            description=query_params_doc(reception.RECEPTION_LIST))
def reception_list(access: AccessDep, request: Request) -> dict[str, Any]:
    return list_view(access, request, reception.RECEPTION_LIST, CONSULTANT_SCOPE)


@router.get("/reception/summary", name="views.reception_summary",
            summary="Reception count, median, p90 and share within 15-30 minutes per team, consultant or month",
            description=_SUMMARY_DOC.format(groups=", ".join(reception.GROUPS),
                                            filters=", ".join(sorted(reception.RECEPTION_LIST.filters))))
def reception_summary(access: AccessDep, request: Request) -> dict[str, Any]:
    return summary_view(access, request, reception.RECEPTION.name, reception.summarise, CONSULTANT_SCOPE,
                        {"group_by": "team"})


