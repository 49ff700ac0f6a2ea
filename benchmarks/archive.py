"""Sealed export and offline verification, end to end through the application, next to the raw
primitives over the same bytes, in one run (issue: ≥ 40 % of the raw rate).

Set-up (untimed), in a scratch store (a SQLite folder, or with ``--backend postgres`` a scratch
database ``realty_bench_<pid>_<hex>``, dropped at the end) with its own signing keys, master keys
and document store in a scratch folder: a team (``tests.conftest.register_team``), one customer
taken through a deal (``tests.integration.scenarios``: list, receive, match, sign, execute), the
customer's history grown with ``raise_request`` until the customer and its file hold ``--events``
events (default 10,000), and a ``customer_file`` holding ``--docs-mb`` MB of documents (default
200; PDFs of random bytes, at most 20 MB each: the per-document limit), checked, filed and sealed.

Timed, ``--rounds`` rounds (default 3), every line once per round, the order rotating:

- raw SHA-256, raw AES-256-GCM decryption and a raw write (to a file in the scratch folder) over
  the package's payload bytes (the documents' plaintext and events.jsonl), held in memory;
- ``app.export_package(archivist, customer_id=…)`` as a folder, a tar and a tar encrypted to a
  recipient (``--encrypt-to``'s path: ``generate_identity()``), from the call to the finished
  package: the documents decrypted from the store (each read recorded on the file), the events
  read and described, a checkpoint signed, the proofs, the bag built, signed, serialized;
- ``verify_package`` of each with the ledger's exported public keys (and the identity), every
  check of it: unpacking, decryption, bagit's full validation, signatures, every leaf and proof.
  Every verification must come back clean, or the script exits 1 (the target's PASS/FAIL is
  printed; it does not change the exit status, as in ``append.py``).

MB/s = payload bytes / wall seconds; medians over rounds. Each line's ratio is against the raw
work it cannot avoid, per payload byte, composed as 1 / Σ (1 / raw rate): export = decryption +
SHA-256 + write (+ encryption for the encrypted tar); verify of a folder = SHA-256; of a tar =
write (it unpacks) + SHA-256; of an encrypted tar = decryption + write + SHA-256. See
``benchmarks/README.md``.

    .venv/bin/python benchmarks/archive.py                     # SQLite, 10,000 events, 200 MB
    .venv/bin/python benchmarks/archive.py --backend postgres
    .venv/bin/python benchmarks/archive.py --docs-mb 20 --events 1000 --rounds 1
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # append.py, next to this file (it puts the project root on the path)

from append import PostgresBackend, SqliteBackend, console, git_state  # noqa: E402
from archive_package import raw_sha256  # noqa: E402 - the library-level benchmark's raw hashing line
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from archive.package_crypto import generate_identity  # noqa: E402
from archive.package_verify import verify_package  # noqa: E402
from archive.signing import load_public_keys  # noqa: E402
from service.application import RealtyLedger  # noqa: E402
from service.settings import load_settings  # noqa: E402
from tests.conftest import register_team  # noqa: E402
from tests.integration.scenarios import execute, list_flat, match, receive, sign  # noqa: E402

TARGET = 0.40
DOC_LIMIT = 20 * 1024 * 1024  # the default per-document limit (settings.max_document_bytes)
DOC_SEGMENT = 1 << 20  # archive.documents.SEGMENT_SIZE: what the export decrypts in
SUBJECT = "询问学区划片与落户年限, 以及二手房交易税费的计算方式"

# line -> the raw work per payload byte it cannot avoid (what its ratio compares against)
FLOORS = {
    "export dir": ("aes", "sha", "write"),
    "export tar": ("aes", "sha", "write"),
    "export tar+encrypt": ("aes", "sha", "write", "aes"),
    "verify dir": ("sha",),
    "verify tar": ("write", "sha"),
    "verify tar+encrypt": ("aes", "write", "sha"),
}
RAW_NAMES = {"sha": "raw SHA-256", "aes": "raw AES-256-GCM decrypt", "write": "raw write"}


# --- set-up ----------------------------------------------------------------------------------------


def make_ledger(backend: Any, scratch: Path) -> RealtyLedger:
    # master_keys=None: the test suite may set REALTY_MASTER_KEYS; the scratch folder has its own.
    return RealtyLedger(load_settings(database_url=backend.project_url(), signing_keys_dir=scratch / "signing",
                                      master_keys_dir=scratch / "master", master_keys=None,
                                      documents_dir=scratch / "documents", checkpoint_journal=scratch / "journal.jsonl"))


def document_sizes(docs_mb: float) -> list[int]:
    total = int(docs_mb * 1_000_000)
    count = max(1, -(-total // DOC_LIMIT))
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def prepare(app: RealtyLedger, events: int, docs_mb: float) -> tuple[Any, str, str]:
    """A team, a customer through a deal, a sealed customer file of documents, and the customer's
    history grown to ``events`` events in all (customer and file). Returns (team, customer, file)."""
    team = register_team(app)
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    match(app, team, customer, listing)
    execute(app, team, sign(app, team, customer, listing))
    file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                    record_class="customer_file").id
    for i, size in enumerate(document_sizes(docs_mb)):
        content = b"%PDF-1.7\n" + os.urandom(size - 9)  # a PDF by its first bytes; random like a scan
        app.upload_document(team.consultant, file_id, content=content, kind="id_copy" if i == 0 else "other")
    for action in ("check_completeness", "file", "seal"):
        app.file_command(team.archivist, file_id, action)
    have = app.state(customer)["version"] + app.state(file_id)["version"]
    with Progress(TextColumn("growing the customer's history"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("", total=events, completed=have)
        for n in range(max(0, events - have)):
            app.raise_request(team.consultant, customer, subject=SUBJECT)
            if n % 200 == 0:
                bar.update(task, completed=have + n + 1)
    return team, customer, file_id


# --- the raw primitives over the payload bytes -------------------------------------------------------


def payload_blobs(bag: Path) -> list[bytes]:
    """What the ratio counts: every document's plaintext and events.jsonl (the other payload files,
    documents.jsonl and summary.md, are small and not counted)."""
    docs = sorted(p for p in (bag / "data" / "documents").rglob("*") if p.is_file())
    return [p.read_bytes() for p in docs] + [(bag / "data" / "events.jsonl").read_bytes()]


class RawAes:
    """AES-256-GCM decryption of the same bytes, sealed (untimed) in 1 MiB segments as the document
    store seals them, with 37 bytes of associated data (the store's header and a document's name)."""

    def __init__(self, blobs: list[bytes]) -> None:
        self.aead, self.ad = AESGCM(os.urandom(32)), os.urandom(37)
        self.sealed = []
        for blob in blobs:
            view = memoryview(blob)
            for i in range(0, max(len(view), 1), DOC_SEGMENT):
                nonce = (len(self.sealed)).to_bytes(12, "big")
                self.sealed.append((nonce, self.aead.encrypt(nonce, view[i:i + DOC_SEGMENT], self.ad)))

    def run(self) -> float:
        started = time.perf_counter()
        for nonce, segment in self.sealed:
            self.aead.decrypt(nonce, segment, self.ad)
        return time.perf_counter() - started


def raw_write(blobs: list[bytes], where: Path) -> float:
    """The bytes written to one new file each and closed (no fsync: the export's bag files are not
    synced either; the tar is, once, at the end)."""
    where.mkdir()
    started = time.perf_counter()
    for i, blob in enumerate(blobs):
        with open(where / f"{i}.bin", "wb") as f:
            f.write(blob)
    took = time.perf_counter() - started
    shutil.rmtree(where)
    return took


# --- the run -----------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--events", type=int, default=10_000, help="events of the customer and its file (default 10,000)")
    ap.add_argument("--docs-mb", type=float, default=200, help="MB of documents in the customer's file (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--profile", metavar="LINE", action="append", default=[],
                    help="profile one untimed run of this line (e.g. 'verify tar'; may be given again) and print the "
                         "top functions")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database/directory")
    args = ap.parse_args()

    backend = PostgresBackend(args.pg_admin_url, args.keep) if args.backend == "postgres" else SqliteBackend(args.keep)
    scratch = Path(tempfile.mkdtemp(prefix="realty-bench-archive-"))
    backend.setup()
    app: RealtyLedger | None = None
    try:
        app = make_ledger(backend, scratch)
        started = time.perf_counter()
        console.print(f"setting up on {backend.name}: {args.events:,} events, {args.docs_mb:g} MB of documents ...")
        team, customer, _ = prepare(app, args.events, args.docs_mb)
        setup_s = time.perf_counter() - started
        identity = generate_identity()
        probe = app.export_package(team.archivist, customer_id=customer, out=scratch / "probe", fmt="dir")
        keys = load_public_keys(app.audit.keyring.export_public())  # the export made the keys if need be
        blobs = payload_blobs(Path(probe["path"]))
        total = sum(map(len, blobs))
        shutil.rmtree(probe["path"])
        aes = RawAes(blobs)

        def export(fmt: str, encrypt: bool, out: Path) -> None:
            answer = app.export_package(team.archivist, customer_id=customer, out=out, fmt=fmt,
                                        encrypt_to=identity.public_key() if encrypt else None)
            counts.append(answer["events"])

        def verify(out: Path) -> None:
            report = verify_package(out, public_keys=keys, identity=identity, scratch=scratch)
            if not report.ok:
                raise SystemExit(f"verification of {out.name} failed: {[c.detail for c in report.failures]}")

        counts: list[int] = []
        lines = ["raw SHA-256", "raw AES-256-GCM decrypt", "raw write",
                 "export dir", "verify dir", "export tar", "verify tar", "export tar+encrypt", "verify tar+encrypt"]
        times: dict[str, list[float]] = {name: [] for name in lines}

        def run_line(name: str, r: int) -> float:
            if name == "raw SHA-256":
                return raw_sha256(blobs)
            if name == "raw AES-256-GCM decrypt":
                return aes.run()
            if name == "raw write":
                return raw_write(blobs, scratch / f"raw-{r}")
            kind, fmt = name.split(" ")
            out = scratch / (f"r{r}-{fmt}" + ("" if fmt == "dir" else ".tar"))
            started = time.perf_counter()
            if kind == "export":
                export(fmt.removesuffix("+encrypt"), fmt.endswith("+encrypt"), out)
            else:
                verify(out)
            took = time.perf_counter() - started
            if kind == "verify":
                shutil.rmtree(out) if out.is_dir() else out.unlink()
            return took

        for n, line in enumerate(args.profile):
            if line not in lines:
                raise SystemExit(f"--profile takes one of {lines}")
            if line.startswith("verify"):
                run_line(line.replace("verify", "export"), 90 + n)
            profiler = cProfile.Profile()
            profiler.enable()
            run_line(line, 90 + n)
            profiler.disable()
            console.print(f"[bold]profile of {line}[/]")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)

        # Exports come before their verifications; the rest of the order rotates round to round.
        pairs = [["raw SHA-256"], ["raw AES-256-GCM decrypt"], ["raw write"], ["export dir", "verify dir"],
                 ["export tar", "verify tar"], ["export tar+encrypt", "verify tar+encrypt"]]
        with console.status("timing") as status:
            for r in range(args.rounds):
                for group in pairs[r % len(pairs):] + pairs[:r % len(pairs)]:
                    for name in group:
                        status.update(f"round {r + 1}/{args.rounds}: {name}")
                        times[name].append(run_line(name, r))

        env = [("backend", f"{backend.name}; " + "; ".join(f"{k} {v}" for k, v in backend.describe())),
               ("project code", git_state()),
               ("Python", f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
                          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"),
               ("set-up (untimed)", f"{setup_s:.0f} s"),
               ("events exported", f"{min(counts):,}–{max(counts):,} (the customer's and its file's; each export adds "
                                   "its document reads to the file)"),
               ("payload counted", f"{total / 1e6:,.1f} MB: {len(blobs) - 1} documents "
                                   f"{sum(map(len, blobs[:-1])) / 1e6:,.1f} MB + events.jsonl {len(blobs[-1]) / 1e6:,.1f} MB")]
        t = Table(title="Environment", show_header=False)
        for k, v in env:
            t.add_row(k, v)
        console.print(t)
        report(times, total, args.rounds)
        return 0
    finally:
        if app is not None:
            app.close()
        backend.teardown()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def report(times: dict[str, list[float]], total: int, rounds: int) -> None:
    def rate(name: str) -> float:
        return total / 1e6 / statistics.median(times[name])

    raw = {key: rate(name) for key, name in RAW_NAMES.items()}
    table = Table(title=f"Sealed export and verification: MB/s over {total / 1e6:,.1f} MB of payload, median of "
                        f"{rounds} round(s)")
    for column in ("line", "MB/s median", "min / max", "s median", "reference (raw work per byte)", "ref MB/s",
                   "ratio", "per round", f"≥ {TARGET:.0%}"):
        table.add_column(column, justify="left" if column in ("line", "reference (raw work per byte)") else "right")
    failed = False
    for name, samples in times.items():
        rates = [total / 1e6 / s for s in samples]
        spread = f"{min(rates):,.0f} / {max(rates):,.0f}"
        if name.startswith("raw"):
            table.add_row(name, f"{rate(name):,.0f}", spread, f"{statistics.median(samples):.3f}", "", "", "", "", "")
            continue
        parts = FLOORS[name]
        floor = 1 / sum(1 / raw[p] for p in parts)
        ratio = rate(name) / floor
        # The same ratio within each round, against that round's raw lines (the same machine weather):
        # the reference's time for the payload is the sum of its raw lines' times.
        paired = [sum(times[RAW_NAMES[p]][r] for p in parts) / took for r, took in enumerate(samples)]
        failed |= ratio < TARGET
        table.add_row(name, f"{rate(name):,.0f}", spread, f"{statistics.median(samples):.3f}",
                      " + ".join({"aes": "AES-GCM", "sha": "SHA-256", "write": "write"}[p] for p in parts),
                      f"{floor:,.0f}", f"{ratio:.2f}",
                      f"{statistics.median(paired):.2f} ({min(paired):.2f}–{max(paired):.2f})",
                      "[green]PASS[/]" if ratio >= TARGET else "[red]FAIL[/]")
    console.print(table)
    console.print(f"ratio: line MB/s ÷ reference MB/s (medians; 'per round': the median (min–max) of the same ratio "
                  f"within each round), reference = 1 / Σ (1 / raw MB/s) over the raw work the line must do per payload byte (raw SHA-256 {raw['sha']:,.0f}, AES-256-GCM {raw['aes']:,.0f}, write "
                  f"{raw['write']:,.0f} MB/s, measured in this run). "
                  + ("[bold red]FAIL[/]: at least one line is below" if failed else "[bold green]PASS[/]: every line "
                     "reaches") + f" {TARGET:.0%} of its reference.")


if __name__ == "__main__":
    sys.exit(main())
