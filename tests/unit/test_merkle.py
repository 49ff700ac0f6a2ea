"""The event log's Merkle tree: RFC 6962 test vectors, the stored-node functions against the lists, bad input."""

from __future__ import annotations

import hashlib
import math

import pytest

from archive.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    consistency_proof_from_nodes,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_from_nodes,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    root,
    root_from_nodes,
    root_nodes,
    verify_consistency,
    verify_inclusion,
    verify_inclusions,
)

h = bytes.fromhex

# --- public test vectors ---------------------------------------------------------------------------
# Copied from github.com/transparency-dev/merkle (Go):
#   testonly/constants.go at 582a6ad190b6848f1d26f8bf08ddef29955d9db1: LeafInputs, NodeHashes, RootHashes;
#   proof/verify_test.go at 022f84cb1f2655a4399874cfa190c3f1d60b32a8: inclusionProofs, consistencyProofs
#     (its leaf numbers are 1-based; LEAF_INDEX below is 0-based);
#   rfc6962/rfc6962_test.go: the empty-root, empty-leaf and "L123456" hashes.
# The same proofs are in testdata/inclusion/{0..4}/happy-path.json and testdata/consistency/{0..4}/happy-path.json.

LEAF_INPUTS = [h(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                               "606162636465666768696a6b6c6d6e6f"]]

