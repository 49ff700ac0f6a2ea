"""The event feed for internal services: the one log, in order, one stable JSON envelope per event.

The cursor is the library's notification id (``position`` in the envelope, the "log position" that
command answers and view tracking use too): strictly increasing in commit order on both backends
(PostgreSQL inserts under the log's table lock), with gaps on PostgreSQL where a transaction
rolled back. Reading "after N" therefore never skips an event that commits later.

Every reader gets personal data masked (each event's declared ``PERSONAL_FIELDS``), whatever their
role, and secrets are left out altogether (a token's ``secret_hash``): the feed is for services,
and services never see personal data in full. ``docs/events.md`` documents the envelope and each
event type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from archive.sql import Database
from domain.staff import StaffMember
from service.application import RealtyLedger
from service.redaction import redact_event
from service.views import describe_event

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# Fields never sent, masked or not: a hash of a token's secret is a credential to guess against.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    StaffMember.TokenIssued.TOPIC: frozenset({"secret_hash"}),
}


class BeyondHead(Exception):
    """A cursor past the newest event: it was not given by this log (another store, or a restore)."""

    def __init__(self, after: int, head: int) -> None:
        super().__init__(f"after {after} is beyond the head of the log ({head})")
        self.after, self.head = after, head


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next_after: int  # the last event's position, or the cursor given when there was none
    head: int  # the newest event's position when the page was read (0 for an empty log)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "next_after": self.next_after, "head": self.head}


def head(ledger: RealtyLedger) -> int:
    return ledger.recorder.max_notification_id() or 0


def check_cursor(ledger: RealtyLedger, after: int) -> int:
    """The head of the log, if ``after`` is not beyond it; else ``BeyondHead``."""
    newest = head(ledger)
    if after > newest:
        raise BeyondHead(after, newest)
    return newest


def read_page(ledger: RealtyLedger, after: int, limit: int = DEFAULT_LIMIT) -> Page:
    """Up to ``limit`` events after position ``after``, and the head of the log."""
    events = read_events(ledger, after, limit)
    # The head is read after the events, so it is never below the last of them.
    newest = check_cursor(ledger, after)
    return Page(events, events[-1]["position"] if events else after, newest)


def read_events(ledger: RealtyLedger, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` events after position ``after``, as feed envelopes, in log order."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    notifications = ledger.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
    leaves = _leaf_indexes(ledger, notifications)
    return [envelope(ledger.mapper.to_domain_event(n), n.id, leaves.get(n.id)) for n in notifications]


def envelope(event: Any, position: int, leaf_index: int | None) -> dict[str, Any]:
    """One event as the feed sends it: where it is in the log, whose it is, who, when, and its data."""
    topic: str = type(event).TOPIC
    described = describe_event(event)
    secrets = SECRET_FIELDS.get(topic, frozenset())
    return redact_event({
        "position": position,
        "leaf_index": leaf_index,
        "record_id": str(event.originator_id),
        "record_kind": record_kind(topic),
        **described,
        "data": {k: v for k, v in described["data"].items() if k not in secrets},
    })


def record_kind(topic: str) -> str:
    """``realty.customer.received`` -> ``customer``; ``realty.access_log.opened`` -> ``access_log``."""
    return topic.removeprefix("realty.").rpartition(".")[0]


def _leaf_indexes(ledger: RealtyLedger, notifications: Sequence[Notification]) -> dict[int, int]:
    """Notification id -> Merkle leaf index (the chain's dense ``position``), in one range query."""
    if not notifications:
        return {}
    recorder: Any = ledger.recorder
    db = Database(recorder.datastore)
    order, table = db.log_order, db.table(recorder.events_table_name)
    rows = db.query(f"SELECT {order}, position FROM {table} WHERE {order} >= ? AND {order} <= ?",  # noqa: S608
                    (notifications[0].id, notifications[-1].id))
    return {int(notification_id): int(position) for notification_id, position in rows}
