"""Sealed exports: a customer's or deal's service file as a BagIt package (``archive.sealed_package``).

What goes in: the owner record's events and those of its service files, each with its stored bytes
(ciphertext), its readable form — personal data masked as the archivist sees it, ``[erased]`` once
shredded, ``[restricted]`` while an erasure waits — and its inclusion proof against a checkpoint
signed for the export; the documents of the files (decrypted; each read recorded on its file with
the purpose "sealed export" before the checkpoint, so the package holds its own reads); a summary.
Shredded documents are listed in the summary and left out.

bagit changes the working directory of the process while it bags, so a server never builds a
package in its own process: ``export_package`` runs in the CLI, and the API starts the CLI.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from archive.sealed_package import PackageContents, PackagedDocument, PackagedEvent, build_package
from archive.sql import Database
from domain.errors import InvalidValue, NotFound
from domain.identity import Duty
from domain.service_file import ServiceFile
from domain.service_file_values import OwnerKind, RecordClass, service_file_id
from service import views
from service.ids import as_uuid
from service.redaction import redact_event

EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/tiff": "tif",
              "image/webp": "webp"}
EXPORT_PURPOSE = "sealed export"


class ExportCommands:
    # Provided by RealtyLedger.
    settings: Any
    data_keys: Any
    documents: Any
    recorder: Any
    audit: Any
    events: Any
    mapper: Any
    _get: Any
    _load: Any
    _run: Any
    _actor: Any
    service_file_ids: Any
    file_retention_end: Any
    read_document: Any

    def resolve_export(self, *, customer_id: str | None = None, deal_id: str | None = None,
                       archive_no: str | None = None) -> tuple[str, uuid.UUID, list[uuid.UUID]]:
        """(owner kind, owner id, its service files) for one of the three ways to name an export."""
        if sum(x is not None for x in (customer_id, deal_id, archive_no)) != 1:
            raise InvalidValue("export", "name exactly one of a customer, a deal or an archive number")
        if archive_no is not None:
            for file_id in self.service_file_ids():
                file = self._load(uuid.UUID(file_id), kind="service file")
                if file.archive_number == archive_no:
                    return file.owner_kind, file.owner_id, [file.id]
            raise NotFound("archive number", archive_no)
        kind = OwnerKind.CUSTOMER if customer_id is not None else OwnerKind.DEAL
        # Its first version says what the record is: a long history is not replayed just for that.
        owner = self._load(as_uuid(customer_id or deal_id, "customer_id" if customer_id else "deal_id"),
                           version=1, kind=kind.value)
        if views.kind_of(owner) != kind.value:
            raise NotFound(kind.value, owner.id)
        files = []
        for record_class in RecordClass:
            file_id = service_file_id(kind, owner.id, record_class)
            try:
                self._load(file_id, kind="service file")
            except NotFound:
                continue
            files.append(file_id)
        return kind.value, owner.id, files

    def export_package(self, acting: Any, *, out: Path, fmt: str = "tar", encrypt_to: Any = None,
                       customer_id: str | None = None, deal_id: str | None = None, archive_no: str | None = None,
                       progress: Any = None) -> dict[str, Any]:
        self._actor(acting).require(Duty.EXPORT_SEALED_PACKAGES)
        owner_kind, owner_id, file_ids = self.resolve_export(customer_id=customer_id, deal_id=deal_id,
                                                             archive_no=archive_no)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        # Beside the package, so that the builder can link the decrypted documents in, not copy them.
        with tempfile.TemporaryDirectory(prefix=f".{Path(out).name}.scratch-", dir=Path(out).parent) as scratch:
            documents, notes = self._export_documents(acting, file_ids, Path(scratch))
            checkpoint = self.audit.checkpoint()
            records = [owner_id, *file_ids]
            read = {r: self._packaged_events(r) for r in records}
            events = [e for r in records for e in read[r][0] if e.position < checkpoint.tree_size]
            proofs = {p["position"]: p for r in records for p in self.audit.proofs_for(r).values() if p.get("covered")}
            loaded = {r: aggregate for r, (_, aggregate) in read.items()}
            files = [loaded[f] for f in file_ids]
            # A customer's history can be long: its retention end is worked out on the record just read,
            # not on another replay of it.
            ends = [self.file_retention_end(f, owner=loaded[owner_id]) for f in files]
            numbers = [f.archive_number for f in files if f.archive_number]
            contents = PackageContents(
                external_identifier=numbers[0] if numbers else f"{owner_kind}-{owner_id}",
                source_organization=self.settings.ledger_origin,
                subject=f"{owner_kind} {owner_id}",
                events=events,
                documents=[d for d, _ in documents],
                summary=_summary(owner_kind, owner_id, files, events, documents, notes, ends),
                checkpoint=checkpoint,
                proofs=proofs,
                retention_end=max((e for e in ends if e is not None), default=None) and
                max(e for e in ends if e is not None).date().isoformat(),
                holds=[f"{h['hold_id']} on {f.archive_number or f.id}" for f in files for h in f.active_holds],
            )
            path = build_package(contents, Path(out), signer=self.audit.keyring, fmt=fmt,  # type: ignore[arg-type]
                                 encrypt_to=encrypt_to, progress=progress, link_documents=True)
        return {"path": str(path), "external_identifier": contents.external_identifier, "events": len(events),
                "documents": len(documents), "tree_size": checkpoint.tree_size, "format": fmt,
                "encrypted": encrypt_to is not None}

    def _export_documents(self, acting: Any, file_ids: list[uuid.UUID], scratch: Path
                          ) -> tuple[list[tuple[PackagedDocument, dict[str, Any]]], list[str]]:
        documents, notes = [], []
        for file_id in file_ids:
            file: ServiceFile = self._load(file_id, kind="service file")
            if file.is_disposed:
                notes.append(f"service file {file_id} was disposed of; its documents no longer exist")
                continue
            if self.data_keys.is_restricted(str(file.subject_id)):  # PIPL Art. 47(2): storage only
                notes.append(f"the documents of service file {file_id} are withheld: its customer asked for "
                             "erasure and is restricted")
                continue
            for version in file.versions():
                doc_id, n = version["document_id"], version["version"]
                if self.data_keys.raw_key(uuid.UUID(str(version["key_id"]))) is None:
                    notes.append(f"document {doc_id} v{n} was shredded")
                    continue
                facts, content = self.read_document(acting, str(file_id), str(doc_id), purpose=EXPORT_PURPOSE,
                                                    version=n)
                target = scratch / f"{file_id}-{doc_id}-{n}"
                target.write_bytes(content)
                ext = EXTENSIONS.get(facts["media_type"], "bin")
                documents.append((PackagedDocument(
                    path=f"{file.record_class}/{doc_id}/v{n}-{facts['kind']}.{ext}", content=target,
                    media_type=facts["media_type"], recorded_sha256=facts["sha256"]), facts))
        return documents, notes

    def _packaged_events(self, record_id: uuid.UUID) -> tuple[list[PackagedEvent], Any]:
        """The record's events as packaged, and the record as they make it (the same read)."""
        db = Database(self.recorder.datastore)
        table = db.table(self.recorder.events_table_name)
        key = record_id.hex if db.backend == "sqlite" else record_id
        rows = db.query(f"SELECT originator_version, position, topic, state FROM {table} "  # noqa: S608
                        "WHERE originator_id = ? ORDER BY originator_version", (key,))
        out, aggregate = [], None
        oid = str(record_id)
        for v, p, t, s in rows:
            # The readable form from the very row exported (decoded by the application's mapper, as
            # events.get and repository.get would: one read of the record, not three).
            stored = bytes(s)
            event = self.mapper.to_domain_event(StoredEvent(originator_id=record_id, originator_version=int(v),
                                                            topic=t, state=stored))
            out.append(PackagedEvent(position=int(p), originator_id=oid, originator_version=int(v), topic=t,
                                     stored_state=stored, record=redact_event(views.describe_event(event))))
            aggregate = event.mutate(aggregate)
        if aggregate is None:
            raise NotFound("record", record_id)
        return out, aggregate


