"""Masking personal data in what we print or return to callers who may not see it in full."""

from __future__ import annotations

from typing import Any

from domain.personal_data import personal_field_names


def mask(value: Any) -> Any:
    """Keep just enough to recognise a value (first character, last four), hide the rest."""
    if value is None:
        return None
    text = str(value)
    if len(text) <= 2:
        return text[:1] + "*"
    if len(text) < 8:
        return text[:1] + "*" * (len(text) - 1)
    return text[:1] + "*" * (len(text) - 5) + text[-4:]


def redact(data: Any) -> Any:
    """A copy of ``data`` with every personal field (at any depth) masked."""
    fields = personal_field_names()
    if isinstance(data, dict):
        return {k: mask(v) if k in fields else redact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data
