"""Verification of the whole log: the chain, the positions, the Merkle roots and the checkpoints.

Reads every stored event in log order (notification id), recomputes its leaf hash and its link,
and compares them with the stored position and chain hash; rebuilds the Merkle tree on the way
and compares its root with every signed checkpoint (whose signatures are checked first), and with
a published checkpoint held by a witness. Nothing derived is trusted: the stored Merkle nodes are
used only to say *where* a log that fails a checkpoint differs from what was indexed.

The report names the first bad position and what happened there:

- ``modified``: the row is at its position but its content no longer gives its chain hash (or its
  chain hash still links but its position column was changed);
- ``missing``: positions are absent (rows deleted);
- ``inserted``: a row that does not belong to the chain was slipped in (its neighbours link past it);
- ``reordered``: rows were swapped (an event's content belongs at another position);
- ``truncated``: the log ends before a checkpoint's tree size;
- ``checkpoint_mismatch``: the chain holds but a signed root does not (the log was rewritten
  consistently, links and all);
- ``checkpoint_signature``: a checkpoint whose signature does not verify, or by an unknown key;
- ``checkpoint_missing``: a checkpoint the local journal recorded is gone from the database, or was
  replaced there (``archive.checkpoints.CheckpointJournal``; the log is still held to it);
- ``published_mismatch``: the log disagrees with the witness's checkpoint (a rewrite by someone who
  also held the signing key).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive import merkle, parallel_verify
from archive.chain import GENESIS, event_leaf, link
from archive.signing import Checkpoint, CheckpointInvalid, verify_checkpoint
from archive.sql import Database
from archive.tree import MerkleIndex

BATCH = 5000
_sha256 = hashlib.sha256
LOOKAHEAD = 10_000  # rows searched past a broken link to tell a swap or an insertion from a change
_CHAIN_KINDS = frozenset({"modified", "missing", "inserted", "reordered"})


@dataclass(frozen=True)
class Finding:
    kind: str
    position: int
    detail: str
    notification_id: int | None = None


@dataclass
class Report:
    events: int = 0  # rows checked
    tree_size: int = 0
    root_hash: str = ""
    checkpoints_checked: int = 0
    published_checked: bool = False
    started_at: int = 0
    problems: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Finding | None:
        # At one position, what the chain says comes first: it names the damage, while a root that
        # fails there only says that something did (a checkpoint that ends at a forged row is
        # checked before the row after it shows the chain broken).
        return min(self.problems, key=lambda f: (f.position, f.kind not in _CHAIN_KINDS)) if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        first = self.first_problem
        return {
            "clean": self.clean, "events_checked": self.events, "from_position": self.started_at,
            "tree_size": self.tree_size, "root_hash": self.root_hash,
            "checkpoints_checked": self.checkpoints_checked, "published_checkpoint_checked": self.published_checked,
            "first_problem": asdict(first) if first else None, "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class _Row:
    notification_id: int
    position: int | None
    leaf: bytes
    chain_hash: bytes | None


class _Rows:
    """The log's rows in log order, read in batches of plain tuples, with a look-ahead (as
    ``_Row``s) for classifying damage."""

    def __init__(self, db: Database, events: str, after_notification: int) -> None:
        self.db, self.events, self.after = db, events, after_notification
        self.buffer: deque[tuple[Any, ...]] = deque()

    def _fetch(self) -> bool:
        rows = self.db.query(
            f"SELECT {self.db.log_order}, position, originator_id, originator_version, topic, state, chain_hash "  # noqa: S608
            f"FROM {self.events} WHERE {self.db.log_order} > ? ORDER BY {self.db.log_order} LIMIT ?",
            (self.after, BATCH))
        self.buffer.extend(rows)
        if rows:
            self.after = int(rows[-1][0])
        return bool(rows)

    def batch(self) -> list[tuple[Any, ...]]:
        """The next rows (what is buffered, else a fresh batch); empty at the end of the log."""
        if not self.buffer and not self._fetch():
            return []
        rows = list(self.buffer)
        self.buffer.clear()
        return rows

    def put_back(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.buffer.extendleft(reversed(rows))

    def peek(self, count: int) -> list[_Row]:
        while len(self.buffer) < count and self._fetch():
            pass
        return [_row(r) for r in islice(self.buffer, count)]


def _row(raw: tuple[Any, ...]) -> _Row:
    nid, position, oid, version, topic, state, chain = raw
    return _Row(int(nid), position, event_leaf(oid, version, topic, bytes(state)), None if chain is None else bytes(chain))


def verify_log(
    db: Database,
    events_table: str,
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    published: Checkpoint | None = None,
    start: int = 0,
    index: MerkleIndex | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Report:
    """Verify the log from position ``start`` (0: everything).

    From a later position, the chain is checked from there on, trusting the stored chain hash of
    the row before it, and the Merkle tree's first ``start`` leaves come from the stored index.
    """
    events = db.table(events_table)
    report = Report(started_at=start)
    targets: list[tuple[int, Checkpoint, bool]] = []  # (tree size, checkpoint, published?)
    for cp in checkpoints:
        try:
            verify_checkpoint(cp, public_keys)
        except CheckpointInvalid as e:
            report.problems.append(Finding("checkpoint_signature", cp.tree_size,
                                           f"checkpoint at tree size {cp.tree_size}: {e}"))
            continue
        if cp.tree_size > start:
            targets.append((cp.tree_size, cp, False))
    if published is not None:
        verify_checkpoint(published, public_keys)  # the caller reports a bad witness file as bad input
        if published.tree_size > start:
            targets.append((published.tree_size, published, True))
        report.published_checked = published.tree_size <= start
    targets.sort(key=lambda t: (t[0], t[2]))

    if start == 0 and db.backend == "sqlite" and parallel_verify.usable(db.datastore.pool.db_name):
        clean = parallel_verify.verify_clean(db.datastore.pool.db_name, events, [t[0] for t in targets], progress)
        if clean is not None and all(clean.roots.get(size) == cp.root_hash for size, cp, _ in targets):
            report.events = report.tree_size = clean.tree_size
            report.root_hash = merkle.fold_edge(clean.edge).hex()
            report.checkpoints_checked = sum(1 for _, _, published in targets if not published)
            report.published_checked = report.published_checked or any(published for _, _, published in targets)
            return report
        # Anything out of order: the sequential pass below finds it and says what it is.

    frontier, previous, after = merkle.Frontier(), GENESIS, 0
    if start > 0:
        if index is None or index.size() < start:
            raise ValueError(f"cannot start at position {start}: the Merkle index does not cover it")
        frontier = merkle.Frontier.from_nodes(start, index.nodes(merkle.root_nodes(start)))
        rows = db.query(f"SELECT {db.log_order}, chain_hash FROM {events} WHERE position = ?", (start - 1,))  # noqa: S608
        if not rows:
            raise ValueError(f"position {start - 1} is not in the log; verify from 0")
        after, previous = int(rows[0][0]), bytes(rows[0][1])

    # The hot loop of the whole audit: one pass over every event, so it works on plain tuples and
    # keeps the Merkle tree's right edge inline (``merkle.Frontier`` does the same, one call per
    # leaf dearer); damage is handed to ``_classify`` with a look-ahead only when found.
    rows = _Rows(db, events, after)
    edge = list(frontier.nodes().values())
    before_previous = previous
    position = start
    chain_broken = False
    next_target = 0
    sizes = [t[0] for t in targets]
    while batch := rows.batch():
        for i, (nid, pos, oid, version, topic, state, chain) in enumerate(batch):
            leaf = event_leaf(oid, version, topic, state)
            if not chain_broken and (pos != position or chain != _sha256(previous + leaf).digest()):
                rows.put_back(batch[i + 1:])
                report.problems.append(_classify(_row(batch[i]), position, previous, before_previous, rows))
                chain_broken = True  # later links are judged against a broken one: only the tree goes on
                del batch[i + 1:]
            before_previous, previous = previous, chain or b""
            acc, idx = leaf, position
            while idx & 1:
                acc = _sha256(b"\x01" + edge.pop() + acc).digest()
                idx >>= 1
            edge.append(acc)
            position += 1
            while next_target < len(sizes) and sizes[next_target] == position:
                _check_root(report, targets[next_target], merkle.fold_edge(edge), index, start, after)
                next_target += 1
        if progress is not None:
            progress(position)
    report.events = position - start
    report.tree_size = position
    report.root_hash = merkle.fold_edge(edge).hex()
    for size, cp, is_published in targets[next_target:]:
        kind = "published_mismatch" if is_published else "truncated"
        report.problems.append(Finding(kind, position, (
            f"the log ends at {position} events, but the {'published ' if is_published else ''}checkpoint "
            f"signed at {cp.timestamp.isoformat()} has {size}: events after position {position - 1} are gone")))
    if progress is not None:
        progress(position)
    return report


def _check_root(report: Report, target: tuple[int, Checkpoint, bool], root: bytes, index: MerkleIndex | None,
                start: int, after: int) -> None:
    size, cp, is_published = target
    if root == cp.root_hash:
        if is_published:
            report.published_checked = True
        else:
            report.checkpoints_checked += 1
        return
    where = _first_differing_leaf(index, size, start, after)
    kind = "published_mismatch" if is_published else "checkpoint_mismatch"
    detail = (f"the log's Merkle root at tree size {size} is not the one the "
              f"{'published (witness) ' if is_published else ''}checkpoint signed at {cp.timestamp.isoformat()}: "
              "the log was rewritten, links and all")
    if where is None:
        # Position 0 is then only the lower bound: say so, rather than let it read as the place.
        detail += (f"; the stored Merkle index cannot tell where (it agrees with the log as it is now, or does "
                   f"not reach it): the difference lies somewhere in the first {size} events")
    report.problems.append(Finding(kind, where if where is not None else 0, detail))


def _first_differing_leaf(index: MerkleIndex | None, size: int, start: int, after: int) -> int | None:
    """Where the log differs from the leaves the Merkle index recorded (if the index predates the
    rewrite); None when the index cannot tell."""
    if index is None:
        return None
    # Runs only once a root has failed, so a second pass over the leaves costs nothing on a clean log.
    # The leaves are compared in log order, as the tree that failed was built, not by their position
    # column: rows moved in the log order with their positions kept (swapped notification ids)
    # change that tree while every position still holds its own event. Leaves before ``start``
    # came from the index itself and cannot differ from it.
    db, events = index.db, index.events
    place = start
    while place < size:
        rows = db.query(
            f"SELECT {db.log_order}, originator_id, originator_version, topic, state FROM {events} "  # noqa: S608
            f"WHERE {db.log_order} > ? ORDER BY {db.log_order} LIMIT ?", (after, min(BATCH, size - place)))
        if not rows:
            break
        stored = index.nodes((0, i) for i in range(place, place + len(rows)))
        for _, oid, version, topic, state in rows:
            known = stored.get((0, place))
            if known is not None and known != event_leaf(oid, version, topic, bytes(state)):
                return place
            place += 1
        after = int(rows[-1][0])
    return None


def _classify(row: _Row, position: int, previous: bytes, before_previous: bytes, rows: _Rows) -> Finding:
    nid = row.notification_id
    if row.position is None or row.chain_hash is None:
        return Finding("modified", position, f"the row at position {position} has no chain hash", nid)
    ahead = rows.peek(LOOKAHEAD)
    if row.chain_hash == link(previous, row.leaf):
        # The chain vouches for this event right here, so only its position column is wrong: nothing
        # was deleted or moved, unless the next row links past it (a row slipped in with a made-up
        # position, its link computed by someone who knows the algorithm).
        if _next_links_onto(ahead, previous):
            return Finding("inserted", position, (
                f"the row at position {position} (claiming position {row.position}) does not belong to the chain: "
                "the next row links past it"), nid)
        return Finding("modified", position, (
            f"the row at position {position} claims position {row.position}: its position column was changed "
            "(its chain hash says it belongs here)"), nid)
    if row.position > position:
        if any(r.position == position for r in ahead):
            return Finding("reordered", position, (
                f"the event at position {position} comes later in the log than position {row.position}"), nid)
        return Finding("missing", position, (
            f"positions {position}–{row.position - 1} are not in the log (deleted)" if row.position - 1 > position
            else f"position {position} is not in the log (deleted)"), nid)
    if row.position < position:
        return Finding("inserted", position, (
            f"a row claiming position {row.position} appears at position {position}: it is not part of the chain"),
            nid)
    if position > 0 and row.chain_hash == link(before_previous, row.leaf):
        return Finding("inserted", position - 1, (
            f"the row at position {position - 1} does not belong to the chain: the next row links past it"), nid)
    if _next_links_onto(ahead, previous):
        return Finding("inserted", position, (
            f"the row at position {position} does not belong to the chain: the next row links past it"), nid)
    for later in ahead:
        if later.chain_hash is not None and link(previous, later.leaf) == row.chain_hash:
            return Finding("reordered", position, (
                f"the event recorded at position {position} is now at position {later.position}, "
                "and another event is in its place"), nid)
    return Finding("modified", position, (
        f"the event at position {position} was changed after it was recorded (its content no longer gives "
        "its chain hash)"), nid)


def _next_links_onto(ahead: list[_Row], previous: bytes) -> bool:
    """Whether the row after the broken one links onto the chain hash before it: the broken row is
    not part of the chain (it was slipped in)."""
    return bool(ahead) and ahead[0].chain_hash == link(previous, ahead[0].leaf)