def _summary(owner_kind: str, owner_id: uuid.UUID, files: list[ServiceFile], events: list[PackagedEvent],
             documents: list[tuple[PackagedDocument, dict[str, Any]]], notes: list[str],
             ends: list[datetime | None]) -> str:
    lines = [f"# Service file of {owner_kind} {owner_id}", "",
             f"Exported {datetime.now(UTC).isoformat(timespec='seconds')} by Realty Ledger.", "",
             "## Files", ""]
    for file, end in zip(files, ends, strict=True):
        lines.append(f"- {file.record_class} {file.id}: archive number {file.archive_number or '(not filed)'}, "
                     f"status {file.status}, retention ends {end.date().isoformat() if end else '(clock not started)'}, "
                     f"{len(file.active_holds)} active hold(s)")
    if not files:
        lines.append("- (no service file opened)")
    lines += ["", f"## Events ({len(events)})", "", "| position | record | version | event | occurred at | role |",
              "|---|---|---|---|---|---|"]
    for e in events:
        r = e.record
        lines.append(f"| {e.position} | {e.originator_id} | {e.originator_version} | {r['name']} | "
                     f"{r['occurred_at']} | {r['actor_role']} |")
    lines += ["", f"## Documents ({len(documents)})", ""]
    lines += [f"- {d.path} ({facts['media_type']}, {facts['size']} bytes, SHA-256 {d.recorded_sha256})"
              for d, facts in documents]
    lines += [f"- {note}" for note in notes]
    lines += ["", "Personal data is shown as the archivist sees it: masked; `[erased]` once shredded, "
              "`[restricted]` while an erasure request waits for its retention period to end.", ""]
    return "\n".join(lines)
