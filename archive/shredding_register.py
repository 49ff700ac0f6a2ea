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

Restrictions are registered too (``"kind": "restricted"``, subject ids only; ``"unrestricted"``
when a failed erasure request lifts one again): a customer restricted after a backup (erasure
requested while a retention period runs) must not come back unrestricted from it. A line without
a kind is a destruction, and a restriction line lists no key ids, so registers stay readable both
ways between versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.private_files import append_line, read_lines


@dataclass(frozen=True)
class Shredding:
    at: str
    reason: str
    key_ids: tuple[str, ...]
    subject_ids: tuple[str, ...]
    kind: str = "destroyed"  # or "restricted", "unrestricted" (subject ids only)


class ShreddingRegister:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, key_ids: Iterable[str], *, subject_ids: Iterable[str] = (), reason: str) -> None:
        keys = sorted(set(key_ids))
        if not keys:
            return
        entry = {"at": datetime.now(UTC).isoformat(timespec="microseconds"), "reason": reason,
                 "key_ids": keys, "subject_ids": sorted(set(subject_ids))}
        append_line(self.path, json.dumps(entry, separators=(",", ":")))

    def append_restriction(self, subject_ids: Iterable[str], *, reason: str, lifted: bool = False) -> None:
        subjects = sorted(set(subject_ids))
        if not subjects:
            return
        entry = {"at": datetime.now(UTC).isoformat(timespec="microseconds"), "reason": reason,
                 "kind": "unrestricted" if lifted else "restricted", "key_ids": [], "subject_ids": subjects}
        append_line(self.path, json.dumps(entry, separators=(",", ":")))

    def read(self) -> tuple[list[Shredding], list[int]]:
        """The register's entries, and the numbers of lines that are not entries (damage)."""
        return read_lines(self.path, _entry, (ValueError, KeyError, TypeError))

    def key_ids(self) -> list[str]:
        """Every key id the register lists (damaged lines skipped), in the order first listed."""
        entries, _ = self.read()
        return list(dict.fromkeys(k for e in entries for k in e.key_ids))

    def restricted_subject_ids(self) -> list[str]:
        """The subjects whose restriction the register lists and has not seen lifted since, in order."""
        entries, _ = self.read()
        restricted: dict[str, None] = {}
        for e in entries:
            for subject in e.subject_ids:
                if e.kind == "restricted":
                    restricted[subject] = None
                elif e.kind == "unrestricted":
                    restricted.pop(subject, None)
        return list(restricted)


def _entry(line: str) -> Shredding:
    entry = json.loads(line)
    return Shredding(str(entry["at"]), str(entry["reason"]), tuple(str(k) for k in entry["key_ids"]),
                     tuple(str(s) for s in entry.get("subject_ids", ())), str(entry.get("kind", "destroyed")))
