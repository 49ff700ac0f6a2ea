"""Service file (服务档案, manual ch. 7): the papers of one customer or one deal, from collection
through the completeness check, filing (档案号) and sealing, to disposition when their retention
period is over.

The file holds references to documents, never their bytes: the archive stores each version
encrypted under its own key (``storage_key``, ``key_id``) and the file records its digest, so a
verifier can tell the stored bytes are the ones filed. Updates (7.4) add versions and never replace
one. Every read of a document is recorded with its purpose (7.3). Legal holds suspend disposition;
disposition is a two-person rule (an archivist proposes, a compliance officer who is not the
proposer approves), and its last event is the disposition certificate, after which the file
accepts nothing, not even a read.

Sealing freezes the file: a sealed file is what the sealed package exported and an auditor
verified, so changing it must be a decision someone takes and explains (``Reopened`` with a
reason), after which the file is checked, filed (under the same archive number) and sealed again.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain import service_file_events as ev
from domain import service_file_values as v
from domain.errors import (
    CompletenessNotChecked,
    DocumentAlreadyCollected,
    DocumentNotFound,
    InvalidServiceFileTransition,
    InvalidValue,
    ServiceFileIncomplete,
)
from domain.identity import Actor, Duty
from domain.recording import Recordable, business_time, require_choice, require_text, require_whole
from domain.rules import MAX_DOCUMENT_SIZE, MAX_READ_PURPOSE
from domain.service_file_disposition import HoldsAndDisposition

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


class ServiceFile(HoldsAndDisposition, Recordable, Aggregate):
    TOPIC = "realty.service_file"

    Event = ev.ServiceFileEvent
    Opened = ev.Opened
    Created = ev.Opened  # the library looks for a Created class on every aggregate
    DocumentCollected = ev.DocumentCollected
    CompletenessChecked = ev.CompletenessChecked
    Filed = ev.Filed
    Sealed = ev.Sealed
    Reopened = ev.Reopened
    DocumentRead = ev.DocumentRead
    HoldPlaced = ev.HoldPlaced
    HoldReleased = ev.HoldReleased
    DispositionProposed = ev.DispositionProposed
    DispositionApproved = ev.DispositionApproved
    DispositionRejected = ev.DispositionRejected
    DispositionCarriedOut = ev.DispositionCarriedOut

    # --- derived state ---------------------------------------------------------------------

    @property
    def current_documents(self) -> list[dict[str, Any]]:
        """The latest version of each document, in the order the documents came in."""
        return [versions[-1] for versions in self.documents.values()]

    def versions(self, document_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
        """Every version on file (of one document, or of all), oldest first."""
        if document_id is not None:
            return list(self._versions_of(document_id))
        return [version for versions in self.documents.values() for version in versions]

    @property
    def complete(self) -> bool:
        """The last completeness check found nothing missing, and nothing came in since."""
        return self.checked and self.missing == []

    @property
    def active_holds(self) -> list[dict[str, Any]]:
        return [hold for hold in self.holds.values() if hold["released_at"] is None]

    @property
    def pending_disposition(self) -> dict[str, Any] | None:
        """The disposition proposed (and perhaps approved) but not yet carried out."""
        return self.disposition

    @property
    def is_disposed(self) -> bool:
        return self.status == "disposed"

    # --- the archiving flow (7.2) and updates (7.4) ------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        owner_kind: str,
        owner_id: uuid.UUID,
        subject_id: uuid.UUID,
        record_class: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> ServiceFile:
        actor.require(Duty.COLLECT_DOCUMENTS)
        require_choice("owner_kind", owner_kind, v.OwnerKind)
        require_choice("record_class", record_class, v.RecordClass)
        if v.OWNER_OF[v.RecordClass(record_class)] != owner_kind:
            raise InvalidValue("owner_kind", f"a {record_class} belongs to a {v.OWNER_OF[v.RecordClass(record_class)]}")
        if owner_kind == v.OwnerKind.CUSTOMER and subject_id != owner_id:
            raise InvalidValue("subject_id", "must be the customer the file belongs to")
        file: ServiceFile = cls._create_recorded(
            cls.Opened,
            actor,
            occurred_at,
            id=v.service_file_id(owner_kind, owner_id, record_class),
            owner_kind=owner_kind,
            owner_id=owner_id,
            subject_id=subject_id,
            record_class=record_class,
        )
        return file

    def collect_document(
        self,
        *,
        kind: str,
        sha256: str,
        size: int,
        media_type: str,
        storage_key: str,
        key_id: str,
        document_id: uuid.UUID | None = None,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> uuid.UUID:
        """A new document (version 1). ``document_id`` may be chosen by the caller (to name its storage)."""
        actor.require(Duty.COLLECT_DOCUMENTS)
        self._require("collect documents for", "open")
        document_id = document_id or uuid.uuid4()
        if document_id in self.documents:
            raise DocumentAlreadyCollected(document_id)
        self._record(
            self.DocumentCollected,
            actor,
            occurred_at,
            document_id=document_id,
            kind=require_choice("kind", kind, v.DocumentKind),
            version=1,
            change_reason=None,
            **_stored_copy(sha256, size, media_type, storage_key, key_id),
        )
        return document_id

    def update_document(
        self,
        *,
        document_id: uuid.UUID,
        sha256: str,
        size: int,
        media_type: str,
        storage_key: str,
        key_id: str,
        reason: str,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> int:
        """A new version of a document on file (7.4): earlier versions stay; the reason is required."""
        actor.require(Duty.COLLECT_DOCUMENTS)
        self._require("update documents of", "open")
        latest = self._versions_of(document_id)[-1]
        version = latest["version"] + 1
        self._record(
            self.DocumentCollected,
            actor,
            occurred_at,
            document_id=document_id,
            kind=latest["kind"],
            version=version,
            change_reason=require_text("reason", reason),
            **_stored_copy(sha256, size, media_type, storage_key, key_id),
        )
        return version

    def check_completeness(self, *, actor: Actor, occurred_at: datetime | None = None) -> list[str]:
        """Check the current documents against the checklist of the file's record class."""
        actor.require(Duty.KEEP_SERVICE_FILES)
        self._require("check", "open")
        missing = v.missing_documents(self.record_class, {d["kind"] for d in self.current_documents})
        self._record(self.CompletenessChecked, actor, occurred_at, missing=missing, complete=not missing)
        return missing

    def file(self, *, actor: Actor, occurred_at: datetime | None = None) -> str:
        """归档: give the file its archive number. A file filed again after reopening keeps its number."""
        actor.require(Duty.KEEP_SERVICE_FILES)
        self._require("file", "open")
        if not self.checked:
            raise CompletenessNotChecked(self.id)
        if self.missing:
            raise ServiceFileIncomplete(self.id, self.missing)
        when = business_time(occurred_at, self.last_occurred_at)
        number = self.archive_number or v.archive_number(self.record_class, self.id, when)
        self._record(self.Filed, actor, when, archive_number=number)
        return number

    def seal(self, *, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.KEEP_SERVICE_FILES)
        self._require("seal", "filed")
        self._record(self.Sealed, actor, occurred_at)

    def reopen(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.KEEP_SERVICE_FILES)
        self._require("reopen", "filed", "sealed")
        self._record(self.Reopened, actor, occurred_at, reopen_reason=require_text("reason", reason))

    # --- confidentiality (7.3) ---------------------------------------------------------------

    def record_read(
        self,
        *,
        document_id: uuid.UUID,
        purpose: str,
        version: int | None = None,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Record a read of a document (the latest version unless one is named); returns that version."""
        actor.require(Duty.READ_SERVICE_FILES)
        self._require_not_disposed()
        versions = self._versions_of(document_id)
        if version is None:
            read = versions[-1]
        elif isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= len(versions):
            read = versions[version - 1]
        else:
            raise DocumentNotFound(document_id, version)
        self._record(
            self.DocumentRead,
            actor,
            occurred_at,
            document_id=document_id,
            version=read["version"],
            read_purpose=require_text("purpose", purpose, MAX_READ_PURPOSE),
        )
        return dict(read)

    # --- guards -----------------------------------------------------------------------------

    def _require(self, action: str, *allowed: str) -> None:
        self._require_not_disposed()
        if self.status not in allowed:
            raise InvalidServiceFileTransition(self.id, action, self.status, " or ".join(allowed))

    def _versions_of(self, document_id: uuid.UUID) -> list[dict[str, Any]]:
        if document_id not in self.documents:
            raise DocumentNotFound(document_id)
        return self.documents[document_id]  # type: ignore[no-any-return]


def _stored_copy(sha256: str, size: int, media_type: str, storage_key: str, key_id: str) -> dict[str, Any]:
    """The facts of one stored, encrypted version: its digest, size and type, where it is and its key."""
    digest = sha256.lower() if isinstance(sha256, str) else ""
    if not _SHA256.fullmatch(digest):
        raise InvalidValue("sha256", "must be 64 hexadecimal digits")
    require_whole("size", size, 1, MAX_DOCUMENT_SIZE)
    kind = media_type.strip().lower() if isinstance(media_type, str) else ""
    if not _MEDIA_TYPE.fullmatch(kind):
        raise InvalidValue("media_type", "must be a media type such as application/pdf")
    return {
        "sha256": digest,
        "size": size,
        "media_type": kind,
        "storage_key": require_text("storage_key", storage_key),
        "key_id": require_text("key_id", key_id, 200),
    }

