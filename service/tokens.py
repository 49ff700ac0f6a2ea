"""API bearer tokens: 256 random bits, shown once, recorded only as a hash.

A token reads ``rlt_<staff id>_<token id>_<secret>``. The two ids let the server find the staff
record and the token on it without a lookup table; the secret (32 random bytes, URL-safe base64)
is what proves possession. Only ``SHA-256(secret)`` is recorded, in the staff member's history,
so issuing and revoking a token is on the record like any other act, and a copy of the database
yields no usable token. A secret of 256 random bits needs no slow password hash. A token lives a
number of days from its issue (``REALTY_TOKEN_LIFETIME_DAYS`` by default; 0: for ever).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

PREFIX = "rlt"
SECRET_BYTES = 32


class MalformedToken(ValueError):
    """Not a token of ours (never says more: the caller is not yet known)."""


@dataclass(frozen=True)
class ParsedToken:
    staff_id: uuid.UUID
    token_id: uuid.UUID
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def new_token(staff_id: uuid.UUID) -> tuple[str, uuid.UUID, str]:
    """A fresh token: the string to show once, its id, and the hash to record."""
    token_id = uuid.uuid4()
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode("ascii")
    return f"{PREFIX}_{staff_id.hex}_{token_id.hex}_{secret}", token_id, hash_secret(secret)


def lifetime_of(days: int) -> timedelta | None:
    """A token's lifetime in days as the domain takes it: None (never expires) for 0.

    Any other count is passed on for the domain to judge; one beyond what ``timedelta`` holds is
    passed as its largest, so it is refused with the domain's message rather than an overflow.
    """
    if days == 0:
        return None
    return timedelta(days=max(-timedelta.max.days, min(days, timedelta.max.days)))


def from_authorization(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None for another scheme."""
    kind, _, token = header.partition(" ")
    return token.strip() if kind.lower() == "bearer" else None


def parse_token(token: str) -> ParsedToken:
    parts = token.split("_", 3)
    if len(parts) != 4 or parts[0] != PREFIX or len(parts[3]) != 43:
        raise MalformedToken("malformed token")
    try:
        staff_id, token_id = uuid.UUID(hex=parts[1]), uuid.UUID(hex=parts[2])
        secret_hash = hash_secret(parts[3])
    except (ValueError, UnicodeEncodeError):
        raise MalformedToken("malformed token") from None
    return ParsedToken(staff_id, token_id, secret_hash)
