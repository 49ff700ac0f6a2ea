"""The checks of a sealed package's contents: its events and their inclusion proofs, bag-info.txt,
and its documents; and the report they all write into (``archive.package_verify`` runs them).

Standard library, ``bagit`` and the stdlib-only ``archive.chain``, ``archive.merkle`` and
``archive.signing`` only, as for the verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bagit

from archive import merkle
from archive import package_files as pf
from archive.chain import event_leaf
from archive.signing import Checkpoint

MAX_LISTED = 50  # failures listed one by one per check; the rest are counted


@dataclass(frozen=True)
class Check:
    name: str  # container, decryption, bagit, payload-oxum, signature, tag files, checkpoint, events, inclusion, ...
    ok: bool
    detail: str  # names the file(s); never personal data
    files: tuple[str, ...] = ()  # relative to the bag (or the package file's name for the container)


@dataclass
class Report:
    path: str
    kind: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str, *files: str) -> None:
        self.checks.append(Check(name, ok, detail, tuple(files)))

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}



@dataclass(frozen=True)
class _Event:
    line: int
    leaf: bytes


def _json_lines(bag_dir: Path, name: str, check: str, report: Report,
                parse: Callable[[dict, int], Any]) -> dict[int, Any]:
    """position -> parse(object) for each line; a bad line, or a position twice, is a failure."""
    out: dict[int, Any] = {}
    bad = 0
    try:
        for number, raw in pf.iter_lines(bag_dir / name):
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict) or type(obj.get("position")) is not int or obj["position"] in out:
                    raise ValueError("no position, or a position already given")
                out[obj["position"]] = parse(obj, number)
            except (ValueError, TypeError, KeyError, binascii.Error) as e:
                bad += 1
                if bad <= MAX_LISTED:
                    report.add(check, False, f"{name} line {number}: not a valid entry ({str(e)[:120]})", name)
    except OSError:
        report.add(check, False, f"{name} is missing", name)
    if bad > MAX_LISTED:
        report.add(check, False, f"{name}: {bad - MAX_LISTED} more lines are not valid", name)
    return out


_EVENT_FIELDS = {"position", "originator_id", "originator_version", "topic", "stored_state", "record"}


def read_events(bag_dir: Path, report: Report, wanted: set[int]) -> tuple[dict[int, _Event], dict[int, str]]:
    records: dict[int, str] = {}
    ids: dict[str, uuid.UUID] = {}  # a package holds a few records' events: each id is parsed once

    def parse(obj: dict, number: int) -> _Event:
        if obj.keys() != _EVENT_FIELDS or not isinstance(obj["record"], dict):
            raise ValueError(f"expected exactly the fields {sorted(_EVENT_FIELDS)}")
        oid, version, topic = obj["originator_id"], obj["originator_version"], obj["topic"]
        if not isinstance(oid, str) or type(version) is not int or not isinstance(topic, str):
            raise ValueError("originator_id must be a canonical UUID, originator_version an integer, topic text")
        parsed = ids.get(oid)
        if parsed is None:
            parsed = uuid.UUID(oid)
            if str(parsed) != oid:
                raise ValueError("originator_id must be a canonical UUID, originator_version an integer, topic text")
            ids[oid] = parsed
        state = base64.b64decode(obj["stored_state"], validate=True)
        if obj["position"] in wanted:
            records[obj["position"]] = json.dumps(obj["record"], ensure_ascii=False)
        return _Event(number, event_leaf(parsed, version, topic, state))

    return _json_lines(bag_dir, pf.EVENTS, "events", report, parse), records


def read_proofs(bag_dir: Path, report: Report) -> dict[int, dict]:
    def parse(obj: dict, number: int) -> dict:
        if set(obj) != {"position", "tree_size", "leaf_hash", "proof"} or type(obj["tree_size"]) is not int or \
                not isinstance(obj["proof"], list):
            raise ValueError("expected exactly position, tree_size, leaf_hash and proof")
        return {"line": number, "tree_size": obj["tree_size"], "leaf_hash": bytes.fromhex(obj["leaf_hash"]),
                "proof": [bytes.fromhex(h) for h in obj["proof"]]}

    return _json_lines(bag_dir, pf.PROOFS, "proofs", report, parse)


def check_inclusion(events: dict[int, _Event], proofs: dict[int, dict], checkpoint: Checkpoint | None,
               report: Report) -> None:
    unproven, orphans = sorted(events.keys() - proofs.keys()), sorted(proofs.keys() - events.keys())
    if unproven:
        report.add("pairing", False, f"{pf.EVENTS}: {len(unproven)} events have no proof in {pf.PROOFS} (positions "
                   f"{_few(unproven)})", pf.EVENTS, pf.PROOFS)
    if orphans:
        report.add("pairing", False, f"{pf.PROOFS}: {len(orphans)} proofs are for events not in {pf.EVENTS} "
                   f"(positions {_few(orphans)})", pf.PROOFS, pf.EVENTS)
    if not unproven and not orphans and events:
        report.add("pairing", True, f"{pf.EVENTS} and {pf.PROOFS}: one proof for each of the {len(events)} events")
    if checkpoint is None:
        report.add("inclusion", False, "the events' inclusion cannot be checked without a checkpoint", pf.CHECKPOINT)
        return
    size, root, failed = checkpoint.tree_size, checkpoint.root_hash, 0
    paired = sorted(events.keys() & proofs.keys())
    # Every proof is checked in full; the proofs of neighbouring events share their upper paths, and
    # verify_inclusions hashes each shared node once (the same answers as verify_inclusion one by one).
    verified = merkle.verify_inclusions(((p, events[p].leaf, proofs[p]["proof"]) for p in paired), size, root)
    for position, proven in zip(paired, verified, strict=True):
        event, proof = events[position], proofs[position]
        if proven and proof["tree_size"] == size and proof["leaf_hash"] == event.leaf:
            continue
        failed += 1
        if failed > MAX_LISTED:
            continue
        if proof["leaf_hash"] != event.leaf:
            report.add("inclusion", False, f"{pf.EVENTS} line {event.line}: the event at position {position} is not "
                       "the one the log signed (its leaf, recomputed from its stored bytes, is not in the tree)",
                       pf.EVENTS, pf.PROOFS)
        else:
            report.add("inclusion", False, f"{pf.PROOFS} line {proof['line']}: the proof for position {position} does "
                       f"not lead to the checkpoint's root", pf.PROOFS)
    if failed > MAX_LISTED:
        report.add("inclusion", False, f"... and {failed - MAX_LISTED} more events are not proven", pf.EVENTS)
    proven = len(events.keys() & proofs.keys()) - failed
    if not failed and proven:
        report.add("inclusion", True, f"all {proven} events (positions {min(events)}–{max(events)}): leaf recomputed "
                   f"from originator id, version, topic and stored bytes, and proven (RFC 9162) in the checkpoint's "
                   f"tree of {size} events", pf.EVENTS, pf.PROOFS)


def _few(positions: list[int]) -> str:
    return ", ".join(map(str, positions[:10])) + (", ..." if len(positions) > 10 else "")


def check_bag_info(bag: bagit.Bag | None, checkpoint: Checkpoint | None, events: dict[int, _Event], documents: int,
              report: Report) -> None:
    if bag is None:
        report.add("bag-info", False, f"{pf.BAG_INFO}: not checked (bagit could not open the bag)", pf.BAG_INFO)
        return
    info = bag.info
    holds = info.get("Realty-Legal-Hold", [])
    expected = {"Realty-Package-Format": pf.FORMAT, "Realty-Event-Count": str(len(events)),
                "Realty-Document-Count": str(documents),
                "Realty-Legal-Hold-Count": str(len(holds) if isinstance(holds, list) else 1)}
    if events:
        expected |= {"Realty-First-Position": str(min(events)), "Realty-Last-Position": str(max(events))}
    if checkpoint is not None:
        expected |= {"Realty-Checkpoint-Tree-Size": str(checkpoint.tree_size), "Realty-Checkpoint-Origin":
                     checkpoint.origin, "Realty-Checkpoint-Root": checkpoint.root_hash.hex()}
    wrong = [k for k, v in expected.items() if info.get(k) != v]
    wrong += [k for k in ("External-Identifier", "Source-Organization", "Bagging-Date", "Realty-Subject")
              if not isinstance(info.get(k), str) or not info.get(k)]
    if wrong:
        report.add("bag-info", False, f"{pf.BAG_INFO}: {', '.join(wrong)} missing or not as the package's contents "
                   "say", pf.BAG_INFO)
    else:
        report.add("bag-info", True, f"{pf.BAG_INFO}: archive number {info['External-Identifier']}, "
                   f"{info['Realty-Subject']}; its counts, positions and checkpoint agree with the contents", pf.BAG_INFO)


def read_documents(bag_dir: Path, report: Report) -> dict[str, dict]:
    out: dict[str, dict] = {}
    try:
        for number, raw in pf.iter_lines(bag_dir / pf.DOCUMENTS):
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict) or set(obj) != {"path", "media_type", "size", "recorded_sha256",
                                                             "event_position"}:
                    raise ValueError("not the fields of a document entry")
                parts = pf.check_relative_name(obj["path"], "path")
                if parts[0] != "documents" or len(parts) < 2 or obj["path"] in out:
                    raise ValueError("a path outside documents/, or given twice")
                out[obj["path"]] = obj | {"line": number}
            except (ValueError, TypeError) as e:
                report.add("documents", False, f"{pf.DOCUMENTS} line {number}: not a valid entry ({e})", pf.DOCUMENTS)
    except OSError:
        report.add("documents", False, f"{pf.DOCUMENTS} is missing", pf.DOCUMENTS)
    return out


def check_documents(bag_dir: Path, bag: bagit.Bag | None, documents: dict[str, dict], records: dict[int, str],
               report: Report) -> None:
    root = bag_dir / "data" / "documents"
    on_disk = {("documents/" + p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()} \
        if root.is_dir() else set()
    failures = 0
    for name in sorted(on_disk - documents.keys()):
        report.add("documents", False, f"data/{name}: a document not listed in {pf.DOCUMENTS}", "data/" + name)
        failures += 1
    for name, entry in sorted(documents.items()):
        file = "data/" + name
        if name not in on_disk:
            report.add("documents", False, f"{file}: listed in {pf.DOCUMENTS} but missing", file, pf.DOCUMENTS)
            failures += 1
            continue
        # bagit has checked the file against the manifest; the manifest's hash is then the content's.
        entry_hash = (bag.entries.get(os.path.normpath(file), {}).get("sha256") if bag is not None else None) \
            or sha256_file(bag_dir / file)
        if entry_hash != entry["recorded_sha256"] or (bag_dir / file).stat().st_size != entry["size"]:
            report.add("documents", False, f"{file}: its SHA-256 (or size) is not what the ledger recorded at upload",
                       file, pf.DOCUMENTS)
            failures += 1
        position = entry["event_position"]
        if position is not None and entry["recorded_sha256"] not in records.get(position, ""):
            report.add("documents", False, f"{pf.DOCUMENTS} line {entry['line']}: the event at position {position} "
                       f"does not record the hash of {file}", pf.DOCUMENTS, pf.EVENTS)
            failures += 1
    if not failures:
        linked = sum(1 for e in documents.values() if e["event_position"] is not None)
        report.add("documents", True, f"{len(documents)} documents, each one's SHA-256 equal to the hash recorded at "
                   f"upload ({linked} of them also in the recording event)", pf.DOCUMENTS)



def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(pf.CHUNK):
            h.update(chunk)
    return h.hexdigest()
