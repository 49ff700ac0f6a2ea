"""Idempotency keys: a retried POST returns the first response and records nothing new.

Keys are scoped to the credential that sent them (a hash of the Authorization header), so two
callers can use the same key without meeting. The first request claims the key (a row with no
response yet); a concurrent duplicate finds it claimed and is told to retry later; the finished
response is stored with a fingerprint of the request (method, path, body), so the same key with
another body is refused. The rows live in the same database as the log, in their own table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from archive.sql import Database

TABLE = "realty_idempotency"

_CREATE_SQLITE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "status INTEGER NOT NULL, headers TEXT, body BLOB, created_at TEXT NOT NULL, PRIMARY KEY (scope, key))"
)
_CREATE_POSTGRES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "status INTEGER NOT NULL, headers TEXT, body BYTEA, created_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (scope, key))"
)


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "mismatch", "in_progress"]
    status: int = 0
    headers: dict[str, str] | None = None
    body: bytes = b""


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b"\0" + path.encode() + b"\0" + body).hexdigest()


def scope_of(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8", "replace")).hexdigest()


class IdempotencyStore:
    """Backed by the ledger's own datastore (SQLite file or PostgreSQL pool), through
    ``archive.sql.Database`` like the archive's own tables."""

    def __init__(self, datastore: Any) -> None:
        self._db = Database(datastore)
        # Serialised with the recorders' schema creation on PostgreSQL: concurrent CREATE TABLE IF
        # NOT EXISTS can still collide in its catalog.
        self._db.create(_CREATE_SQLITE if self._db.backend == "sqlite" else _CREATE_POSTGRES)

    def _execute(self, sql: str, params: tuple[Any, ...], *, rows: bool = False) -> list[Any]:
        with self._db.transaction() as cursor:
            if rows:
                return cursor.query(sql, params)
            cursor.execute(sql, params)
            return []

    def claim(self, scope: str, key: str, print_: str) -> Claim:
        now: Any = datetime.now(UTC)
        if self._db.backend == "sqlite":
            now = now.isoformat()
        inserted = self._execute(
            f"INSERT INTO {TABLE} (scope, key, fingerprint, status, created_at) VALUES (?, ?, ?, 0, ?) "
            "ON CONFLICT (scope, key) DO NOTHING RETURNING key",
            (scope, key, print_, now),
            rows=True,
        )
        if inserted:
            return Claim("new")
        rows = self._execute(
            f"SELECT fingerprint, status, headers, body FROM {TABLE} WHERE scope = ? AND key = ?",
            (scope, key),
            rows=True,
        )
        if not rows:  # released between our insert and select: treat as in progress, the client retries
            return Claim("in_progress")
        stored_print, status, headers, body = rows[0]
        if stored_print != print_:
            return Claim("mismatch")
        if status == 0:
            return Claim("in_progress")
        return Claim("replay", int(status), json.loads(headers or "{}"), bytes(body or b""))

    def complete(self, scope: str, key: str, status: int, headers: dict[str, str], body: bytes) -> None:
        self._execute(
            f"UPDATE {TABLE} SET status = ?, headers = ?, body = ? WHERE scope = ? AND key = ?",
            (status, json.dumps(headers), body, scope, key),
        )

    def release(self, scope: str, key: str) -> None:
        self._execute(f"DELETE FROM {TABLE} WHERE scope = ? AND key = ? AND status = 0", (scope, key))
