"""RFC 9162 (RFC 6962) Merkle tree functions for the event log.

The event log is an RFC 9162 Merkle tree whose leaf i is the i-th event in log order. These are the
pure functions (no I/O) that build its roots, inclusion proofs and consistency proofs and verify them.
``root``, ``inclusion_proof`` and ``consistency_proof`` take all the leaf hashes and suit small trees
and tests; the stored-tree code calls the ``*_nodes`` functions instead, which name, by index
arithmetic alone, the stored perfect-subtree hashes a proof is made of, so that a proof for a
10-million-leaf log needs O(log² n) node lookups, not a scan. ``Frontier`` keeps the tree's right
edge, so that appending a leaf yields every perfect node it completes, ready to be stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, idx): the perfect subtree over leaves [idx * 2**level, (idx + 1) * 2**level)


def _is_hash(value: bytes) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _check_hash(value: bytes, what: str) -> None:
    if not _is_hash(value):
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, got {got}")


def _check_index(index: int, tree_size: int) -> None:
    if tree_size < 1:
        raise ValueError(f"tree_size must be at least 1 for a proof, got {tree_size}")
    if not 0 <= index < tree_size:
        raise ValueError(f"index {index} is outside a tree of {tree_size} leaves")


def _check_sizes(old_size: int, new_size: int) -> None:
    if old_size < 1:
        raise ValueError(f"old_size must be at least 1, got {old_size}")
    if old_size > new_size:
        raise ValueError(f"old_size {old_size} is larger than new_size {new_size}")


def _check_leaves(leaves: Sequence[bytes]) -> None:
    for i, leaf in enumerate(leaves):
        _check_hash(leaf, f"leaf {i}")


def leaf_hash(data: bytes) -> bytes:
    # The 0x00 / 0x01 prefixes keep a leaf from ever being passed off as an interior node.
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    _check_hash(left, "left")
    _check_hash(right, "right")
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


# --- the RFC recursions, as the leaf ranges [lo, hi) whose subtree hashes make up each proof -------


def _path(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, the sibling nearest the leaf first."""
    # The recursion, unrolled from the top (an export asks for thousands of paths): the sibling
    # of the outermost split is the last one of the path.
    siblings = []
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)  # _split(hi - lo)
        if index < lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo += k
    siblings.reverse()
    return siblings


