"""Idempotency keys: a retried POST returns the first response and records nothing new.

Keys are scoped to the credential that sent them (a hash of the Authorization header), so two
callers can use the same key without meeting. The first request claims the key (a row with no
response yet, a random claim token and the claim's time); a concurrent duplicate finds it claimed
and is told to retry later; the finished response is stored with a fingerprint of the request
(method, path, body), so the same key with another body is refused. The rows live in the same
database as the log, in their own table.

A claim never stays stuck when its process dies. The command's own transaction marks the claim
``recorded`` (with the record, version and log position it wrote), on the condition that the claim
still carries the request's token (``mark_for_held_claim``, ``archive.recorders.RowMark``); a retry
that finds a claim in progress for longer than the claim timeout takes it over atomically (a new
token). Then either the mark is there — the command was recorded, its answer was lost: the retry
is told so, with where to read it — or it is not, and it never can be (the first request's
transaction would miss the token and record nothing): the retry runs the command afresh. So the
timeout only decides how soon a retry may stop waiting, never whether a command is recorded twice.

A key's release (after a 5xx) and its stored answer are written even if the store went away
in the meantime: tried again every second until it answers (``_Backlog``). Lost, the release
would leave the key "in progress" until the claim timeout, and the answer would let a retry run
the command again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from archive.recorders import RowMark
from archive.sql import Database
from domain.errors import DomainError
from service.store_outage import STORE_ERRORS, is_outage

TABLE = "realty_idempotency"
# What a retry hears in place of an answer that carried a secret and was stored by an earlier
# version (the problem format of service.api.problems, whose ids that version did not keep).
_WITHHELD = json.dumps({
    "type": "https://realty-ledger.example/problems/idempotency_key_recorded", "title": "Command recorded",
    "status": 409, "code": "idempotency_key_recorded",
    "detail": "the first request with this Idempotency-Key was recorded, but its answer carried a secret, which "
              "is never kept; it is not recorded again"}).encode()
# How long a claim may stay "in progress" before a retry may take it over (REALTY_IDEMPOTENCY_CLAIM_SECONDS).
CLAIM_SECONDS = 30.0
log = logging.getLogger("realty.idempotency")

_CREATE_SQLITE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "status INTEGER NOT NULL, headers TEXT, body BLOB, created_at TEXT NOT NULL, "
    "token TEXT NOT NULL DEFAULT '', claimed_at REAL, recorded INTEGER NOT NULL DEFAULT 0, record_id TEXT, "
    "record_version INTEGER, entity_id TEXT, recorded_position INTEGER, PRIMARY KEY (scope, key))"
)
_CREATE_POSTGRES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "status INTEGER NOT NULL, headers TEXT, body BYTEA, created_at TIMESTAMPTZ NOT NULL, "
    "token TEXT NOT NULL DEFAULT '', claimed_at TIMESTAMPTZ, recorded INTEGER NOT NULL DEFAULT 0, record_id TEXT, "
    "record_version BIGINT, entity_id TEXT, recorded_position BIGINT, PRIMARY KEY (scope, key))"
)
# Columns added since the first version of the table (a store written before them gets them on opening).
_ADDED = {
    "token": ("TEXT NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''"),
    "claimed_at": ("REAL", "TIMESTAMPTZ"),
    "recorded": ("INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    "record_id": ("TEXT", "TEXT"),
    "record_version": ("INTEGER", "BIGINT"),
    "entity_id": ("TEXT", "TEXT"),
    "recorded_position": ("INTEGER", "BIGINT"),
}
# The database's clock, not each API process's: processes on several hosts judge a claim's age alike.
_NOW = {"sqlite": "((julianday('now') - 2440587.5) * 86400.0)", "postgres": "now()"}
_OLDER_THAN = {"sqlite": f"claimed_at <= {_NOW['sqlite']} - ?", "postgres": "claimed_at <= now() - make_interval(secs => ?)"}


@dataclass(frozen=True)
class RecordedCommand:
    """What a command whose answer was lost recorded: its record, that record's version, any entity
    it created, and the log position of its last event (as a command's 2xx answer gives them)."""

    record_id: str
    version: int | None
    entity_id: str | None
    position: int | None


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "mismatch", "in_progress", "recorded"]
    status: int = 0
    headers: dict[str, str] | None = None
    body: bytes = b""
    token: str = ""  # new, recorded: the token this request now holds the key with
    recorded: RecordedCommand | None = None


@dataclass(frozen=True)
class HeldClaim:
    """The claim of the request running in this context (``HELD``)."""

    scope: str
    key: str
    token: str


# Set by the HTTP middleware for the request it runs; sync routes run in a thread pool that copies the
# context, so the command methods the request calls see it (and it is None everywhere else).
HELD: ContextVar[HeldClaim | None] = ContextVar("realty_idempotency_claim", default=None)


