"""Audit reads shared by the HTTP routes and the CLI: a record's history with each event's place
in the log and inclusion proof, and what changed between two versions. Callers decide what the
reader may see (``service.redaction``) and record full reads of personal data."""

from __future__ import annotations

from typing import Any

from archive.audit_trail import checkpoint_dict
from service.application import RealtyLedger, as_uuid

EVENT_FIELDS = ("version", "name", "occurred_at", "recorded_at", "actor_id", "actor_role", "on_behalf_of",
                "correlation_id")


def history_with_proofs(ledger: RealtyLedger, record_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """``events`` (the record's history, as the reader may see it) with each one's inclusion proof
    against the latest checkpoint.

    Each proof's ``leaf_hash`` is recomputed from the event's row as it is stored now, not taken
    from the Merkle index (which keeps the leaf the row had when it was indexed): checked against
    the signed root, the proof then says whether the event as stored now is the one that was signed,
    so a row changed behind the application's back fails its proof."""
    record = as_uuid(record_id)
    latest = ledger.audit.latest_checkpoint()  # read once: the proofs are against the checkpoint answered
    proofs = ledger.audit.proofs_for(record, latest)
    leaves = ledger.audit.stored_leaves(record)
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
