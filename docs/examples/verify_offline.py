#!/usr/bin/env python3
"""Verify Realty Ledger checkpoints and proofs offline, without the Realty Ledger code.

A standalone re-implementation of docs/audit.md: it imports only the Python standard library and
``cryptography`` (for Ed25519), so a witness or an auditor can run it on a machine that has never
seen the ledger, on files they were handed:

    verify_offline.py checkpoint CHECKPOINT.json KEYS.txt
        the checkpoint's signature, over the exact signed body, under the key its key_id names

    verify_offline.py inclusion PROOF.json CHECKPOINT.json [--leaf-hash HEX] [--public-keys KEYS.txt]
        that the event at the proof's position is leaf ``leaf_hash`` of the tree the checkpoint
        signed (RFC 9162 section 2.1.3.2); --leaf-hash: the leaf hash you computed yourself from
        the event (see ``leaf``) instead of the one in the proof file

    verify_offline.py consistency PROOF.json OLD_CHECKPOINT.json NEW_CHECKPOINT.json [--public-keys KEYS.txt]
        that the newer signed tree extends the older one, nothing changed or removed
        (RFC 9162 section 2.1.4.2)

    verify_offline.py leaf --originator-id ID --version N --topic TOPIC (--state-hex HEX | --state-file FILE)
                           [--expect HEX] [--previous-chain-hash HEX]
        the leaf hash of one stored event from its raw row fields (canonical encoding v1), and
        its chain hash if you give the chain hash of the event before it

Exit status: 0 verified (``leaf``: computed, and equal to --expect if given), 1 not verified,
2 bad input (a file that is not in the documented format, files that do not belong together).

Requires Python 3.11+ and the ``cryptography`` package (pip install cryptography).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import struct
import sys
import uuid
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VERIFIED, NOT_VERIFIED, BAD_INPUT = 0, 1, 2

CHECKPOINT_FORMAT = "realty-checkpoint/v1"
CHECKPOINT_FIELDS = {"format": str, "origin": str, "tree_size": int, "root_hash": str,
                     "timestamp": str, "key_id": str, "signature": str}
KEY_ID = re.compile(r"[0-9a-f]{16}")
HEX32 = re.compile(r"[0-9a-fA-F]{64}")
ENCODING_PREFIX = b"realty-event/v1\x00"


class BadInput(Exception):
    """The input is not in the documented format, or the files do not belong together (exit 2)."""


# --- hashing: RFC 9162 section 2.1.1 -------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- the event encoding (version 1) and the chain ------------------------------------------------


def event_bytes(originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """b"realty-event/v1" 0x00, then u16-length-prefixed originator id (canonical 36-char UUID text),
    i64 version, u32-length-prefixed topic (UTF-8), u32-length-prefixed state; all big-endian."""
    oid = str(uuid.UUID(originator_id)).encode("ascii")  # 32-hex or 36-char input -> canonical lowercase
    t = topic.encode("utf-8")
    return (ENCODING_PREFIX + struct.pack(">H", len(oid)) + oid + struct.pack(">q", version)
            + struct.pack(">I", len(t)) + t + struct.pack(">I", len(state)) + state)


def chain_link(previous: bytes, leaf: bytes) -> bytes:
    """chain[i] = SHA-256(chain[i-1] || leaf_hash(event i)); chain[-1] is 32 zero bytes."""
    return hashlib.sha256(previous + leaf).digest()


# --- RFC 9162 proof verification, step by step ---------------------------------------------------


def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= tree_size:                                    # step 1
        return False
    fn, sn, r = index, tree_size - 1, leaf                    # steps 2 and 3
    for p in path:                                            # step 4
        if sn == 0:                                           # 4a
            return False
        if fn & 1 or fn == sn:                                # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:                                                 # 4c
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1                             # 4d
    return sn == 0 and r == root                              # step 5


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2 (for 0 < first < second). For first == second the ledger's proof is
    empty and the two roots must be equal (RFC 9162 defines no proof for that case)."""
    if first == second:
        return not path and first_root == second_root
    if not path:                                              # step 1
        return False
    if first & (first - 1) == 0:                              # step 2: first is an exact power of 2
        path = [first_root, *path]
    fn, sn = first - 1, second - 1                            # step 3
    while fn & 1:                                             # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]                                         # step 5
    for c in path[1:]:                                        # step 6
        if sn == 0:                                           # 6a
            return False
        if fn & 1 or fn == sn:                                # 6b
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1                             # 6c
    return fr == first_root and sr == second_root and sn == 0  # step 7