class IdempotencyKeyTakenOver(DomainError):
    """The request held its Idempotency-Key longer than the claim timeout and a retry took it over:
    this request recorded nothing (the retry decides)."""

    code = "idempotency_key_taken_over"

    def __init__(self) -> None:
        super().__init__("a retry with this Idempotency-Key took it over while this request ran: this request "
                         "recorded nothing; the retry's answer is the one that counts")


def mark_for_held_claim(record_id: Any, version: int | None, entity_id: str | None) -> RowMark | None:
    """The mark a command's save carries while a request holds a claim: "recorded, as this record at
    this version" — written only if the claim still carries this request's token."""
    held = HELD.get()
    if held is None:
        return None
    return RowMark(TABLE, where={"scope": held.scope, "key": held.key, "token": held.token},
                   values={"recorded": 1, "record_id": str(record_id), "record_version": version,
                           "entity_id": entity_id},
                   position_column="recorded_position")


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b"\0" + path.encode() + b"\0" + body).hexdigest()


def scope_of(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8", "replace")).hexdigest()


Write = tuple[str, tuple[Any, ...]]


class IdempotencyStore:
    """Backed by the ledger's own datastore (SQLite file or PostgreSQL pool), through
    ``archive.sql.Database`` like the archive's own tables."""

    def __init__(self, datastore: Any) -> None:
        self._db = Database(datastore)
        backend = self._db.backend
        # Serialised with the recorders' schema creation on PostgreSQL: concurrent CREATE TABLE IF
        # NOT EXISTS can still collide in its catalog.
        self._db.create(_CREATE_SQLITE if backend == "sqlite" else _CREATE_POSTGRES)
        self._add_missing_columns()
        self._forget_kept_secrets()
        self._now, self._older_than = _NOW[backend], _OLDER_THAN[backend]
        self._backlog = _Backlog(self._execute_all)

    def _forget_kept_secrets(self) -> None:
        """Answers marked ``Cache-Control: no-store`` (a new API token) kept by a version that still
        stored them are replaced by "recorded" (the middleware never stores them now): a token must
        not sit in clear in the database, nor in its backups."""
        self._db.execute(
            f"UPDATE {TABLE} SET status = 409, headers = ?, body = ? WHERE headers LIKE ? AND status < 300",
            (json.dumps({"content-type": "application/problem+json"}), _WITHHELD, '%no-store%'))

    def _add_missing_columns(self) -> None:
        """A table from before claim tokens: the columns are added, and a claim in progress counts
        from when it was made (so one left by a dead process is taken over like any other)."""
        if self._db.backend == "postgres":
            self._db.create(*(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {types[1]}"
                              for name, types in _ADDED.items()),
                            f"UPDATE {TABLE} SET claimed_at = created_at WHERE claimed_at IS NULL AND status = 0 "
                            "AND token = ''")
            return
        columns = {row[0] for row in self._db.query(f"SELECT name FROM pragma_table_info('{TABLE}')")}
        for name, types in _ADDED.items():
            if name not in columns:
                try:
                    self._db.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {types[0]}")
                except Exception as error:  # another process opening the store added it first
                    if "duplicate column" not in str(error):
                        raise
        if "claimed_at" not in columns:
            self._db.execute(f"UPDATE {TABLE} SET claimed_at = (julianday(created_at) - 2440587.5) * 86400.0 "
                             "WHERE claimed_at IS NULL AND status = 0 AND token = ''")

    def _execute(self, sql: str, params: tuple[Any, ...], *, rows: bool = False) -> list[Any]:
        with self._db.transaction() as cursor:
            if rows:
                return cursor.query(sql, params)
            cursor.execute(sql, params)
            return []

    def _execute_all(self, writes: Sequence[Write]) -> None:
        with self._db.transaction() as cursor:
            for sql, params in writes:
                cursor.execute(sql, params)

    def claim(self, scope: str, key: str, print_: str, *, claim_seconds: float = CLAIM_SECONDS) -> Claim:
        """Claim the key for a new request, or say what became of the request that claimed it first.

        A claim in progress for ``claim_seconds`` or longer is taken over (one retry wins; the
        others find it in progress): "recorded" if the first request's command was recorded,
        else "new" — the first request can no longer record it.
        """
        token = secrets.token_hex(16)
        now: Any = datetime.now(UTC)
        if self._db.backend == "sqlite":
            now = now.isoformat()
        inserted = self._execute(
            f"INSERT INTO {TABLE} (scope, key, fingerprint, status, created_at, token, claimed_at) "
            f"VALUES (?, ?, ?, 0, ?, ?, {self._now}) ON CONFLICT (scope, key) DO NOTHING RETURNING key",
            (scope, key, print_, now, token),
            rows=True,
        )
        if inserted:
            return Claim("new", token=token)
        rows = self._execute(
            f"SELECT fingerprint, status, headers, body, token FROM {TABLE} WHERE scope = ? AND key = ?",
            (scope, key),
            rows=True,
        )
        if not rows:  # released between our insert and select: treat as in progress, the client retries
            return Claim("in_progress")
        stored_print, status, headers, body, held_by = rows[0]
        if stored_print != print_:
            return Claim("mismatch")
        if status != 0:
            return Claim("replay", int(status), json.loads(headers or "{}"), bytes(body or b""))
        # Only from the token seen: of two retries taking over at once, the second matches nothing.
        taken = self._execute(
            f"UPDATE {TABLE} SET token = ?, claimed_at = {self._now} WHERE scope = ? AND key = ? AND status = 0 "
            f"AND token = ? AND (claimed_at IS NULL OR {self._older_than}) "
            "RETURNING recorded, record_id, record_version, entity_id, recorded_position",
            (token, scope, key, held_by, claim_seconds),
            rows=True,
        )
        if not taken:
            return Claim("in_progress")
        recorded, record_id, version, entity_id, position = taken[0]
        if not recorded:
            return Claim("new", token=token)
        return Claim("recorded", token=token, recorded=RecordedCommand(
            str(record_id), None if version is None else int(version), entity_id,
            None if position is None else int(position)))

    def complete(self, scope: str, key: str, status: int, headers: dict[str, str], body: bytes, *,
                 token: str | None = None) -> None:
        """Store the answer, if the claim is still the request's (``token``: a retry may have taken it
        over meanwhile; None, for tools and tests only: whoever holds it)."""
        self._eventually((scope, key), [(
            f"UPDATE {TABLE} SET status = ?, headers = ?, body = ? WHERE scope = ? AND key = ? AND token = "
            "COALESCE(?, token)", (status, json.dumps(headers), body, scope, key, token))])

    def recorded_command(self, scope: str, key: str, *, token: str) -> RecordedCommand | None:
        """What the command under this claim recorded (its save marked the claim), if anything."""
        rows = self._execute(f"SELECT recorded, record_id, record_version, entity_id, recorded_position FROM {TABLE} "
                             "WHERE scope = ? AND key = ? AND token = ?", (scope, key, token), rows=True)
        if not rows or not rows[0][0]:
            return None
        _, record_id, version, entity_id, position = rows[0]
        return RecordedCommand(str(record_id), None if version is None else int(version), entity_id,
                               None if position is None else int(position))

    def release(self, scope: str, key: str, *, token: str | None = None) -> None:
        """Give the key up after a 5xx: a retry runs the command. Unless the command was recorded
        before the 5xx: then the claim stays, left for the next retry to take over at once (and be
        told that it was recorded), never to run the command a second time."""
        where = "WHERE scope = ? AND key = ? AND token = COALESCE(?, token) AND status = 0"
        self._eventually((scope, key), [
            (f"DELETE FROM {TABLE} {where} AND recorded = 0", (scope, key, token)),
            (f"UPDATE {TABLE} SET claimed_at = NULL {where} AND recorded = 1", (scope, key, token)),
        ])

    def _eventually(self, claim: tuple[str, str], writes: list[Write]) -> None:
        try:
            self._execute_all(writes)
        except STORE_ERRORS as error:
            if not is_outage(error):
                raise
            self._backlog.add(claim, writes)


class _Backlog:
    """Writes the store could not take, tried again every ``retry_every`` seconds in a thread of
    their own (started when the first arrives, ended when none is left), in the order they came."""

    def __init__(self, execute: Callable[[Sequence[Write]], Any], retry_every: float = 1.0) -> None:
        self._execute, self._retry_every = execute, retry_every
        self._items: dict[tuple[str, str], list[Write]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, claim: tuple[str, str], writes: list[Write]) -> None:
        with self._lock:
            self._items[claim] = writes
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="realty-idempotency-backlog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._retry_every)
            with self._lock:
                items = list(self._items.items())
            for claim, writes in items:
                try:
                    self._execute(writes)
                except Exception as error:  # noqa: BLE001 - a background job: never let it die
                    if isinstance(error, STORE_ERRORS) and is_outage(error):
                        break  # still away: all of them again next time
                    # Not an outage: retrying will not help.
                    log.warning("an idempotency key's %s was not written: %s", writes[0][0].split()[0].lower(),
                                type(error).__name__)
                with self._lock:
                    if self._items.get(claim) is writes:
                        del self._items[claim]
            with self._lock:
                if not self._items:
                    self._thread = None
                    return
