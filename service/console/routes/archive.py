"""The console's archive pages: service files (a list, and one file with its documents, versions,
holds and disposition), the retention-due list, and sealed exports with their download.

Every page and form goes through the API as the signed-in user (``user.api``), so what a page
shows and what a button does follow the permission table: the archivist checks, files, seals,
reopens and proposes; the compliance officer places and releases holds and approves or rejects a
disposition (two people: the API refuses the proposer); both export. A button shows only when the
user's role may call its route (``can``), and its handler checks the same before it calls the API.

Commands that take ``If-Match`` carry the version of the file the page showed, so a form from a
page that is out of date is refused (409) instead of acting on a file that changed meanwhile.
Reasons travel in the POSTed form and the API's JSON body, never in a URL. Staff appear by a
short form of their id (a name would be a personal-data read for every person on every view).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from domain.errors import NotFound
from service.archive_exports import export_file
from service.console.api_client import ApiError
from service.console.forms import idempotency_key, run_form
from service.console.i18n import parse_instant
from service.console.render import local_path, page, secure, short_id
from service.console.sections import FORMS, section
from service.console.session import ConsoleUser, FormDep, UserDep

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
STATUSES = ("open", "filed", "sealed", "disposed")
RECORD_CLASSES = ("deal_file", "customer_file", "complaint_record")
FORMATS = ("tar", "zip")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_VERSION = re.compile(r"[0-9]{1,18}")
_EXPORT_FIELDS = ("export_id", "file_name", "size", "sha256", "external_identifier", "events", "documents",
                  "tree_size", "format")


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _is_due(retention_end: Any, now: datetime) -> bool:
    end = parse_instant(retention_end)
    return end is not None and end <= now


# --- the list of files ------------------------------------------------------------------------------


@router.get("/archive/files", name="console.archive.files")
async def files(request: Request, user: UserDep, status: str = "", record_class: str = "", owner_id: str = "",
                page_no: Annotated[str, Query(alias="page")] = "1") -> Response:
    user.require(*section("files").needs)
    chosen = {"status": status if status in STATUSES else "",
              "record_class": record_class if record_class in RECORD_CLASSES else "",
              "owner_id": owner_id.strip() if _UUID.fullmatch(owner_id.strip()) else ""}
    number = _page_number(page_no)
    answer = await user.api.get("/service-files", limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, **chosen)
    query = urlencode({k: v for k, v in chosen.items() if v})
    return page(request, user, "archive/files.html", title=user.t("archive.files.title"), answer=answer,
                items=answer["items"], filters=chosen, bad_owner=bool(owner_id.strip()) and not chosen["owner_id"],
                statuses=STATUSES, record_classes=RECORD_CLASSES, page_no=number,
                has_more=answer["next_offset"] is not None,
                pager_base=f"/console/archive/files?{query + '&' if query else ''}",
                now=datetime.now(UTC), is_due=_is_due)


# --- one file -----------------------------------------------------------------------------------------


@router.get("/archive/files/{file_id}", name="console.archive.file")
async def file_page(request: Request, user: UserDep, file_id: str) -> Response:
    user.require(*section("files").needs, "service_files.read")
    file = await user.api.get(f"/service-files/{_file_id(file_id)}")
    now = datetime.now(UTC)
    holds = sorted(file["holds"], key=lambda h: str(h.get("placed_at")))
    active = [h for h in holds if h.get("released_at") is None]
    pending = file["pending_disposition"]
    due = _is_due(file["retention_end"], now)
    disposed = file["status"] == "disposed"
    return page(request, user, "archive/file.html", title=user.t("archive.file.title"), file=file, holds=holds,
                active_holds=active, pending=pending, due=due, disposed=disposed, short_id=short_id,
                may_propose=due and not disposed and pending is None and not active,
                back=f"/console/archive/files/{file['id']}")


def _file_id(raw: str) -> str:
    if not _UUID.fullmatch(raw):
        raise ApiError(404, "not_found", f"no record {raw[:40]} for this caller")
    return raw


def _back(form: dict[str, str], file_id: str) -> str:
    """Where a form returns: the page it came from (the file, the retention list), else the file."""
    wanted = local_path(form.get("back") or "")
    allowed = (f"/console/archive/files/{file_id}", "/console/archive/retention", "/console/archive/exports")
    return wanted if wanted in allowed else f"/console/archive/files/{file_id}"


def _if_match(form: dict[str, str]) -> dict[str, str]:
    version = form.get("version", "")
    return {"If-Match": f'"{version}"'} if _VERSION.fullmatch(version) else {}


async def _command(user: ConsoleUser, form: dict[str, str], file_id: str, name: str, path: str, done: str, *,
                   body: dict[str, Any] | None = None, conditional: bool = True,
                   values: Any = None) -> Response:
    """The form ``name``'s command on the file: checked against the role first (the API route
    ``FORMS`` names; a 403 page, nothing recorded), then the API as the user, then back to the
    page with what was done or why not."""
    user.require(FORMS[name])
    file_id = _file_id(file_id)

    async def call() -> Any:
        return await user.api.post(f"/service-files/{file_id}{path}", body or {},
                                   idempotency_key=idempotency_key(form),
                                   headers=_if_match(form) if conditional else None)

    return await run_form(_back(form, file_id), call, done, values)


def _reason(form: dict[str, str]) -> dict[str, str]:
    return {"reason": form.get("reason", "").strip()}


@router.post("/archive/files/{file_id}/check", name="console.archive.check")
async def check(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.check", "/completeness-check",
                          "archive.done.checked", values=lambda a: {"missing": len(a.get("missing") or [])})


@router.post("/archive/files/{file_id}/file", name="console.archive.file_it")
async def file_it(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.file_it", "/filing", "archive.done.filed",
                          values=lambda a: {"number": a.get("archive_number", "")})


@router.post("/archive/files/{file_id}/seal", name="console.archive.seal")
async def seal(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.seal", "/seal", "archive.done.sealed")


@router.post("/archive/files/{file_id}/reopen", name="console.archive.reopen")
async def reopen(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.reopen", "/reopen", "archive.done.reopened",
                          body=_reason(form))


@router.post("/archive/files/{file_id}/holds", name="console.archive.place_hold")
async def place_hold(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.place_hold", "/holds", "archive.done.hold_placed",
                          body=_reason(form))


@router.post("/archive/files/{file_id}/holds/{hold_id}/release", name="console.archive.release_hold")
async def release_hold(user: UserDep, form: FormDep, file_id: str, hold_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.release_hold", f"/holds/{_file_id(hold_id)}/release",
                          "archive.done.hold_released", body=_reason(form))


@router.post("/archive/files/{file_id}/disposition/proposal", name="console.archive.propose")
async def propose(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.propose", "/disposition/proposal",
                          "archive.done.proposed", conditional=False)


@router.post("/archive/files/{file_id}/disposition/approval", name="console.archive.approve")
async def approve(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.approve", "/disposition/approval",
                          "archive.done.approved", conditional=False,
                          values=lambda a: {"keys": len((a.get("certificate") or {}).get("destroyed_keys", []))})


@router.post("/archive/files/{file_id}/disposition/rejection", name="console.archive.reject")
async def reject(user: UserDep, form: FormDep, file_id: str) -> Response:
    return await _command(user, form, file_id, "console.archive.reject", "/disposition/rejection",
                          "archive.done.rejected", body=_reason(form), conditional=False)


# --- retention due ------------------------------------------------------------------------------------


@router.get("/archive/retention", name="console.archive.retention")
async def retention(request: Request, user: UserDep) -> Response:
    user.require(*section("retention").needs)
    due = await user.api.get("/retention/due")
    return page(request, user, "archive/retention.html", title=user.t("archive.retention.title"), due=due,
                held=sum(1 for d in due if d["holds"]), proposed=sum(1 for d in due if d["disposition"]))


# --- sealed exports -----------------------------------------------------------------------------------


@router.get("/archive/exports", name="console.archive.exports")
async def exports(request: Request, user: UserDep) -> Response:
    user.require(*section("exports").needs)
    return page(request, user, "archive/exports.html", title=user.t("archive.exports.title"), formats=FORMATS)


@router.post("/archive/exports", name="console.archive.export")
async def export(user: UserDep, form: FormDep) -> Response:
    """Make a sealed package (the API runs ``realty archive export``), then show what it holds and
    where to download it: the answer's ids, counts and digest ride in the one-shot message."""
    user.require(FORMS["console.archive.export"])
    body: dict[str, Any] = {k: form[k].strip() for k in ("customer_id", "deal_id", "archive_no")
                            if form.get(k, "").strip()}
    body["format"] = form.get("format") if form.get("format") in FORMATS else "tar"
    wanted = local_path(form.get("back") or "")
    back = wanted if re.fullmatch(r"/console/archive/(exports|files/[0-9a-fA-F-]{32,36})", wanted) else \
        "/console/archive/exports"

    async def call() -> Any:
        return await user.api.post("/archive/exports", body, idempotency_key=idempotency_key(form))

    return await run_form(back, call, "archive.done.exported",
                          lambda answer: {k: answer.get(k, "") for k in _EXPORT_FIELDS})


@router.get("/archive/exports/{export_id}/download", name="console.archive.download")
async def download(request: Request, user: UserDep, export_id: str) -> Response:
    """The package as an attachment, as ``GET /archive/exports/{id}`` serves it (same role check,
    same file), streamed from the disk: the in-process API client would hold a package of any size
    in memory, several times over."""
    user.require("archive.download_export")
    try:
        path = export_file(request.app.state.ledger.settings, export_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no export {export_id[:40]}") from None
    media = "application/x-tar" if path.suffix == ".tar" else "application/zip"
    return secure(FileResponse(path, media_type=media, filename=path.name))

