"""Signed checkpoints of the log (signed tree heads): made, stored, and looked up.

A checkpoint says "the log had ``tree_size`` events and this Merkle root at this time", signed
with the keyring's active Ed25519 key (format in ``archive.signing``). They are kept in
``<events>_checkpoints``, one per tree size; ``Checkpointer.checkpoint`` indexes the new events
(``archive.tree``) and signs the root of the whole indexed log. The service makes one every N
events and on a timer; ``realty audit checkpoint`` makes one on demand and writes it to a file
for a witness.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from archive.private_files import append_line, read_lines
from archive.signing import Checkpoint, CheckpointInvalid, SigningKeyring, sign_checkpoint
from archive.sql import Database
from archive.tree import MerkleIndex

DEFAULT_ORIGIN = "realty-ledger"
log = logging.getLogger("realty.checkpoints")


class EmptyLog(Exception):
    """There is nothing to sign yet: the log has no events."""


class CheckpointStore:
    def __init__(self, db: Database, events_table: str) -> None:
        self.db = db
        self.table = db.table(f"{events_table}_checkpoints")
        db.create(
            f"CREATE TABLE IF NOT EXISTS {self.table} (tree_size BIGINT PRIMARY KEY, origin TEXT NOT NULL, "
            f"root_hash {db.blob} NOT NULL, timestamp TEXT NOT NULL, key_id TEXT NOT NULL, "
            f"signature {db.blob} NOT NULL)"
        )

    _COLUMNS = "origin, tree_size, root_hash, timestamp, key_id, signature"

    @staticmethod
    def _checkpoint(row: tuple) -> Checkpoint:  # type: ignore[type-arg]
        origin, size, root, timestamp, key_id, signature = row
        return Checkpoint(origin=origin, tree_size=int(size), root_hash=bytes(root),
                          timestamp=datetime.fromisoformat(timestamp), key_id=key_id, signature=bytes(signature))

    def add(self, checkpoint: Checkpoint) -> bool:
        """Keep it (the first one made at a tree size stays; a second at the same size is dropped):
        whether this one was kept."""
        with self.db.transaction() as cursor:
            return bool(cursor.query(
                f"INSERT INTO {self.table} ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "  # noqa: S608
                "ON CONFLICT (tree_size) DO NOTHING RETURNING tree_size",
                (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash, checkpoint.timestamp.isoformat(),
                 checkpoint.key_id, checkpoint.signature)))

    def at(self, tree_size: int) -> Checkpoint | None:
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM {self.table} WHERE tree_size = ?", (tree_size,))  # noqa: S608
        return self._checkpoint(rows[0]) if rows else None

    def latest(self) -> Checkpoint | None:
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM {self.table} ORDER BY tree_size DESC LIMIT 1")  # noqa: S608
        return self._checkpoint(rows[0]) if rows else None

    def all(self) -> list[Checkpoint]:
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM {self.table} ORDER BY tree_size")  # noqa: S608
        return [self._checkpoint(r) for r in rows]

    def covering(self, position: int) -> Checkpoint | None:
        """The oldest checkpoint whose tree includes ``position``."""
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM {self.table} WHERE tree_size > ? "  # noqa: S608
                             "ORDER BY tree_size LIMIT 1", (position,))
        return self._checkpoint(rows[0]) if rows else None


class CheckpointJournal:
    """Every checkpoint this installation signs, also appended to a file outside the database.

    Someone who can write the database but not this file could otherwise rewrite the log
    consistently and delete the checkpoints table's rows: verification, finding no checkpoint,
    would have nothing to hold the log to. The journal is a local witness; a published checkpoint
    held by someone else (``realty audit checkpoint --out``) is the one that also survives an
    attacker who owns the whole machine.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: Checkpoint) -> None:
        append_line(self.path, json.dumps(json.loads(checkpoint.to_json()), separators=(",", ":")))

    def read(self) -> tuple[list[Checkpoint], list[int]]:
        """The journal's checkpoints, and the numbers of lines that are not checkpoints (damage)."""
        return read_lines(self.path, Checkpoint.from_json, (CheckpointInvalid,))


class Checkpointer:
    def __init__(self, index: MerkleIndex, store: CheckpointStore, keyring: SigningKeyring,
                 origin: str = DEFAULT_ORIGIN, journal: CheckpointJournal | None = None) -> None:
        self.index, self.store, self.keyring, self.origin, self.journal = index, store, keyring, origin, journal

    def checkpoint(self, now: datetime | None = None) -> Checkpoint:
        """A signed checkpoint of the whole log as it is now (the existing one if the log has not
        grown since the last)."""
        size, root = self.index.extend_to_root()  # the root comes with it: no second read of its nodes
        if size == 0:
            raise EmptyLog("the log has no events yet; there is nothing to sign")
        existing = self.store.at(size)
        if existing is not None:
            return existing
        signed = sign_checkpoint(self.keyring, self.origin, size, root, now)
        # Another process may have signed this size first: theirs stands, and is the one returned.
        stored = signed if self.store.add(signed) else self.store.at(size)
        assert stored is not None
        if self.journal is not None:
            self.journal.append(stored)
        return stored


class CheckpointScheduler:
    """Signs a checkpoint in the background after ``every`` new events and every ``interval``
    seconds if the log grew, so that commands never wait for it. A failure is logged and retried
    at the next occasion; it never reaches a command."""

    def __init__(self, make: Callable[[], Checkpoint], *, every: int, interval: float) -> None:
        self._make, self._every, self._interval = make, every, interval
        self._pending = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def appended(self, count: int) -> None:
        self._pending += count  # a lost update under a race only delays the next checkpoint
        if self._every and self._pending >= self._every:
            self._wake.set()

    def start(self) -> None:
        if self._thread is None and (self._every or self._interval):
            self._thread = threading.Thread(target=self._run, name="realty-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        failures = 0  # in a row: an outage is logged once when it starts and once when it ends
        while not self._stop.is_set():
            self._wake.wait(self._interval or None)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._pending = 0
            try:
                self._make()
            except EmptyLog:
                pass
            except Exception as error:  # noqa: BLE001 - a background job: log it and try again later
                if not failures:
                    first_line = (str(error).strip().splitlines() or [""])[0]
                    log.warning("signing a checkpoint failed (%s: %s); the next occasion tries again",
                                type(error).__name__, first_line)
                log.debug("signing a checkpoint failed", exc_info=True)
                failures += 1
                continue
            if failures:
                log.warning("signing checkpoints works again after %d failed attempts", failures)
                failures = 0
