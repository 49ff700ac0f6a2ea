"""Ids as callers give them (text) turned into UUIDs, or a clear ``invalid_value`` naming the field."""

from __future__ import annotations

import uuid

from domain.errors import InvalidValue


def as_uuid(value: str | uuid.UUID, field: str = "id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidValue(field, "is not a valid id") from None
