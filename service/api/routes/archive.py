"""Sealed exports (BagIt packages of service files): make one, download it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import AccessDep
from service.api.problems import Problem
from service.api.schemas.common import Body
from service.archive_exports import ExportFailed, export_file, run_export

router = APIRouter(prefix="/archive", tags=["archive"])
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a stable problem code, as the export CLI prefixes its errors


class ExportCreate(Body):
    """Name exactly one of a customer, a deal or an archive number."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"customer_id": "0b8e5f1e-6f5c-4c49-9a53-2a7f0b1e9c11", "format": "tar"}]})

    customer_id: str | None = Field(default=None, description="the customer's record and service files")
    deal_id: str | None = Field(default=None, description="the deal's record and its deal file")
    archive_no: str | None = Field(default=None, max_length=40, description="a service file's archive number (档案号)")
    format: str = Field(default="tar", pattern="^(tar|zip)$", description="tar or zip")
    encrypt_to: str | None = Field(default=None, max_length=2000,
                                   description="a recipient's public key (the .pub file of `realty archive keygen`)")


class ExportPublic(BaseModel):
    export_id: str
    file_name: str
    size: int
    sha256: str = Field(description="SHA-256 of the package file, to check the download")
    external_identifier: str
    events: int
    documents: int
    tree_size: int = Field(description="the size of the signed checkpoint the package's proofs lead to")
    format: str
    encrypted: bool
    download: str


@router.post("/exports", name="archive.export", status_code=201, response_model=ExportPublic,
             summary="Export a service file as a sealed BagIt package (signed, with inclusion proofs)")
async def create_export(body: ExportCreate, access: AccessDep) -> Any:
    if sum(v is not None for v in (body.customer_id, body.deal_id, body.archive_no)) != 1:
        raise Problem(422, "invalid_value", "Invalid value", "name exactly one of customer_id, deal_id, archive_no")
    settings = access.ledger.settings
    try:
        made = await run_in_threadpool(run_export, settings, by=str(access.caller.staff_id),
                                       customer_id=body.customer_id, deal_id=body.deal_id,
                                       archive_no=body.archive_no, fmt=body.format, recipient=body.encrypt_to)
    except ExportFailed as e:
        code, _, detail = str(e).partition(": ")
        if not _CODE.fullmatch(code):
            # The CLI's own prefix ("cannot use the recipient key <server path>"): not a code, and a
            # server path is nobody's business; what follows it says what was wrong.
            code = "export_failed"
        status = 404 if code == "not_found" else 403 if code == "not_permitted" else 422
        raise Problem(status, code if detail else "export_failed", "Export failed", detail or str(e)) from None
    made["download"] = f"/archive/exports/{made['export_id']}"
    return JSONResponse(made, status_code=201, headers={"Location": made["download"]})


_PACKAGE = {200: {"description": "the package file: a tar or a zip, as it was asked for",
                  "content": {t: {"schema": {"type": "string", "format": "binary"}}
                              for t in ("application/x-tar", "application/zip")}}}


@router.get("/exports/{export_id}", name="archive.download_export", response_class=FileResponse,
            responses=_PACKAGE, summary="Download a sealed package made by POST /archive/exports")
def download_export(export_id: str, access: AccessDep) -> Any:
    path = export_file(access.ledger.settings, export_id)
    media = "application/x-tar" if path.suffix == ".tar" else "application/zip"
    return FileResponse(path, media_type=media, filename=path.name, headers={"Cache-Control": "no-store"})
