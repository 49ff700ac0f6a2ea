"""Verification and proofs of the audit ledger, on one backend, in one run: how fast
``app.audit.verify()`` checks the whole log next to a plain read of the same rows, and how long an
inclusion or a consistency proof takes on a large log, next to a single-row primary-key SELECT.

1. A log of N events (default 100,000) is built through the project's recorder
   (``app.recorder.insert_events``, batches of 1000 stored events shaped like the project's: a
   ``Customer.Received`` then ``RequestRaised`` events, ≈500 bytes of state each), with a signed
   checkpoint (``app.audit.checkpoint()``) every 10,000 events. Then, in interleaved rounds, the
   project's full verification (chain, positions, Merkle roots, checkpoint signatures) and a raw
   read of the same rows (plain sqlite3 / psycopg: the same columns, the same statement, the same
   batches, every row fetched and unpacked, no hashing). Table: events/s, median and min/max over
   rounds; the ratio; target ≥ 0.50 of the raw read rate.
2. The log is grown to ``--proof-events`` (default 1,000,000) the same way (progress shown, build
   and indexing timed), then ``app.audit.inclusion(position)`` for random positions and
   ``app.audit.consistency(first)`` for random first sizes, against the latest checkpoint, next to
   one primary-key SELECT of one row of the events table (plain driver, and through the archive's
   own query path). Table: ms, median, p90, min/max; target ≤ 5 ms median.

Every verification must come back clean with every checkpoint checked, and every proof timed is
checked afterwards against the signed root (``archive.merkle.verify_*``), so no line can look fast
by failing. What each line does, exactly, is written down in ``benchmarks/README.md``; keep the two
in step.

PostgreSQL runs go into a fresh scratch database (``realty_bench_<pid>_<hex>``) that is dropped at
the end; SQLite runs into a scratch directory that is removed at the end; the signing keys and the
checkpoint journal into another scratch directory, removed too.

    python benchmarks/verify.py --backend sqlite
    python benchmarks/verify.py --backend postgres --events 20000 --proof-events 100000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # append.py, next to this file (it puts the project root on the path itself)

from append import SUBJECT, PostgresBackend, SqliteBackend, console, git_state
from eventsourcing.persistence import StoredEvent
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from archive import merkle
from archive import verify as archive_verify
from archive.chain import GENESIS, event_bytes, event_leaf, link
from archive.verify import BATCH as VERIFY_BATCH
from service.application import Acting, RealtyLedger
from service.settings import Settings, load_settings

TARGET_VERIFY = 0.50  # full verification must run at least this share of the raw read rate of the same rows
TARGET_PROOF_MS = 5.0  # median time of one inclusion or consistency proof at --proof-events


# --- stored events shaped like the project's ------------------------------------------------------


class EventFactory:
    """Stored events as the project writes them: per customer one ``Customer.Received`` (version 1)
    then ``RequestRaised`` events, their states copied from real ones the application just stored,
    with a fresh correlation id (and request id) in each, so no two states are alike."""

    def __init__(self, received: StoredEvent, raised: StoredEvent, per_customer: int = 10) -> None:
        self.received, self.raised, self.per_customer = received, raised, per_customer
        self.received_ids = [json.loads(received.state)["correlation_id"].encode()]
        body = json.loads(raised.state)
        self.raised_ids = [body["correlation_id"].encode(), body["request_id"]["_data_"].encode()]
        assert all(len(x) == 32 for x in self.received_ids + self.raised_ids)
        self.customer = uuid.uuid4()
        self.version = 0
        self.count = 0
        self.state_bytes = 0

    @staticmethod
    def _fresh(state: bytes, ids: list[bytes]) -> bytes:
        for old in ids:
            state = state.replace(old, os.urandom(16).hex().encode())  # same length: the size stays
        return state

    def batch(self, n: int) -> list[StoredEvent]:
        events = []
        for _ in range(n):
            if self.version == self.per_customer:
                self.customer, self.version = uuid.uuid4(), 0
            self.version += 1
            template, ids = ((self.received, self.received_ids) if self.version == 1
                             else (self.raised, self.raised_ids))
            state = self._fresh(template.state, ids)
            events.append(StoredEvent(originator_id=self.customer, originator_version=self.version,
                                      topic=template.topic, state=state))
            self.state_bytes += len(state)
        self.count += n
        return events

    @property
    def mean_state(self) -> float:
        return self.state_bytes / max(self.count, 1)


def archive_state() -> str:
    """What archive/ code was measured (others may be changing it): a digest of its sources, and
    whether git sees uncommitted changes there (``git_state`` looks at service/ and domain/)."""
    import hashlib
    import subprocess

    root = BENCH_DIR.parent
    digest = hashlib.sha256()
    for path in sorted((root / "archive").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "archive"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        dirty = ""
    return f"sources sha256 {digest.hexdigest()[:12]}" + (" (uncommitted changes in archive/)" if dirty else "")


def real_events(app: RealtyLedger) -> tuple[StoredEvent, StoredEvent]:
    """A staff member, a customer and one request, through the application: the log's first 3
    events, and the templates of the generated ones."""
    staff = app.register_staff(Acting.system(), name="Bench Consultant", role="property_consultant", team="bench")
    now = datetime.now(UTC)
    c = app.receive_customer(Acting(staff.id), channel="walk_in", reception_started_at=now - timedelta(minutes=30),
                             reception_ended_at=now - timedelta(minutes=5))
    app.raise_request(Acting(staff.id), c.id, subject=SUBJECT)
    received, raised = app.recorder.select_events(uuid.UUID(c.id))
    return received, raised


# --- building the log: the recorder's inserts, a checkpoint every K events -------------------------


@dataclass
class Build:
    inserted: int = 0
    insert_seconds: float = 0.0
    indexed: int = 0
    index_seconds: float = 0.0
    sign_seconds: float = 0.0
    checkpoints: int = 0
    indexed_size: int = 0


def grow(app: RealtyLedger, factory: EventFactory, target: int, batch: int, every: int, build: Build,
         label: str) -> None:
    """Append through ``app.recorder.insert_events`` until the log holds ``target`` events; after
    every ``every``-th event (and at the end) index the new events and sign a checkpoint."""
    size = app.audit.index.log_size()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[rates]}"))
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=target, completed=size, rates="")
        while size < target:
            next_checkpoint = (size // every + 1) * every
            n = min(batch, target - size, next_checkpoint - size)
            events = factory.batch(n)  # untimed
            t0 = time.perf_counter()
            app.recorder.insert_events(events)
            build.insert_seconds += time.perf_counter() - t0
            build.inserted += n
            size += n
            if size % every == 0 or size == target:
                t0 = time.perf_counter()
                indexed = app.audit.index.extend()
                t1 = time.perf_counter()
                checkpoint = app.audit.checkpoint()  # finds nothing new to index: signs the root
                t2 = time.perf_counter()
                if indexed != size or checkpoint.tree_size != size:
                    raise RuntimeError(f"indexed {indexed}, signed {checkpoint.tree_size}, log holds {size}")
                build.index_seconds += t1 - t0
                build.sign_seconds += t2 - t1
                build.indexed += indexed - build.indexed_size
                build.indexed_size = indexed
                build.checkpoints += 1
            progress.update(task, completed=size, rates=(
                f"insert {build.inserted / max(build.insert_seconds, 1e-9):,.0f}/s · "
                f"index {build.indexed / max(build.index_seconds, 1e-9):,.0f}/s"))


def settle(app: RealtyLedger) -> None:
    """PostgreSQL: ``VACUUM (ANALYZE)`` the events and Merkle-node tables after a bulk build (untimed),
    so that the rounds read a table in its steady state (visibility map set, statistics current)
    instead of racing autovacuum on freshly written rows. SQLite: nothing to do."""
    db = app.audit.db
    if db.backend != "postgres":
        return
    t0 = time.perf_counter()
    with db.datastore.get_connection() as conn:  # autocommit: VACUUM cannot run in a transaction
        for table in (db.table(app.recorder.events_table_name), app.audit.index.nodes_table):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    console.print(f"[dim]VACUUM (ANALYZE) of the events and Merkle-node tables: {time.perf_counter() - t0:.1f} s "
                  "(untimed)[/]")


# --- the reference: the same rows through the plain driver -----------------------------------------


class RawReader:
    """Plain sqlite3 / psycopg (autocommit, tuple rows) on the events table: verification's own
    statement, in its batches, and a single-row primary-key SELECT."""

    def __init__(self, backend: Any, app: RealtyLedger) -> None:
        db = app.audit.db
        table = db.table(app.recorder.events_table_name)
        order = db.log_order
        self.read_statement = (
            f"SELECT {order}, position, originator_id, originator_version, topic, state, chain_hash "  # noqa: S608
            f"FROM {table} WHERE {order} > ? ORDER BY {order} LIMIT ?")  # as archive.verify._Rows._fetch
        self.pk_statement = (f"SELECT originator_id, originator_version, topic, state, position, chain_hash "  # noqa: S608
                             f"FROM {table} WHERE originator_id = ? AND originator_version = ?")
        self.position_statement = f"SELECT originator_id, originator_version FROM {table} WHERE position = ?"  # noqa: S608
        self.sqlite = isinstance(backend, SqliteBackend)
        if self.sqlite:
            self.conn: Any = sqlite3.connect(str(app.settings.database.path), isolation_level=None)
            self.prepare: dict[str, Any] = {}
        else:
            import psycopg

            self.conn = psycopg.connect(backend.pg.conninfo(), autocommit=True)
            self.prepare = {"prepare": True}
            self.read_statement, self.pk_statement, self.position_statement = (
                s.replace("?", "%s") for s in (self.read_statement, self.pk_statement, self.position_statement))

    def read_all(self) -> int:
        """Every row in log order, fetched and unpacked; returns how many."""
        conn, statement, prepare = self.conn, self.read_statement, self.prepare
        after, count = 0, 0
        while True:
            rows = conn.execute(statement, (after, VERIFY_BATCH), **prepare).fetchall()
            if not rows:
                return count
            for nid, position, oid, version, topic, state, chain in rows:  # noqa: B007 - touch every column
                count += 1
            after = rows[-1][0]

    def key_at(self, position: int) -> tuple[Any, int]:
        oid, version = self.conn.execute(self.position_statement, (position,)).fetchone()
        return oid, int(version)

    def pk_select(self, key: tuple[Any, int]) -> Any:
        return self.conn.execute(self.pk_statement, key, **self.prepare).fetchone()

    def close(self) -> None:
        self.conn.close()


# --- timing helpers --------------------------------------------------------------------------------


@dataclass
class Line:
    key: str
    label: str
    values: list[float] = field(default_factory=list)  # events/s per round, or seconds per call

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


# --- 1. full verification against the raw read ----------------------------------------------------


class VerificationFailed(Exception):
    pass


def checked_verify(app: RealtyLedger, size: int, checkpoints: int) -> Any:
    report = app.audit.verify()
    if not report.clean or report.events != size or report.checkpoints_checked != checkpoints:
        first = report.first_problem
        raise VerificationFailed(
            f"verification of the untouched log did not come back clean: {report.events} events checked of {size}, "
            f"{report.checkpoints_checked} checkpoints of {checkpoints}, {len(report.problems)} problem(s)"
            + (f"; the first: {first.kind} at position {first.position}: {first.detail}" if first else ""))
    return report


def measure_verification(app: RealtyLedger, reader: RawReader, size: int, checkpoints: int,
                         rounds: int) -> tuple[Line, Line]:
    verify = Line("verify", "project app.audit.verify() (chain, positions, Merkle roots, signatures)")
    raw = Line("raw", "raw read of the same rows (plain driver, same statement and batches, no hashing)")

    def run_verify() -> None:
        checked_verify(app, size, checkpoints)

    def run_raw() -> None:
        if reader.read_all() != size:
            raise VerificationFailed("the raw read did not return every row")

    lines = [(verify, run_verify), (raw, run_raw)]
    with console.status("warming up") as status:
        for line, fn in lines:
            status.update(f"warming up: {line.label}")
            fn()
        for r in range(rounds):
            for line, fn in (lines if r % 2 == 0 else lines[::-1]):  # alternate which goes first
                status.update(f"round {r + 1}/{rounds}: {line.label}")
                seconds, _ = timed(fn)
                line.values.append(size / seconds)
    return verify, raw


# --- where verification's time goes (--profile) ----------------------------------------------------


def stage_costs(app: RealtyLedger, reader: RawReader, size: int, checkpoints: int,
                repeats: int = 3) -> list[tuple[str, float]]:
    """Each step verification takes per event, timed alone over the same rows held in memory
    (µs per event, the best of ``repeats``: the least disturbed by the machine's other work), next
    to the whole verification (best of ``repeats`` too); the rest is the loop around them."""
    db = app.audit.db
    statement = reader.read_statement.replace("%s", "?")

    def best(fn: Callable[[], Any]) -> tuple[float, Any]:
        runs = [timed(fn) for _ in range(repeats)]
        return min(t for t, _ in runs), runs[-1][1]

    def fetch_archive() -> list[tuple[Any, ...]]:  # verification's reads: Database.query, a transaction per batch
        rows: list[tuple[Any, ...]] = []
        after = 0
        while True:
            batch = db.query(statement, (after, VERIFY_BATCH))
            if not batch:
                return rows
            rows.extend(batch)
            after = int(batch[-1][0])

    per = 1e6 / size
    whole, _ = best(lambda: checked_verify(app, size, checkpoints))
    raw, _ = best(reader.read_all)
    fetch, rows = best(fetch_archive)
    t_bytes, encoded = best(lambda: [event_bytes(oid, v, t, bytes(s)) for _, _, oid, v, t, s, _ in rows])
    t_leaf, leaves = best(lambda: [merkle.leaf_hash(b) for b in encoded])
    t_full_leaf, _ = best(lambda: [event_leaf(oid, v, t, bytes(s)) for _, _, oid, v, t, s, _ in rows])

    def links() -> None:
        previous = GENESIS
        for leaf in leaves:
            previous = link(previous, leaf)

    t_link, _ = best(links)
    row_class = getattr(archive_verify, "_Row", None)  # verification's per-row record, while it has one
    t_row = 0.0
    if row_class is not None:
        t_row, _ = best(lambda: [row_class(int(nid), p, leaf, bytes(c))
                                 for (nid, p, _, _, _, _, c), leaf in zip(rows, leaves)])

    def frontier() -> None:
        f = merkle.Frontier()
        for leaf in leaves:
            f.append(leaf)

    t_frontier, _ = best(frontier)
    parts = [
        ("fetch the rows, plain driver (the reference line; not part of verification)", raw),
        ("fetch the rows, the archive's Database.query (verification's reads)", fetch),
        ("event_leaf, as verification calls it", t_full_leaf),
        ("  of which event_bytes (the canonical encoding: id text, struct packs, join)", t_bytes),
        ("  of which leaf_hash (SHA-256 over 0x00 + the ≈620-byte encoding)", t_leaf),
        ("link (SHA-256 over the previous chain hash + the leaf)", t_link),
        ("archive.verify._Row per row (int(), bytes(); 0 if verification has none)", t_row),
        ("Frontier.append (≈1 node SHA-256 per event, and its checks)", t_frontier),
    ]
    accounted = fetch + t_full_leaf + t_link + t_row + t_frontier
    parts.append(("rest: verify_log's loop (comparisons, deque, position, targets), by difference", whole - accounted))
    parts.append(("whole app.audit.verify()", whole))
    return [(name, seconds * per) for name, seconds in parts]


def profile_verify(app: RealtyLedger, size: int, checkpoints: int, top: int = 18) -> list[tuple[str, int, float, float]]:
    """cProfile of one verification: (function, calls, own µs/event, cumulative µs/event)."""
    profiler = cProfile.Profile()
    profiler.enable()
    checked_verify(app, size, checkpoints)
    profiler.disable()
    stats = pstats.Stats(profiler)
    out = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = "~" if filename == "~" else f"{Path(filename).parent.name}/{Path(filename).name}:{line}"
        out.append((f"{name} ({where})", calls, tottime * 1e6 / size, cumtime * 1e6 / size))
    out.sort(key=lambda r: r[2], reverse=True)
    return out[:top]


# --- 2. proofs at a large size --------------------------------------------------------------------


def count_queries(app: RealtyLedger, fn: Callable[[], Any]) -> int:
    """How many statements ``fn`` sends through the archive's Database (untimed)."""
    db = app.audit.db
    original, calls = db.query, [0]

    def query(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    db.query = query  # type: ignore[method-assign]
    try:
        fn()
    finally:
        del db.query  # back to the class's method
    return calls[0]


def measure_proofs(app: RealtyLedger, reader: RawReader, size: int, samples: int,
                   rng: random.Random) -> tuple[list[Line], dict[str, int], int]:
    """Interleaved: per iteration one inclusion proof, one consistency proof and the two single-row
    SELECTs, in a rotating order. Returns the lines, queries per call, and proofs checked."""
    db = app.audit.db
    archive_pk = reader.pk_statement.replace("%s", "?")
    keys = [reader.key_at(rng.randrange(size)) for _ in range(min(500, samples + 20))]
    lines = [
        Line("inclusion", "app.audit.inclusion(position), random position"),
        Line("consistency", "app.audit.consistency(first), random first size"),
        Line("pk_raw", "one primary-key SELECT of one event row, plain driver"),
        Line("pk_archive", "one primary-key SELECT of one event row, the archive's Database.query"),
    ]
    inclusions: list[dict[str, Any]] = []
    consistencies: list[dict[str, Any]] = []

    def ops(i: int) -> list[tuple[Line, Callable[[], Any], list[dict[str, Any]] | None]]:
        position, first, key = rng.randrange(size), rng.randint(1, size), keys[i % len(keys)]
        return [
            (lines[0], lambda: app.audit.inclusion(position), inclusions),
            (lines[1], lambda: app.audit.consistency(first), consistencies),
            (lines[2], lambda: reader.pk_select(key), None),
            (lines[3], lambda: db.query(archive_pk, key), None),
        ]

    warm = 20
    with console.status("proofs: warming up") as status:
        for i in range(warm):
            for _, fn, _ in ops(i):
                fn()
        for i in range(samples):
            if i % 50 == 0:
                status.update(f"proofs: {i}/{samples}")
            batch = ops(i)
            k = i % len(batch)
            for line, fn, keep in batch[k:] + batch[:k]:  # rotate the order
                seconds, result = timed(fn)
                if result is None:
                    raise RuntimeError(f"{line.label}: no row")
                line.values.append(seconds)
                if keep is not None:
                    keep.append(result)

    queries = {
        "inclusion": count_queries(app, lambda: app.audit.inclusion(rng.randrange(size))),
        "consistency": count_queries(app, lambda: app.audit.consistency(rng.randint(1, size))),
    }
    checked = check_proofs(app, reader, size, inclusions, consistencies)
    return lines, queries, checked


def check_proofs(app: RealtyLedger, reader: RawReader, size: int, inclusions: list[dict[str, Any]],
                 consistencies: list[dict[str, Any]]) -> int:
    """Every proof timed verifies against the signed root of the latest checkpoint, and each
    inclusion proof's leaf is the hash of the event stored at its position (recomputed here)."""
    latest = app.audit.latest_checkpoint()
    assert latest is not None and latest.tree_size == size
    root = latest.root_hash
    h = bytes.fromhex
    for p in inclusions:
        key = reader.key_at(p["position"])
        oid, version, topic, state, _, _ = reader.pk_select(key)
        leaf = event_leaf(oid, int(version), topic, bytes(state))
        if (h(p["leaf_hash"]) != leaf or h(p["root_hash"]) != root or p["tree_size"] != size
                or not merkle.verify_inclusion(leaf, p["position"], size, [h(x) for x in p["proof"]], root)):
            raise VerificationFailed(f"an inclusion proof did not verify: {p}")
    for c in consistencies:
        if (h(c["second_root_hash"]) != root or c["second"] != size
                or not merkle.verify_consistency(c["first"], size, h(c["first_root_hash"]), root,
                                                 [h(x) for x in c["proof"]])):
            raise VerificationFailed(f"a consistency proof did not verify: {c}")
    return len(inclusions) + len(consistencies)


# --- the run ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    ap.add_argument("--events", type=int, default=100_000, help="events in the log that is verified (default 100,000)")
    ap.add_argument("--proof-events", type=int, default=1_000_000,
                    help="events in the log the proofs are taken from (default 1,000,000; at least --events)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds of verification (default 5)")
    ap.add_argument("--proof-samples", type=int, default=300, help="timed calls of each proof kind (default 300)")
    ap.add_argument("--batch", type=int, default=1000, help="stored events per insert_events call (default 1000)")
    ap.add_argument("--checkpoint-every", type=int, default=10_000, help="events between checkpoints (default 10,000)")
    ap.add_argument("--profile", action="store_true",
                    help="also time verification's steps one by one and print a cProfile of one verification")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random positions and sizes (default 1)")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="database to connect to for CREATE/DROP DATABASE of the scratch database")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database/directory")
    args = ap.parse_args(argv)
    if args.events < 10 or args.proof_events < args.events or args.rounds < 1 or args.proof_samples < 1:
        ap.error("need --events ≥ 10, --proof-events ≥ --events, --rounds ≥ 1 and --proof-samples ≥ 1")

    started = time.monotonic()
    rng = random.Random(args.seed)
    backend: Any = PostgresBackend(args.pg_admin_url, args.keep) if args.backend == "postgres" else SqliteBackend(args.keep)
    backend.setup()
    # The signing keys and everything else the audit trail keeps outside the database (the
    # checkpoint journal, whose default is beside the keys directory) go into one scratch directory.
    audit_dir = tempfile.mkdtemp(prefix="realty-bench-audit-")
    app: RealtyLedger | None = None
    reader: RawReader | None = None
    try:
        # The project's settings, but no background checkpoints: this script makes them.
        audit_settings: dict[str, Any] = {"signing_keys_dir": os.path.join(audit_dir, "keys")}
        if "checkpoint_journal" in Settings.model_fields:
            audit_settings["checkpoint_journal"] = os.path.join(audit_dir, "checkpoints.jsonl")
        app = RealtyLedger(load_settings(database_url=backend.project_url(), checkpoint_every=0,
                                         checkpoint_interval=0, **audit_settings))
        factory = EventFactory(*real_events(app))
        reader = RawReader(backend, app)
        print_environment(args, backend, app, factory, audit_dir)

        build = Build()
        grow(app, factory, args.events, args.batch, args.checkpoint_every, build, f"log of {args.events:,} events")
        settle(app)
        verify, raw = measure_verification(app, reader, args.events, build.checkpoints, args.rounds)
        verify_build = Build(**vars(build))
        print_verification(args, backend, verify, raw, build)

        if args.profile:
            print_profile(app, reader, args.events, build.checkpoints)

        if args.proof_events > args.events:
            grow(app, factory, args.proof_events, args.batch, args.checkpoint_every, build,
                 f"log of {args.proof_events:,} events")
            settle(app)
        print_build(args, backend, build, factory)
        proof_lines, queries, checked = measure_proofs(app, reader, args.proof_events, args.proof_samples, rng)
        print_proofs(args, backend, proof_lines, queries, checked)
        print_summary(args, backend, verify, raw, proof_lines, verify_build)
        console.print(f"[dim]check ok: {args.rounds + 1} verifications of {args.events:,} events clean, "
                      f"{verify_build.checkpoints} checkpoint(s) checked each; {checked} proofs verified against "
                      f"the signed root of {args.proof_events:,} events; run took "
                      f"{time.monotonic() - started:.0f} s; load average now "
                      f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}[/]")
        return 0
    except VerificationFailed as e:
        console.print(f"[bold red]FAILED[/]: {e}", highlight=False)
        return 1
    finally:
        if reader is not None:
            reader.close()
        if app is not None:
            app.close()
        backend.teardown()
        shutil.rmtree(audit_dir, ignore_errors=True)


# --- printing --------------------------------------------------------------------------------------


def print_environment(args: argparse.Namespace, backend: Any, app: RealtyLedger, factory: EventFactory,
                      audit_dir: str) -> None:
    rows = [
        ("backend", backend.name),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("versions", ", ".join(f"{p} {importlib_metadata.version(p)}" for p in
                               ("eventsourcing", "psycopg", "cryptography"))),
        ("project code", git_state()),
        ("archive/ code", archive_state()),
        *backend.describe(),
        ("signing keys, journal", f"{audit_dir} (keys/, checkpoints.jsonl; removed at the end)"),
        ("recorder", f"{type(app.recorder).__module__}.{type(app.recorder).__name__}, table "
                     f"{app.recorder.events_table_name}"),
        ("verified log", f"{args.events:,} events; {args.rounds} interleaved rounds (+1 untimed warm-up each)"),
        ("proof log", f"{args.proof_events:,} events; {args.proof_samples} timed calls per proof kind (+20 warm-up)"),
        ("log build", f"app.recorder.insert_events, {args.batch} events per call; index + signed checkpoint "
                      f"every {args.checkpoint_every:,} events"),
        ("events", f"per customer 1 {factory.received.topic} ({len(factory.received.state)} B state) + "
                   f"{factory.per_customer - 1} {factory.raised.topic} ({len(factory.raised.state)} B), "
                   f"copied from real ones with fresh ids"),
        ("verification batch", f"{VERIFY_BATCH} rows per SELECT (archive.verify.BATCH), raw read the same"),
        ("CPUs / load average", f"{os.cpu_count()} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}"),
    ]
    t = Table(title="Environment", show_header=False)
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def print_verification(args: argparse.Namespace, backend: Any, verify: Line, raw: Line, build: Build) -> None:
    t = Table(title=f"Full verification on {backend.name}: events/s over {args.rounds} rounds, "
                    f"log of {args.events:,} events, {build.checkpoints} checkpoint{'s' if build.checkpoints != 1 else ''}")
    for name, justify in (("#", "right"), ("line", "left"), ("median", "right"), ("min", "right"),
                          ("max", "right"), ("µs/event (median)", "right"), ("s per pass (median)", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, line in enumerate((verify, raw), 1):
        t.add_row(str(i), line.label, f"{line.median:,.0f}", f"{min(line.values):,.0f}", f"{max(line.values):,.0f}",
                  f"{1e6 / line.median:.2f}", f"{args.events / line.median:.2f}")
    console.print(t)
    share = verify.median / raw.median
    paired = [v / r for v, r in zip(verify.values, raw.values)]  # same round: same machine weather
    console.print(f"verification / raw read: {share:.2f} of medians; per-round paired {statistics.median(paired):.2f} "
                  f"({min(paired):.2f}–{max(paired):.2f})")


def print_profile(app: RealtyLedger, reader: RawReader, size: int, checkpoints: int) -> None:
    with console.status("profiling verification"):
        stages = stage_costs(app, reader, size, checkpoints)
        hot = profile_verify(app, size, checkpoints)
    t = Table(title=f"Where verification's time goes: each step timed alone over the same {size:,} rows, best of 3 "
                    "(µs per event; the \"of which\" lines are part of the line above them)")
    t.add_column("step")
    t.add_column("µs/event", justify="right")
    for name, us in stages:
        t.add_row(name, f"{us:.2f}")
    console.print(t)
    p = Table(title="cProfile of one app.audit.verify() (µs per event; the profiler inflates small calls)")
    for name, justify in (("function", "left"), ("calls", "right"), ("own µs/event", "right"),
                          ("cumulative µs/event", "right")):
        p.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name, calls, own, cum in hot:
        p.add_row(name, f"{calls:,}", f"{own:.2f}", f"{cum:.2f}")
    console.print(p)


def print_build(args: argparse.Namespace, backend: Any, build: Build, factory: EventFactory) -> None:
    t = Table(title=f"Building the log on {backend.name}: {args.proof_events:,} events "
                    f"(mean state {factory.mean_state:.0f} B)")
    for name, justify in (("step", "left"), ("events", "right"), ("seconds", "right"), ("events/s", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    t.add_row(f"app.recorder.insert_events, {args.batch} per call (chain hashes in the insert; the log's "
              "first 3 events came through the application's commands)",
              f"{build.inserted:,}", f"{build.insert_seconds:.1f}", f"{build.inserted / build.insert_seconds:,.0f}")
    t.add_row("app.audit.index.extend() (Merkle index: leaf + perfect subtree nodes stored)",
              f"{build.indexed:,}", f"{build.index_seconds:.1f}", f"{build.indexed / build.index_seconds:,.0f}")
    t.add_row(f"app.audit.checkpoint() × {build.checkpoints} (sign the root; nothing left to index)", "",
              f"{build.sign_seconds:.2f}", f"{build.sign_seconds / build.checkpoints * 1e3:.1f} ms each")
    console.print(t)


def print_proofs(args: argparse.Namespace, backend: Any, lines: list[Line], queries: dict[str, int],
                 checked: int) -> None:
    t = Table(title=f"Proofs on {backend.name} against the latest checkpoint ({args.proof_events:,} events): "
                    f"ms per call over {args.proof_samples} interleaved calls each")
    for name, justify in (("#", "right"), ("line", "left"), ("median", "right"), ("p90", "right"),
                          ("min", "right"), ("max", "right"), ("SQL statements", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, line in enumerate(lines, 1):
        v = line.values
        t.add_row(str(i), line.label, f"{line.median * 1e3:.3f}", f"{percentile(v, 90) * 1e3:.3f}",
                  f"{min(v) * 1e3:.3f}", f"{max(v) * 1e3:.3f}", str(queries.get(line.key, 1)))
    console.print(t)
    inclusion, consistency, pk_raw, pk_archive = lines
    console.print(f"inclusion = {inclusion.median / pk_archive.median:.1f}× / consistency = "
                  f"{consistency.median / pk_archive.median:.1f}× one archive SELECT "
                  f"({inclusion.median / pk_raw.median:.1f}× / {consistency.median / pk_raw.median:.1f}× a plain "
                  f"driver SELECT); every one of the {checked} proofs verified against the signed root")


def print_summary(args: argparse.Namespace, backend: Any, verify: Line, raw: Line, proofs: list[Line],
                  build: Build) -> None:
    inclusion, consistency = proofs[0], proofs[1]
    share = verify.median / raw.median
    t = Table(title=f"Summary on {backend.name}")
    for name, justify in (("what", "left"), ("measured", "right"), ("target", "right"), ("verdict", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]

    def verdict(ok: bool) -> str:
        return "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"

    t.add_row(f"full verification ÷ raw read of the same rows ({args.events:,} events)",
              f"{share:.2f} ({verify.median:,.0f} vs {raw.median:,.0f} events/s)", f"≥ {TARGET_VERIFY:.2f}",
              verdict(share >= TARGET_VERIFY))
    for line in (inclusion, consistency):
        t.add_row(f"{line.key} proof at {args.proof_events:,} events, median (p90)",
                  f"{line.median * 1e3:.2f} ms ({percentile(line.values, 90) * 1e3:.2f} ms)",
                  f"≤ {TARGET_PROOF_MS:g} ms", verdict(line.median * 1e3 <= TARGET_PROOF_MS))
    console.print(t)
    for what, ok in (("verification", share >= TARGET_VERIFY),
                     ("inclusion proof", inclusion.median * 1e3 <= TARGET_PROOF_MS),
                     ("consistency proof", consistency.median * 1e3 <= TARGET_PROOF_MS)):
        colour = "green" if ok else "red"
        console.print(f"[bold {colour}]{'PASS' if ok else 'FAIL'}[/]: {what} on {backend.name}")


if __name__ == "__main__":
    sys.exit(main())
