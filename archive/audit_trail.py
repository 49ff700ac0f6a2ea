"""The audit side of one log: its Merkle index, its checkpoints, its signing keys, its proofs.

One object per application (``RealtyLedger.audit``), on the recorder's own datastore. Signing
needs the keyring; everything else (proofs, verification against public keys) does not.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive import merkle
from archive.checkpoints import DEFAULT_ORIGIN, Checkpointer, CheckpointJournal, CheckpointStore
from archive.signing import Checkpoint, KeyringMissing, SigningKeyring
from archive.sql import Database
from archive.tree import MerkleIndex
from archive.verify import Finding, Report, verify_log


class ProofUnavailable(ValueError):
    """A proof that cannot exist (a position beyond the tree, a size of 0, sizes out of order)."""


@dataclass(frozen=True)
class EventPosition:
    position: int
    notification_id: int


class AuditTrail:
    def __init__(self, recorder: Any, keyring: Callable[[bool], SigningKeyring], origin: str = DEFAULT_ORIGIN,
                 journal: CheckpointJournal | None = None) -> None:
        """``keyring(for_signing)`` opens the signing keys; for signing it may create the first key.
        ``journal`` keeps every checkpoint signed here outside the database as well."""
        self.db = Database(recorder.datastore)
        self.events_table = recorder.events_table_name
        self.index = MerkleIndex(self.db, self.events_table)
        self.checkpoints = CheckpointStore(self.db, self.events_table)
        self.origin = origin
        self.journal = journal
        self._open_keyring = keyring
        self._signing: SigningKeyring | None = None
        self._lock = threading.Lock()

    @property
    def keyring(self) -> SigningKeyring:
        """The keyring as it is (verifying must never create a key: ``KeyringMissing`` if none)."""
        return self._open_keyring(False)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return self.keyring.public_keys()

    def checkpoint(self, now: datetime | None = None) -> Checkpoint:
        """Index what is new and sign the root of the whole log (one at a time per process)."""
        with self._lock:
            if self._signing is None:
                self._signing = self._open_keyring(True)
            return Checkpointer(self.index, self.checkpoints, self._signing, self.origin,
                                self.journal).checkpoint(now)

    def latest_checkpoint(self) -> Checkpoint | None:
        return self.checkpoints.latest()

    def verify(self, *, published: Checkpoint | None = None, start: int = 0,
               public_keys: Mapping[str, Ed25519PublicKey] | None = None,
               progress: Callable[[int], Any] | None = None) -> Report:
        if public_keys is None:
            try:
                public_keys = self.public_keys()
            except KeyringMissing:  # nothing was ever signed here: any checkpoint is by an unknown key
                public_keys = {}
        keys = dict(public_keys)
        if published is not None and published.origin != self.origin:
            raise ProofUnavailable(f"the checkpoint is for the log {published.origin!r}, not {self.origin!r}")
        stored = self.checkpoints.all()
        checkpoints, findings = self._with_journal(stored)
        report = verify_log(self.db, self.events_table, checkpoints, keys, published=published,
                            start=start, index=self.index, progress=progress)
        report.problems.extend(findings)
        return report

    def _with_journal(self, stored: list[Checkpoint]) -> tuple[list[Checkpoint], list[Finding]]:
        """The database's checkpoints plus any the journal has that the database lost, and what
        the comparison found (a checkpoint deleted or replaced in the database, a damaged line)."""
        if self.journal is None:
            return stored, []
        journaled, damaged = self.journal.read()
        findings = [Finding("checkpoint_missing", 0, f"line {n} of the checkpoint journal {self.journal.path} "
                                                      "is not a checkpoint") for n in damaged]
        by_size = {c.tree_size: c for c in stored}
        checkpoints = list(stored)
        for entry in journaled:
            if entry.origin != self.origin:
                continue
            held = by_size.get(entry.tree_size)
            if held is None:
                findings.append(Finding("checkpoint_missing", entry.tree_size, (
                    f"the checkpoint of {entry.tree_size} events signed at {entry.timestamp.isoformat()} is in the "
                    "journal but no longer in the database (deleted)")))
                checkpoints.append(entry)
                by_size[entry.tree_size] = entry
            elif held != entry:
                findings.append(Finding("checkpoint_missing", entry.tree_size, (
                    f"the database's checkpoint of {entry.tree_size} events is not the one the journal recorded "
                    "(replaced)")))
                checkpoints.append(entry)
        return checkpoints, findings

    # --- proofs --------------------------------------------------------------------------------

    def _tree(self, tree_size: int | None) -> tuple[int, Checkpoint | None]:
        """The tree a proof is given in (default: the latest checkpoint's), and its checkpoint."""
        if tree_size is None:
            latest = self.checkpoints.latest()
            if latest is None:
                raise ProofUnavailable("no checkpoint has been signed yet; make one with `realty audit checkpoint`")
            return latest.tree_size, latest
        if tree_size < 1:
            raise ProofUnavailable(f"a tree size must be at least 1, got {tree_size}")
        indexed = self.index.size()
        if tree_size > indexed:
            indexed = self.index.extend()
        if tree_size > indexed:
            raise ProofUnavailable(f"tree size {tree_size} is beyond the log's {indexed} events")
        return tree_size, self.checkpoints.at(tree_size)

    def inclusion(self, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """The inclusion proof of the event at ``position`` in the tree of ``tree_size`` events
        (default: the latest checkpoint's), with that tree's root and checkpoint if one was signed."""
        size, checkpoint = self._tree(tree_size)
        if not 0 <= position < size:
            raise ProofUnavailable(f"position {position} is outside a tree of {size} events")
        wanted = merkle.inclusion_proof_nodes(position, size)
        nodes = self.index.proof_material(size, [*wanted, (0, position)])
        return {"position": position, "tree_size": size, "leaf_hash": nodes[(0, position)].hex(),
                "proof": [p.hex() for p in merkle.inclusion_proof_from_nodes(position, size, nodes)],
                "root_hash": merkle.root_from_nodes(size, nodes).hex(), "checkpoint": checkpoint_dict(checkpoint)}

    def consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        size, checkpoint = self._tree(second)
        if not 1 <= first <= size:
            raise ProofUnavailable(f"the first tree size must be between 1 and {size}, got {first}")
        nodes = self.index.proof_material(size, [*merkle.consistency_proof_nodes(first, size),
                                                 *merkle.root_nodes(first)])
        return {"first": first, "second": size, "first_root_hash": merkle.root_from_nodes(first, nodes).hex(),
                "second_root_hash": merkle.root_from_nodes(size, nodes).hex(),
                "proof": [p.hex() for p in merkle.consistency_proof_from_nodes(first, size, nodes)],
                "first_checkpoint": checkpoint_dict(self.checkpoints.at(first)),
                "second_checkpoint": checkpoint_dict(checkpoint)}

    def positions(self, originator_id: Any) -> dict[int, EventPosition]:
        """Each version of a record -> its place in the log."""
        record = originator_id if isinstance(originator_id, uuid.UUID) else uuid.UUID(str(originator_id))
        key = record.hex if self.db.backend == "sqlite" else record
        rows = self.db.query(f"SELECT originator_version, position, {self.db.log_order} FROM {self.index.events} "  # noqa: S608
                             "WHERE originator_id = ? ORDER BY originator_version", (key,))
        return {int(v): EventPosition(int(p), int(n)) for v, p, n in rows}

    def proofs_for(self, originator_id: Any, checkpoint: Checkpoint | None = None) -> dict[int, dict[str, Any]]:
        """Each version of a record -> its inclusion proof against the latest checkpoint (or the one
        given, read by the caller beforehand), or a note that it came after it (not yet covered by a
        signature). Every node of every proof, leaves included, comes in one query."""
        latest = self.checkpoints.latest() if checkpoint is None else checkpoint
        places = self.positions(originator_id)
        size = 0 if latest is None else latest.tree_size
        covered = [where.position for where in places.values() if where.position < size]
        wanted = [node for position in covered for node in (*merkle.inclusion_proof_nodes(position, size), (0, position))]
        nodes = self.index.proof_material(size, wanted) if covered else {}
        out: dict[int, dict[str, Any]] = {}
        for version, where in places.items():
            if where.position >= size:
                out[version] = {"position": where.position, "covered": False,
                                "note": "recorded after the latest checkpoint; covered by the next one"}
                continue
            proof = merkle.inclusion_proof_from_nodes(where.position, size, nodes)
            out[version] = {"position": where.position, "covered": True, "tree_size": size,
                            "leaf_hash": nodes[(0, where.position)].hex(), "proof": [p.hex() for p in proof]}
        return out

def checkpoint_dict(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    """A checkpoint as its witness file has it (``archive.signing``), or None."""
    return None if checkpoint is None else json.loads(checkpoint.to_json())
