"""The service file's events: past tense, explicit stable topics, personal fields declared.

Kept apart from ``domain.service_file`` (the commands and rules) so each module stays readable; the
aggregate re-exports every class, so ``ServiceFile.Opened`` is the same object as ``Opened``.
Free text written on a file (a reason for a new version, a reopening, a hold, its release or a
refused disposition, a read's purpose) may name the customer, so it is declared personal and
shredded with the customer's other data. Those fields have names of their own (``hold_reason``, not
``reason``) because redaction of record states goes by field name across all records, and the
``reason`` of, say, a cancelled deal is not personal;
the disposition certificate holds ids, versions and the rule only, so it outlives the shredding.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate

from domain.recording import RecordedEvent

if TYPE_CHECKING:
    from domain.service_file import ServiceFile


class ServiceFileEvent(RecordedEvent):
    RECORD = "ServiceFile"


class Opened(ServiceFileEvent, Aggregate.Created):
    TOPIC = "realty.service_file.opened"
    SUBJECT_FIELD = "subject_id"  # the file's personal data is its customer's (one key, one shredding)
    owner_kind: str
    owner_id: uuid.UUID
    subject_id: uuid.UUID
    record_class: str

    def apply(self, f: ServiceFile) -> None:
        f.owner_kind, f.owner_id = self.owner_kind, self.owner_id
        f.subject_id, f.record_class = self.subject_id, self.record_class
        f.status = "open"
        f.documents = {}
        f.checked, f.missing = False, None
        f.archive_number = None
        f.holds = {}
        f.disposition = None
        f.certificate = None
        f.reads = []


class DocumentCollected(ServiceFileEvent):
    """Version 1 of a new document, or version n+1 of one on file (earlier versions stay)."""

    TOPIC = "realty.service_file.document_collected"
    PERSONAL_FIELDS = ("change_reason",)
    document_id: uuid.UUID
    kind: str
    version: int
    sha256: str
    size: int
    media_type: str
    storage_key: str
    key_id: str
    change_reason: str | None

    def apply(self, f: ServiceFile) -> None:
        f.documents.setdefault(self.document_id, []).append(
            {
                "document_id": self.document_id,
                "kind": self.kind,
                "version": self.version,
                "sha256": self.sha256,
                "size": self.size,
                "media_type": self.media_type,
                "storage_key": self.storage_key,
                "key_id": self.key_id,
                "change_reason": self.change_reason,
                "collected_by": self.actor_id,
                "collected_at": self.occurred_at,
            }
        )
        # What was checked is no longer what is on file.
        f.checked, f.missing = False, None


class CompletenessChecked(ServiceFileEvent):
    TOPIC = "realty.service_file.completeness_checked"
    missing: list[str]
    complete: bool

    def apply(self, f: ServiceFile) -> None:
        f.checked, f.missing = True, list(self.missing)


class Filed(ServiceFileEvent):
    TOPIC = "realty.service_file.filed"
    archive_number: str

    def apply(self, f: ServiceFile) -> None:
        f.status = "filed"
        f.archive_number = self.archive_number


class Sealed(ServiceFileEvent):
    TOPIC = "realty.service_file.sealed"

    def apply(self, f: ServiceFile) -> None:
        f.status = "sealed"


class Reopened(ServiceFileEvent):
    """A filed or sealed file opened again to add a version (7.4); it is checked and filed afresh."""

    TOPIC = "realty.service_file.reopened"
    PERSONAL_FIELDS = ("reopen_reason",)
    reopen_reason: str

    def apply(self, f: ServiceFile) -> None:
        f.status = "open"
        f.checked, f.missing = False, None


class DocumentRead(ServiceFileEvent):
    TOPIC = "realty.service_file.document_read"
    PERSONAL_FIELDS = ("read_purpose",)
    document_id: uuid.UUID
    version: int
    read_purpose: str

    def apply(self, f: ServiceFile) -> None:
        f.reads.append(
            {"document_id": self.document_id, "version": self.version, "by": self.actor_id, "at": self.occurred_at}
        )


class HoldPlaced(ServiceFileEvent):
    TOPIC = "realty.service_file.hold_placed"
    PERSONAL_FIELDS = ("hold_reason",)
    hold_id: uuid.UUID
    hold_reason: str

    def apply(self, f: ServiceFile) -> None:
        f.holds[self.hold_id] = {
            "hold_id": self.hold_id,
            "hold_reason": self.hold_reason,
            "placed_by": self.actor_id,
            "placed_at": self.occurred_at,
            "released_by": None,
            "released_at": None,
            "release_reason": None,
        }


class HoldReleased(ServiceFileEvent):
    TOPIC = "realty.service_file.hold_released"
    PERSONAL_FIELDS = ("release_reason",)
    hold_id: uuid.UUID
    release_reason: str

    def apply(self, f: ServiceFile) -> None:
        f.holds[self.hold_id].update(
            released_by=self.actor_id, released_at=self.occurred_at, release_reason=self.release_reason
        )


class DispositionProposed(ServiceFileEvent):
    TOPIC = "realty.service_file.disposition_proposed"
    rule: str
    retention_end: datetime
    proposed_by: uuid.UUID

    def apply(self, f: ServiceFile) -> None:
        f.disposition = {
            "rule": self.rule,
            "retention_end": self.retention_end,
            "proposed_by": self.proposed_by,
            "proposed_at": self.occurred_at,
            "approved_by": None,
            "approved_at": None,
        }


class DispositionApproved(ServiceFileEvent):
    TOPIC = "realty.service_file.disposition_approved"
    approved_by: uuid.UUID

    def apply(self, f: ServiceFile) -> None:
        f.disposition = {**f.disposition, "approved_by": self.approved_by, "approved_at": self.occurred_at}


class DispositionRejected(ServiceFileEvent):
    """The proposal (approved or not) is withdrawn; the file is kept and may be proposed again."""

    TOPIC = "realty.service_file.disposition_rejected"
    PERSONAL_FIELDS = ("refusal_reason",)
    refusal_reason: str

    def apply(self, f: ServiceFile) -> None:
        f.disposition = None


class DispositionCarriedOut(ServiceFileEvent):
    """The disposition certificate: what was destroyed, under which rule, proposed and approved by whom."""

    TOPIC = "realty.service_file.disposition_carried_out"
    destroyed_documents: list[dict[str, object]]  # {"document_id": hex string, "version": int}
    destroyed_keys: list[str]
    rule: str
    retention_end: datetime
    proposed_by: uuid.UUID
    approved_by: uuid.UUID

    def apply(self, f: ServiceFile) -> None:
        f.status = "disposed"
        f.certificate = {
            "destroyed_documents": [dict(d) for d in self.destroyed_documents],
            "destroyed_keys": list(self.destroyed_keys),
            "rule": self.rule,
            "retention_end": self.retention_end,
            "proposed_by": self.proposed_by,
            "approved_by": self.approved_by,
            "carried_out_by": self.actor_id,
            "carried_out_at": self.occurred_at,
        }
        f.disposition = None
