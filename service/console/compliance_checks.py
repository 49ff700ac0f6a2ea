"""What the compliance pages work out for themselves from the API's answers: whether each event's
inclusion proof holds against the signed checkpoint, which version a record had at a moment, and
the moments a person types in their own time zone.

The proof check is the console's own, not the server's word for it: the checkpoint's Ed25519
signature is verified with the signing keys' public halves, and each event's RFC 9162 inclusion
proof is walked from its leaf hash (recomputed by the API from the event's row as stored now,
``service.audit_reads``) up to the root that checkpoint signed (``archive.merkle``,
``archive.signing``: pure functions, no store). An event recorded after the checkpoint is
``pending``; anything that does not check out is ``failed`` — a changed row, one that no longer
opens (``damaged``), a version missing between two others, an event moved past the checkpoint.
A deleted *last* event leaves nothing to badge: the log's verification finds it (chain, roots).

The public keys come from the same server (``GET /audit/public-keys``): the check catches a row
changed in the store, not a server that lies about its own keys. A witness who must not trust the
server pins the keys taken out of band (``realty audit public-key``, docs/audit.md §2.4).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive import merkle
from archive.signing import Checkpoint, CheckpointInvalid, verify_checkpoint
from service.console.i18n import parse_instant

VERIFIED, FAILED, PENDING = "verified", "failed", "pending"


def checkpoint_holds(checkpoint: Mapping[str, Any] | None, public_keys: Mapping[str, Ed25519PublicKey]) -> bool:
    """Whether the checkpoint (its witness-file fields, as the API answers it) is well formed and
    its signature verifies under the key it names."""
    if not checkpoint:
        return False
    try:
        verify_checkpoint(Checkpoint.from_json(json.dumps(dict(checkpoint))), public_keys)
    except (CheckpointInvalid, ValueError, TypeError):
        return False
    return True


def event_badge(inclusion: Mapping[str, Any] | None, checkpoint: Mapping[str, Any] | None,
                checkpoint_ok: bool) -> str:
    """``verified``, ``failed`` or ``pending`` for one event of a history answer."""
    if not isinstance(inclusion, Mapping):
        return FAILED  # an event the log has no row for
    position = inclusion.get("position")
    if type(position) is not int or position < 0:
        return FAILED
    size = checkpoint.get("tree_size") if checkpoint else 0
    if not inclusion.get("covered"):
        # Not covered: only believable for an event after the checkpoint's last one.
        return PENDING if type(size) is int and position >= size else FAILED
    if not checkpoint or not checkpoint_ok or inclusion.get("tree_size") != size or type(size) is not int:
        return FAILED
    try:
        leaf = bytes.fromhex(str(inclusion["leaf_hash"]))
        path = [bytes.fromhex(str(p)) for p in inclusion["proof"]]
        root = bytes.fromhex(str(checkpoint["root_hash"]))
        holds = merkle.verify_inclusion(leaf, position, size, path, root)
    except (KeyError, TypeError, ValueError):  # a malformed proof is a failed one
        return FAILED
    return VERIFIED if holds else FAILED


def badges(history: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey]) -> tuple[bool, list[str]]:
    """Whether the history's checkpoint holds, and each event's badge, in the history's order (an
    event whose stored row no longer opens has failed, whatever its proof says)."""
    checkpoint = history.get("checkpoint")
    ok = checkpoint_holds(checkpoint, public_keys)
    events = sorted(history.get("events", []), key=lambda e: e.get("version", 0))
    marks = {id(e): FAILED if e.get("damaged") or e.get("missing") else event_badge(e.get("inclusion"), checkpoint, ok)
             for e in events}
    # A record's events are appended in order: one not yet covered while a later one is covered has
    # been moved past the checkpoint (its position is stored in clear, outside the seal).
    covered_later = False
    for event in reversed(events):
        if marks[id(event)] == PENDING and covered_later:
            marks[id(event)] = FAILED
        covered_later = covered_later or bool((event.get("inclusion") or {}).get("covered"))
    return ok, [marks[id(e)] for e in history.get("events", [])]


def version_at(events: Iterable[Mapping[str, Any]], moment: datetime) -> int | None:
    """The last version recorded at or before ``moment`` (None: the record did not exist yet), as
    ``GET /audit/{kind}/{id}/as-of?at=`` reads it: by when each event was recorded."""
    found = None
    for event in sorted(events, key=lambda e: e["version"]):
        recorded = parse_instant(event.get("recorded_at"))
        if recorded is None or recorded > moment:
            break
        found = event["version"]
    return found


_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def local_to_utc(text: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` value (the user's wall clock, no zone) as a UTC moment; None if it is
    not one. The whole of the last unit typed is included: ``10:30`` means up to 10:30:59.999999,
    ``10:30:15`` up to 10:30:15.999999 (what was recorded in that minute or second had happened
    "at" it)."""
    text = (text or "").strip()
    if not _LOCAL.fullmatch(text):
        return None
    try:
        wall = datetime.fromisoformat(text)
    except ValueError:
        return None
    moment = wall.replace(tzinfo=zone).astimezone(UTC)
    return moment + (timedelta(seconds=59, microseconds=999_999) if len(text) == 16
                     else timedelta(microseconds=999_999))


