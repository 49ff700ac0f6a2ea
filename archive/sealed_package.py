"""Sealed packages: a customer's or deal's service file as a BagIt bag (RFC 8493) that anyone can verify.

The archivist exports a record's events (each with its stored bytes, its readable form and its
inclusion proof), its documents and a summary; a court, a regulator or the next system checks it
without our software: with the Library of Congress ``bagit.py --validate`` for completeness and
fixity, and with ``docs/archive-format.md`` (or ``archive.package_verify``) for the rest: the
Ed25519 signature over the tag manifest, the signed checkpoint, and every event's leaf and its
RFC 9162 inclusion proof against that checkpoint's root.

``build_package`` takes plain data (``PackageContents``) so that it knows nothing of the
application. The manifests are bagit's own (``bagit.make_bag``, SHA-256 only: see the format
document, §2). The bag is built in a scratch folder beside ``out`` and moved into place, so a
failed build never leaves a half package under the final name. bagit changes the process's
working directory while it bags (``os.chdir``): run exports where nothing else relies on the
working directory at the same moment (a worker process, or one export at a time).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import bagit
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from archive import merkle
from archive import package_files as pf
from archive.chain import event_leaf
from archive.package_crypto import EncryptingWriter
from archive.signing import Checkpoint, CheckpointInvalid

Progress = Callable[[str, str, int], Any]  # (step, file relative to the bag, bytes): steps "payload", "manifests", "archive"


class PackageError(ValueError):
    """The contents cannot make a package (a bad document name, a document that does not match its
    recorded hash, an event without a proof, a proof that does not lead to the checkpoint's root)."""


@dataclass(frozen=True)
class PackagedEvent:
    position: int  # the event's place in the log = its Merkle leaf index
    originator_id: str  # canonical UUID text
    originator_version: int
    topic: str
    stored_state: bytes  # the row's state bytes exactly as stored (ciphertext: the leaf is computed over them)
    record: dict[str, Any]  # the readable event, JSON-able


@dataclass(frozen=True)
class PackagedDocument:
    path: str  # relative name inside data/documents/, e.g. "contract/v2-contract.pdf"
    content: bytes | Path
    media_type: str
    recorded_sha256: str  # the hash the ledger recorded at upload; the builder checks the content against it
    event_position: int | None = None  # the exported event that recorded the upload (its record holds the hash)


@dataclass(frozen=True)
class PackageContents:
    external_identifier: str  # the archive number (档案号)
    source_organization: str
    subject: str  # "customer <uuid>" or "deal <uuid>"
    events: list[PackagedEvent]
    documents: list[PackagedDocument]
    summary: str  # human-readable, written as data/summary.md
    checkpoint: Checkpoint | Mapping[str, Any] | str  # the signed checkpoint, or its witness-file JSON (dict or text)
    proofs: Mapping[int, Mapping[str, Any]]  # position -> inclusion proof (AuditTrail.inclusion / proofs_for form)
    retention_end: str | None  # ISO date
    holds: list[str] = field(default_factory=list)  # active legal holds (id and reason) at export time


class Signer(Protocol):
    def sign(self, message: bytes) -> tuple[str, bytes]: ...  # SigningKeyring: (key id, Ed25519 signature)


def build_package(contents: PackageContents, out: Path, *, signer: Signer | Ed25519PrivateKey,
                  fmt: Literal["dir", "tar", "zip"] = "tar", encrypt_to: X25519PublicKey | None = None,
                  progress: Progress | None = None, now: datetime | None = None, processes: int = 1,
                  link_documents: bool = False) -> Path:
    """Write the package to ``out`` (a folder for "dir", else one file; it must not exist) and return it.

    ``signer``: the ledger's ``SigningKeyring`` (its active key signs) or an Ed25519 private key.
    ``encrypt_to``: seal the tar or zip for that recipient (``archive.package_crypto``).
    ``processes``: bagit's hashing processes (1: none are forked).
    ``link_documents``: the documents given as paths are the builder's to take (scratch copies that
    nothing else writes to): they are hard-linked into the bag where the file system allows, not
    copied. Off by default: a folder package must not share its files with the caller's.
    """
    out = Path(out)
    if fmt not in ("dir", "tar", "zip"):
        raise ValueError("fmt must be 'dir', 'tar' or 'zip'")
    if encrypt_to is not None and fmt == "dir":
        raise ValueError("an encrypted package is one file: use fmt 'tar' or 'zip'")
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out} exists; a package is never written over another")
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    checkpoint = _checkpoint(contents.checkpoint)
    events, proofs = _checked_events(contents, checkpoint)
    documents = _checked_documents(contents.documents, {e.position for e in events})
    report = progress or (lambda step, name, size: None)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        top = _top_name(out)
        bag_dir = work / top
        bag_dir.mkdir()
        _write_payload(bag_dir, contents, events, documents, report, link_documents)
        bag = bagit.make_bag(str(bag_dir), bag_info=_bag_info(contents, checkpoint, events, documents, now),
                             checksums=["sha256"], processes=processes)
        report("manifests", pf.MANIFEST, int(bag.info["Payload-Oxum"].split(".")[0]))
        _check_document_hashes(bag, documents)
        # bagit.py writes 0.97; the package is an RFC 8493 bag, so it says 1.0 (bagit.py validates both).
        (bag_dir / pf.BAGIT_TXT).write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8")
        (bag_dir / pf.CHECKPOINT).write_text(checkpoint.to_json(), encoding="utf-8")
        with open(bag_dir / pf.PROOFS, "w", encoding="utf-8") as f:
            # json.dumps(line, separators=(",", ":")), written out: integers and hex digits need no escaping.
            f.writelines(map(_proof_line, proofs))
        bag = bagit.Bag(str(bag_dir))
        bag.info["Bag-Size"] = _human_size(int(bag.info["Payload-Oxum"].split(".")[0]))
        bag.save()  # rewrites bag-info.txt and the tag manifest, now over our tag files too
        _sign(bag_dir, signer)
        return _serialize(bag_dir, top, out, work, fmt, encrypt_to, now, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- checking the contents --------------------------------------------------------------------------


def _checkpoint(value: Checkpoint | Mapping[str, Any] | str) -> Checkpoint:
    if isinstance(value, Checkpoint):
        return value
    text = value if isinstance(value, str) else json.dumps(dict(value))
    try:
        return Checkpoint.from_json(text)
    except CheckpointInvalid as e:
        raise PackageError(f"the checkpoint is not a signed checkpoint of the audit trail: {e}") from None


def _checked_events(contents: PackageContents, checkpoint: Checkpoint) -> tuple[list[PackagedEvent], list[dict]]:
    """The events in log order, and their proofs as written (each one checked against the root)."""
    events = sorted(contents.events, key=lambda e: e.position)
    if not events:
        raise PackageError("a package holds at least one event")
    proofs = []
    ids: dict[str, uuid.UUID | str] = {}  # a package holds a few records' events: each id is parsed once
    for i, event in enumerate(events):
        if i and event.position == events[i - 1].position:
            raise PackageError(f"two events at position {event.position}")
        proof = contents.proofs.get(event.position)
        if proof is None or proof.get("covered") is False:
            raise PackageError(f"the event at position {event.position} has no inclusion proof against the checkpoint")
        if proof.get("tree_size") != checkpoint.tree_size or proof.get("position", event.position) != event.position:
            raise PackageError(f"the proof for position {event.position} is for another tree or position "
                               f"(tree size {proof.get('tree_size')}, the checkpoint's is {checkpoint.tree_size})")
        # The leaf must be the one the proof is for: this catches stored bytes that are not the row's.
        # The path itself is the audit trail's, checked by every verification (and by the tests).
        oid = ids.get(event.originator_id)
        if oid is None:
            oid = ids[event.originator_id] = _parsed_id(event.originator_id)
        leaf = event_leaf(oid, event.originator_version, event.topic, bytes(event.stored_state)).hex()
        hexes = _canonical_hexes(proof["proof"])
        if hexes is None:  # not already 64 lowercase hex digits each: parse, check and write them canonically
            path = [bytes.fromhex(h) for h in proof["proof"]]
            hexes = [h.hex() for h in path] if all(len(h) == merkle.HASH_SIZE for h in path) else None
        if not 0 <= event.position < checkpoint.tree_size or proof.get("leaf_hash") != leaf or hexes is None:
            raise PackageError(f"the event at position {event.position} is not proven in the checkpoint's tree "
                               "(its stored bytes are not the ones its proof is for)")
        proofs.append({"position": event.position, "tree_size": checkpoint.tree_size, "leaf_hash": leaf,
                       "proof": hexes})
    return events, proofs


_LOWER_HEX = re.compile(r"[0-9a-f]*")


def _proof_line(p: dict[str, Any]) -> str:
    """``json.dumps(p, separators=(",", ":")) + "\\n"``, written out (integers and hex digits need no
    escaping): 10,000 proofs are written in a blink, not in a second."""
    hashes = '","'.join(p["proof"])
    return (f'{{"position":{p["position"]:d},"tree_size":{p["tree_size"]:d},"leaf_hash":"{p["leaf_hash"]}",'
            f'"proof":[{chr(34) + hashes + chr(34) if hashes else ""}]}}\n')


def _canonical_hexes(hexes: Any) -> list[str] | None:
    """The proof's hashes as they are when each is already 64 lowercase hex digits (what the audit
    trail gives: what parsing and writing them again would give), else None. One check per proof."""
    try:
        joined = "".join(hexes)
    except TypeError:
        return None
    if len(joined) != 2 * merkle.HASH_SIZE * len(hexes) or not set(map(len, hexes)) <= {2 * merkle.HASH_SIZE} or \
            not _LOWER_HEX.fullmatch(joined):
        return None
    return list(hexes)


def _parsed_id(text: str) -> uuid.UUID | str:
    """What ``event_leaf`` would make of the id text, parsed once (text that is no UUID stays text)."""
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return text


def _checked_documents(documents: list[PackagedDocument], positions: set[int]) -> list[PackagedDocument]:
    seen: dict[str, str] = {}
    for doc in documents:
        try:
            pf.check_relative_name(doc.path, "document path")
        except ValueError as e:
            raise PackageError(str(e)) from None
        key = unicodedata.normalize("NFC", doc.path).casefold()
        if key in seen:
            raise PackageError(f"document paths {seen[key]!r} and {doc.path!r} name the same file")
        seen[key] = doc.path
        if len(doc.recorded_sha256) != 64 or doc.recorded_sha256 != doc.recorded_sha256.lower() or \
                not all(c in "0123456789abcdef" for c in doc.recorded_sha256):
            raise PackageError(f"the recorded hash of {doc.path!r} is not 64 lowercase hex digits")
        if doc.event_position is not None and doc.event_position not in positions:
            raise PackageError(f"{doc.path!r} names the event at position {doc.event_position}, which is not exported")
    for key, path in seen.items():  # "a" and "a/b" cannot both be files
        if any(other.startswith(key + "/") for other in seen):
            raise PackageError(f"document path {path!r} is also a folder of another document")
    return sorted(documents, key=lambda d: d.path)


def _check_document_hashes(bag: bagit.Bag, documents: list[PackagedDocument]) -> None:
    for doc in documents:
        found = bag.entries[os.path.normpath(pf.DOCUMENTS_DIR + doc.path)]["sha256"]
        if found != doc.recorded_sha256:
            raise PackageError(f"the content of {doc.path!r} does not match the hash recorded at upload "
                               f"(recorded {doc.recorded_sha256}, content {found})")


# --- writing ----------------------------------------------------------------------------------------


def _write_payload(bag_dir: Path, contents: PackageContents, events: list[PackagedEvent],
                   documents: list[PackagedDocument], report: Progress, link: bool = False) -> None:
    """The payload, at the folder's root: ``bagit.make_bag`` then moves it all into data/."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode  # one, not one a line
    with open(bag_dir / "events.jsonl", "w", encoding="utf-8") as f:
        for e in events:
            try:
                f.write(encode({"position": e.position, "originator_id": e.originator_id,
                                "originator_version": e.originator_version, "topic": e.topic,
                                "stored_state": base64.b64encode(e.stored_state).decode("ascii"),
                                "record": e.record}) + "\n")
            except (TypeError, ValueError) as err:
                raise PackageError(f"the record of the event at position {e.position} is not JSON: {err}") from None
    report("payload", pf.EVENTS, (bag_dir / "events.jsonl").stat().st_size)
    text = contents.summary if contents.summary.endswith("\n") else contents.summary + "\n"
    (bag_dir / "summary.md").write_text(text, encoding="utf-8")
    report("payload", pf.SUMMARY, len(text.encode("utf-8")))
    index = []
    for doc in documents:
        target = bag_dir / "documents" / doc.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(doc.content, bytes | bytearray | memoryview):
            target.write_bytes(doc.content)
        elif not (link and _linked(doc.content, target)):
            shutil.copyfile(doc.content, target)  # the kernel copies (sendfile): no copy in memory
        size = target.stat().st_size
        index.append({"path": "documents/" + doc.path, "media_type": doc.media_type, "size": size,
                      "recorded_sha256": doc.recorded_sha256, "event_position": doc.event_position})
        report("payload", pf.DOCUMENTS_DIR + doc.path, size)
    with open(bag_dir / "documents.jsonl", "w", encoding="utf-8") as f:
        for entry in index:
            f.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")


def _linked(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links: copy instead
        return False
    return True


def _tag_value(text: str) -> str:
    # bag-info.txt holds one line per value: line breaks and other control characters become spaces.
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in str(text)).split())


def _bag_info(contents: PackageContents, checkpoint: Checkpoint, events: list[PackagedEvent],
              documents: list[PackagedDocument], now: datetime) -> dict[str, Any]:
    info: dict[str, Any] = {
        "Source-Organization": _tag_value(contents.source_organization),
        "External-Identifier": _tag_value(contents.external_identifier),
        "External-Description": _tag_value(f"Service file of {contents.subject}, sealed by the Realty Ledger"),
        "Bagging-Date": now.date().isoformat(),
        "Bag-Software-Agent": f"realty-ledger archive.sealed_package (bagit.py {bagit.VERSION})",
        "Realty-Package-Format": pf.FORMAT,
        "Realty-Subject": _tag_value(contents.subject),
        "Realty-Sealed-At": now.isoformat().replace("+00:00", "Z"),
        "Realty-Event-Count": str(len(events)),
        "Realty-First-Position": str(events[0].position),
        "Realty-Last-Position": str(events[-1].position),
        "Realty-Document-Count": str(len(documents)),
        "Realty-Checkpoint-Origin": _tag_value(checkpoint.origin),
        "Realty-Checkpoint-Tree-Size": str(checkpoint.tree_size),
        "Realty-Checkpoint-Root": checkpoint.root_hash.hex(),
        "Realty-Retention-End": _tag_value(contents.retention_end) if contents.retention_end else "none",
        "Realty-Legal-Hold-Count": str(len(contents.holds)),
    }
    if contents.holds:
        info["Realty-Legal-Hold"] = [_tag_value(h) for h in contents.holds]
    return info


def _human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError


def _sign(bag_dir: Path, signer: Signer | Ed25519PrivateKey) -> None:
    message = pf.SIGNATURE_CONTEXT + (bag_dir / pf.TAGMANIFEST).read_bytes()
    if isinstance(signer, Ed25519PrivateKey):
        key_id = hashlib.sha256(signer.public_key().public_bytes_raw()).hexdigest()[:16]
        signature = signer.sign(message)
    else:
        key_id, signature = signer.sign(message)
    (bag_dir / pf.SIGNATURE).write_text(json.dumps(
        {"format": pf.SIGNATURE_FORMAT, "signed_file": pf.TAGMANIFEST, "key_id": key_id,
         "signature": base64.b64encode(signature).decode()}, indent=2) + "\n", encoding="utf-8")


def _top_name(out: Path) -> str:
    name = out.name
    for suffix in (".sealed", ".enc", ".zip", ".tar"):
        name = name.removesuffix(suffix)
    try:
        pf.check_relative_name(name)
    except ValueError:
        name = "package"
    return name if "/" not in name else "package"


def _serialize(bag_dir: Path, top: str, out: Path, work: Path, fmt: str, encrypt_to: X25519PublicKey | None,
               now: datetime, report: Progress) -> Path:
    if fmt == "dir":
        os.rename(bag_dir, out)
        return out
    staged = work / "package"
    on_member = (lambda rel: report("archive", rel, 0))
    with open(staged, "xb") as raw:
        sink: Any = EncryptingWriter(raw, encrypt_to, fmt) if encrypt_to is not None else raw
        if fmt == "tar":
            pf.write_tar(bag_dir, top, sink, int(now.timestamp()), on_member)
        else:
            pf.write_zip(bag_dir, top, sink, now.timetuple()[:6], on_member)
        if encrypt_to is not None:
            sink.finish()
        raw.flush()
        os.fsync(raw.fileno())
    os.rename(staged, out)
    return out