# NODE_HASHES[level][idx]: the perfect subtrees of the 8-leaf tree; level 0 are the leaf hashes.
NODE_HASHES = [
    [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
     h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
     h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
     h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
     h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
     h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
     h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
     h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1")],
    [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
     h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
     h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
     h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0")],
    [h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
     h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# ROOTS[n]: the root of the tree over the first n leaf inputs.
ROOTS = [h(x) for x in [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]

# (leaf index, tree size, proof)
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]

# (old size, new size, proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]

VECTOR_LEAVES = [leaf_hash(x) for x in LEAF_INPUTS]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def flipped(proof: list[bytes], i: int) -> list[bytes]:
    tampered = list(proof)
    tampered[i] = bytes([tampered[i][0] ^ 0x10]) + tampered[i][1:]
    return tampered


def test_the_rfc6962_hasher_gives_the_published_empty_root_and_leaf_hashes() -> None:
    assert EMPTY_ROOT == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")


def test_the_leaf_inputs_hash_to_the_published_leaf_hashes() -> None:
    assert VECTOR_LEAVES == NODE_HASHES[0]


def test_each_published_interior_node_is_the_hash_of_its_two_children() -> None:
    for level in range(1, 4):
        for idx, expected in enumerate(NODE_HASHES[level]):
            assert node_hash(NODE_HASHES[level - 1][2 * idx], NODE_HASHES[level - 1][2 * idx + 1]) == expected


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_the_first_leaves_is_the_published_root(size: int) -> None:
    assert root(VECTOR_LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_a_published_inclusion_proof_is_generated_and_verifies(index: int, size: int, proof: list[bytes]) -> None:
    nodes = {(level, idx): node for level, row in enumerate(NODE_HASHES) for idx, node in enumerate(row)}
    assert inclusion_proof(VECTOR_LEAVES[:size], index) == proof
    assert inclusion_proof_from_nodes(index, size, nodes) == proof
    assert verify_inclusion(VECTOR_LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_a_published_inclusion_proof_does_not_verify_once_anything_is_changed(
    index: int, size: int, proof: list[bytes]
) -> None:
    leaf, good_root = VECTOR_LEAVES[index], ROOTS[size]
    wrong_indices = {index - 1, index + 1, index ^ 2} & set(range(size)) - {index}
    # As in the Go suite, the size changes by a factor of two: a proof fixes the tree's height and
    # the path's shape, not the exact size (the root does that), so size + 1 can rightly verify.
    wrong_sizes = {size * 2, size // 2} - {size}
    assert not any(verify_inclusion(leaf, i, size, proof, good_root) for i in wrong_indices)
    assert not any(verify_inclusion(leaf, index, s, proof, good_root) for s in wrong_sizes if s > index)
    assert not verify_inclusion(SOME_HASH, index, size, proof, good_root)
    assert not verify_inclusion(leaf, index, size, proof, SOME_HASH)
    assert not verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)
    assert not any(verify_inclusion(leaf, index, size, flipped(proof, i), good_root) for i in range(len(proof)))
    assert not verify_inclusion(leaf, index, size, [*proof, SOME_HASH], good_root)
    assert not verify_inclusion(leaf, index, size, [SOME_HASH, *proof], good_root)
    assert not verify_inclusion(leaf, index, size, [*proof, good_root], good_root)
    assert not verify_inclusion(leaf, index, size, [good_root, *proof], good_root)
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], good_root)
        assert not verify_inclusion(leaf, index, size, proof[1:], good_root)
        assert not verify_inclusion(leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], good_root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_a_published_consistency_proof_is_generated_and_verifies(old: int, new: int, proof: list[bytes]) -> None:
    nodes = {(level, idx): node for level, row in enumerate(NODE_HASHES) for idx, node in enumerate(row)}
    assert consistency_proof(VECTOR_LEAVES[:new], old) == proof
    assert consistency_proof_from_nodes(old, new, nodes) == proof
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_a_published_consistency_proof_does_not_verify_once_anything_is_changed(
    old: int, new: int, proof: list[bytes]
) -> None:
    r1, r2 = ROOTS[old], ROOTS[new]
    wrong_olds = {old - 1, old + 1, old ^ 2} & set(range(1, new + 1)) - {old}
    wrong_news = {new * 2, new // 2} - {new}  # a factor of two, as for inclusion above
    assert not any(verify_consistency(o, new, r1, r2, proof) for o in wrong_olds)
    assert not any(verify_consistency(old, n, r1, r2, proof) for n in wrong_news if n >= old)
    assert not verify_consistency(old, new, SOME_HASH, r2, proof)
    assert not verify_consistency(old, new, r1, SOME_HASH, proof)
    assert not any(verify_consistency(old, new, r1, r2, flipped(proof, i)) for i in range(len(proof)))
    assert not verify_consistency(old, new, r1, r2, [*proof, SOME_HASH])
    assert not verify_consistency(old, new, r1, r2, [SOME_HASH, *proof])
    assert not any(verify_consistency(old, new, r1, r2, [*proof, r]) for r in (r1, r2))
    assert not any(verify_consistency(old, new, r1, r2, [r, *proof]) for r in (r1, r2))
    if proof:
        assert not verify_consistency(old, new, r1, r2, [proof[0], *proof])
        assert not verify_consistency(old, new, r2, r1, proof)
        assert not verify_consistency(old, new, r1, r2, proof[:-1])
        assert not verify_consistency(old, new, r1, r2, proof[1:])
        assert not verify_consistency(old, new, r1, r2, [])


# --- the stored-node functions give what the lists give, for every small tree ----------------------

MAX = 70
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(MAX)]
# Every perfect node of the 70-leaf tree, computed from its definition: the root of its leaves.
PERFECT = {
    (level, idx): root(LEAVES[idx << level:(idx + 1) << level])
    for level in range(MAX.bit_length())
    for idx in range(MAX >> level)
}


def stored(size: int, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Only the asked-for nodes, and only nodes inside the tree: asking for more raises KeyError."""
    inside = {(level, idx): node for (level, idx), node in PERFECT.items() if (idx + 1) << level <= size}
    assert len(set(wanted)) == len(wanted), "node lists are deduplicated"
    return {node: inside[node] for node in wanted}


def test_the_root_nodes_are_the_binary_decomposition_of_the_size_largest_first() -> None:
    assert root_nodes(0) == []
    assert root_nodes(1) == [(0, 0)]
    assert root_nodes(8) == [(3, 0)]
    assert root_nodes(13) == [(3, 0), (2, 2), (0, 12)]
    assert root_nodes(70) == [(6, 0), (2, 16), (1, 34)]


@pytest.mark.parametrize("size", range(MAX + 1))
def test_the_root_from_stored_nodes_is_the_root_of_the_leaves(size: int) -> None:
    assert root_from_nodes(size, stored(size, root_nodes(size))) == root(LEAVES[:size])


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_every_inclusion_proof_from_stored_nodes_is_the_proof_from_the_leaves_and_verifies(size: int) -> None:
    tree_root = root(LEAVES[:size])
    for index in range(size):
        expected = inclusion_proof(LEAVES[:size], index)
        nodes = stored(size, inclusion_proof_nodes(index, size))
        assert inclusion_proof_from_nodes(index, size, nodes) == expected, (index, size)
        assert verify_inclusion(LEAVES[index], index, size, expected, tree_root), (index, size)
        if size > 1:
            assert not verify_inclusion(LEAVES[index], (index + 1) % size, size, expected, tree_root)


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_every_consistency_proof_from_stored_nodes_is_the_proof_from_the_leaves_and_verifies(size: int) -> None:
    new_root = root(LEAVES[:size])
    for old in range(1, size + 1):
        expected = consistency_proof(LEAVES[:size], old)
        nodes = stored(size, consistency_proof_nodes(old, size))
        assert consistency_proof_from_nodes(old, size, nodes) == expected, (old, size)
        assert verify_consistency(old, size, root(LEAVES[:old]), new_root, expected), (old, size)
        if old < size:
            assert not verify_consistency(old, size, root(LEAVES[:old]), new_root, expected[:-1])


def test_the_frontier_root_is_the_root_of_the_leaves_after_every_append() -> None:
    frontier = Frontier()
    assert (frontier.size, frontier.root(), frontier.nodes()) == (0, EMPTY_ROOT, {})
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.size == n
        assert frontier.root() == root(LEAVES[:n])
        assert frontier.nodes() == stored(n, root_nodes(n))


def test_the_frontier_reports_exactly_the_perfect_nodes_each_leaf_completes() -> None:
    frontier = Frontier()
    for i, leaf in enumerate(LEAVES):
        completed = frontier.append(leaf)
        ending_here = {(level, idx, node) for (level, idx), node in PERFECT.items() if (idx + 1) << level == i + 1}
        assert completed[0] == (0, i, leaf)
        assert len(completed) == len(ending_here) and set(completed) == ending_here


@pytest.mark.parametrize("size", range(MAX + 1))
def test_a_frontier_restored_from_stored_nodes_carries_on_like_the_original(size: int) -> None:
    frontier = Frontier.from_nodes(size, stored(size, root_nodes(size)))
    assert (frontier.size, frontier.root()) == (size, root(LEAVES[:size]))
    for n in range(size + 1, MAX + 1):
        frontier.append(LEAVES[n - 1])
        assert frontier.root() == root(LEAVES[:n])


# --- bad input --------------------------------------------------------------------------------------

GOOD = LEAVES[0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof(LEAVES[:10], 12), "index 12 is outside a tree of 10 leaves"),
        (lambda: inclusion_proof(LEAVES[:10], -1), "index -1 is outside a tree of 10 leaves"),
        (lambda: inclusion_proof([], 0), "tree_size must be at least 1 for a proof, got 0"),
        (lambda: inclusion_proof_nodes(10, 10), "index 10 is outside a tree of 10 leaves"),
        (lambda: inclusion_proof_nodes(0, 0), "tree_size must be at least 1 for a proof, got 0"),
        (lambda: inclusion_proof_from_nodes(10, 10, PERFECT), "index 10 is outside a tree of 10 leaves"),
        (lambda: verify_inclusion(GOOD, 10, 10, [], GOOD), "index 10 is outside a tree of 10 leaves"),
        (lambda: verify_inclusion(GOOD, 0, 0, [], GOOD), "tree_size must be at least 1 for a proof, got 0"),
        (lambda: consistency_proof(LEAVES[:5], 0), "old_size must be at least 1, got 0"),
        (lambda: consistency_proof(LEAVES[:5], 6), "old_size 6 is larger than new_size 5"),
        (lambda: consistency_proof_nodes(0, 5), "old_size must be at least 1, got 0"),
        (lambda: consistency_proof_nodes(6, 5), "old_size 6 is larger than new_size 5"),
        (lambda: consistency_proof_from_nodes(6, 5, PERFECT), "old_size 6 is larger than new_size 5"),
        (lambda: verify_consistency(0, 5, GOOD, GOOD, []), "old_size must be at least 1, got 0"),
        (lambda: verify_consistency(0, 0, GOOD, GOOD, []), "old_size must be at least 1, got 0"),
        (lambda: verify_consistency(6, 5, GOOD, GOOD, [GOOD]), "old_size 6 is larger than new_size 5"),
        (lambda: root_nodes(-1), "tree_size must not be negative, got -1"),
        (lambda: node_hash(GOOD[:31], GOOD), "left must be 32 bytes, got 31"),
        (lambda: node_hash(GOOD, GOOD + b"\x00"), "right must be 32 bytes, got 33"),
        (lambda: root([GOOD, b"N123"]), "leaf 1 must be 32 bytes, got 4"),
        (lambda: inclusion_proof([b"short"], 0), "leaf 0 must be 32 bytes, got 5"),
        (lambda: verify_inclusion(b"short", 0, 1, [], GOOD), "leaf_hash must be 32 bytes, got 5"),
        (lambda: verify_inclusion(GOOD, 0, 1, [], "not bytes"), "root must be 32 bytes, got str"),
        (lambda: verify_consistency(1, 2, GOOD, b"", [GOOD]), "new_root must be 32 bytes, got 0"),
        (lambda: inclusion_proof_from_nodes(0, 2, {(0, 1): b"short"}), "node must be 32 bytes, got 5"),
        (lambda: root_from_nodes(3, {(1, 0): GOOD, (0, 2): b""}), "node must be 32 bytes, got 0"),
        (lambda: Frontier().append(b"short"), "leaf_hash must be 32 bytes, got 5"),
        (lambda: Frontier.from_nodes(1, {(0, 0): b"short"}), r"node \(0, 0\) must be 32 bytes, got 5"),
    ],
)
def test_impossible_input_raises_a_value_error_that_says_what_is_wrong(call, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        call()


def test_a_proof_with_a_hash_of_the_wrong_length_is_a_failed_proof_not_an_error() -> None:
    index, size, proof = INCLUSION_VECTORS[2]
    assert not verify_inclusion(VECTOR_LEAVES[index], index, size, [proof[0][:31], *proof[1:]], ROOTS[size])
    old, new, proof = CONSISTENCY_VECTORS[2]
    assert not verify_consistency(old, new, ROOTS[old], ROOTS[new], [*proof[:2], proof[2] + b"\x00"])


def test_equal_sizes_are_consistent_only_with_an_empty_proof_and_equal_roots() -> None:
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert not verify_consistency(5, 5, ROOTS[5], ROOTS[4], [])
    assert not verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[5]])


def test_a_missing_stored_node_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        inclusion_proof_from_nodes(3, 8, {})
    with pytest.raises(KeyError):
        Frontier.from_nodes(3, {(1, 0): GOOD})


# --- scale -----------------------------------------------------------------------------------------

TEN_MILLION = 10_000_000


def test_the_nodes_for_a_ten_million_leaf_log_are_few_and_inside_the_tree() -> None:
    bound = 2 * math.log2(TEN_MILLION) ** 2
    sizes = [1, 2, 3, 2**23 - 1, 2**23, 2**23 + 1, TEN_MILLION // 3, TEN_MILLION - 2, TEN_MILLION - 1]
    lists = [root_nodes(TEN_MILLION)]
    lists += [inclusion_proof_nodes(i, TEN_MILLION) for i in [0, 1, 2**23 - 1, 2**23, TEN_MILLION // 2, *sizes[-2:]]
              if i < TEN_MILLION]
    lists += [consistency_proof_nodes(old, TEN_MILLION) for old in sizes]
    assert consistency_proof_nodes(TEN_MILLION, TEN_MILLION) == []
    for nodes in lists:
        assert 0 < len(nodes) <= bound
        assert all((idx + 1) << level <= TEN_MILLION for level, idx in nodes)
    assert len(root_nodes(TEN_MILLION)) == bin(TEN_MILLION).count("1")


def test_proofs_from_stored_nodes_verify_in_a_ten_million_leaf_log() -> None:
    # With every leaf the same, a perfect node's hash depends only on its level, so the stored
    # tree of ten million leaves can be answered without building it.
    same = [leaf_hash(b"event")]
    for _ in range(TEN_MILLION.bit_length()):
        same.append(node_hash(same[-1], same[-1]))

    def lookup(wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {(level, idx): same[level] for level, idx in wanted}

    new_root = root_from_nodes(TEN_MILLION, lookup(root_nodes(TEN_MILLION)))
    for index in [0, 4_999_999, TEN_MILLION - 1]:
        proof = inclusion_proof_from_nodes(index, TEN_MILLION, lookup(inclusion_proof_nodes(index, TEN_MILLION)))
        assert verify_inclusion(same[0], index, TEN_MILLION, proof, new_root)
    for old in [1, 2**23, 3_333_333, TEN_MILLION - 1]:
        proof = consistency_proof_from_nodes(old, TEN_MILLION, lookup(consistency_proof_nodes(old, TEN_MILLION)))
        old_root = root_from_nodes(old, lookup(root_nodes(old)))
        assert verify_consistency(old, TEN_MILLION, old_root, new_root, proof)
    restored = Frontier.from_nodes(TEN_MILLION - 1, lookup(root_nodes(TEN_MILLION - 1)))
    restored.append(same[0])
    assert restored.root() == new_root


def test_the_test_leaves_are_distinct_so_the_small_trees_check_something() -> None:
    assert len(set(LEAVES)) == MAX
    assert LEAVES[0] == hashlib.sha256(b"\x00" + (0).to_bytes(4, "big")).digest()


# --- many inclusion proofs at once: the same answers as one by one ---------------------------------


def tampered_variants(index: int, size: int, leaf: bytes, proof: list[bytes], good_root: bytes
                      ) -> list[tuple[int, bytes, list[bytes]]]:
    """(index, leaf, proof) items that verify_inclusion turns down, the published test's changes."""
    items = [(i, leaf, proof) for i in {index - 1, index + 1, index ^ 2} & set(range(size)) - {index}]
    items += [(index, SOME_HASH, proof), (index, leaf, [*proof, SOME_HASH]), (index, leaf, [SOME_HASH, *proof]),
              (index, leaf, [*proof, good_root]), (index, leaf, [good_root, *proof])]
    items += [(index, leaf, flipped(proof, i)) for i in range(len(proof))]
    if proof:
        items += [(index, leaf, proof[:-1]), (index, leaf, proof[1:]),
                  (index, leaf, [proof[0], SOME_HASH, *proof[1:]]), (index, leaf, [proof[0][:31], *proof[1:]])]
    return items


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_published_proofs_verify_together_and_each_tampered_one_still_fails(
    index: int, size: int, proof: list[bytes]
) -> None:
    leaf, good_root = VECTOR_LEAVES[index], ROOTS[size]
    every = [(i, VECTOR_LEAVES[i], inclusion_proof(VECTOR_LEAVES[:size], i)) for i in range(size)]
    bad = tampered_variants(index, size, leaf, proof, good_root)
    # The good proofs first, so that every tampered one meets steps already proven.
    answers = verify_inclusions([*every, (index, leaf, proof), *bad], size, good_root)
    assert answers == [True] * (size + 1) + [False] * len(bad)
    assert answers == [verify_inclusion(lf, i, size, p, good_root) for i, lf, p in [*every, (index, leaf, proof), *bad]]
    assert verify_inclusions([(index, leaf, proof)], size, SOME_HASH) == [False]


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_many_proofs_give_what_one_by_one_gives_for_every_leaf_and_every_tampering(size: int) -> None:
    tree_root = root(LEAVES[:size])
    items: list[tuple[int, bytes, list[bytes]]] = []
    for index in range(size):
        proof = inclusion_proof(LEAVES[:size], index)
        items.append((index, LEAVES[index], proof))
        items += tampered_variants(index, size, LEAVES[index], proof, tree_root)
        if size > 1:
            items.append(((index + 1) % size, LEAVES[index], proof))  # another leaf's place
    expected = [verify_inclusion(leaf, i, size, p, tree_root) for i, leaf, p in items]
    assert verify_inclusions(items, size, tree_root) == expected
    assert sum(expected) == size  # exactly the genuine proofs


def test_many_proofs_turn_down_impossible_items_instead_of_raising() -> None:
    index, size, proof = INCLUSION_VECTORS[2]
    leaf = VECTOR_LEAVES[index]
    assert verify_inclusions([(size, leaf, proof), (-1, leaf, proof), (index, leaf[:31], proof), (index, leaf, proof)],
                             size, ROOTS[size]) == [False, False, False, True]
    with pytest.raises(ValueError, match="root"):
        verify_inclusions([], size, ROOTS[size][:31])
    with pytest.raises(ValueError, match="tree_size"):
        verify_inclusions([], 0, ROOTS[size])
