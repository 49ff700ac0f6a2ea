"""Data keys: generated here, kept in the database only wrapped by a master key, destroyed to shred.

Three kinds (``purpose``):

* ``log`` — encrypts the state of every stored event (and snapshot); one active key;
* ``record`` — one per record that holds personal data (customer, deal, staff member, service
  file); encrypts the personal fields of its events a second time. Its ``subject_id`` is the data
  subject (the customer of a deal, say): destroying a subject's keys is crypto-shredding;
* ``document`` — one per stored document version (``archive.documents``).

A wrapped key is ``archive.aead`` sealed under the master key of ``master_version`` with the
key's own id as its key id and (purpose, owner, subject) as associated data, so a wrapped key
copied onto another row, or another subject, does not open. Destroying a key sets ``wrapped`` to
NULL and keeps the row (who, when, why); SQLite's ``secure_delete`` overwrites the freed bytes.

Keys made while saving events are inserted by the log's recorder in the same transaction as the
events they encrypt (``take_pending``), so an event never outlives the key it needs, and a save
that fails leaves no key behind. Unwrapped keys are cached in memory; an entry is checked against
the table again after ``cache_seconds``, which bounds how long another process may go on reading
personal data after a shredding (the process that shreds forgets at once).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.aead import CiphertextInvalid, new_key, open_sealed, seal
from archive.master_keys import MasterKeyError, MasterKeys
from archive.shredding_register import ShreddingRegister
from archive.sql import Cursor, Database
from domain.errors import DomainError
from domain.personal_data import ERASED, RESTRICTED

TABLE = "realty_data_keys"
META = "realty_keyring_meta"
_CHECK = b"realty master key check"
_MAX_CACHED = 200_000


class KeyringMismatch(MasterKeyError):
    """The master keys given do not open the store's data keys (wrong, missing or old keys)."""


@dataclass(frozen=True)
class DataKeyRow:
    key_id: uuid.UUID
    purpose: str
    owner_id: str
    subject_id: str | None
    master_version: int
    wrapped: bytes
    created_at: str

    def params(self) -> tuple[Any, ...]:
        return (str(self.key_id), self.purpose, self.owner_id, self.subject_id, self.master_version, self.wrapped,
                self.created_at)


