"""Does every stored state open for its own row? The encryption half of verification.

The chain and the Merkle tree prove that no stored byte changed; this pass proves, with the keys,
that every row's state is the ciphertext made for *that* row (its originator id, version and topic
are bound into it): a state copied from another row (the ciphertext-swap attack) is reported with
the row it sits in, even if someone also rewrote the chain to match. Personal fields are not opened
here (a shredded field is as it should be); the state's own seal is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archive.aead import CiphertextInvalid, is_sealed, key_id_of, open_sealed
from archive.chain import _canonical_id as canonical_id
from archive.data_keys import DataKeys
from archive.sealing_mapper import state_aad
from archive.sql import Database
from archive.verify import Finding

BATCH = 5000


def check_sealed_states(db: Database, events_table: str, keys: DataKeys,
                        progress: Callable[[int], Any] | None = None) -> tuple[int, list[Finding]]:
    """(rows checked, findings): each row whose state does not open for it, named by position."""
    table = db.table(events_table)
    findings: list[Finding] = []
    checked, after = 0, -1
    while True:
        rows = db.query(f"SELECT position, originator_id, originator_version, topic, state FROM {table} "  # noqa: S608
                        "WHERE position > ? ORDER BY position LIMIT ?", (after, BATCH))
        if not rows:
            break
        for position, oid, version, topic, state in rows:
            state = bytes(state)
            problem = _problem(keys, oid, version, topic, state)
            if problem:
                findings.append(Finding("state_does_not_open", int(position),
                                        f"the stored state of record {canonical_id(oid).decode()} version {version} ({topic}) at position "
                                        f"{position} {problem}"))
        checked += len(rows)
        after = int(rows[-1][0])
        if progress is not None:
            progress(checked)
    return checked, findings


def _problem(keys: DataKeys, oid: Any, version: int, topic: str, state: bytes) -> str | None:
    if not is_sealed(state):
        if keys.legacy_plaintext and state[:1] == b"{":
            return None  # written before the store had a keyring (the audit guide says so)
        return "is not sealed, and this store was encrypted from its start"
    try:
        key = keys.key_by_id(key_id_of(state))
    except CiphertextInvalid:
        key = None
    if key is None:
        return "names a key this store does not have"
    try:
        open_sealed(key, state, state_aad(oid, version, topic))
    except CiphertextInvalid:
        return "does not open for its row: copied from another row, or tampered"
    return None
