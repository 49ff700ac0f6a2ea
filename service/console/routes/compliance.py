"""The console's compliance pages: find a record and read its timeline (each event's inclusion
proof checked here against the signed checkpoint), its state as of a moment and what changed
between two; the log's verification and checkpoints; who read whose personal data; SLA breaches.

Every figure comes from the API as the signed-in user (``user.api``), the signing keys' public
halves too (``GET /audit/public-keys``), with which the page checks the checkpoint's signature and
each proof itself (``compliance_checks``). Record ids travel in URLs; names and phone numbers never
do (there is no search by them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from archive.signing import load_public_keys
from domain.customer_values import Stage
from service.console import compliance_checks as checks
from service.console.api_client import ApiError
from service.console.forms import idempotency_key, run_form
from service.console.render import page, redirect
from service.console.sections import section
from service.console.session import FormDep, UserDep

router = APIRouter(prefix="/console", include_in_schema=False)

KINDS = ("customers", "deals", "listings", "staff")  # the audit routes' aggregates, in search order
PAGE_SIZE = 25
Text = Annotated[str, Query(max_length=100)]


async def _public_keys(user: Any) -> dict[str, Ed25519PublicKey]:
    try:
        return load_public_keys((await user.api.get("/audit/public-keys"))["file"])
    except ApiError as e:
        if e.status == 404:  # nothing was ever signed here (no keyring yet)
            return {}
        raise


async def _kind_of(user: Any, record: str) -> str | None:
    """Which kind of record this id is, without reading it: ``as-of`` asked with neither a version
    nor a time checks the record (404 if missing, of another kind or outside the scope) and then
    refuses the question (422) before anything is read, so no personal data is disclosed and no
    read lands on the access log for a mere lookup."""
    for kind in KINDS:
        try:
            await user.api.get(f"/audit/{kind}/{record}/as-of")
        except ApiError as e:
            if e.status == 404:
                continue
            if e.status == 422 or e.code == "record_damaged":  # damaged, but of this kind: its timeline says how
                return kind
            raise
        return kind  # (an API that answered the question after all: the kind is right)
    return None


# --- search and browse --------------------------------------------------------------------------------


@router.get("/audit/search", name="console.audit_search")
async def search(request: Request, user: UserDep, q: Text = "", stage: Text = "", team: Text = "",
                 cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    user.require(*section("search").needs)
    problem, record = None, None
    if q.strip():
        record = checks.record_id(q)
        if record is None:
            problem = "compliance.search.not_an_id"
        else:
            kind = await _kind_of(user, record)
            if kind is not None:
                return redirect(f"/console/audit/{kind}/{record}")
            problem = "compliance.search.not_found"
    browse, teams = None, []
    if user.can("views.pipeline"):
        browse = await user.api.get("/views/pipeline", stage=stage if stage in set(Stage) else None,
                                    team=team or None, cursor=cursor or None, limit=PAGE_SIZE)
    if user.can("views.staff_records"):
        staff = await user.api.get("/views/staff-performance/staff", limit=500)
        teams = sorted({s["team"] for s in staff["items"] if s["role"] in ("property_consultant", "sales_manager",
                                                                          "customer_manager", "customer_service")})
    status = {None: 200, "compliance.search.not_found": 404}.get(problem, 422)
    return page(request, user, "compliance/search.html", status_code=status,
                title=user.t("nav.search"), q=record if status == 404 else "", problem=problem, browse=browse,
                stages=list(Stage), stage=stage, team=team, teams=teams, first_page=not cursor)


# --- a record's timeline ---------------------------------------------------------------------------------


@router.get("/audit/{kind}/{record_id}", name="console.audit_timeline")
async def timeline(request: Request, user: UserDep, kind: str, record_id: str, at: Text = "",
                   start: Annotated[str, Query(alias="from", max_length=100)] = "",
                   end: Annotated[str, Query(alias="to", max_length=100)] = "") -> Response:
    user.require(*section("search").needs)
    record = checks.record_id(record_id)
    if kind not in KINDS or record is None:
        return _not_found(request, user, record_id)
    try:
        history = await user.api.get(f"/audit/{kind}/{record}/history")
    except ApiError as e:
        if e.status == 404:
            return _not_found(request, user, record)
        raise
    keys = await _public_keys(user)
    checkpoint_ok, marks = checks.badges(history, keys)
    events = history["events"]
    rows = [{"event": e, "badge": b, "related": checks.related_records(e.get("data")),
             "reason": (e.get("data") or {}).get("reason")} for e, b in zip(events, marks, strict=True)]
    counts = {state: marks.count(state) for state in (checks.VERIFIED, checks.FAILED, checks.PENDING)}

    now_local = checks.utc_to_local_input(datetime.now(UTC), user.zone)
    first_local = checks.utc_to_local_input(events[0].get("recorded_at"), user.zone) if events else ""
    as_of = await _as_of(user, kind, record, at) if at and user.can("audit.as_of") else None
    diff = await _diff(user, kind, record, events, start, end) if (start or end) and user.can("audit.diff") else None
    return page(request, user, "compliance/timeline.html", title=user.t("compliance.timeline.title"),
                kind=kind, record_id=record, history=history, rows=rows, counts=counts,
                checkpoint=history.get("checkpoint"), checkpoint_ok=checkpoint_ok, keys_known=bool(keys),
                at=at or now_local, start=start or first_local, end=end or now_local, as_of=as_of, diff=diff,
                shown=checks.shown, structured=checks.structured, is_instant=checks.is_instant,
                kind_of_key=checks.kind_of_key)


def _not_found(request: Request, user: Any, record: str) -> Response:
    return page(request, user, "compliance/search.html", status_code=404, title=user.t("nav.search"),
                q=record, problem="compliance.search.not_found", browse=None, stages=list(Stage), stage="",
                team="", teams=[], first_page=True)


async def _as_of(user: Any, kind: str, record: str, at: str) -> dict[str, Any]:
    moment = checks.local_to_utc(at, user.zone)
    if moment is None:
        return {"error": "compliance.timeline.bad_moment"}
    try:
        state = await user.api.get(f"/audit/{kind}/{record}/as-of", at=moment.isoformat())
    except ApiError as e:
        if e.status == 404:
            return {"error": "compliance.timeline.nothing_yet", "moment": moment}
        if e.code == "record_damaged":  # the timeline above says which event
            return {"error": "compliance.timeline.record_damaged"}
        raise
    return {"state": state, "moment": moment, "related": checks.related_records(state)}


async def _diff(user: Any, kind: str, record: str, events: list[dict[str, Any]], start: str,
                end: str) -> dict[str, Any]:
    first, last = checks.local_to_utc(start, user.zone), checks.local_to_utc(end, user.zone)
    if first is None or last is None:
        return {"error": "compliance.timeline.bad_moment"}
    if first > last:
        return {"error": "compliance.timeline.reversed"}
    versions = checks.version_at(events, first), checks.version_at(events, last)
    if versions[0] is None or versions[1] is None:
        return {"error": "compliance.timeline.nothing_yet", "moment": first if versions[0] is None else last}
    try:
        answer = await user.api.get(f"/audit/{kind}/{record}/diff", **{"from": versions[0], "to": versions[1]})
    except ApiError as e:
        if e.code == "record_damaged":
            return {"error": "compliance.timeline.record_damaged"}
        raise
    return {"answer": answer, "from_version": versions[0], "to_version": versions[1], "first": first, "last": last}


# --- the log's verification and checkpoints ------------------------------------------------------------


@router.get("/audit/log", name="console.audit_log")
async def verification(request: Request, user: UserDep, verify: bool = False) -> Response:
    """The latest checkpoint, always; the whole log's verification only when asked for (it reads
    every event: about 100,000 a second, so minutes on a large log, not for every page view)."""
    user.require(*section("verification").needs)
    report = await user.api.get("/audit/verify") if verify else None
    try:
        checkpoint = await user.api.get("/audit/checkpoints/latest")
    except ApiError as e:
        if e.code != "no_checkpoint":
            raise
        checkpoint = None
    keys = await _public_keys(user)
    signed = await user.api.get("/audit/checkpoints", limit=20)
    history = [(c, checks.checkpoint_holds(c, keys)) for c in signed["checkpoints"]]
    return page(request, user, "compliance/log.html", title=user.t("nav.verification"), report=report,
                checkpoint=checkpoint, checkpoint_ok=checks.checkpoint_holds(checkpoint, keys), history=history,
                history_total=signed["total"])


@router.post("/audit/checkpoints", name="console.audit_sign_checkpoint")
async def sign_checkpoint(user: UserDep, form: FormDep) -> Response:
    user.require("audit.checkpoint")
    return await run_form("/console/audit/log",
                          lambda: user.api.post("/audit/checkpoints", idempotency_key=idempotency_key(form)),
                          "compliance.log.signed", lambda answer: {"tree_size": answer.get("tree_size", "")})


# --- the personal-data access log --------------------------------------------------------------------------


@router.get("/audit/access-log", name="console.audit_access_log")
async def access_log(request: Request, user: UserDep, reader: Text = "",
                     start: Annotated[str, Query(alias="from", max_length=20)] = "",
                     end: Annotated[str, Query(alias="to", max_length=20)] = "") -> Response:
    user.require(*section("access_log").needs)
    staff = None
    if user.can("views.staff_records"):
        staff = (await user.api.get("/views/staff-performance/staff", limit=500))["items"]
    problem, answer = None, None
    chosen = checks.record_id(reader) if reader.strip() else None
    if reader.strip() and chosen is None:
        problem = {"code": "invalid_value", "detail": "reader"}
    else:
        try:
            answer = await user.api.get("/audit/access-log", reader=chosen, **{"from": _day(start), "to": _day(end)})
        except ApiError as e:
            if e.status != 422:
                raise
            problem = {"code": e.code, "detail": e.detail}
    today = datetime.now(UTC).date()
    return page(request, user, "compliance/access_log.html", status_code=422 if problem else 200,
                title=user.t("nav.access_log"), staff=staff, reader=chosen or reader.strip(), answer=answer,
                problem=problem, start=answer["from"] if answer else start,
                end=answer["to"] if answer else end, today=today.isoformat(),
                roles={s["staff_id"]: s for s in staff or []}, timelines=_TIMELINES)


def _day(text: str) -> str | None:
    try:
        return date.fromisoformat(text.strip()).isoformat() if text.strip() else None
    except ValueError:
        return text.strip()  # the API says what is wrong with it (422)


# An access log's subject kinds (the audit routes' kinds, and the CLI's) -> their timelines.
_TIMELINES = {"customer": "customers", "deal": "deals", "listing": "listings", "staff": "staff"}


# --- SLA breaches ------------------------------------------------------------------------------------------

BREACH_FILTERS = {"breached": {"breached": "true"}, "closed_late": {"closed_late": "true"},
                  "overdue": {"overdue": "true"}}


@router.get("/audit/sla-breaches", name="console.audit_sla")
async def sla_breaches(request: Request, user: UserDep, which: Text = "breached", kind: Text = "",
                       cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    user.require(*section("sla").needs)
    which = which if which in BREACH_FILTERS else "breached"
    kind = kind if kind in ("request", "complaint") else ""
    answer = await user.api.get("/views/service-desk", **BREACH_FILTERS[which], kind=kind or None,
                                cursor=cursor or None, limit=PAGE_SIZE * 2)
    now = datetime.now(UTC)
    items = [{**item, "late": checks.duration_parts(checks.lateness(item, now))} for item in answer["items"]]
    return page(request, user, "compliance/sla.html", title=user.t("nav.sla"), items=items, which=which,
                kind=kind, filters=list(BREACH_FILTERS), next_cursor=answer.get("next_cursor"),
                first_page=not cursor)