# --- files ---------------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read {path}: {e}") from None


def _load_json(path: str) -> dict:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("a key appears twice")
        return dict(pairs)
    try:
        data = json.loads(_read_text(path), object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as e:
        raise BadInput(f"{path} is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} is not a JSON object")
    return data


def _canonical_b64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size or base64.b64encode(raw).decode() != text:
        raise BadInput(f"{what} must be standard padded base64 of {size} bytes")
    return raw


def _hash32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not HEX32.fullmatch(value):
        raise BadInput(f"{what} must be 64 hex characters (32 bytes)")
    return bytes.fromhex(value)


def _count(value: object, what: str, minimum: int) -> int:
    if type(value) is not int or not minimum <= value < 2**64:  # bool is an int in Python: refuse it
        raise BadInput(f"{what} must be an integer >= {minimum}")
    return value


class Checkpoint:
    """A checkpoint (witness) file: exactly the seven fields, each in its one canonical spelling."""

    def __init__(self, path: str) -> None:
        data = _load_json(path)
        if set(data) != set(CHECKPOINT_FIELDS):
            raise BadInput(f"{path}: a checkpoint has exactly the fields {sorted(CHECKPOINT_FIELDS)}")
        for name, kind in CHECKPOINT_FIELDS.items():
            if type(data[name]) is not kind:
                raise BadInput(f"{path}: {name} must be a JSON {'number' if kind is int else 'string'}")
        if data["format"] != CHECKPOINT_FORMAT:
            raise BadInput(f"{path}: format is not {CHECKPOINT_FORMAT}")
        origin = data["origin"]
        if not origin or any(c < " " or c == "\x7f" for c in origin):
            raise BadInput(f"{path}: origin must be non-empty, without control characters")
        self.tree_size = _count(data["tree_size"], f"{path}: tree_size", 0)
        if not re.fullmatch(r"[0-9a-f]{64}", data["root_hash"]):
            raise BadInput(f"{path}: root_hash must be 64 lowercase hex characters")
        self.root_hash = bytes.fromhex(data["root_hash"])
        try:
            ts = datetime.strptime(data["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            ts = None
        if ts is None or ts.isoformat(timespec="seconds") + "Z" != data["timestamp"]:
            raise BadInput(f"{path}: timestamp must be RFC 3339 UTC in whole seconds, like 2026-11-27T19:50:01Z")
        if not KEY_ID.fullmatch(data["key_id"]):
            raise BadInput(f"{path}: key_id must be 16 lowercase hex characters")
        self.signature = _canonical_b64(data["signature"], 64, f"{path}: signature")
        self.origin, self.timestamp, self.key_id, self.path = origin, data["timestamp"], data["key_id"], path

    def body(self) -> bytes:
        """The exact signed bytes: four lines, each ending in LF, UTF-8."""
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.tree_size}\n{root}\n{self.timestamp}\n".encode()


def load_public_keys(path: str) -> dict[str, Ed25519PublicKey]:
    """``<key id> ed25519 <base64 raw key>`` lines; blank lines and lines starting with # are skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(" ")
        if len(fields) != 3 or fields[1] != "ed25519" or not KEY_ID.fullmatch(fields[0]):
            raise BadInput(f"{path}, line {number}: expected '<16 hex key id> ed25519 <base64 public key>'")
        raw = _canonical_b64(fields[2], 32, f"{path}, line {number}: the public key")
        if hashlib.sha256(raw).hexdigest()[:16] != fields[0] or fields[0] in keys:
            raise BadInput(f"{path}, line {number}: the key id is not SHA-256(key)[:16 hex], or appears twice")
        keys[fields[0]] = Ed25519PublicKey.from_public_bytes(raw)
    if not keys:
        raise BadInput(f"{path} holds no keys")
    return keys


def _proof_path(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise BadInput(f"{what} must be a JSON array of hex hashes")
    return [_hash32(h, f"{what}[{i}]") for i, h in enumerate(value)]


# --- commands ------------------------------------------------------------------------------------


def check_signature(cp: Checkpoint, keys_path: str) -> bool:
    keys = load_public_keys(keys_path)
    print(f"checkpoint {cp.path}: origin {cp.origin}, tree size {cp.tree_size}, "
          f"root {cp.root_hash.hex()}, {cp.timestamp}, key {cp.key_id}")
    key = keys.get(cp.key_id)
    if key is None:
        print(f"NOT VERIFIED: {keys_path} has no public key with id {cp.key_id}")
        return False
    try:
        key.verify(cp.signature, cp.body())
    except InvalidSignature:
        print(f"NOT VERIFIED: the signature is not valid for this body under key {cp.key_id}")
        return False
    print(f"signature verified: Ed25519 under key {cp.key_id} over the {len(cp.body())}-byte body")
    return True


def cmd_checkpoint(args: argparse.Namespace) -> int:
    cp = Checkpoint(args.checkpoint)
    ok = check_signature(cp, args.keys)
    if ok:
        print("signed body:")
        for line in cp.body().decode().splitlines():
            print(f"  {line}")
    return VERIFIED if ok else NOT_VERIFIED


def cmd_inclusion(args: argparse.Namespace) -> int:
    proof = _load_json(args.proof)
    cp = Checkpoint(args.checkpoint)
    if proof.get("covered") is False:
        raise BadInput(f"{args.proof}: this event came after the latest checkpoint; no signed tree includes it yet")
    for name in ("position", "tree_size", "leaf_hash", "proof"):
        if name not in proof:
            raise BadInput(f"{args.proof}: an inclusion proof needs the field {name}")
    position = _count(proof["position"], "position", 0)
    tree_size = _count(proof["tree_size"], "tree_size", 1)
    path = _proof_path(proof["proof"], "proof")
    leaf = _hash32(proof["leaf_hash"], "leaf_hash")
    if tree_size != cp.tree_size:
        raise BadInput(f"the proof is for a tree of {tree_size} events, the checkpoint for {cp.tree_size}: "
                       f"ask for the proof with --tree-size {cp.tree_size} (tree_size={cp.tree_size} over HTTP)")
    ok = True
    if args.public_keys:
        ok = check_signature(cp, args.public_keys)
    if args.leaf_hash is not None:
        mine = _hash32(args.leaf_hash, "--leaf-hash")
        if mine != leaf:
            print(f"NOT VERIFIED: the proof is for leaf {leaf.hex()}, not for the leaf you computed, {mine.hex()}")
            return NOT_VERIFIED
        print("leaf hash: the one you computed")
    if "root_hash" in proof and _hash32(proof["root_hash"], "root_hash") != cp.root_hash:
        print("note: the proof file's own root_hash differs from the checkpoint's; checking against the checkpoint")
    if verify_inclusion(leaf, position, tree_size, path, cp.root_hash):
        print(f"inclusion verified: leaf {leaf.hex()} is at position {position} of the tree of {tree_size} "
              f"events whose root is {cp.root_hash.hex()} ({len(path)} proof hashes)")
    else:
        print(f"NOT VERIFIED: the proof does not lead from leaf {leaf.hex()} at position {position} "
              f"to the checkpoint's root {cp.root_hash.hex()}")
        ok = False
    return VERIFIED if ok else NOT_VERIFIED


def cmd_consistency(args: argparse.Namespace) -> int:
    proof = _load_json(args.proof)
    old, new = Checkpoint(args.old_checkpoint), Checkpoint(args.new_checkpoint)
    for name in ("first", "second", "proof"):
        if name not in proof:
            raise BadInput(f"{args.proof}: a consistency proof needs the field {name}")
    first, second = _count(proof["first"], "first", 1), _count(proof["second"], "second", 1)
    path = _proof_path(proof["proof"], "proof")
    if old.origin != new.origin:
        raise BadInput(f"the checkpoints are of two different logs: {old.origin!r} and {new.origin!r}")
    if old.tree_size > new.tree_size:
        raise BadInput("the old checkpoint is larger than the new one: give the older one first")
    if (first, second) != (old.tree_size, new.tree_size):
        raise BadInput(f"the proof is from tree size {first} to {second}, the checkpoints are of sizes "
                       f"{old.tree_size} and {new.tree_size}: ask for --first {old.tree_size} --second {new.tree_size}")
    ok = True
    if args.public_keys:
        ok = check_signature(old, args.public_keys) and check_signature(new, args.public_keys)
    if verify_consistency(first, second, old.root_hash, new.root_hash, path):
        print(f"consistency verified: the tree of {second} events (root {new.root_hash.hex()}) extends the "
              f"tree of {first} events (root {old.root_hash.hex()}) ({len(path)} proof hashes)")
    else:
        print(f"NOT VERIFIED: the tree of {second} events does not extend the signed tree of {first} events "
              "with this proof")
        ok = False
    return VERIFIED if ok else NOT_VERIFIED


def cmd_leaf(args: argparse.Namespace) -> int:
    try:
        uuid.UUID(args.originator_id)
    except ValueError:
        raise BadInput("--originator-id must be a UUID (32 hex digits, or the 36-character form)") from None
    if not -2**63 <= args.version < 2**63:
        raise BadInput("--version must fit a signed 64-bit integer")
    if args.state_file is not None:
        try:
            state = Path(args.state_file).read_bytes()
        except OSError as e:
            raise BadInput(f"cannot read {args.state_file}: {e}") from None
    else:
        try:
            state = bytes.fromhex(args.state_hex)
        except ValueError:
            raise BadInput("--state-hex must be hex digits") from None
    try:
        data = event_bytes(args.originator_id, args.version, args.topic, state)
    except UnicodeEncodeError:
        raise BadInput("--topic is not valid text") from None
    leaf = leaf_hash(data)
    print(f"event bytes: {len(data)} (state {len(state)})")
    print(f"leaf hash: {leaf.hex()}")
    if args.previous_chain_hash is not None:
        previous = _hash32(args.previous_chain_hash, "--previous-chain-hash")
        print(f"chain hash: {chain_link(previous, leaf).hex()}")
    if args.expect is not None:
        if _hash32(args.expect, "--expect") != leaf:
            print(f"NOT VERIFIED: expected leaf hash {args.expect.lower()}")
            return NOT_VERIFIED
        print("leaf hash verified: equal to --expect")
    return VERIFIED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify Realty Ledger checkpoints and proofs offline (docs/audit.md).")
    sub = parser.add_subparsers(dest="command", required=True)  # argparse exits 2 on a usage error
    p = sub.add_parser("checkpoint", help="verify a checkpoint's Ed25519 signature")
    p.add_argument("checkpoint", metavar="CHECKPOINT.json")
    p.add_argument("keys", metavar="KEYS.txt")
    p.set_defaults(func=cmd_checkpoint)
    p = sub.add_parser("inclusion", help="verify an inclusion proof against a checkpoint's root")
    p.add_argument("proof", metavar="PROOF.json")
    p.add_argument("checkpoint", metavar="CHECKPOINT.json")
    p.add_argument("--leaf-hash", metavar="HEX", help="the leaf hash you computed yourself (see the leaf command)")
    p.add_argument("--public-keys", metavar="KEYS.txt", help="also verify the checkpoint's signature")
    p.set_defaults(func=cmd_inclusion)
    p = sub.add_parser("consistency", help="verify a consistency proof between two checkpoints")
    p.add_argument("proof", metavar="PROOF.json")
    p.add_argument("old_checkpoint", metavar="OLD_CHECKPOINT.json")
    p.add_argument("new_checkpoint", metavar="NEW_CHECKPOINT.json")
    p.add_argument("--public-keys", metavar="KEYS.txt", help="also verify both checkpoints' signatures")
    p.set_defaults(func=cmd_consistency)
    p = sub.add_parser("leaf", help="compute the leaf hash of an event from its raw row fields")
    p.add_argument("--originator-id", required=True, help="the record's id (32 hex digits or the 36-character form)")
    p.add_argument("--version", type=int, required=True, help="the originator version")
    p.add_argument("--topic", required=True)
    state = p.add_mutually_exclusive_group(required=True)
    state.add_argument("--state-hex", metavar="HEX", help="the stored state bytes, as hex")
    state.add_argument("--state-file", metavar="FILE", help="a file holding exactly the stored state bytes")
    p.add_argument("--expect", metavar="HEX", help="exit 1 unless the leaf hash equals this")
    p.add_argument("--previous-chain-hash", metavar="HEX",
                   help="the chain hash of the event before (64 zeros for position 0): also print this one's")
    p.set_defaults(func=cmd_leaf)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BadInput as e:
        print(f"bad input: {e}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
