"""Audit reads shared by the HTTP routes and the CLI: a record's history with each event's place
in the log and inclusion proof, and what changed between two versions. Callers decide what the
reader may see (``service.redaction``) and record full reads of personal data."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import TopicError

from archive.audit_trail import checkpoint_dict
from archive.chain import event_leaf
from domain.errors import NotFound
from service import views
from service.application import RealtyLedger, as_uuid

EVENT_FIELDS = ("version", "name", "occurred_at", "recorded_at", "actor_id", "actor_role", "on_behalf_of",
                "correlation_id")


def stored_events(ledger: RealtyLedger, record_id: str) -> list[StoredEvent]:
    """A record's rows as stored, read once for both its history and its proofs' leaves."""
    return list(ledger.recorder.select_events(as_uuid(record_id)))


def readable_history(ledger: RealtyLedger, record_id: str,
                     stored: list[StoredEvent] | None = None) -> list[dict[str, Any]]:
    """The record's history as an auditor reads it: every stored event, and one whose row no longer
    opens (its ciphertext changed, copied from another row, its key gone astray) listed as
    ``damaged`` with what the row says in clear (version, topic) instead of failing the whole read —
    the damaged event is the finding, and the events around it are the context — and a version
    missing between two stored ones listed as ``missing``.

    A record that is missing is ``NotFound`` as ``RealtyLedger.history``; the events of a record
    whose personal data was erased still open (their personal fields read as erased).
    """
    record = as_uuid(record_id)
    events = []
    for row in stored if stored is not None else stored_events(ledger, record_id):
        try:
            events.append(views.describe_event(ledger.mapper.to_domain_event(row)))
        except (MapperDeserialisationError, TopicError):  # a sealed state or a topic changed
            events.append({"version": row.originator_version, "event": row.topic, "name": None,
                           "damaged": True, "data": {}})
    if not events:
        raise NotFound("record", record)
    # A version the record skips is a deleted row: listed, so the gap cannot pass unseen. (A deleted
    # last row leaves no gap: only the log's verification finds it, by the chain and the roots.)
    present = {e["version"] for e in events}
    for version in sorted(set(range(1, max(present) + 1)) - present):
        events.append({"version": version, "event": None, "name": None, "missing": True, "data": {}})
    return sorted(events, key=lambda e: e["version"])


def stored_kind(ledger: RealtyLedger, record_id: str) -> str | None:
    """A record's kind from the clear topic of its first stored event (``realty.customer.received``
    is a customer's), without opening anything; None for no such record."""
    first = ledger.recorder.select_events(as_uuid(record_id), limit=1)
    return first[0].topic.split(".")[1] if first else None


def history_with_proofs(ledger: RealtyLedger, record_id: str, events: list[dict[str, Any]],
                        stored: list[StoredEvent] | None = None) -> dict[str, Any]:
    """``events`` (the record's history, as the reader may see it) with each one's inclusion proof
    against the latest checkpoint.

    Each proof's ``leaf_hash`` is recomputed from the event's row as it is stored now, not taken
    from the Merkle index (which keeps the leaf the row had when it was indexed): checked against
    the signed root, the proof then says whether the event as stored now is the one that was signed,
    so a row changed behind the application's back fails its proof."""
    record = as_uuid(record_id)
    latest = ledger.audit.latest_checkpoint()  # read once: the proofs are against the checkpoint answered
    proofs = ledger.audit.proofs_for(record, latest)
    leaves = {row.originator_version: event_leaf(record, row.originator_version, row.topic, row.state)
              for row in (stored if stored is not None else stored_events(ledger, record_id))}
    for version, proof in proofs.items():
        if proof.get("covered") and version in leaves:
            proof["leaf_hash"] = leaves[version].hex()
    return {"id": record_id, "checkpoint": checkpoint_dict(latest),
            "events": [{**event, "inclusion": proofs.get(event["version"])} for event in events]}


def diff(before: dict[str, Any], after: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What changed between two states of a record, and the events in between (who, when, why)."""
    start, end = before["version"], after["version"]
    changed = {key: {"from": before.get(key), "to": after.get(key)}
               for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}
    return {"id": after["id"], "from": start, "to": end, "changed": changed,
            "events": [{k: e[k] for k in EVENT_FIELDS if k in e} for e in events if start < e["version"] <= end]}
