"""Offline verification of a sealed package (``archive.sealed_package``; ``docs/archive-format.md``).

``verify_package`` takes a bag folder, a tar, a zip, or an encrypted package (with the
recipient's identity), and checks everything a court or a regulator would want checked, listing
each check with the file it is about: the container; bagit's own full validation (every file,
every SHA-256, no file missing or added; never the fast mode) and the Payload-Oxum; the Ed25519
signature over the tag manifest, and that the signed tag manifest covers every tag file; the
checkpoint's signature; every event's leaf recomputed from its stored bytes and its RFC 9162
inclusion proof against the checkpoint's root; that events and proofs pair up one to one; that
bag-info.txt agrees with them; and that each document's SHA-256 is the one recorded at upload.

It needs only the standard library, ``cryptography``, ``bagit`` and the stdlib-only modules
``archive.chain``, ``archive.merkle``, ``archive.signing`` and ``archive.package_*``: an outside
party can run it without the ledger. Personal data in the records is never put into a report.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bagit
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from archive import package_checks as checks
from archive import package_files as pf
from archive.package_checks import MAX_LISTED, Check, Report
from archive.package_crypto import MAGIC, DecryptingReader, PackageDecryptionError, read_header
from archive.signing import Checkpoint, CheckpointInvalid, verify_checkpoint


class PackageUnusable(Exception):
    """Nothing can be verified: no such file, not a package of any kind, or the wrong identity."""


def verify_package(path: Path, *, public_keys: Mapping[str, Ed25519PublicKey],
                   identity: X25519PrivateKey | None = None, scratch: Path | None = None,
                   processes: int = 1) -> Report:
    path = Path(path)
    if not path.exists():
        raise PackageUnusable(f"{path} does not exist")
    report = Report(str(path))
    if path.is_dir():
        report.kind = "directory"
        _verify_bag(path, public_keys, report, processes)
        return report
    kind = _detect(path)
    with tempfile.TemporaryDirectory(prefix="realty-package-", dir=scratch) as where:
        dest = Path(where)
        try:
            if kind == "encrypted":
                top = _decrypt_and_extract(path, identity, dest, report)
            elif kind == "zip":
                report.kind = "zip"
                top, count = pf.extract_zip(path, dest)
            else:
                report.kind = "tar"
                with open(path, "rb") as f:
                    top, count = pf.extract_tar(f, dest)
        except pf.ContainerError as e:
            report.add("container", False, f"{path.name}: {e}", path.name, *([e.member] if e.member else []))
            return report
        except PackageDecryptionError as e:
            report.add("decryption", False, f"{path.name}: {e}", path.name)
            return report
        if not (dest / top).is_dir():
            report.add("container", False, f"{path.name}: its top-level entry {top} is not a folder", path.name)
            return report
        report.add("container", True, f"{path.name}: one top-level folder {top.rsplit('/', 1)[-1]}, plain files and folders only"
                   + ("" if kind == "encrypted" else f", {count} members, complete"), path.name)
        _verify_bag(dest / top, public_keys, report, processes)
    return report


def _detect(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(MAGIC):
        return "encrypted"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")) or path.suffix == ".zip":
        return "zip"
    if head[257:262] == b"ustar" or path.suffix == ".tar":
        return "tar"
    raise PackageUnusable(f"{path} is not a sealed package: neither a bag folder, a tar, a zip nor an encrypted package")


def _decrypt_and_extract(path: Path, identity: X25519PrivateKey | None, dest: Path, report: Report) -> str:
    with open(path, "rb") as f:
        if identity is None:
            _, inner, key_id = read_header(f)
            raise PackageUnusable(f"{path} is encrypted (for recipient key {key_id}): the recipient's identity is needed")
        try:
            reader = DecryptingReader(f, identity)
        except PackageDecryptionError as e:
            if e.reason == "wrong_identity":
                raise PackageUnusable(f"{path}: {e}") from None
            raise
        report.kind = f"encrypted {reader.inner}"
        if reader.inner == "tar":
            top, _ = pf.extract_tar(reader, dest)
        else:
            inner = dest / ".package.zip"
            with open(inner, "xb") as out:
                while chunk := reader.read(pf.CHUNK):
                    out.write(chunk)
            (dest / "unpacked").mkdir()
            top, _ = pf.extract_zip(inner, dest / "unpacked")
            inner.unlink()
            top = f"unpacked/{top}"
    report.add("decryption", True, f"{path.name}: for recipient key {reader.key_id}; all {reader.segments} segments "
               "authenticated (AES-256-GCM), in order, the final one present", path.name)
    return top


# --- the bag --------------------------------------------------------------------------------------


def _verify_bag(bag_dir: Path, keys: Mapping[str, Ed25519PublicKey], report: Report, processes: int) -> None:
    # bagit's full validation reads and hashes every file; hashlib lets go of the GIL while it hashes,
    # so it runs in a thread of its own while this one checks the signatures, events and proofs
    # (which need nothing from bagit). Its findings come first in the report, as before.
    bagit_report = Report(report.path)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bagit-validate") as pool:
        validating = pool.submit(_bagit, bag_dir, bagit_report, processes)
        rest = Report(report.path)
        _signature(bag_dir, keys, rest)
        _tag_files(bag_dir, rest)
        checkpoint = _checkpoint(bag_dir, keys, rest)
        documents = checks.read_documents(bag_dir, rest)
        wanted = {d["event_position"] for d in documents.values() if isinstance(d.get("event_position"), int)}
        events, records = checks.read_events(bag_dir, rest, wanted)
        proofs = checks.read_proofs(bag_dir, rest)
        checks.check_inclusion(events, proofs, checkpoint, rest)
        bag = validating.result()
    report.checks += bagit_report.checks + rest.checks
    checks.check_bag_info(bag, checkpoint, events, len(documents), report)
    checks.check_documents(bag_dir, bag, documents, records, report)


def _rel(message: str, bag_dir: Path) -> str:
    return message.replace(str(bag_dir) + os.sep, "").replace(str(bag_dir), "the bag")


def _file_in(message: str) -> str | None:
    for name in (pf.TAGMANIFEST, pf.MANIFEST, pf.BAGIT_TXT, pf.BAG_INFO):
        if name in message:
            return name
    if "No manifest files" in message:
        return pf.MANIFEST
    if "Payload-Oxum" in message:
        return pf.BAG_INFO
    if "data directory" in message:
        return "data/"
    return None


def _bagit(bag_dir: Path, report: Report, processes: int) -> bagit.Bag | None:
    try:
        bag = bagit.Bag(str(bag_dir))
    except (bagit.BagError, UnicodeDecodeError, ValueError, OSError) as e:
        message = _rel(str(e), bag_dir)
        file = _file_in(message) or (pf.BAG_INFO if isinstance(e, UnicodeDecodeError) else pf.BAGIT_TXT)
        report.add("bagit", False, f"bagit cannot open the bag: {message}", file)
        return None
    if bag.version_info != (1, 0):
        report.add("bagit", False, f"{pf.BAGIT_TXT}: BagIt-Version {bag.tags.get('BagIt-Version')}, not 1.0", pf.BAGIT_TXT)
    oxum = bag.info.get("Payload-Oxum")
    if not isinstance(oxum, str) or not re.fullmatch(r"[0-9]+\.[0-9]+", oxum):
        report.add("payload-oxum", False, f"{pf.BAG_INFO}: no single well-formed Payload-Oxum", pf.BAG_INFO)
        bag.info.pop("Payload-Oxum", None)  # so that bagit still checks every file below
        oxum = None
    try:
        bag.validate(processes=processes, fast=False)
    except bagit.BagValidationError as e:
        if not e.details and "Payload-Oxum" in e.message:
            report.add("payload-oxum", False, f"{pf.BAG_INFO}: {e.message}", pf.BAG_INFO)
            bag.info.pop("Payload-Oxum")
            oxum = None
            try:  # the Oxum is checked first and stops bagit: validate again without it, to name the files
                bag.validate(processes=processes, fast=False)
            except bagit.BagError as again:
                _bagit_failures(again, bag_dir, report)
            else:
                report.add("bagit", True, "apart from the Payload-Oxum, every file listed in the manifests is present "
                           "and matches its SHA-256, and no payload file is unlisted")
        else:
            _bagit_failures(e, bag_dir, report)
        return bag
    except (bagit.BagError, ValueError, OSError, UnicodeDecodeError) as e:
        _bagit_failures(e, bag_dir, report)
        return bag
    payload = len(bag.payload_entries())
    report.add("bagit", True, f"bagit (full validation, not fast): all {payload} payload files and "
               f"{len(bag.entries) - payload} tag files present, each matching its SHA-256 in {pf.MANIFEST} or "
               f"{pf.TAGMANIFEST}; no payload file outside the manifest", pf.MANIFEST, pf.TAGMANIFEST)
    if oxum is not None:
        size, count = oxum.split(".")
        report.add("payload-oxum", True, f"{pf.BAG_INFO}: Payload-Oxum {oxum}: {int(size):,} bytes in {count} files, "
                   "as found", pf.BAG_INFO)
    return bag


def _bagit_failures(e: Exception, bag_dir: Path, report: Report) -> None:
    details = getattr(e, "details", None) or []
    for d in details[:MAX_LISTED]:
        where = pf.MANIFEST if d.path.startswith("data" + os.sep) else pf.TAGMANIFEST
        if isinstance(d, bagit.ChecksumMismatch):
            text = f"{d.path}: its SHA-256 is not the one in {where} (the file was changed)"
        elif isinstance(d, bagit.FileMissing):
            text = f"{d.path}: listed in {where} but missing"
        elif isinstance(d, bagit.UnexpectedFile):
            text = f"{d.path}: in the payload but in no manifest (added)"
        else:
            text = _rel(str(d), bag_dir)
        report.add("bagit", False, text, d.path.replace(os.sep, "/"))
    if len(details) > MAX_LISTED:
        report.add("bagit", False, f"... and {len(details) - MAX_LISTED} more files failed")
    if not details:
        message = _rel(getattr(e, "message", None) or str(e), bag_dir)
        file = _file_in(message)
        report.add("bagit", False, f"bagit: {message}", *([file] if file else []))


def _signature(bag_dir: Path, keys: Mapping[str, Ed25519PublicKey], report: Report) -> None:
    try:
        manifest = (bag_dir / pf.TAGMANIFEST).read_bytes()
    except OSError:
        report.add("signature", False, f"{pf.TAGMANIFEST} is missing: nothing in the bag is signed", pf.TAGMANIFEST)
        return
    try:
        sig = json.loads((bag_dir / pf.SIGNATURE).read_text(encoding="utf-8"))
        if not isinstance(sig, dict) or set(sig) != {"format", "signed_file", "key_id", "signature"}:
            raise ValueError("not the signature file's fields")
        if sig["format"] != pf.SIGNATURE_FORMAT or sig["signed_file"] != pf.TAGMANIFEST:
            raise ValueError(f"not a {pf.SIGNATURE_FORMAT} signature of {pf.TAGMANIFEST}")
        signature = base64.b64decode(sig["signature"], validate=True)
        if len(signature) != 64 or base64.b64encode(signature).decode() != sig["signature"]:
            raise ValueError("the signature is not canonical base64 of 64 bytes")
        key_id = sig["key_id"]
    except FileNotFoundError:
        report.add("signature", False, f"{pf.SIGNATURE} is missing: the tag manifest is not signed", pf.SIGNATURE)
        return
    except (OSError, ValueError, TypeError, binascii.Error) as e:
        report.add("signature", False, f"{pf.SIGNATURE} is not a signature file: {e}", pf.SIGNATURE)
        return
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        report.add("signature", False, f"{pf.SIGNATURE}: signed by key {key_id!r}, which is not among the given "
                   "public keys (another signer, or the wrong public key file)", pf.SIGNATURE)
        return
    try:
        key.verify(signature, pf.SIGNATURE_CONTEXT + manifest)
    except InvalidSignature:
        report.add("signature", False, f"{pf.TAGMANIFEST}: the Ed25519 signature by key {key_id} in {pf.SIGNATURE} "
                   "does not verify: the tag manifest or its signature was changed", pf.TAGMANIFEST, pf.SIGNATURE)
        return
    report.add("signature", True, f"{pf.TAGMANIFEST}: Ed25519 signature by key {key_id} verifies",
               pf.TAGMANIFEST, pf.SIGNATURE)


def _tag_files(bag_dir: Path, report: Report) -> None:
    """The signed tag manifest must list exactly our tag files, and they must match it; nothing
    else may sit beside data/ (bagit itself ignores unlisted tag files)."""
    failed = False
    try:
        lines = (bag_dir / pf.TAGMANIFEST).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = None
    entries: dict[str, str] = {}
    for line in lines or []:
        parts = line.split(None, 1)
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]) or parts[1] in entries:
            report.add("tag files", False, f"{pf.TAGMANIFEST}: a line that is not '<sha256> <file>' (or a file twice)",
                       pf.TAGMANIFEST)
            failed = True
            continue
        entries[parts[1]] = parts[0]
    if lines is not None and set(entries) != pf.SIGNED_TAG_FILES:
        missing, extra = sorted(pf.SIGNED_TAG_FILES - set(entries)), sorted(set(entries) - pf.SIGNED_TAG_FILES)
        report.add("tag files", False, f"{pf.TAGMANIFEST} does not list exactly the package's tag files "
                   f"(missing: {', '.join(missing) or 'none'}; extra: {', '.join(extra) or 'none'})",
                   pf.TAGMANIFEST, *missing, *extra)
        failed = True
    for name, digest in sorted(entries.items()):
        if name not in pf.SIGNED_TAG_FILES:
            continue
        try:
            found = checks.sha256_file(bag_dir / name)
        except OSError:
            report.add("tag files", False, f"{name}: missing (the signed tag manifest lists it)", name)
            failed = True
            continue
        if found != digest:
            report.add("tag files", False, f"{name}: changed since the tag manifest was signed", name)
            failed = True
    allowed = pf.SIGNED_TAG_FILES | {pf.TAGMANIFEST, pf.SIGNATURE, "data"}
    for name in sorted(set(os.listdir(bag_dir)) - allowed):
        report.add("tag files", False, f"{name}: a file beside data/ that no signature covers (added)", name)
        failed = True
    if not failed and lines is not None:
        report.add("tag files", True, f"{pf.TAGMANIFEST} lists exactly {', '.join(sorted(pf.SIGNED_TAG_FILES))}, "
                   "each matching; nothing else beside data/", pf.TAGMANIFEST)


def _checkpoint(bag_dir: Path, keys: Mapping[str, Ed25519PublicKey], report: Report) -> Checkpoint | None:
    try:
        checkpoint = Checkpoint.from_json((bag_dir / pf.CHECKPOINT).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, CheckpointInvalid) as e:
        report.add("checkpoint", False, f"{pf.CHECKPOINT}: missing or not a signed checkpoint ({e})", pf.CHECKPOINT)
        return None
    try:
        verify_checkpoint(checkpoint, keys)
    except CheckpointInvalid as e:
        report.add("checkpoint", False, f"{pf.CHECKPOINT}: the checkpoint's signature does not hold ({e})", pf.CHECKPOINT)
        return checkpoint
    report.add("checkpoint", True, f"{pf.CHECKPOINT}: {checkpoint.tree_size} events of {checkpoint.origin}, root "
               f"{checkpoint.root_hash.hex()}, signed {checkpoint.timestamp:%Y-%m-%dT%H:%M:%SZ} by key "
               f"{checkpoint.key_id}: signature verifies", pf.CHECKPOINT)
    return checkpoint


__all__ = ["Check", "PackageUnusable", "Report", "verify_package"]
