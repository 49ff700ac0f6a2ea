"""A save whose answer was lost: what it tried to record, and whether the log has it after all.

When the connection breaks during a commit (the database restarted or crashed under load), the
commit may have reached the server while its answer did not. The library then retries the insert
on a new connection and meets its own rows: an ``IntegrityError``, which reads like a lost race,
and run again the command would be recorded twice, or refused by a rule its own first run
satisfied. An event's originator id, version and timestamp identify it (a concurrent writer's
event at that version has its own timestamp), so finding them in the log settles the question;
``RealtyLedger._execute`` asks before it treats an ``IntegrityError`` as a lost race. (When the
retry cannot reach the server either, the request ends in a 503 and its Idempotency-Key's claim,
marked in the same transaction as the events, tells the client's retry: ``service.idempotency``.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from archive.sql import Database


def pending_events(records: Iterable[Any]) -> list[tuple[str, int, str]]:
    """(originator id, version, timestamp) of every event the records are about to save, in order."""
    return [(str(e.originator_id), e.originator_version, e.timestamp.isoformat())
            for record in records for e in record.pending_events]


def recorded_position(ledger: Any, events: list[tuple[str, int, str]]) -> int | None:
    """The log position of the last of ``events`` if all of them are in the log, else None."""
    if not events:
        return None
    for originator_id, version, timestamp in events:
        stored = ledger.recorder.select_events(uuid.UUID(originator_id), gt=version - 1, lte=version, limit=1)
        if not stored or ledger.mapper.to_domain_event(stored[0]).timestamp.isoformat() != timestamp:
            return None
    db = Database(ledger.recorder.datastore)
    last_id, last_version, _ = events[-1]
    stored_id: Any = uuid.UUID(last_id).hex if db.backend == "sqlite" else uuid.UUID(last_id)
    rows = db.query(f"SELECT {db.log_order} FROM {db.table(ledger.recorder.events_table_name)} "  # noqa: S608
                    "WHERE originator_id = ? AND originator_version = ?", (stored_id, last_version))
    return int(rows[0][0]) if rows else None
