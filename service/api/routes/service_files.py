"""Service-file routes (服务档案, manual ch. 7): opening a file, collecting documents and their
versions, reading them (every read recorded with its purpose), the archiving flow (completeness
check, filing under an archive number, sealing, reopening), legal holds, two-person disposition,
and the list of files whose retention period has ended.

A file is scoped as the record it belongs to (``Access.load_service_file``). Documents travel as
raw bodies in their own media type — no multipart, no JSON wrapping — and their type is judged
from their bytes: a declared ``Content-Type`` that the bytes contradict is refused (415), as is
content of no accepted type. Uploads have their own size limit (``max_document_bytes``), checked on
``Content-Length`` before the body is read and again while it is read.

The reason for a new version travels in the ``X-Change-Reason`` header, percent-encoded UTF-8,
and never in the query string: the reason is free text that may name the customer (it is
personal data, shredded with theirs), and a URL's query lands in proxy and server access logs
and browser histories, where no shredding reaches it.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from archive.content_types import SNIFF_BYTES, DocumentTooLarge, check_upload
from domain.errors import InvalidValue
from domain.identity import Role
from domain.rules import MAX_READ_PURPOSE
from domain.service_file_values import DocumentKind
from service.api.answers import answer
from service.api.deps import AccessDep, ExpectedVersionDep
from service.api.problems import Problem
from service.api.schemas import common as c
from service.api.schemas import service_files as s
from service.redaction import redact_state
from service.service_files import ALLOWED_TYPES
from service.views import primitive

router = APIRouter(tags=["service files"])

# Everyone who may read a file reads its reasons in full (a read recorded on their access log).
FULL_VIEW = frozenset({Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.SALES_MANAGER,
                       Role.ARCHIVIST, Role.COMPLIANCE_OFFICER})

# The setting that limits an upload's body instead of the general 1 MiB (read by the middleware).
BODY_LIMIT = {"x-body-limit": "max_document_bytes"}
_UPLOAD_BODY = {
    **BODY_LIMIT,
    "requestBody": {
        "required": True,
        "description": "the document's bytes, as they are (no multipart): a PDF, JPEG, PNG, TIFF or WebP, judged "
                       "by its content; at most `max_document_bytes` (default 20 MiB)",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(ALLOWED_TYPES)},
    },
}
_DOCUMENT_ANSWER = {200: {"description": "the document's bytes, in the media type judged when it was collected",
                          "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                      for t in sorted(ALLOWED_TYPES)}}}
_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/tiff": "tif",
               "image/webp": "webp"}
_LOOSE_TYPES = frozenset({"", "application/octet-stream"})  # "I don't know": the bytes decide


# --- uploads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    content: bytes
    media_type: str  # as judged from the bytes


async def _upload(file_id: str, request: Request, access: AccessDep) -> Upload:
    """The document in the body, read only once the caller may touch the file, and never past the limit."""
    await run_in_threadpool(access.load_service_file, file_id)  # 404 before a byte of the body is read
    limit = access.ledger.settings.max_document_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
        raise DocumentTooLarge(limit)
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLarge(limit)
        parts.append(chunk)
    content = b"".join(parts)
    media_type = check_upload(content[:SNIFF_BYTES], len(content), max_bytes=limit, allowed=set(ALLOWED_TYPES))
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared not in _LOOSE_TYPES and declared != media_type:
        raise Problem(415, "document_type_mismatch", "Document type mismatch",
                      f"the body was declared {declared[:100]} but its content is {media_type}",
                      declared=declared[:100], detected=media_type)
    return Upload(content, media_type)


UploadDep = Annotated[Upload, Depends(_upload)]


def change_reason(x_change_reason: Annotated[str, Header(
        description="why this version replaces the previous one: percent-encoded UTF-8 (RFC 3986), e.g. "
                    "`%E8%A1%A5%E4%BA%A4` for 补交; a header rather than the query, which lands in access logs")]) -> str:
    return _header_text(x_change_reason, "X-Change-Reason", "reason")


def read_purpose(x_read_purpose: Annotated[str, Header(
        description="why the document is read (kept on the file): percent-encoded UTF-8 like X-Change-Reason; "
                    "a header for the same reason — a purpose may name the person")]) -> str:
    text = _header_text(x_read_purpose, "X-Read-Purpose", "purpose")
    if not text or len(text) > MAX_READ_PURPOSE:
        raise InvalidValue("purpose", f"X-Read-Purpose must be 1 to {MAX_READ_PURPOSE} characters")
    return text


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _header_text(value: str, header: str, field: str) -> str:
    """One line of text from a header of percent-encoded UTF-8.

    Raw bytes past ASCII are refused rather than read as the Latin-1 the server hands them over
    as (invalid UTF-8 would become mojibake on the record), and so are control characters once
    decoded: an encoded CR or LF is a header injection attempt, never part of a reason.
    """
    try:
        if not value.isascii():
            raise UnicodeDecodeError("ascii", b"", 0, 1, "not percent-encoded")
        text = unquote(value, errors="strict").strip()
    except UnicodeDecodeError:
        raise InvalidValue(field, f"{header} must be percent-encoded UTF-8") from None
    if _CONTROLS.search(text):
        raise InvalidValue(field, f"{header} must be one line without control characters")
    return text


# --- the file ----------------------------------------------------------------------------------------


@router.post("/service-files", name="service_files.open", status_code=201, response_model=c.CommandResultPublic,
             summary="Open the service file of a customer or a deal for a record class")
def open_file(body: s.ServiceFileCreate, access: AccessDep) -> Any:
    if body.owner_kind == "deal":
        access.load_deal(body.owner_id)  # the file's scope is its owner's
    else:
        access.load(body.owner_id, "customer")
    result = access.ledger.open_service_file(access.caller.acting, owner_kind=body.owner_kind.value,
                                             owner_id=body.owner_id, record_class=body.record_class)
    return answer(result, 201, location=f"/service-files/{result.id}")


@router.get("/service-files", name="service_files.list", response_model=s.ServiceFileListPublic,
            summary="The service files, a page at a time: status, archive number, documents, active holds, "
                    "disposition and retention end of each")
def list_files(
    access: AccessDep,
    status: Annotated[s.FileStatus | None, Query(description="only files in this status")] = None,
    record_class: Annotated[str | None, Query(max_length=100, description="only files of this record class "
                                              "(one of the retention policy's)")] = None,
    owner_id: Annotated[uuid.UUID | None, Query(description="only the files of this customer or deal")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="files per page, at most 500")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="how many matching files to skip")] = 0,
) -> Any:
    ledger = access.ledger
    if record_class is not None and record_class not in ledger.retention_policy.classes:
        raise InvalidValue("record_class", f"must be one of {', '.join(ledger.retention_policy.classes)}")
    items, total = ledger.service_files(status=None if status is None else status.value, record_class=record_class,
                                        owner_id=None if owner_id is None else str(owner_id), limit=limit,
                                        offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset,
            "next_offset": offset + limit if offset + limit < total else None}


@router.get("/service-files/{file_id}", name="service_files.read", response_model=s.ServiceFilePublic,
            summary="A service file: its documents and versions, reads, status, holds, disposition, retention end")
def read_file(file_id: str, access: AccessDep, response: Response) -> Any:
    state = access.load_service_file(file_id)
    ledger = access.ledger
    end = ledger.file_retention_end(ledger.repository.get(uuid.UUID(state["id"])))
    response.headers["ETag"] = f'"{state["version"]}"'
    view = public_file(state, end)
    return access.disclose(file_id, "service_file", FULL_VIEW, view, redact_state)


def public_file(state: dict[str, Any], retention_end: datetime | None) -> dict[str, Any]:
    """A file as callers see it: never where a document is stored or which key encrypts it."""
    kept = ("version", "sha256", "size", "media_type", "change_reason", "collected_by", "collected_at")
    documents = [{"document_id": document_id, "kind": versions[-1]["kind"],
                  "versions": [{k: v[k] for k in kept} for v in versions]}
                 for document_id, versions in state["documents"].items()]
    return {
        **{k: state[k] for k in ("id", "version", "owner_kind", "owner_id", "subject_id", "record_class", "status",
                                 "archive_number", "checked", "missing", "complete", "reads", "active_holds",
                                 "certificate")},
        "documents": documents,
        "holds": list(state["holds"].values()),
        "pending_disposition": state["disposition"],
        "retention_end": primitive(retention_end),
    }


# --- documents ----------------------------------------------------------------------------------------


@router.post("/service-files/{file_id}/documents", name="service_files.collect_document", status_code=201,
             response_model=c.CommandResultPublic, openapi_extra=_UPLOAD_BODY,
             summary="Collect a new document (version 1): the raw file as the body, its kind in the query")
def collect_document(file_id: str, upload: UploadDep, access: AccessDep, version: ExpectedVersionDep,
                     kind: Annotated[DocumentKind, Query(description="what the document is")]) -> Any:
    result = access.ledger.upload_document(access.caller.acting, file_id, content=upload.content, kind=kind.value,
                                           expected_version=version)
    return answer(result, 201, location=f"/service-files/{result.id}/documents/{result.entity_id}")


@router.post("/service-files/{file_id}/documents/{document_id}/versions", name="service_files.add_version",
             status_code=201, response_model=c.CommandResultPublic, openapi_extra=_UPLOAD_BODY,
             summary="Add a new version of a document (更新): the raw file as the body, the reason in X-Change-Reason")
def add_version(file_id: str, document_id: uuid.UUID, upload: UploadDep, access: AccessDep,
                reason: Annotated[str, Depends(change_reason)], version: ExpectedVersionDep) -> Any:
    result = access.ledger.upload_document(access.caller.acting, file_id, content=upload.content,
                                           document_id=str(document_id), reason=reason, expected_version=version)
    return answer(result, 201, location=f"/service-files/{result.id}/documents/{document_id}")


@router.get("/service-files/{file_id}/documents/{document_id}", name="service_files.read_document",
            response_class=Response, responses=_DOCUMENT_ANSWER,  # type: ignore[arg-type]
            summary="Read a document (the latest version, or ?version=N); the read is recorded first, with the purpose "
                    "given in X-Read-Purpose")
def read_document(file_id: str, document_id: uuid.UUID, access: AccessDep,
                  purpose: Annotated[str, Depends(read_purpose)],
                  version: Annotated[int | None, Query(ge=1, description="a version; default the latest")] = None,
                  ) -> Response:
    access.load_service_file(file_id)
    facts, content = access.ledger.read_document(access.caller.acting, file_id, str(document_id), purpose=purpose,
                                                 version=version)
    media_type = facts["media_type"]
    name = f"{document_id}-v{facts['version']}.{_EXTENSIONS.get(media_type, 'bin')}"
    digest = base64.b64encode(bytes.fromhex(facts["sha256"])).decode()
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Digest": f"sha-256=:{digest}:",
        "X-Document-Version": str(facts["version"]),
    })


# --- the archiving flow (7.2) -----------------------------------------------------------------------


@router.post("/service-files/{file_id}/completeness-check", name="service_files.check_completeness",
             response_model=s.CompletenessPublic,
             summary="Check the current documents against the record class's checklist")
def check_completeness(file_id: str, access: AccessDep, version: ExpectedVersionDep) -> Any:
    access.load_service_file(file_id)
    result = access.ledger.file_command(access.caller.acting, file_id, "check_completeness",
                                        expected_version=version)
    checked = access.ledger.state(file_id, version=result.version)
    return _with(result, missing=checked["missing"], complete=checked["complete"])


@router.post("/service-files/{file_id}/filing", name="service_files.file", response_model=s.FiledPublic,
             summary="File the checked, complete file (归档): it gets its archive number (档案号)")
def file(file_id: str, access: AccessDep, version: ExpectedVersionDep) -> Any:
    access.load_service_file(file_id)
    result = access.ledger.file_command(access.caller.acting, file_id, "file", expected_version=version)
    return _with(result, archive_number=result.entity_id)


@router.post("/service-files/{file_id}/seal", name="service_files.seal", response_model=c.CommandResultPublic,
             summary="Seal the filed file: frozen until someone reopens it with a reason")
def seal(file_id: str, access: AccessDep, version: ExpectedVersionDep) -> Any:
    access.load_service_file(file_id)
    return answer(access.ledger.file_command(access.caller.acting, file_id, "seal", expected_version=version))


@router.post("/service-files/{file_id}/reopen", name="service_files.reopen", response_model=c.CommandResultPublic,
             summary="Reopen a filed or sealed file, with the reason, to add a version (7.4)")
def reopen(file_id: str, body: s.ReasonBody, access: AccessDep, version: ExpectedVersionDep) -> Any:
    access.load_service_file(file_id)
    return answer(access.ledger.file_command(access.caller.acting, file_id, "reopen", reason=body.reason,
                                             expected_version=version, occurred_at=body.occurred_at))


# --- legal holds and disposition ------------------------------------------------------------------


@router.post("/service-files/{file_id}/holds", name="service_files.place_hold", status_code=201,
             response_model=c.CommandResultPublic,
             summary="Place a legal hold (it suspends disposition); the answer's entity_id is the hold's id")
def place_hold(file_id: str, body: s.HoldBody, access: AccessDep, version: ExpectedVersionDep) -> Any:
    access.load_service_file(file_id)
    result = access.ledger.file_command(access.caller.acting, file_id, "place_hold", reason=body.reason,
                                        expected_version=version, occurred_at=body.occurred_at)
    return answer(result, 201, location=f"/service-files/{file_id}")


@router.post("/service-files/{file_id}/holds/{hold_id}/release", name="service_files.release_hold",
             response_model=c.CommandResultPublic, summary="Release a legal hold, with the reason")
def release_hold(file_id: str, hold_id: uuid.UUID, body: s.ReleaseBody, access: AccessDep,
                 version: ExpectedVersionDep) -> Any:
    access.load_service_file(file_id)
    return answer(access.ledger.file_command(access.caller.acting, file_id, "release_hold", hold_id=str(hold_id),
                                             reason=body.reason, expected_version=version,
                                             occurred_at=body.occurred_at))


@router.post("/service-files/{file_id}/disposition/proposal", name="service_files.propose_disposition",
             status_code=201, response_model=c.CommandResultPublic,
             summary="Propose the disposition of a file whose retention period has ended (an archivist)")
def propose_disposition(file_id: str, access: AccessDep) -> Any:
    access.load_service_file(file_id)
    return answer(access.ledger.propose_disposition(access.caller.acting, file_id), 201)


@router.post("/service-files/{file_id}/disposition/approval", name="service_files.approve_disposition",
             response_model=s.DispositionPublic,
             summary="Approve the proposed disposition (never the proposer) and carry it out: the certificate")
def approve_disposition(file_id: str, access: AccessDep) -> Any:
    access.load_service_file(file_id)
    result = access.ledger.approve_disposition(access.caller.acting, file_id)
    certificate = access.ledger.state(file_id, version=result.version)["certificate"]
    return _with(result, certificate=certificate)


@router.post("/service-files/{file_id}/disposition/rejection", name="service_files.reject_disposition",
             response_model=c.CommandResultPublic,
             summary="Reject the proposed disposition, with the reason: the file is kept")
def reject_disposition(file_id: str, body: s.RejectionBody, access: AccessDep) -> Any:
    access.load_service_file(file_id)
    return answer(access.ledger.file_command(access.caller.acting, file_id, "reject_disposition",
                                             reason=body.reason, occurred_at=body.occurred_at))


@router.get("/retention/due", name="service_files.retention_due", response_model=list[s.RetentionDuePublic],
            summary="The service files whose retention period has ended and are not disposed of, with their holds")
def retention_due(access: AccessDep,
                  at: Annotated[datetime | None, Query(description="judge as of this time (ISO 8601 with offset); "
                                                       "default now")] = None) -> Any:
    if at is not None and at.tzinfo is None:
        raise InvalidValue("at", "must include a time zone offset")
    return access.ledger.retention_due(at)


def _with(result: Any, **extra: Any) -> JSONResponse:
    """A command's answer with what else the caller needs from it (the ETag as for every command)."""
    return JSONResponse({**result.as_dict(), **primitive(extra)}, headers={"ETag": f'"{result.version}"'})
