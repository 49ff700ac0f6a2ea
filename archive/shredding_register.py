"""The shredding register: every destruction of data keys, also appended to a file outside the database.

Crypto-shredding happens in the database (``DataKeys.destroy`` sets ``wrapped`` to NULL), so a
backup taken before a shredding still holds the wrapped keys: restored as it is, it would bring
the erased customer's personal data back. The register remembers which keys were destroyed, when
and why, outside the database and outside every backup, and ``realty restore`` destroys again
every key it lists that the restored store still holds. Like the checkpoint journal
(``archive.checkpoints.CheckpointJournal``) it is one JSON line per destruction, appended and
fsynced; it holds key ids, subject ids (record ids), a time and a reason code (ids only) — never
personal data.

A line is written before the destruction commits: a crash between the two leaves a line for keys
still alive (a restore then destroys them, which is what was decided), never a destroyed key that
the register does not know.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Shredding:
    at: str
    reason: str
    key_ids: tuple[str, ...]
    subject_ids: tuple[str, ...]


class ShreddingRegister:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, key_ids: Iterable[str], *, subject_ids: Iterable[str] = (), reason: str) -> None:
        keys = sorted(set(key_ids))
        if not keys:
            return
        entry = {"at": datetime.now(UTC).isoformat(timespec="microseconds"), "reason": reason,
                 "key_ids": keys, "subject_ids": sorted(set(subject_ids))}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8"))  # one write, one line
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> tuple[list[Shredding], list[int]]:
        """The register's entries, and the numbers of lines that are not entries (damage)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return [], []
        found, damaged = [], []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                found.append(Shredding(str(entry["at"]), str(entry["reason"]),
                                       tuple(str(k) for k in entry["key_ids"]),
                                       tuple(str(s) for s in entry.get("subject_ids", ()))))
            except (ValueError, KeyError, TypeError):
                damaged.append(number)
        return found, damaged

    def key_ids(self) -> list[str]:
        """Every key id the register lists (damaged lines skipped), in the order first listed."""
        entries, _ = self.read()
        return list(dict.fromkeys(k for e in entries for k in e.key_ids))
