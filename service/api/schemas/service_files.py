"""Request and response shapes of the service-file routes (服务档案, manual ch. 7).

Documents travel as raw bodies (their own media type, never JSON or multipart), so only the
commands around them have bodies here. What a file answers never carries where a document is
stored or which key encrypts it: those are the archive's business, and naming them would map the
store out for a caller who has no use for it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.service_file_values import OwnerKind
from service.api.schemas.common import EXAMPLE_CUSTOMER_ID, EXAMPLE_ENTITY_ID, Body, CommandResultPublic

EXAMPLE_FILE_ID = "7c1e3a5f-9b2d-5e4f-8a6c-0e2f4a6c8b97"
EXAMPLE_DOCUMENT_ID = "a2c4e6f8-0b1d-4f3a-8c5e-7a9b1c3d5e06"

Reason = Field(min_length=1, max_length=2000, description="why (kept on the file; may name the customer, so "
               "it is personal data and shredded with theirs)")


class ServiceFileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [
        {"owner_kind": "customer", "owner_id": EXAMPLE_CUSTOMER_ID, "record_class": "customer_file"}]})

    owner_kind: OwnerKind = Field(description="`customer` or `deal`: whose papers the file holds")
    owner_id: str = Field(min_length=1, max_length=100, description="the customer's or the deal's id")
    # Not an enum: the classes are the retention policy's, and an unknown one is the domain's
    # 422 invalid_value naming them (the policy may be a deployment's own).
    record_class: str = Field(min_length=1, max_length=100,
                              description="`deal_file` (of a deal), `customer_file` or `complaint_record` "
                              "(of a customer)")


class ReasonBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "客户补交新版身份证复印件"}]})

    reason: str = Reason


class HoldBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "法院调查令（2026）沪0115民初1234号"}]})

    reason: str = Reason


class ReleaseBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "案件已结，调查令解除"}]})

    reason: str = Reason


class RejectionBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "客户仍有未结投诉，暂缓销毁"}]})

    reason: str = Reason


class CompletenessPublic(CommandResultPublic):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": EXAMPLE_FILE_ID, "version": 5, "entity_id": None, "position": 2048, "missing": [],
         "complete": True}]})

    missing: list[str] = Field(description="the document kinds the record class's checklist still lacks")
    complete: bool


class FiledPublic(CommandResultPublic):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": EXAMPLE_FILE_ID, "version": 6, "entity_id": "DF-2026-7C1E3A5F9B2D", "position": 2049,
         "archive_number": "DF-2026-7C1E3A5F9B2D"}]})

    archive_number: str = Field(description="档案号: class code, year of first filing, 12 hex digits of the file id")


class DispositionPublic(CommandResultPublic):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": EXAMPLE_FILE_ID, "version": 9, "entity_id": None, "position": 4711, "certificate": {
            "destroyed_documents": [{"document_id": EXAMPLE_DOCUMENT_ID, "version": 1}],
            "destroyed_keys": [EXAMPLE_ENTITY_ID], "rule": "customer_file: 3y from last_contact",
            "retention_end": "2029-05-01T10:00:00+00:00", "proposed_by": EXAMPLE_ENTITY_ID,
            "approved_by": EXAMPLE_CUSTOMER_ID, "carried_out_by": EXAMPLE_CUSTOMER_ID,
            "carried_out_at": "2029-05-02T09:30:00+00:00"}}]})

    certificate: dict[str, Any] = Field(description="the disposition certificate: every document version and key "
                                        "destroyed, the rule, who proposed, approved and carried it out")


class DocumentVersionPublic(BaseModel):
    version: int
    sha256: str = Field(description="SHA-256 of the document's bytes (hex)")
    size: int
    media_type: str = Field(description="as judged from the bytes, not as the sender declared it")
    change_reason: str | None = Field(description="why this version replaced the previous one (null for version 1)")
    collected_by: str
    collected_at: AwareDatetime


class DocumentPublic(BaseModel):
    document_id: str
    kind: str
    versions: list[DocumentVersionPublic] = Field(description="oldest first; every one stays readable")


class ServiceFilePublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": EXAMPLE_FILE_ID, "version": 7, "owner_kind": "deal", "owner_id": EXAMPLE_ENTITY_ID,
        "subject_id": EXAMPLE_CUSTOMER_ID, "record_class": "deal_file", "status": "sealed",
        "archive_number": "DF-2026-7C1E3A5F9B2D", "checked": True, "missing": [], "complete": True,
        "documents": [{"document_id": EXAMPLE_DOCUMENT_ID, "kind": "contract", "versions": [{
            "version": 1, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "size": 48213, "media_type": "application/pdf", "change_reason": None,
            "collected_by": EXAMPLE_ENTITY_ID, "collected_at": "2026-05-01T10:00:00+00:00"}]}],
        "reads": [{"document_id": EXAMPLE_DOCUMENT_ID, "version": 1, "by": EXAMPLE_ENTITY_ID,
                   "at": "2026-05-03T09:00:00+00:00"}],
        "holds": [], "active_holds": [], "pending_disposition": None, "certificate": None,
        "retention_end": None}]})

    id: str
    version: int
    owner_kind: str
    owner_id: str
    subject_id: str = Field(description="the customer whose papers these are")
    record_class: str
    status: str = Field(description="`open`, `filed`, `sealed` or `disposed`")
    archive_number: str | None
    checked: bool
    missing: list[str] | None
    complete: bool
    documents: list[DocumentPublic]
    reads: list[dict[str, Any]] = Field(description="every read of a document: which version, by whom, when "
                                        "(the purpose is in the history)")
    holds: list[dict[str, Any]]
    active_holds: list[str]
    pending_disposition: dict[str, Any] | None
    certificate: dict[str, Any] | None
    retention_end: AwareDatetime | None = Field(description="when the retention period ends; null while its "
                                                "clock has not started (an open deal, a customer still served)")


class RetentionDuePublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "file_id": EXAMPLE_FILE_ID, "record_class": "customer_file", "owner_kind": "customer",
        "owner_id": EXAMPLE_CUSTOMER_ID, "status": "sealed", "archive_number": "CF-2026-7C1E3A5F9B2D",
        "documents": 1, "retention_end": "2029-05-01T10:00:00+00:00", "rule": "customer_file: 3y from last_contact",
        "holds": [], "disposition": None}]})

    file_id: str
    record_class: str
    owner_kind: str
    owner_id: str
    status: str = Field(description="`open`, `filed` or `sealed` (a disposed file is no longer due)")
    archive_number: str | None
    documents: int = Field(description="how many documents the file holds")
    retention_end: AwareDatetime
    rule: str
    holds: list[dict[str, Any]] = Field(description="active legal holds: while one is, nothing is destroyed")
    disposition: str | None = Field(description="null, `proposed` or `approved`")


class FileStatus(StrEnum):
    OPEN = "open"
    FILED = "filed"
    SEALED = "sealed"
    DISPOSED = "disposed"


class ServiceFileRowPublic(BaseModel):
    file_id: str
    record_class: str
    owner_kind: str
    owner_id: str
    status: str = Field(description="`open`, `filed`, `sealed` or `disposed`")
    archive_number: str | None
    documents: int = Field(description="how many documents the file holds (each with one or more versions)")
    holds: list[dict[str, Any]] = Field(description="active legal holds (`hold_id`, `placed_at`): while one is, "
                                        "nothing is destroyed")
    disposition: str | None = Field(description="null, `proposed`, `approved` or `carried_out`")
    retention_end: AwareDatetime | None = Field(description="when the retention period ends; null while its clock "
                                                "has not started")


class ServiceFileListPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"file_id": EXAMPLE_FILE_ID, "record_class": "deal_file", "owner_kind": "deal",
                   "owner_id": EXAMPLE_ENTITY_ID, "status": "sealed", "archive_number": "DF-2026-7C1E3A5F9B2D",
                   "documents": 3, "holds": [], "disposition": None,
                   "retention_end": "2031-05-01T10:00:00+00:00"}],
        "total": 1, "limit": 100, "offset": 0, "next_offset": None}]})

    items: list[ServiceFileRowPublic] = Field(description="in the order the files were opened")
    total: int = Field(description="how many files match the filters in all")
    limit: int
    offset: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last one")
