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
    against the latest checkpoint."""
    proofs = ledger.audit.proofs_for(as_uuid(record_id))
    return {"id": record_id, "checkpoint": checkpoint_dict(ledger.audit.latest_checkpoint()),
            "events": [{**event, "inclusion": proofs.get(event["version"])} for event in events]}


def diff(before: dict[str, Any], after: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What changed between two states of a record, and the events in between (who, when, why)."""
    start, end = before["version"], after["version"]
    changed = {key: {"from": before.get(key), "to": after.get(key)}
               for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}
    return {"id": after["id"], "from": start, "to": end, "changed": changed,
            "events": [{k: e[k] for k in EVENT_FIELDS if k in e} for e in events if start < e["version"] <= end]}