def utc_to_local_input(value: Any, zone: ZoneInfo) -> str:
    """A moment as a ``datetime-local`` value in the user's zone (to seconds), or ``""``."""
    moment = parse_instant(value)
    if moment is None:
        return ""
    return moment.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


# --- records an event or a state mentions, to link to their timelines -------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_STAFF_KEYS = frozenset({"assigned_to", "to_staff", "from_staff", "staff_id", "holder", "consultant", "reader",
                         "actor_id", "on_behalf_of", "claimer", "drafter"})


def kind_of_key(key: str) -> str | None:
    """The timeline (customers, deals, listings, staff) a field of this name refers to, if any."""
    name = key.lower()
    if name in ("deal_id", "deals", "deal"):
        return "deals"
    if name in ("listing_id", "listings", "listing"):
        return "listings"
    if name in ("customer_id", "customer"):
        return "customers"
    if name in _STAFF_KEYS or name.endswith("_by"):
        return "staff"
    return None


def related_records(data: Any) -> list[tuple[str, str]]:
    """(kind, id) of every record a value names through a field whose name says its kind (a
    ``deal_id``, the ids keyed under ``deals``, ``assigned_to``…), in the order met, once each."""
    found: dict[tuple[str, str], None] = {}

    def walk(value: Any, kind: str | None) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                key_kind = kind_of_key(str(key))
                if kind is not None and _UUID.fullmatch(str(key)):
                    found[(kind, str(key).lower())] = None  # an id used as a key: {"deals": {id: …}}
                walk(inner, key_kind if key_kind is not None else None)
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner, kind)
        elif kind is not None and isinstance(value, str) and _UUID.fullmatch(value):
            found[(kind, value.lower())] = None

    walk(data, None)
    return list(found)


def record_id(text: str) -> str | None:
    """The canonical form of a record id typed in (with or without dashes), or None."""
    text = (text or "").strip()
    if not (_UUID.fullmatch(text) or re.fullmatch(r"[0-9a-fA-F]{32}", text)):
        return None
    return str(uuid.UUID(text))


# --- SLA lateness ---------------------------------------------------------------------------------------


def lateness(item: Mapping[str, Any], now: datetime) -> timedelta | None:
    """How far past its due time an item went: to its closing if closed, else to ``now``."""
    due = parse_instant(item.get("due_at"))
    if due is None:
        return None
    end = parse_instant(item.get("closed_at")) or now
    return max(end - due, timedelta(0))


def duration_parts(delta: timedelta | None) -> tuple[int, int, int] | None:
    """(days, hours, minutes) of a duration, rounded down to the minute."""
    if delta is None:
        return None
    minutes = int(delta.total_seconds() // 60)
    return minutes // 1440, minutes % 1440 // 60, minutes % 60


def shown(value: Any) -> str:
    """A field's value as one line of text: scalars as they are, structures as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def is_instant(value: Any) -> bool:
    """Whether a value is a moment as the API writes one (shown in the user's zone, not as text)."""
    return isinstance(value, str) and bool(_INSTANT.fullmatch(value))


def structured(value: Any) -> bool:
    return isinstance(value, Mapping | Sequence) and not isinstance(value, str) and len(value) > 0