def _subproof(m: int, lo: int, hi: int, whole: bool) -> list[tuple[int, int]]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1, with m counted from lo."""
    if m == hi - lo:
        return [] if whole else [(lo, hi)]
    k = _split(hi - lo)
    if m <= k:
        return _subproof(m, lo, lo + k, whole) + [(lo + k, hi)]
    return _subproof(m - k, lo + k, hi, False) + [(lo, lo + k)]


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def root(leaves: Sequence[bytes]) -> bytes:
    _check_leaves(leaves)
    return _mth(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    _check_index(index, len(leaves))
    _check_leaves(leaves)
    return [_mth(leaves, lo, hi) for lo, hi in _path(index, 0, len(leaves))]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    _check_sizes(old_size, len(leaves))
    _check_leaves(leaves)
    return [_mth(leaves, lo, hi) for lo, hi in _subproof(old_size, 0, len(leaves), True)]


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    _check_index(index, tree_size)
    _check_hash(leaf_hash, "leaf_hash")
    _check_hash(root, "root")
    # A proof comes from elsewhere: a malformed one is a failed proof, not the caller's mistake.
    if not all(map(_is_hash, proof)):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_inclusions(items: Iterable[tuple[int, bytes, Sequence[bytes]]], tree_size: int,
                      root: bytes) -> list[bool]:
    """Many inclusion proofs in one tree: ``verify_inclusion(leaf, index, tree_size, proof, root)``
    for each (index, leaf, proof), the same answer for each, with the hashing shared.

    Proofs in one tree meet: two neighbouring leaves have the same parent and the same path above
    it. A proof that verifies leaves behind every step of its walk (the level, the index there and
    the hash so far) with the rest of its proof; a later proof that reaches the same step with the
    same hash *and the very same rest of the proof* would compute the same root from there, so it
    stops. Every hash it brings is still compared (a tampered sibling anywhere in it fails); only
    hashes already computed are not computed again: about 2n node hashes for n neighbouring
    leaves, where one call each does n log n.

    Unlike ``verify_inclusion``, an index outside the tree or a leaf that is not 32 bytes is a
    failed proof (False), not a ValueError: the items come from elsewhere.
    """
    _check_hash(root, "root")
    if tree_size < 1:
        raise ValueError(f"tree_size must be at least 1 for a proof, got {tree_size}")
    proven: dict[tuple[int, int, bytes], tuple[bytes, ...]] = {}  # (shifts, fn, hash so far) -> rest of proof
    results: list[bool] = []
    sha = _sha256
    for index, leaf, proof in items:
        proof = tuple(proof)
        if not (type(index) is int and 0 <= index < tree_size and _is_hash(leaf)):
            results.append(False)
            continue
        fn, sn, shifts, r = index, tree_size - 1, 0, bytes(leaf)
        walked: list[tuple[tuple[int, int, bytes], int]] = []
        ok: bool | None = None
        for i, p in enumerate(proof):
            key = (shifts, fn, r)
            rest = proven.get(key)
            if rest is not None and rest == proof[i:]:
                ok = True
                break
            walked.append((key, i))
            # Each hash is checked where it is used; the rest of a proof that meets a proven step is
            # equal to a proven rest, all hashes, so a malformed proof fails as verify_inclusion's does.
            if sn == 0 or not (p.__class__ is bytes and len(p) == HASH_SIZE or _is_hash(p)):
                ok = False
                break
            if fn & 1 or fn == sn:
                r = sha(b"\x01" + p + r).digest()
                while not fn & 1 and fn:
                    fn, sn, shifts = fn >> 1, sn >> 1, shifts + 1
            else:
                r = sha(b"\x01" + r + p).digest()
            fn, sn, shifts = fn >> 1, sn >> 1, shifts + 1
        if ok is None:
            ok = sn == 0 and r == root
        if ok:
            for key, i in walked:
                proven[key] = proof[i:]
        results.append(ok)
    return results


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, step by step."""
    _check_sizes(old_size, new_size)
    _check_hash(old_root, "old_root")
    _check_hash(new_root, "new_root")
    if not all(map(_is_hash, proof)) or (old_size < new_size and not proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    # When the old tree is perfect its root is a node of the new tree, so the proof leaves it out.
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# --- stored tree: proofs from perfect nodes -------------------------------------------------------
# Every subtree the RFC recursion visits starts at a multiple of the smallest power of two that
# covers it, so it is a fold of the perfect nodes of its size's binary decomposition.


def _range_nodes(lo: int, hi: int) -> list[Node]:
    nodes = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def fold_edge(hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from the hashes of its right edge (``root_nodes`` order, largest first)."""
    if not hashes:
        return EMPTY_ROOT
    # RFC 9162 puts the larger subtree on the left, so a ragged right edge folds from the right.
    acc = hashes[-1]
    _check_hash(acc, "node")  # node_hash checks the others; a lone stored node would go out unchecked
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def _range_hash(lo: int, hi: int, nodes: Mapping[Node, bytes]) -> bytes:
    n = hi - lo
    if n > 0 and not n & (n - 1):  # one perfect node, as most of a proof is: what fold_edge gives for it
        level = n.bit_length() - 1
        node = nodes[(level, lo >> level)]
        if node.__class__ is not bytes or len(node) != HASH_SIZE:
            _check_hash(node, "node")
        return node
    return fold_edge([nodes[n] for n in _range_nodes(lo, hi)])


def _nodes_of(ranges: list[tuple[int, int]]) -> list[Node]:
    nodes: list[Node] = []
    for lo, hi in ranges:
        n = hi - lo
        if n > 0 and not n & (n - 1):  # one perfect node, as most of a proof is
            level = n.bit_length() - 1
            nodes.append((level, lo >> level))
        else:
            nodes.extend(_range_nodes(lo, hi))
    return list(dict.fromkeys(nodes))


def inclusion_proof_nodes(index: int, tree_size: int) -> list[Node]:
    _check_index(index, tree_size)
    return _nodes_of(_path(index, 0, tree_size))


def inclusion_proof_from_nodes(index: int, tree_size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    _check_index(index, tree_size)
    return [_range_hash(lo, hi, nodes) for lo, hi in _path(index, 0, tree_size)]


def consistency_proof_nodes(old_size: int, new_size: int) -> list[Node]:
    _check_sizes(old_size, new_size)
    return _nodes_of(_subproof(old_size, 0, new_size, True))


def consistency_proof_from_nodes(old_size: int, new_size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    _check_sizes(old_size, new_size)
    return [_range_hash(lo, hi, nodes) for lo, hi in _subproof(old_size, 0, new_size, True)]


def root_nodes(tree_size: int) -> list[Node]:
    if tree_size < 0:
        raise ValueError(f"tree_size must not be negative, got {tree_size}")
    return _range_nodes(0, tree_size)


def root_from_nodes(tree_size: int, nodes: Mapping[Node, bytes]) -> bytes:
    return fold_edge([nodes[n] for n in root_nodes(tree_size)])


class Frontier:
    """The right edge of the tree (one hash per set bit of the size), enough to append and to root."""

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []  # the hashes of root_nodes(size), largest subtree first

    @property
    def size(self) -> int:
        return self._size

    @classmethod
    def from_nodes(cls, size: int, nodes: Mapping[Node, bytes]) -> Frontier:
        frontier = cls()
        for node in root_nodes(size):
            _check_hash(nodes[node], f"node {node}")
            frontier._hashes.append(nodes[node])
        frontier._size = size
        return frontier

    def nodes(self) -> dict[Node, bytes]:
        return dict(zip(root_nodes(self._size), self._hashes, strict=True))

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        _check_hash(leaf_hash, "leaf_hash")
        level, idx, acc = 0, self._size, leaf_hash
        completed = [(0, idx, acc)]
        # Each trailing 1-bit of the new leaf's index is a left sibling waiting on the edge. The
        # edge holds only checked hashes, so the per-call checks of node_hash are skipped here
        # (verification appends every event of the log).
        while idx & 1:
            acc = _sha256(b"\x01" + self._hashes.pop() + acc).digest()
            level, idx = level + 1, idx >> 1
            completed.append((level, idx, acc))
        self._hashes.append(acc)
        self._size += 1
        return completed

    def root(self) -> bytes:
        return fold_edge(self._hashes)
