"""Masking personal data in what we print or return to callers who may not see it in full."""

from __future__ import annotations

import functools
from typing import Any

from domain.personal_data import ERASED, RESTRICTED, event_classes, personal_field_names

_MARKERS = frozenset({ERASED, RESTRICTED})


def mask(value: Any) -> Any:
    """Keep just enough to recognise a value (first character, last four), hide the rest."""
    if value is None or (isinstance(value, str) and value in _MARKERS):
        return value  # nothing to hide: shredded, or withheld for everyone anyway
    text = str(value)
    if len(text) <= 2:
        return text[:1] + "*"
    if len(text) < 8:
        return text[:1] + "*" * (len(text) - 1)
    return text[:1] + "*" * (len(text) - 5) + text[-4:]


def redact_state(data: Any) -> Any:
    """A copy of a record's state with every personal field (at any depth) masked."""
    fields = personal_field_names()
    if isinstance(data, dict):
        return {k: mask(v) if k in fields else redact_state(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_state(v) for v in data]
    return data


@functools.cache
def _personal_fields_by_topic() -> dict[str, frozenset[str]]:
    return {cls.TOPIC: frozenset(cls.PERSONAL_FIELDS) for cls in event_classes()}  # type: ignore[attr-defined]


def redact_event(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of one history entry with the personal fields its event declares masked."""
    fields = _personal_fields_by_topic().get(event["event"], frozenset())
    data = {k: mask(v) if k in fields else v for k, v in event["data"].items()}
    return {**event, "data": data}


def redact_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [redact_event(e) for e in events]
