"""Audit routes for compliance officers (and administrators): verification, checkpoints, proofs,
and any record's history with the inclusion proof of each event, its state as of a version or a
time, and the difference between two versions.

A compliance officer reads personal data in full here, and every such read is itself recorded on
their personal-data access log (the auditors are audited); an administrator sees it masked.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.utils import TopicError
from fastapi import APIRouter, Query

from archive.audit_trail import checkpoint_dict
from archive.checkpoints import EmptyLog
from archive.signing import KeyringError, load_public_keys
from domain.identity import Role
from service import audit_reads, metrics
from service.api.deps import AccessDep
from service.api.permissions import Scope, not_found
from service.api.problems import Problem
from service.application import as_uuid
from service.redaction import redact_events, redact_state

router = APIRouter(prefix="/audit", tags=["audit"])

FULL_VIEW = frozenset({Role.COMPLIANCE_OFFICER})


class Aggregate(StrEnum):
    customers = "customers"
    deals = "deals"
    listings = "listings"
    staff = "staff"


KIND = {Aggregate.customers: "customer", Aggregate.deals: "deal", Aggregate.listings: "listing",
        Aggregate.staff: "staff"}

Position = Annotated[int, Query(ge=0, le=2**62, description="0-based position of the event in the log")]
TreeSize = Annotated[int | None, Query(ge=1, le=2**62, description="default: the latest checkpoint's tree size")]


def _unavailable(e: Exception) -> Problem:
    return Problem(422, "proof_unavailable", "Proof unavailable", str(e))


@router.get("/verify", name="audit.verify", summary="Verify the whole log: chain, Merkle roots, signed checkpoints")
def verify(access: AccessDep, start: Annotated[int, Query(alias="from", ge=0, le=2**62)] = 0) -> dict[str, Any]:
    try:
        report = access.ledger.audit.verify(start=start)
    except (ValueError, KeyringError) as e:
        raise _unavailable(e) from None
    metrics.verification_done(report)
    return report.as_dict()


@router.get("/checkpoints/latest", name="audit.latest_checkpoint", summary="The latest signed checkpoint")
def latest_checkpoint(access: AccessDep) -> dict[str, Any]:
    checkpoint = checkpoint_dict(access.ledger.audit.latest_checkpoint())
    if checkpoint is None:
        raise Problem(404, "no_checkpoint", "No checkpoint", "no checkpoint has been signed yet")
    return checkpoint


@router.get("/checkpoints", name="audit.checkpoints", summary="The signed checkpoints, newest first")
def checkpoints(access: AccessDep, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> dict[str, Any]:
    signed = access.ledger.audit.checkpoints.all()
    return {"total": len(signed),
            "checkpoints": [checkpoint_dict(c) for c in sorted(signed, key=lambda c: c.tree_size, reverse=True)[:limit]]}


@router.get("/public-keys", name="audit.public_keys",
            summary="The public keys that verify checkpoint signatures (as `realty audit public-key` prints them)")
def public_keys(access: AccessDep) -> dict[str, Any]:
    """For the console and tools on the same side as the server. A witness who must not trust the
    server takes the keys out of band (``realty audit public-key --out``) and pins them."""
    try:
        text = access.ledger.audit.keyring.export_public()
    except KeyringError as e:
        raise Problem(404, "no_signing_keys", "No signing keys", str(e)) from None
    keys = load_public_keys(text)
    return {"keys": [{"key_id": key_id, "algorithm": "ed25519",
                      "public_key": base64.b64encode(key.public_bytes_raw()).decode("ascii")}
                     for key_id, key in keys.items()],
            "file": text}


@router.post("/checkpoints", name="audit.checkpoint", status_code=201, summary="Sign a checkpoint of the log now")
def make_checkpoint(access: AccessDep) -> dict[str, Any]:
    try:
        return checkpoint_dict(access.ledger.audit.checkpoint()) or {}
    except EmptyLog as e:
        raise Problem(409, "empty_log", "Empty log", str(e)) from None


@router.get("/proofs/inclusion", name="audit.inclusion_proof",
            summary="RFC 9162 inclusion proof of the event at a position")
def inclusion_proof(access: AccessDep, position: Position, tree_size: TreeSize = None) -> dict[str, Any]:
    try:
        return access.ledger.audit.inclusion(position, tree_size)
    except ValueError as e:
        raise _unavailable(e) from None


@router.get("/proofs/consistency", name="audit.consistency_proof",
            summary="RFC 9162 consistency proof between two tree sizes")
def consistency_proof(access: AccessDep, first: Annotated[int, Query(ge=1, le=2**62)],
                      second: TreeSize = None) -> dict[str, Any]:
    try:
        return access.ledger.audit.consistency(first, second)
    except ValueError as e:
        raise _unavailable(e) from None


ACCESS_LOG_DAYS = 7  # the default range: the last week
ACCESS_LOG_MAX_DAYS = 31


@router.get("/access-log", name="audit.access_log",
            summary="Who read whose personal data in full: the reads on the staff's access logs, newest first")
def access_log(access: AccessDep,
               reader: Annotated[str | None, Query(max_length=40, description="a staff id (default: all staff)")] = None,
               start: Annotated[date | None, Query(alias="from", description="first day (UTC), ISO 8601")] = None,
               end: Annotated[date | None, Query(alias="to", description="last day (UTC), ISO 8601")] = None,
               ) -> dict[str, Any]:
    """Ids, kinds and purposes only (never the data read), so this read is not itself recorded as
    a read of personal data. Days are UTC days, as the logs are kept; at most 31 of them."""
    last = end or datetime.now(UTC).date()
    first = start or last - timedelta(days=ACCESS_LOG_DAYS - 1)
    if first > last:
        raise Problem(422, "invalid_value", "Invalid value", "from must not be after to")
    if (last - first).days >= ACCESS_LOG_MAX_DAYS:
        raise Problem(422, "invalid_value", "Invalid value", f"at most {ACCESS_LOG_MAX_DAYS} days at a time")
    readers = None if reader is None else [str(as_uuid(reader, "reader"))]
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return {"from": first.isoformat(), "to": last.isoformat(), "reader": readers[0] if readers else None,
            "reads": access.ledger.personal_data_reads(readers, days)}


def _record(access: Any, aggregate: Aggregate, record_id: str, *, damaged_ok: bool = False) -> dict[str, Any]:
    as_uuid(record_id, "record_id")
    try:
        return access.load(record_id, KIND[aggregate])
    except (MapperDeserialisationError, OriginatorVersionError, TopicError):
        # A stored event of the record no longer opens (or a row is gone, or its topic is changed) for its row (changed behind the application's
        # back). Its kind is still in the clear topic of its first row; only a caller who may see any
        # record is told (every audit role is: a scoped one could not be judged without the state).
        if access.scope is not Scope.ANY or audit_reads.stored_kind(access.ledger, record_id) != KIND[aggregate]:
            raise not_found(record_id) from None
        if not damaged_ok:
            raise Problem(409, "record_damaged", "Record damaged",
                          "a stored event of this record no longer opens for its row: its history shows which, "
                          "GET /audit/verify what else") from None
        return {"id": record_id, "kind": KIND[aggregate]}


@router.get("/{aggregate}/{record_id}/history", name="audit.history",
            summary="Every event of a record with who, when, role, correlation, and its inclusion proof")
def history(aggregate: Aggregate, record_id: str, access: AccessDep) -> dict[str, Any]:
    _record(access, aggregate, record_id, damaged_ok=True)  # the history lists a damaged event as such
    stored = audit_reads.stored_events(access.ledger, record_id)  # one read: the events and their leaves
    events = access.disclose(record_id, KIND[aggregate], FULL_VIEW,
                             audit_reads.readable_history(access.ledger, record_id, stored), redact_events)
    return {**audit_reads.history_with_proofs(access.ledger, record_id, events, stored), "kind": KIND[aggregate]}


@router.get("/{aggregate}/{record_id}/as-of", name="audit.as_of",
            summary="A record's state as of a version, or as recorded at a time")
def as_of(aggregate: Aggregate, record_id: str, access: AccessDep,
          version: Annotated[int | None, Query(ge=1, le=2**62)] = None, at: datetime | None = None) -> dict[str, Any]:
    _record(access, aggregate, record_id)
    if (version is None) == (at is None):
        raise Problem(422, "invalid_value", "Invalid value", "give exactly one of version or at")
    state = access.ledger.state(record_id, version=version, at=at)
    return access.disclose(record_id, KIND[aggregate], FULL_VIEW, state, redact_state)


@router.get("/{aggregate}/{record_id}/diff", name="audit.diff",
            summary="What changed in a record between two versions")
def diff(aggregate: Aggregate, record_id: str, access: AccessDep,
         start: Annotated[int, Query(alias="from", ge=1, le=2**62)],
         end: Annotated[int, Query(alias="to", ge=1, le=2**62)]) -> dict[str, Any]:
    _record(access, aggregate, record_id)
    if start > end:
        raise Problem(422, "invalid_value", "Invalid value", "from must not be after to")
    before, after = access.disclose(
        record_id, KIND[aggregate], FULL_VIEW,
        (access.ledger.state(record_id, version=start), access.ledger.state(record_id, version=end)),
        lambda pair: (redact_state(pair[0]), redact_state(pair[1])))
    return {**audit_reads.diff(before, after, access.ledger.history(record_id)), "kind": KIND[aggregate]}
