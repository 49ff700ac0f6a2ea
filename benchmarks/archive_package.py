"""Sealed packages: how fast ``build_package`` and ``verify_package`` go, next to the raw
primitives over the same bytes, in one run.

Set-up (untimed): a real Merkle log of ``--events`` events (default 10,000) with random stored
states of ``--state-bytes`` (default 1,024: ciphertext looks random), a checkpoint signed by a
real ``SigningKeyring``, an inclusion proof for every event (from the tree's perfect nodes), and
``--docs-mb`` MB of random documents (default 200) in ``--doc-files`` files (default 20) on disk,
handed to the builder as paths (streamed, never read into memory by the builder).

Timed, ``--runs`` rounds (default 3), each line once per round:

- raw SHA-256: ``hashlib.sha256`` over the package's payload bytes (the documents, events.jsonl,
  documents.jsonl and summary.md of the built bag), held in memory, 1 MiB at a time;
- raw AES-256-GCM: ``AESGCM.encrypt`` over the same bytes in 64 KiB segments (the package's);
- build and verify of each format: a folder, a tar, a zip, and an encrypted tar (``--encrypt``
  adds it; on by default). Build: ``build_package`` from the contents to the finished package.
  Verify: ``verify_package`` (for a file: unpacking, decryption, bagit's full validation, the
  signatures, every event's leaf and proof). Every verification must pass, or the script exits 1.

Throughput = payload bytes / wall seconds; the table gives the median and min/max over rounds.
Target: each build and verify at least 40 % of the raw rate it is compared with: SHA-256 for the
unencrypted formats (bagit hashes every byte once), the combined AES-256-GCM + SHA-256 rate
(1 / (1/aes + 1/sha)) for the encrypted one (every byte is both encrypted and hashed).

    .venv/bin/python benchmarks/archive_package.py
    .venv/bin/python benchmarks/archive_package.py --docs-mb 20 --events 2000 --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from archive import merkle  # noqa: E402
from archive.chain import event_leaf  # noqa: E402
from archive.package_crypto import SEGMENT, generate_identity  # noqa: E402
from archive.package_verify import verify_package  # noqa: E402
from archive.sealed_package import PackageContents, PackagedDocument, PackagedEvent, build_package  # noqa: E402
from archive.signing import SigningKeyring, load_public_keys, sign_checkpoint  # noqa: E402

TARGET = 0.40
console = Console()


def make_contents(scratch: Path, events: int, state_bytes: int, docs_mb: float, doc_files: int,
                  keyring: SigningKeyring) -> PackageContents:
    customer = str(uuid.uuid4())
    rows = [(customer, v + 1, "realty.customer.request_raised", os.urandom(state_bytes)) for v in range(events)]
    frontier, nodes = merkle.Frontier(), {}
    for row in rows:
        for level, idx, h in frontier.append(event_leaf(*row)):
            nodes[(level, idx)] = h
    checkpoint = sign_checkpoint(keyring, "realty-ledger", len(rows), frontier.root())
    proofs = {p: {"position": p, "tree_size": len(rows), "leaf_hash": nodes[(0, p)].hex(),
                  "proof": [h.hex() for h in merkle.inclusion_proof_from_nodes(p, len(rows), nodes)]}
              for p in range(len(rows))}
    packaged = [PackagedEvent(p, *rows[p], record={"name": "Customer.RequestRaised", "version": p + 1,
                                                    "data": {"subject": "询问学区", "actor_role": "property_consultant"}})
                for p in range(len(rows))]
    documents, per_file = [], int(docs_mb * 1_000_000 / max(doc_files, 1))
    (scratch / "uploads").mkdir()
    for i in range(doc_files):
        path = scratch / "uploads" / f"scan-{i:02d}.pdf"
        data = os.urandom(per_file)
        path.write_bytes(data)
        documents.append(PackagedDocument(f"scans/scan-{i:02d}.pdf", path, "application/pdf",
                                          hashlib.sha256(data).hexdigest()))
    return PackageContents("沪档-BENCH-0001", "benchmark", f"customer {customer}", packaged, documents,
                           "# benchmark\n", checkpoint, proofs, "2031-12-31", [])


def payload_bytes(bag_dir: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((bag_dir / "data").rglob("*")) if p.is_file()]


def raw_sha256(blobs: list[bytes]) -> float:
    started = time.perf_counter()
    for blob in blobs:
        h, view = hashlib.sha256(), memoryview(blob)
        for i in range(0, len(view), 1 << 20):
            h.update(view[i:i + (1 << 20)])
        h.digest()
    return time.perf_counter() - started


def raw_aes_gcm(blobs: list[bytes]) -> float:
    aead, header = AESGCM(os.urandom(32)), os.urandom(98)
    started = time.perf_counter()
    counter = 0
    for blob in blobs:
        view = memoryview(blob)
        for i in range(0, len(view), SEGMENT):
            aead.encrypt(counter.to_bytes(12, "big"), view[i:i + SEGMENT], header)
            counter += 1
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--state-bytes", type=int, default=1024)
    parser.add_argument("--docs-mb", type=float, default=200)
    parser.add_argument("--doc-files", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-encrypt", dest="encrypt", action="store_false", help="skip the encrypted tar")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="realty-bench-package-"))
    try:
        keyring = SigningKeyring(scratch / "keys")
        keyring.init()
        keys = load_public_keys(keyring.export_public())
        identity = generate_identity()
        console.print(f"setting up: {args.events:,} events of {args.state_bytes} bytes, {args.docs_mb:g} MB of "
                      f"documents in {args.doc_files} files ...")
        contents = make_contents(scratch, args.events, args.state_bytes, args.docs_mb, args.doc_files, keyring)
        probe = build_package(contents, scratch / "probe", signer=keyring, fmt="dir")
        blobs = payload_bytes(probe)
        total = sum(map(len, blobs))
        shutil.rmtree(probe)
        lines = ["dir", "tar", "zip"] + (["tar+encrypt"] if args.encrypt else [])
        times: dict[str, list[float]] = {name: [] for name in ["raw SHA-256", "raw AES-256-GCM"]
                                         + [f"{kind} {fmt}" for fmt in lines for kind in ("build", "verify")]}
        for run in range(args.runs):
            times["raw SHA-256"].append(raw_sha256(blobs))
            times["raw AES-256-GCM"].append(raw_aes_gcm(blobs))
            for fmt in lines:
                out = scratch / f"run{run}-{fmt}.pkg"
                started = time.perf_counter()
                build_package(contents, out, signer=keyring, fmt="tar" if fmt == "tar+encrypt" else fmt,
                              encrypt_to=identity.public_key() if fmt == "tar+encrypt" else None)
                times[f"build {fmt}"].append(time.perf_counter() - started)
                started = time.perf_counter()
                report = verify_package(out, public_keys=keys, identity=identity, scratch=scratch)
                times[f"verify {fmt}"].append(time.perf_counter() - started)
                if not report.ok:
                    console.print(f"[red]verification failed for {fmt}[/]: {[c.detail for c in report.failures]}")
                    return 1
                shutil.rmtree(out) if out.is_dir() else out.unlink()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def rate(name: str) -> float:
        return total / 1e6 / statistics.median(times[name])

    sha, aes = rate("raw SHA-256"), rate("raw AES-256-GCM")
    both = 1 / (1 / sha + 1 / aes)
    table = Table(title=f"sealed packages: {total / 1e6:,.1f} MB of payload ({args.events:,} events, "
                        f"{args.doc_files} documents), median of {args.runs} runs")
    for column in ("line", "MB/s median", "min / max", "compared with", "ratio", f"≥ {TARGET:.0%}"):
        table.add_column(column, justify="right" if column != "line" else "left")
    failed = False
    for name, samples in times.items():
        rates = [total / 1e6 / t for t in samples]
        if name.startswith("raw"):
            table.add_row(name, f"{rate(name):,.0f}", f"{min(rates):,.0f} / {max(rates):,.0f}", "", "", "")
            continue
        base, label = (both, "AES-GCM+SHA-256") if "encrypt" in name else (sha, "SHA-256")
        ratio = rate(name) / base
        failed |= ratio < TARGET
        table.add_row(name, f"{rate(name):,.0f}", f"{min(rates):,.0f} / {max(rates):,.0f}", f"{label} {base:,.0f}",
                      f"{ratio:.2f}", "[green]PASS[/]" if ratio >= TARGET else "[red]FAIL[/]")
    console.print(table)
    console.print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
                  f"AES-GCM+SHA-256 combined rate = 1 / (1/{aes:,.0f} + 1/{sha:,.0f}) = {both:,.0f} MB/s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