def _wrap_aad(purpose: str, owner_id: str, subject_id: str | None) -> bytes:
    return b"\x00".join((b"realty-data-key/v1", purpose.encode(), owner_id.encode(), (subject_id or "").encode()))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class DataKeys:
    def __init__(self, db: Database, masters: MasterKeys, *, cache_seconds: float = 5.0) -> None:
        self.db = db
        self.masters = masters
        self.cache_seconds = cache_seconds
        self.table, self.meta = db.table(TABLE), db.table(META)
        self._lock = threading.RLock()
        # key id -> (the key, or None once destroyed; when it was read; whether its subject is restricted)
        self._by_id: OrderedDict[uuid.UUID, tuple[AESGCM | None, float, bool]] = OrderedDict()
        self._by_owner: OrderedDict[str, uuid.UUID] = OrderedDict()
        self._unconfirmed: dict[uuid.UUID, DataKeyRow] = {}  # made here, not yet known to be stored
        self._pending = threading.local()
        self._log: tuple[uuid.UUID, AESGCM] | None = None
        self._active: tuple[int, float] = (0, -1e9)  # (master version new keys are wrapped with, when read)
        self.legacy_plaintext = False
        # Set by the service: every destruction is also written there, outside the database, so that
        # a restore of an older backup destroys the keys again (``archive.shredding_register``).
        self.register: ShreddingRegister | None = None
        # One row of DataKeyRow.params(); the recorders' forms are idempotent (a retried save may
        # queue a key it stored already).
        self.insert = (f"INSERT INTO {self.table} (key_id, purpose, owner_id, subject_id, master_version, wrapped, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        self.insert_sqlite = self.insert.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
        self.insert_postgres = (self.insert + " ON CONFLICT DO NOTHING").replace("?", "%s")

    # --- opening -----------------------------------------------------------------------------

    def create_tables(self) -> None:
        blob = self.db.blob
        self.db.create(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key_id TEXT PRIMARY KEY, purpose TEXT NOT NULL, "
            f"owner_id TEXT NOT NULL, subject_id TEXT, master_version INTEGER, wrapped {blob}, "
            "created_at TEXT NOT NULL, restricted_at TEXT, destroyed_at TEXT, destroyed_reason TEXT)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_owner_idx ON {self.table} (owner_id)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_subject_idx ON {self.table} (subject_id)",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (name TEXT PRIMARY KEY, value {blob} NOT NULL)",
        )

    def open(self, *, events_table: str, may_init: bool) -> None:
        """Check the master keys against the store and make sure a log key exists.

        ``may_init``: a store with no keyring yet gets one here (with a first master key if the
        directory has none). Otherwise a store without a keyring, or master keys that do not open
        its data keys, is refused before anything is written with them.
        """
        self.create_tables()
        meta = self.read_meta()
        if "log_key" not in meta:
            if not may_init:
                raise KeyringMismatch("the store has no keyring yet; run `realty keys init`")
            self._init(meta, events_table)
            meta = self.read_meta()
        self._check_masters(meta)
        self.legacy_plaintext = bytes(meta.get("legacy_plaintext", b"")) == b"1"
        log_id = uuid.UUID(bytes(meta["log_key"]).decode())
        key = self.key_by_id(log_id)
        if key is None:  # pragma: no cover - the log key is never destroyed
            raise KeyringMismatch("the store's log key has been destroyed")
        self._log = (log_id, key)

    def _init(self, meta: dict[str, Any], events_table: str) -> None:
        if not self.masters.versions:
            self.masters.init()
        version = self.masters.active_version
        with self.db.transaction() as c:
            if self.db.backend == "postgres":
                c.execute("SELECT pg_advisory_xact_lock(?)", (0x7265616C6B6579,))  # "realkey": one initialiser
            if c.query(f"SELECT 1 FROM {self.meta} WHERE name = 'log_key'"):
                return  # another process initialised it first
            had_events = bool(c.query(f"SELECT 1 FROM {events_table} LIMIT 1"))
            row = self._new_row("log", "log", None, version)
            c.execute(self.insert, row.params())
            c.execute(f"INSERT INTO {self.meta} (name, value) VALUES (?, ?)", ("log_key", str(row.key_id).encode()))
            c.execute(f"INSERT INTO {self.meta} (name, value) VALUES (?, ?)", (f"master_check_v{version}",
                                                                                 self._check_token(version)))
            if had_events:  # written before encryption: those rows stay readable as they are (audit guide)
                c.execute(f"INSERT INTO {self.meta} (name, value) VALUES (?, ?)", ("legacy_plaintext", b"1"))

    def _check_token(self, version: int) -> bytes:
        return seal(self.masters.key(version), uuid.UUID(int=version), _CHECK, b"master-check")

    def read_meta(self) -> dict[str, bytes]:
        return {name: bytes(value) for name, value in self.db.query(f"SELECT name, value FROM {self.meta}")}

    def versions_in_use(self) -> set[int]:
        """The master key versions that wrap at least one live data key."""
        return {v for (v,) in self.db.query(
            f"SELECT DISTINCT master_version FROM {self.table} WHERE wrapped IS NOT NULL") if v is not None}

    def _check_masters(self, meta: dict[str, Any]) -> None:
        used = self.versions_in_use()
        for version in sorted(used):
            if version not in self.masters.versions:
                raise KeyringMismatch(f"the store's data keys are wrapped by master key v{version}, which is not in "
                                      f"{self.masters.source} (set REALTY_MASTER_KEYS_DIR or REALTY_MASTER_KEYS)")
        for version in self.masters.versions:
            token = meta.get(f"master_check_v{version}")
            if token is None:
                continue  # a new version not yet used here (rotate records its check)
            try:
                open_sealed(self.masters.key(version), bytes(token), b"master-check")
            except CiphertextInvalid:
                raise KeyringMismatch(f"master key v{version} in {self.masters.source} is not the one this store's "
                                      "data keys were wrapped with") from None
        if self.masters.active_version not in used and f"master_check_v{self.masters.active_version}" not in meta:
            # A newer master key than the store knows: only `realty keys rotate` may start using it.
            raise KeyringMismatch(f"master key v{self.masters.active_version} in {self.masters.source} is newer "
                                  "than any this store uses; run `realty keys rotate` to re-wrap the data keys")

    # --- keys for the mapper ------------------------------------------------------------------

    def log_key(self) -> tuple[uuid.UUID, AESGCM]:
        if self._log is None:
            raise KeyringMismatch("the keyring is not open")
        return self._log

    def record_key(self, owner_id: str, subject_id: str | None, *, new_record: bool = False) -> tuple[uuid.UUID, AESGCM]:
        """The record's key, made (and queued for the current save) if it has none yet.

        ``new_record``: the record's first event is being saved, so the store cannot hold its key
        yet (a query saved on every record created)."""
        key_id = self._by_owner.get(owner_id)
        if key_id is None:
            rows = [] if new_record else self.db.query(
                f"SELECT key_id FROM {self.table} WHERE owner_id = ? AND purpose = 'record' "
                "ORDER BY created_at DESC LIMIT 1", (owner_id,))
            if rows:
                key_id = uuid.UUID(rows[0][0])
            else:
                row = self._new_row("record", owner_id, subject_id, self._wrapping_version())
                key_id = row.key_id
                with self._lock:
                    self._unconfirmed[key_id] = row
                    self._cache(key_id, AESGCM(self._unwrap(row)))
            with self._lock:
                self._by_owner[owner_id] = key_id
                if len(self._by_owner) > _MAX_CACHED:
                    self._by_owner.popitem(last=False)
        unconfirmed = self._unconfirmed.get(key_id)
        if unconfirmed is not None:
            self._queue(unconfirmed)
        key = self.key_by_id(key_id)
        if key is None:
            raise KeyDestroyed(owner_id)
        return key_id, key

    def new_document_key(self, owner_id: str, subject_id: str | None) -> tuple[uuid.UUID, bytes]:
        """A fresh key for one document version, stored with the event that records the document."""
        row = self._new_row("document", owner_id, subject_id, self._wrapping_version())
        with self._lock:
            self._unconfirmed[row.key_id] = row
        self._queue(row)
        key = self._unwrap(row)
        self._cache(row.key_id, AESGCM(key))
        return row.key_id, key

    def raw_key(self, key_id: uuid.UUID) -> bytes | None:
        """The unwrapped bytes of a key (documents need them for their own streaming cipher)."""
        return self._lookup(key_id)[0]

    def _lookup(self, key_id: uuid.UUID) -> tuple[bytes | None, bool]:
        row = self._unconfirmed.get(key_id)
        if row is not None:
            return self._unwrap(row), False
        rows = self.db.query(f"SELECT purpose, owner_id, subject_id, master_version, wrapped, restricted_at "
                             f"FROM {self.table} WHERE key_id = ?", (str(key_id),))
        if not rows or rows[0][4] is None:
            return None, False
        purpose, owner, subject, version, wrapped, restricted_at = rows[0]
        return self._open_wrapped(key_id, purpose, owner, subject, version, bytes(wrapped)), restricted_at is not None

    def _entry(self, key_id: uuid.UUID) -> tuple[AESGCM | None, float, bool]:
        entry = self._by_id.get(key_id)
        if entry is not None and (time.monotonic() - entry[1] < self.cache_seconds or key_id in self._unconfirmed):
            return entry
        raw, restricted = self._lookup(key_id)
        return self._cache(key_id, AESGCM(raw) if raw is not None else None, restricted)

    def key_by_id(self, key_id: uuid.UUID) -> AESGCM | None:
        """The key, or None if it has been destroyed (or never existed)."""
        return self._entry(key_id)[0]

    def field_key(self, key_id: uuid.UUID) -> AESGCM | str:
        """The key of a personal field, or what the field reads as without it: ``ERASED`` once the
        key is destroyed, ``RESTRICTED`` while its subject's erasure waits for a retention end."""
        key, _, restricted = self._entry(key_id)
        if key is None:
            return ERASED
        return RESTRICTED if restricted else key

    def _wrapping_version(self) -> int:
        """The master key version new data keys are wrapped with: the newest this process has, or a
        newer one a `realty keys rotate` in another process has switched the store to since (read
        again after ``cache_seconds``), so that no key is wrapped by a version just retired."""
        version, read_at = self._active
        if time.monotonic() - read_at >= self.cache_seconds:
            rows = self.db.query(f"SELECT value FROM {self.meta} WHERE name = 'active_master'")
            stored = int(bytes(rows[0][0]).decode()) if rows else 0
            version = max(self.masters.active_version, stored)
            self._active = (version, time.monotonic())
        return version

    def _cache(self, key_id: uuid.UUID, key: AESGCM | None, restricted: bool = False) -> tuple[AESGCM | None, float, bool]:
        entry = (key, time.monotonic(), restricted)
        with self._lock:
            self._by_id[key_id] = entry
            self._by_id.move_to_end(key_id)
            if len(self._by_id) > _MAX_CACHED:
                self._by_id.popitem(last=False)
        return entry

    def _new_row(self, purpose: str, owner_id: str, subject_id: str | None, version: int) -> DataKeyRow:
        key_id = uuid.uuid4()
        wrapped = seal(self.masters.key(version), key_id, new_key(), _wrap_aad(purpose, owner_id, subject_id))
        return DataKeyRow(key_id, purpose, owner_id, subject_id, version, wrapped, _now())

    def _unwrap(self, row: DataKeyRow) -> bytes:
        return self._open_wrapped(row.key_id, row.purpose, row.owner_id, row.subject_id, row.master_version,
                                  row.wrapped)

    def _open_wrapped(self, key_id: uuid.UUID, purpose: str, owner: str, subject: str | None, version: int,
                      wrapped: bytes) -> bytes:
        try:
            return open_sealed(self.masters.key(version), wrapped, _wrap_aad(purpose, owner, subject))
        except CiphertextInvalid:
            raise KeyringMismatch(f"data key {key_id} does not open with master key v{version} "
                                  "(a wrong master key, or a tampered key row)") from None

    # --- the save's transaction ---------------------------------------------------------------

    def _queue(self, row: DataKeyRow) -> None:
        pending = getattr(self._pending, "rows", None)
        if pending is None:
            pending = self._pending.rows = {}
        pending[row.key_id] = row

    def take_pending(self) -> list[tuple[Any, ...]]:
        """Rows of keys the current save's events need, for its recorder to insert (idempotently)."""
        rows = getattr(self._pending, "rows", None) or {}
        return [row.params() for row in rows.values()]

    def discard_pending(self) -> None:
        """The current save failed: forget the keys made for it (their data was never recorded)."""
        rows = getattr(self._pending, "rows", None) or {}
        documents = [k for k, row in rows.items() if row.purpose == "document"]
        with self._lock:
            for key_id in documents:
                self._unconfirmed.pop(key_id, None)
                self._by_id.pop(key_id, None)
        # A record's key stays known (unconfirmed): its next event queues it again, and a record
        # never saved leaves nothing behind.
        self._pending.rows = {}

    def saved(self) -> None:
        """The current save committed: its keys are stored."""
        rows = getattr(self._pending, "rows", None) or {}
        with self._lock:
            for key_id in rows:
                self._unconfirmed.pop(key_id, None)
        self._pending.rows = {}

    # --- shredding and rotation ---------------------------------------------------------------

    def destroy(self, *, subject_ids: Iterable[str] = (), key_ids: Iterable[uuid.UUID] = (), reason: str) -> list[str]:
        """Destroy keys (of these subjects, and these ids); the ids destroyed now."""
        with self.db.transaction() as c:
            destroyed = destroy_keys(self.db, c, subject_ids=subject_ids, key_ids=key_ids, reason=reason,
                                     register=self.register)
        with self._lock:
            for key_id in destroyed:
                self._by_id[uuid.UUID(key_id)] = (None, time.monotonic(), False)
        if self.db.backend == "sqlite" and destroyed:
            # The old page images wait in the write-ahead log until a checkpoint copies them over.
            self.db.query("PRAGMA wal_checkpoint(TRUNCATE)")
        return destroyed

    def owner_keys(self, owner_id: str, *, destroyed: bool = False) -> list[str]:
        """A record's own keys: the live ones, or (``destroyed``) every one, live or not."""
        live = "" if destroyed else " AND wrapped IS NOT NULL"
        return [k for (k,) in self.db.query(
            f"SELECT key_id FROM {self.table} WHERE owner_id = ? AND purpose = 'record'{live}", (owner_id,))]

    def restrict(self, subject_id: str) -> int:
        """Mark a subject's keys restricted (their personal data reads as RESTRICTED); how many."""
        with self.db.transaction() as c:
            rows = restrict_keys(self.db, c, subject_id, register=self.register)
        with self._lock:
            for key_id in rows:
                self._by_id.pop(uuid.UUID(key_id), None)
        return len(rows)

    def unrestrict(self, subject_id: str) -> None:
        with self.db.transaction() as c:
            lifted = c.query(f"SELECT 1 FROM {self.table} WHERE subject_id = ? AND restricted_at IS NOT NULL LIMIT 1",
                             (subject_id,))
            if lifted and self.register is not None:  # a restore must not restrict the subject again
                self.register.append_restriction([subject_id], lifted=True, reason="restriction lifted")
            c.execute(f"UPDATE {self.table} SET restricted_at = NULL WHERE subject_id = ?", (subject_id,))
        with self._lock:
            self._by_id.clear()

    def restricted_subjects(self) -> list[str]:
        """Subjects with restricted keys not yet destroyed: erasures still to carry out."""
        return [s for (s,) in self.db.query(f"SELECT DISTINCT subject_id FROM {self.table} "
                                            "WHERE restricted_at IS NOT NULL AND wrapped IS NOT NULL")]

    def is_restricted(self, subject_id: str) -> bool:
        return bool(self.db.query(f"SELECT 1 FROM {self.table} WHERE subject_id = ? AND restricted_at IS NOT NULL "
                                  "LIMIT 1", (subject_id,)))

    def rotate(self, new_version: int) -> int:
        """Re-wrap every live data key under master key ``new_version``; the number re-wrapped."""
        count = 0
        with self.db.transaction() as c:
            if self.db.backend == "postgres":
                c.execute(f"LOCK TABLE {self.table} IN EXCLUSIVE MODE")
            rows = c.query(f"SELECT key_id, purpose, owner_id, subject_id, master_version, wrapped FROM {self.table} "
                           "WHERE wrapped IS NOT NULL")
            updates = []
            for key_id, purpose, owner, subject, version, wrapped in rows:
                raw = self._open_wrapped(uuid.UUID(key_id), purpose, owner, subject, version, bytes(wrapped))
                rewrapped = seal(self.masters.key(new_version), uuid.UUID(key_id), raw,
                                 _wrap_aad(purpose, owner, subject))
                updates.append((new_version, rewrapped, key_id))
                count += 1
            c.executemany(f"UPDATE {self.table} SET master_version = ?, wrapped = ? WHERE key_id = ?", updates)
            c.execute(f"DELETE FROM {self.meta} WHERE name IN (?, 'active_master')", (f"master_check_v{new_version}",))
            c.execute(f"INSERT INTO {self.meta} (name, value) VALUES ('active_master', ?)", (str(new_version).encode(),))
            c.execute(f"INSERT INTO {self.meta} (name, value) VALUES (?, ?)",
                      (f"master_check_v{new_version}", self._check_token(new_version)))
        return count

    def status(self) -> dict[str, Any]:
        by_version = dict(self.db.query(
            f"SELECT master_version, COUNT(*) FROM {self.table} WHERE wrapped IS NOT NULL GROUP BY master_version"))
        by_purpose = {p: {"live": live, "destroyed": total - live} for p, total, live in self.db.query(
            f"SELECT purpose, COUNT(*), COUNT(wrapped) FROM {self.table} GROUP BY purpose")}
        return {"master_keys": {"source": self.masters.source, "active": self.masters.active_version,
                                "versions": {v: by_version.get(v, 0) for v in self.masters.versions}},
                "data_keys": by_purpose, "legacy_plaintext": self.legacy_plaintext}


def destroy_keys(db: Database, c: Cursor, *, subject_ids: Iterable[str] = (), key_ids: Iterable[uuid.UUID | str] = (),
                 reason: str, register: ShreddingRegister | None = None) -> list[str]:
    """Destroy the live keys (of these subjects, and these ids) inside the transaction of ``c``: the
    wrapped key set to NULL, when and why kept; the ids destroyed. ``register`` gets its line first,
    before the commit, so that it never misses a destroyed key. ``DataKeys.destroy`` and a restore
    (which destroys again, in its own loading transaction, what the shredding register lists) both
    come here."""
    subjects, ids = list(subject_ids), [str(k) for k in key_ids]
    table = db.table(TABLE)
    destroyed: list[str] = []
    if db.backend == "sqlite":
        c.execute("PRAGMA secure_delete = ON")
    for column, values in (("subject_id", subjects), ("key_id", ids)):
        for value in values:
            found = c.query(f"SELECT key_id FROM {table} WHERE {column} = ? AND wrapped IS NOT NULL "
                            "AND purpose <> 'log'", (value,))
            destroyed += [k for (k,) in found]
    destroyed = list(dict.fromkeys(destroyed))  # a key listed by id and by subject is destroyed once
    if register is not None:
        register.append(destroyed, subject_ids=subjects, reason=reason)
    for key_id in destroyed:
        c.execute(f"UPDATE {table} SET wrapped = NULL, master_version = NULL, destroyed_at = ?, "
                  "destroyed_reason = ? WHERE key_id = ?", (_now(), reason, key_id))
    return destroyed


def restrict_keys(db: Database, c: Cursor, subject_id: str, *, register: ShreddingRegister | None = None) -> list[str]:
    """Mark a subject's live keys restricted inside the transaction of ``c``; the ids newly restricted.
    ``register`` gets a line first (a restore of an older backup restricts the subject again)."""
    table = db.table(TABLE)
    rows = [k for (k,) in c.query(f"SELECT key_id FROM {table} WHERE subject_id = ? AND wrapped IS NOT NULL "
                                  "AND restricted_at IS NULL", (subject_id,))]
    if rows and register is not None:
        register.append_restriction([subject_id], reason="erasure requested while a retention period runs")
    c.execute(f"UPDATE {table} SET restricted_at = ? WHERE subject_id = ? AND restricted_at IS NULL",
              (_now(), subject_id))
    return rows


class KeyDestroyed(DomainError):
    """A record's key has been destroyed (its subject was erased, or its file disposed of): nothing
    new can be sealed for it, so no personal data can be recorded on it any more."""

    code = "record_erased"

    def __init__(self, owner_id: str) -> None:
        super().__init__(f"record {owner_id} was erased: its personal data can no longer be recorded",
                         record_id=str(owner_id))
        self.owner_id = owner_id

