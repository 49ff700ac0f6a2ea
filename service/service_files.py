"""Service files (服务档案, manual ch. 7) on the application: documents, the archiving flow, holds,
retention and two-person disposition.

Documents are stored encrypted and content-addressed (``archive.documents``), each version under a
data key of its own whose subject is the file's customer; the key row is written in the same
transaction as the event that records the version, so the ledger never names a key it lacks.
Every read of a document is recorded on the file before its bytes are returned.

Disposition destroys what the file holds once its retention period has ended, approved by a
second person: every document version's key (and its blob), and for a customer file the
customer's own keys (their personal data across the log reads as erased). A deal file also
destroys the deal's record key (its payer accounts). Complaint texts live in the customer's record
and go with the customer's keys: a complaint record's disposition destroys its documents only.

Approving saves more than once (the approval, the certificate, a customer file's erasure record)
and destroys keys between them, so a failure can leave a disposition half done. Approving again
finishes it, and so do the automations (``disposition_state``); only the last save, once
everything is destroyed, marks the request's Idempotency-Key "recorded".
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from archive.content_types import SNIFF_BYTES, check_upload
from archive.documents import DocumentStore, LocalDocumentStore
from archive.retention import RetentionFacts, retention_end
from domain.customer import Customer
from domain.deal import Deal
from domain.errors import CustomerRestricted, DocumentShredded, InvalidValue, ServiceFileDisposed
from domain.identity import Duty
from domain.recording import require_choice, require_text
from domain.service_file import ServiceFile
from domain.service_file_values import DocumentKind, OwnerKind, RecordClass, service_file_id
from service.ids import as_uuid

ALLOWED_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/tiff", "image/webp"})
OPENED_TOPIC = ServiceFile.Opened.TOPIC  # type: ignore[attr-defined]
APPROVED_TOPIC = ServiceFile.DispositionApproved.TOPIC  # type: ignore[attr-defined]
CARRIED_OUT_TOPIC = ServiceFile.DispositionCarriedOut.TOPIC  # type: ignore[attr-defined]
# How long an approved or certified disposition is left to the request that is carrying it out
# before the automations finish it (a request takes seconds; racing it would only make it conflict).
DISPOSITION_GRACE = timedelta(minutes=5)


def document_aad(file_id: uuid.UUID, document_id: uuid.UUID, version: int) -> bytes:
    return f"realty-document/v1\x00{file_id}\x00{document_id}\x00{version}".encode()


class ServiceFileCommands:
    # Provided by RealtyLedger.
    settings: Any
    data_keys: Any
    retention_policy: Any
    recorder: Any
    _run: Any
    _create: Any
    _get: Any
    _load: Any
    _execute: Any
    _actor: Any

    @functools.cached_property
    def documents(self) -> DocumentStore:
        bucket = self.settings.documents_bucket
        if bucket is None:
            return LocalDocumentStore(self.settings.documents_path)
        from archive.s3_documents import S3DocumentStore

        return S3DocumentStore(bucket.endpoint, bucket.bucket, bucket.prefix,
                               self.settings.s3_access_key_id.get_secret_value(),
                               self.settings.s3_secret_access_key.get_secret_value(), region=bucket.region)

    # --- opening and collecting -----------------------------------------------------------------

    def open_service_file(self, acting: Any, *, owner_kind: str, owner_id: str, record_class: str,
                          occurred_at: datetime | None = None) -> Any:
        if record_class not in self.retention_policy.classes:
            raise InvalidValue("record_class", f"must be one of {', '.join(self.retention_policy.classes)} "
                                               "(the retention policy's classes)")
        if owner_kind == OwnerKind.DEAL:
            subject = self._get(Deal, owner_id).customer_id
        elif owner_kind == OwnerKind.CUSTOMER:
            subject = self._get(Customer, owner_id).id
        else:
            raise InvalidValue("owner_kind", "must be customer or deal")
        self._refuse_restricted(subject)
        return self._create(acting, lambda actor: ServiceFile.open(
            owner_kind=owner_kind, owner_id=uuid.UUID(str(owner_id)), subject_id=subject,
            record_class=record_class, actor=actor, occurred_at=occurred_at))

    def service_file_for(self, owner_kind: str, owner_id: str, record_class: str) -> str:
        return str(service_file_id(owner_kind, uuid.UUID(str(owner_id)), record_class))

    def upload_document(self, acting: Any, file_id: str, *, content: bytes, kind: str | None = None,
                        document_id: str | None = None, reason: str | None = None,
                        expected_version: int | None = None, occurred_at: datetime | None = None) -> Any:
        """A new document (``kind``), or a new version of ``document_id`` (with ``reason``);
        ``occurred_at`` the business time it came in (default now; a paper filed after the fact)."""
        media_type = check_upload(content[:SNIFF_BYTES], len(content), max_bytes=self.settings.max_document_bytes,
                                  allowed=set(ALLOWED_TYPES))
        file = self._get(ServiceFile, file_id)
        self._refuse_restricted(file.subject_id)
        doc_id = as_uuid(document_id, "document_id") if document_id else uuid.uuid4()
        version = 1 if document_id is None else len(file.versions(doc_id)) + 1
        # What the aggregate would refuse, refused before anything is stored (no orphan blob or key).
        file._require("collect documents for", "open")
        if document_id is None:
            require_choice("kind", kind or "", DocumentKind)
        else:
            require_text("reason", reason or "")
        key_id, key = self.data_keys.new_document_key(f"{file.id}/{doc_id}/v{version}", str(file.subject_id))
        stored = self.documents.put(content, key=key, aad=document_aad(file.id, doc_id, version))
        facts = {"sha256": stored.sha256, "size": stored.size, "media_type": media_type,
                 "storage_key": stored.address, "key_id": str(key_id)}

        def work(f: ServiceFile, actor: Any) -> tuple[list[Any], str]:
            if document_id is None:
                f.collect_document(kind=kind or "", document_id=doc_id, actor=actor, occurred_at=occurred_at, **facts)
            else:
                if len(f.versions(doc_id)) + 1 != version:  # another version came first: try again
                    raise InvalidValue("document_id", "a newer version was recorded meanwhile; upload again")
                f.update_document(document_id=doc_id, reason=reason or "", actor=actor, occurred_at=occurred_at,
                                  **facts)
            return [], str(doc_id)

        try:
            return self._run(acting, ServiceFile, file.id, expected_version, work)
        except BaseException:
            # Nothing recorded: the key (never inserted) and the blob go. Identical content stored
            # under another key has another address, so the blob is this upload's alone.
            self.data_keys.discard_pending()
            self.documents.delete(stored.address)
            raise

    def read_document(self, acting: Any, file_id: str, document_id: str, *, purpose: str,
                      version: int | None = None) -> tuple[dict[str, Any], bytes]:
        """Record the read (who, when, why), then return the version's facts and its bytes."""
        file = self._get(ServiceFile, file_id)
        self._refuse_restricted(file.subject_id)
        doc_id = as_uuid(document_id, "document_id")
        chosen: dict[str, Any] = {}

        def work(f: ServiceFile, actor: Any) -> tuple[list[Any], str]:
            chosen.update(f.record_read(document_id=doc_id, purpose=purpose, version=version, actor=actor))
            return [], str(doc_id)

        self._run(acting, ServiceFile, file.id, None, work)
        key = self.data_keys.raw_key(uuid.UUID(chosen["key_id"]))
        if key is None:
            raise DocumentShredded(doc_id)  # by an erasure, after the file was read
        content = self.documents.get(chosen["storage_key"], key=key,
                                     aad=document_aad(file.id, doc_id, chosen["version"]))
        return chosen, content

    def _refuse_restricted(self, subject_id: Any) -> None:
        if self.data_keys.is_restricted(str(subject_id)):
            raise CustomerRestricted(subject_id)

    # --- the flow, holds, disposition --------------------------------------------------------------

    def file_command(self, acting: Any, file_id: str, action: str, *, expected_version: int | None = None,
                     marks_claim: bool = True, **kwargs: Any) -> Any:
        """check_completeness, file, seal, reopen, place_hold, release_hold, approve_disposition,
        reject_disposition: the aggregate's command of that name."""
        allowed = {"check_completeness", "file", "seal", "reopen", "place_hold", "release_hold",
                   "approve_disposition", "reject_disposition"}
        if action not in allowed:  # pragma: no cover - routes name their action
            raise ValueError(action)

        def work(f: ServiceFile, actor: Any) -> tuple[list[Any], str | None]:
            if "hold_id" in kwargs:
                kwargs["hold_id"] = as_uuid(kwargs["hold_id"], "hold_id")
            made = getattr(f, action)(actor=actor, **kwargs)
            return [], str(made) if isinstance(made, uuid.UUID | str) else None

        return self._run(acting, ServiceFile, file_id, expected_version, work, marks_claim=marks_claim)

    def file_retention_end(self, file: ServiceFile, owner: Any = None) -> datetime | None:
        """When the file's retention period ends (None while its clock has not started). ``owner``:
        the file's deal or customer if the caller has it loaded already (a long history, replayed once)."""
        facts = RetentionFacts(record_class=file.record_class)
        if file.owner_kind == OwnerKind.DEAL:
            deal = owner or self._load(file.owner_id, kind="deal")
            facts = RetentionFacts(record_class=file.record_class,
                                   deal_closed_at=None if deal.is_open else deal.last_occurred_at)
        else:
            customer = owner or self._load(file.owner_id, kind="customer")
            resolved = [c.get("resolved_at") for c in customer.complaints.values()]
            facts = RetentionFacts(
                record_class=file.record_class, customer_lost=customer.is_lost,
                last_contact_at=customer.last_occurred_at,
                complaints_resolved_at=tuple(r for r in resolved if r is not None),
                complaint_unresolved=any(r is None for r in resolved))
        return retention_end(self.retention_policy, facts)

    def propose_disposition(self, acting: Any, file_id: str, *, now: datetime | None = None) -> Any:
        file = self._get(ServiceFile, file_id)
        end = self.file_retention_end(file)
        if end is None:
            raise InvalidValue("file_id", "the file's retention period has not started (an open deal, an "
                                          "unresolved complaint, or a customer still served)")
        rule = self.retention_policy.rule(file.record_class).describe()
        return self._run(acting, ServiceFile, file.id, None, lambda f, actor: (
            f.propose_disposition(rule=rule, retention_end=end, actor=actor, occurred_at=now) or [], None))

    def approve_disposition(self, acting: Any, file_id: str) -> Any:
        """The second person approves; the archive then shreds and records the certificate. Sent
        again for a disposition approved (or certified) but not finished, it finishes it."""
        file = self._get(ServiceFile, file_id)
        pending = file.pending_disposition or {}
        if file.is_disposed or pending.get("approved_by") is not None:
            # The approval stands (a failure cut its request short): finishing it decides nothing
            # new, but only someone who may approve finishes it here (the automations do otherwise).
            self._actor(acting).require(Duty.APPROVE_DISPOSITION)
            if file.is_disposed and not self._disposition_unfinished(file):
                raise ServiceFileDisposed(file.id)
        else:
            self.file_command(acting, file_id, "approve_disposition", marks_claim=False)
        return self.carry_out_disposition(acting, file_id)

    def carry_out_disposition(self, acting: Any, file_id: str) -> Any:
        """Record the certificate, then destroy what it lists; on a file already disposed of, finish
        the destruction (idempotent: a crash between the two steps is repaired by calling again).

        The certificate comes first, guarded by the version the approval was checked on: a hold (or
        anything else) recorded meanwhile makes it conflict before anything is destroyed, and once
        it is recorded the file refuses every further command, holds included. What goes: every
        document version's key and blob, and the owner's own record key — a customer file's
        customer (their deals' keys stay with their deal files' own periods and holds), a deal
        file's deal (its payer accounts). A complaint record keeps its owner's key (the customer's
        own file decides about that)."""
        from service.application import CommandResult

        file = self._get(ServiceFile, file_id)
        result = CommandResult(str(file.id), file.version)
        if not file.is_disposed:
            file.require_disposable()
            keys = {str(v["key_id"]) for v in file.versions()}
            if file.record_class in (RecordClass.CUSTOMER_FILE, RecordClass.DEAL_FILE):
                keys |= set(self.data_keys.owner_keys(str(file.owner_id)))
            documents = [{"document_id": v["document_id"], "version": v["version"]} for v in file.versions()]
            # Never the request's last word: the destruction follows it, outside any transaction.
            result = self._run(acting, ServiceFile, file.id, file.version, lambda f, actor: (f.record_disposition(
                destroyed_documents=documents, destroyed_keys=sorted(keys), actor=actor) or [], None),
                marks_claim=False)
            file = self._get(ServiceFile, file_id)
        certificate = file.certificate or {}
        listed = [as_uuid(k, "key_id") for k in certificate.get("destroyed_keys", [])]
        self.data_keys.destroy(key_ids=listed, reason=f"disposition of service file {file.id}")
        for v in file.versions():
            self.documents.delete(v["storage_key"])
        if file.record_class == RecordClass.CUSTOMER_FILE:
            customer = self._get(Customer, file.subject_id)
            if not customer.is_erased:
                owner = set(self.data_keys.owner_keys(str(file.owner_id), destroyed=True))
                self._run(acting, Customer, customer.id, None, lambda c, actor: (c.record_erasure(
                    destroyed_keys=sorted(owner & {str(k) for k in listed}), cause="disposition", actor=actor)
                    or [], None))
        return result

    def _disposition_unfinished(self, file: ServiceFile) -> bool:
        """A certified file whose destruction a failure cut short: a key it lists is still there,
        or a customer file's customer is not yet recorded erased."""
        listed = (file.certificate or {}).get("destroyed_keys", [])
        if any(self.data_keys.key_by_id(as_uuid(k, "key_id")) is not None for k in listed):
            return True
        return file.record_class == RecordClass.CUSTOMER_FILE and not self._get(Customer, file.subject_id).is_erased

    def disposition_state(self, file_id: str, now: datetime) -> Literal["unfinished", "waiting", "settled"]:
        """For the automations: a disposition approved or certified before ``now`` less the grace
        period and not finished is ``unfinished``; one held, or still young, is ``waiting``; anything
        else (finished, rejected) is ``settled`` until a new approval."""
        file = self._load(as_uuid(file_id, "file_id"), kind="service file")
        if file.is_disposed:
            begun = self._disposition_unfinished(file)
        else:
            begun = (file.pending_disposition or {}).get("approved_by") is not None
            if begun and file.active_holds:
                return "waiting"  # a hold suspends it; once released, the approval still stands
        if not begun:
            return "settled"
        return "unfinished" if file.last_occurred_at <= now - DISPOSITION_GRACE else "waiting"

    def dispositions_after(self, position: int) -> tuple[set[str], int]:
        """Files with a disposition approved or certified after log position ``position`` (topics are
        stored in clear), and the last position read: the automations read only what is new."""
        from archive.sql import Database

        db = Database(self.recorder.datastore)
        table = db.table(self.recorder.events_table_name)
        # Up to the head read first: on PostgreSQL positions commit in order (the log's table lock).
        head = db.query(f"SELECT MAX({db.log_order}) FROM {table}")[0][0] or 0  # noqa: S608
        order = db.log_order
        rows = db.query(f"SELECT originator_id FROM {table} WHERE {order} > ? AND {order} <= ? "  # noqa: S608
                        "AND topic IN (?, ?)", (position, head, APPROVED_TOPIC, CARRIED_OUT_TOPIC))
        return {str(uuid.UUID(str(oid))) for (oid,) in rows}, max(int(head), position)

    # --- what is due ---------------------------------------------------------------------------

    def service_file_ids(self) -> list[str]:
        """Every service file in the log (by its opening event's topic, which is stored in clear)."""
        from archive.sql import Database

        db = Database(self.recorder.datastore)
        table = db.table(self.recorder.events_table_name)
        return [str(uuid.UUID(str(oid))) for (oid,) in db.query(
            f"SELECT originator_id FROM {table} WHERE topic = ? ORDER BY {db.log_order}", (OPENED_TOPIC,))]

    def _files(self, keep: Callable[[ServiceFile], bool] | None = None) -> Iterator[ServiceFile]:
        """Every service file in the log, loaded, in the order they were opened (those ``keep``
        accepts): the one walk behind the list of files and the retention-due list."""
        for file_id in self.service_file_ids():
            file = self._load(uuid.UUID(file_id), kind="service file")
            if keep is None or keep(file):
                yield file

    def _file_row(self, file: ServiceFile, end: datetime | None) -> dict[str, Any]:
        """One file as the lists show it: ids, class, status and number, documents, active holds,
        the state of its disposition, and the end of its retention (None while the clock has not
        started). Ids and codes only: no reason or other free text, so no personal data."""
        pending = file.pending_disposition
        disposition = ("carried_out" if file.is_disposed else None if pending is None else
                       "approved" if pending.get("approved_by") else "proposed")
        return {"file_id": str(file.id), "record_class": file.record_class, "owner_kind": file.owner_kind,
                "owner_id": str(file.owner_id), "status": file.status, "archive_number": file.archive_number,
                "documents": len(file.documents),
                "holds": [{"hold_id": str(h["hold_id"]), "placed_at": str(h.get("placed_at"))}
                          for h in file.active_holds],
                "disposition": disposition, "retention_end": None if end is None else end.isoformat()}

    def service_files(self, *, status: str | None = None, record_class: str | None = None,
                      owner_id: str | None = None, limit: int = 100,
                      offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of the files (in the order they were opened) with the given status, record class
        and owner, and how many there are in all. Only the page's files have their retention end
        worked out (it replays the owner's record)."""
        owner = None if owner_id is None else as_uuid(owner_id, "owner_id")

        def keep(file: ServiceFile) -> bool:
            return ((status is None or file.status == status)
                    and (record_class is None or file.record_class == record_class)
                    and (owner is None or file.owner_id == owner))

        chosen = list(self._files(keep))
        page = chosen[offset:offset + limit]
        return [self._file_row(f, self._retention_end_of(f)) for f in page], len(chosen)

    def _retention_end_of(self, file: ServiceFile) -> datetime | None:
        """A disposed file's retention end is on its certificate; any other file's is worked out."""
        if file.is_disposed:
            return (file.certificate or {}).get("retention_end")
        return self.file_retention_end(file)

    def retention_due(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Files whose retention period has ended and that are not yet disposed of, with their holds."""
        now = now or datetime.now(UTC)
        due = []
        for file in self._files(lambda f: not f.is_disposed):
            end = self.file_retention_end(file)
            if end is None or end > now:
                continue
            due.append({**self._file_row(file, end), "rule": self.retention_policy.rule(file.record_class).describe()})
        return due
