"""The clean-log fast path of verification on SQLite: the log checked in aligned chunks by two
worker processes.

Every stored event costs a leaf hash, a link hash and a tree step in Python, against a read that
SQLite does in C; one Python thread verifies at about a third of the rate the rows can be read.
The work splits cleanly: a chunk of positions [lo, lo + CHUNK) is checked against the *stored*
chain hash of the row before it (which the previous chunk checks), and, CHUNK being a power of
two, the chunk is one perfect subtree of the Merkle tree, so the parent folds the chunks' right
edges into every checkpoint's root.

This path only ever says "clean": a chunk that finds anything out of order (a position, a link,
a count), a root that does not match, or a log shaped unexpectedly returns None, and the caller
runs the sequential pass, which names the damage.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from archive.chain import GENESIS, event_leaf
from archive.merkle import fold_edge

CHUNK = 1 << 13
MIN_CHUNKS = 8  # below this (65,536 events), starting the workers costs more than it saves
_sha256 = hashlib.sha256

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class CleanPass:
    tree_size: int
    edge: list[bytes]  # the final tree's right edge, largest subtree first
    roots: dict[int, bytes]  # the root at each asked-for size


def _workers() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # Spawned, not forked: the caller may be a threaded server.
            _pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
            atexit.register(_pool.shutdown, cancel_futures=True)
        return _pool


def usable(path: str) -> bool:
    return bool(path) and ":memory:" not in path and "mode=memory" not in path and (os.cpu_count() or 1) >= 2


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _check_chunk(job: tuple[str, str, int, int, int, bytes, frozenset[int]]) -> tuple[int, list[bytes],
                                                                                     dict[int, list[bytes]]] | None:
    path, table, after_rowid, last_rowid, lo, previous, sizes = job
    conn = _connect(path)
    try:
        rows = conn.execute(
            f"SELECT position, originator_id, originator_version, topic, state, chain_hash FROM {table} "  # noqa: S608
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid", (after_rowid, last_rowid)).fetchall()
    finally:
        conn.close()
    edge: list[bytes] = []
    snapshots: dict[int, list[bytes]] = {}
    position = lo
    for pos, oid, version, topic, state, chain in rows:
        leaf = event_leaf(oid, version, topic, state)
        if pos != position or chain != _sha256(previous + leaf).digest():
            return None
        previous = chain
        acc, idx = leaf, position - lo
        while idx & 1:
            acc = _sha256(b"\x01" + edge.pop() + acc).digest()
            idx >>= 1
        edge.append(acc)
        position += 1
        if position in sizes:
            snapshots[position] = list(edge)
    return position, edge, snapshots


def verify_clean(path: str, table: str, sizes: Sequence[int],
                 progress: Callable[[int], Any] | None = None) -> CleanPass | None:
    """Check the whole log in chunks; its size, right edge and the roots at ``sizes`` if every
    chunk is in order, else None (the sequential pass then finds and names what is not)."""
    conn = _connect(path)
    try:
        (top, last_rowid), = conn.execute(f"SELECT MAX(position), MAX(rowid) FROM {table}").fetchall()  # noqa: S608
        if top is None or top + 1 < MIN_CHUNKS * CHUNK:
            return None
        bounds = [(0, 0, GENESIS)]
        for lo in range(CHUNK, top + 1, CHUNK):
            found = conn.execute(f"SELECT rowid, chain_hash FROM {table} WHERE position = ?", (lo - 1,)).fetchall()  # noqa: S608
            if len(found) != 1 or found[0][0] <= bounds[-1][1]:
                return None
            bounds.append((lo, found[0][0], bytes(found[0][1])))
    finally:
        conn.close()
    wanted = frozenset(sizes)
    jobs = [(path, table, after, bounds[i + 1][1] if i + 1 < len(bounds) else last_rowid, lo, previous,
             frozenset(s for s in wanted if lo < s <= lo + CHUNK))
            for i, (lo, after, previous) in enumerate(bounds)]
    edge: list[bytes] = []  # the right edge over the chunks checked so far (each one perfect subtree)
    roots: dict[int, bytes] = {}
    end = 0
    for (lo, _, _), result in zip(bounds, _workers().map(_check_chunk, jobs), strict=True):
        if result is None:
            return None
        end, chunk_edge, snapshots = result
        for size, snapshot in snapshots.items():
            roots[size] = fold_edge(edge + snapshot)
        last = lo + CHUNK >= top + 1
        if not last:
            if end != lo + CHUNK or len(chunk_edge) != 1:
                return None
            acc, idx = chunk_edge[0], lo // CHUNK
            while idx & 1:
                acc = _sha256(b"\x01" + edge.pop() + acc).digest()
                idx >>= 1
            edge.append(acc)
        else:
            edge = edge + chunk_edge
        if progress is not None:
            progress(end)
    if end != top + 1:
        return None
    return CleanPass(end, edge, roots)
