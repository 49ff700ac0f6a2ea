"""Catch-up rate of every view, side by side: the raw read of the log's rows, our batch runner
(``projections.runner.ProjectionRunner``) building each view from zero, and, on PostgreSQL, the
eventsourcing library's own ``ProjectionRunner`` running the very same projection code one event per
transaction, all over one demo log of (by default) 1,000,000 events, in one run.

The log is built once and kept: ``--store`` (SQLite, default ``var/bench/projections.sqlite3``) or the
database ``realty_bench_projections`` (PostgreSQL, created if missing). A store that already holds
at least ``--events`` events is reused as it is; one that holds fewer is grown. The log is a demo
(``service.demo.load_demo``, written through the application's commands) copied over and over with
every id renamed, so each copy is a new set of staff, customers, listings and deals with the
demo's own consistent history. What each line does, exactly, is written down in
``benchmarks/README.md``; keep the two in step.

    python benchmarks/projections.py --backend sqlite
    python benchmarks/projections.py --backend postgres --events 50000 --views pipeline,service_desk
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import psycopg
from eventsourcing.persistence import StoredEvent
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from projections import tracking
from projections.projection import Projection
from projections.store import Cursor, ViewStore
from service.application import RealtyLedger
from service.projector import all_projections
from service.settings import load_settings

TARGET_RATE = 20_000  # events/s per view on PostgreSQL
TARGET_VS_LIBRARY = 10.0  # our rate ÷ the library runner's, PostgreSQL
LIBRARY_GENERATION = 999  # the library line's own copy of a view's tables
META_TABLE = "bench_projections_meta"
SYSTEM_ACTOR = uuid.UUID(int=0)
COPY_NAMESPACE = uuid.UUID("6f0b7f4e-3c1a-5d2b-9e8f-7a6b5c4d3e2f")
# A UUID inside a stored state: the transcoder's ``uuid_hex`` (32 hex digits) or a UUID the domain
# keeps as text (``listing_id`` in a shortlist's matches), not part of a longer run of hex digits.
UUID_IN_STATE = re.compile(
    rb"(?<![0-9a-f])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})(?![0-9a-f])")
console = Console(width=int(os.environ.get("COLUMNS", "150")))  # the PostgreSQL table has 10 columns


class BenchFailed(Exception):
    pass


# --- the store --------------------------------------------------------------------------------------


@dataclass
class Store:
    backend: str
    url: str  # the project's REALTY_DATABASE_URL
    conninfo: str = ""  # PostgreSQL
    path: Path | None = None  # SQLite log file
    where: str = ""


def open_store(args: argparse.Namespace) -> Store:
    if args.backend == "sqlite":
        path = Path(args.store).resolve()
        if args.fresh and path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                ours = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                    (META_TABLE,)).fetchone()
            conn.close()
            if not ours:
                raise BenchFailed(f"--fresh: {path} was not made by this script (no {META_TABLE} table); "
                                  "not deleting it")
            for p in path.parent.glob(path.stem + "*"):
                p.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        return Store("sqlite", "sqlite:///" + str(path), path=path, where=str(path))
    admin = urlsplit(args.pg_admin_url)
    host, port, user = admin.hostname or "127.0.0.1", admin.port or 5432, admin.username or "postgres"
    with psycopg.connect(host=host, port=port, user=user, dbname=admin.path.lstrip("/") or "postgres",
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.pg_dbname,)).fetchone()
        if args.fresh and exists:
            with psycopg.connect(host=host, port=port, user=user, dbname=args.pg_dbname) as db:
                ours = db.execute("SELECT to_regclass(%s)", (META_TABLE,)).fetchone()[0]
            if not ours:
                raise BenchFailed(f"--fresh: the database {args.pg_dbname} was not made by this script "
                                  f"(no {META_TABLE} table); not dropping it")
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_dbname}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.pg_dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.pg_dbname}"')
    url = f"postgresql://{user}@{host}:{port}/{args.pg_dbname}"
    return Store("postgres", url, conninfo=f"host={host} port={port} user={user} dbname={args.pg_dbname}",
                 where=f"{url} (kept for the next run; --fresh rebuilds it)")


def open_ledger(store: Store, bench_dir: Path) -> RealtyLedger:
    # The project's settings, except: no background checkpoints (nothing here needs them) and the
    # audit files under the bench directory, never the service's own var/keys.
    name = store.path.stem if store.path is not None else "postgres"
    return RealtyLedger(load_settings(
        database_url=store.url, checkpoint_every=0, checkpoint_interval=0, embedded_projector=False,
        signing_keys_dir=bench_dir / "keys", checkpoint_journal=bench_dir / f"{name}-checkpoints.jsonl"))


class Raw:
    """A plain driver connection to the log (autocommit, tuple rows)."""

    def __init__(self, store: Store, table: str) -> None:
        self.sqlite = store.backend == "sqlite"
        self.table = table
        order = "rowid" if self.sqlite else "notification_id"
        self.order = order
        if self.sqlite:
            assert store.path is not None
            self.conn: Any = sqlite3.connect(str(store.path), isolation_level=None)
            p = "?"
        else:
            self.conn = psycopg.connect(store.conninfo, autocommit=True)
            p = "%s"
        # The runner's own columns (projections.log), in pages by id: no topic filter, no decoding.
        self.page_statement = (f"SELECT {order}, position, originator_id, originator_version, topic, state "
                               f"FROM {table} WHERE {order} > {p} ORDER BY {order} LIMIT {p}")
        self.p = p

    def one(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(statement.replace("?", self.p), params).fetchone()

    def all(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(statement.replace("?", self.p), params).fetchall())

    def count(self) -> int:
        return int(self.one(f"SELECT count(*) FROM {self.table}")[0])

    def head_id(self) -> int:
        row = self.one(f"SELECT max({self.order}) FROM {self.table}")
        return int(row[0] or 0)

    def count_upto(self, last_id: int) -> int:
        return int(self.one(f"SELECT count(*) FROM {self.table} WHERE {self.order} <= ?", (last_id,))[0])

    def last_id_of(self, topics: list[str]) -> int:
        marks = ", ".join("?" * len(topics))
        row = self.one(f"SELECT max({self.order}) FROM {self.table} WHERE topic IN ({marks})", tuple(topics))
        return int(row[0] or 0)

    def count_topics_between(self, after: int, upto: int, topics: list[str]) -> int:
        marks = ", ".join("?" * len(topics))
        return int(self.one(f"SELECT count(*) FROM {self.table} WHERE {self.order} > ? AND {self.order} <= ? "
                            f"AND topic IN ({marks})", (after, upto, *topics))[0])

    def topic_counts(self) -> dict[str, int]:
        return {t: int(n) for t, n in self.all(f"SELECT topic, count(*) FROM {self.table} GROUP BY topic")}

    def read_all(self, page: int) -> int:
        """Every row of the log in id order, ``page`` rows per SELECT; returns how many."""
        after, count = 0, 0
        statement = self.page_statement
        if self.sqlite:
            execute = self.conn.execute
            while True:
                rows = execute(statement, (after, page)).fetchall()
                if not rows:
                    return count
                count += len(rows)
                after = rows[-1][0]
        with self.conn.cursor(binary=True) as cur:
            while True:
                cur.execute(statement, (after, page), prepare=True)
                rows = cur.fetchall()
                if not rows:
                    return count
                count += len(rows)
                after = rows[-1][0]

    def meta(self) -> dict[str, str]:
        """What this script noted in the store when it built the log; {} for any other store."""
        if self.sqlite:
            exists = self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (META_TABLE,))
        else:
            exists = self.one("SELECT to_regclass(?)", (META_TABLE,))[0]
        return dict(self.all(f"SELECT key, value FROM {META_TABLE}")) if exists else {}

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.conn.execute(f"INSERT INTO {META_TABLE} (key, value) VALUES ({self.p}, {self.p}) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def close(self) -> None:
        self.conn.close()


# --- 1. the log: a demo, then renamed copies of it --------------------------------------------------


@dataclass
class Generation:
    reused: bool = True
    template_events: int = 0
    template_seconds: float = 0.0
    copied: int = 0
    copy_seconds: float = 0.0
    insert_seconds: float = 0.0
    copies: int = 0


class Copier:
    """Stored events of a template, renamed per copy: every UUID (originator ids and every id
    inside a state, as ``uuid_hex`` or as text) becomes ``uuid5(namespace of the copy, old)``; the
    system actor's nil UUID stays. States are split once at their UUIDs, so a copy only joins."""

    def __init__(self, template: list[Any]) -> None:
        self.events: list[tuple[uuid.UUID, int, str, list[bytes]]] = []
        tokens: set[bytes] = set()
        for n in template:
            parts = UUID_IN_STATE.split(bytes(n.state))
            tokens.update(parts[1::2])
            self.events.append((n.originator_id, n.originator_version, n.topic, parts))
        self.tokens = sorted(tokens)
        self.ids = sorted({oid for oid, _, _, _ in self.events})
        self._k = -1
        self._by_token: dict[bytes, bytes] = {}
        self._by_id: dict[uuid.UUID, uuid.UUID] = {}

    @staticmethod
    def rename(u: uuid.UUID, namespace: uuid.UUID) -> uuid.UUID:
        return u if u == SYSTEM_ACTOR else uuid.uuid5(namespace, u.hex)

    def _names(self, k: int) -> None:
        if k == self._k:
            return
        ns = uuid.uuid5(COPY_NAMESPACE, str(k))
        self._by_id = {u: self.rename(u, ns) for u in self.ids}
        self._by_token = {}
        for token in self.tokens:
            new = self.rename(uuid.UUID(token.decode()), ns)
            self._by_token[token] = (new.hex if len(token) == 32 else str(new)).encode()
        self._k = k

    def copy(self, k: int, start: int, stop: int) -> list[StoredEvent]:
        """Events ``start:stop`` of copy number ``k`` (copy 0 is the template itself)."""
        self._names(k)
        by_token, by_id = self._by_token, self._by_id
        out = []
        for oid, version, topic, parts in self.events[start:stop]:
            state = list(parts)
            for i in range(1, len(state), 2):
                state[i] = by_token[state[i]]
            out.append(StoredEvent(by_id[oid], version, topic, b"".join(state)))
        return out


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[rate]}"),
                    console=console, transient=False)


def ensure_log(ledger: RealtyLedger, raw: Raw, args: argparse.Namespace) -> Generation:
    gen = Generation()
    meta = raw.meta()
    size = raw.count()
    if size and "template_events" not in meta:
        # Never someone's real store: every view of it would be dropped and rebuilt here.
        raise BenchFailed(f"the store holds {size:,} events but was not made by this script "
                          f"(no {META_TABLE} table): give another --store / --pg-dbname")
    if size >= args.events:
        gen.template_events = int(meta.get("template_events", "0"))
        return gen
    gen.reused = False
    if size == 0:
        from service.demo import load_demo

        with progress_bar() as progress:
            task = progress.add_task(f"template: load_demo(customers={args.template_customers}, seed={args.seed})",
                                     total=args.template_customers, rate="through the commands")
            t0 = time.perf_counter()
            load_demo(ledger, customers=args.template_customers, seed=args.seed,
                      progress=lambda k: progress.update(task, completed=k))
            gen.template_seconds = time.perf_counter() - t0
        size = raw.count()
        raw.set_meta("template_events", str(size))
        raw.set_meta("template", f"load_demo(customers={args.template_customers}, seed={args.seed})")
        meta = raw.meta()
    t_size = gen.template_events = int(meta["template_events"])
    template = list(ledger.recorder.select_notifications(start=1, limit=t_size))
    if len(template) != t_size:
        raise BenchFailed(f"the template should be the first {t_size} events, found {len(template)}")
    copier = Copier(template)
    with progress_bar() as progress:
        task = progress.add_task(f"copies of the {t_size:,}-event template, renamed", total=args.events,
                                 completed=size, rate="")
        t0 = time.perf_counter()
        while size < args.events:
            # Copy k fills log rows [k*T, (k+1)*T): a grown store goes on where it stopped.
            k, offset = divmod(size, t_size)
            n = min(args.batch, t_size - offset, args.events - size)
            c0 = time.perf_counter()
            events = copier.copy(k, offset, offset + n)
            c1 = time.perf_counter()
            ledger.recorder.insert_events(events)
            gen.insert_seconds += time.perf_counter() - c1
            gen.copy_seconds += c1 - c0
            gen.copied += n
            size += n
            elapsed = time.perf_counter() - t0
            progress.update(task, completed=size, rate=f"{gen.copied / elapsed:,.0f} events/s")
        gen.copies = -(-size // t_size)
    return gen


def settle(store: Store, raw: Raw) -> None:
    """PostgreSQL: VACUUM (ANALYZE) the log after a bulk build (untimed), so every round reads it in
    its steady state instead of racing autovacuum over freshly written rows."""
    if store.backend != "postgres":
        return
    raw.conn.execute(f"VACUUM (ANALYZE) {raw.table}")


# --- 2. the reference: raw read ---------------------------------------------------------------------


@dataclass
class Line:
    label: str
    values: list[float] = field(default_factory=list)  # seconds per pass
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)


# --- 3. our runner: a fresh build of one view ------------------------------------------------------


def wipe(store: ViewStore, projection: Projection, generations: list[int] | None = None) -> None:
    """Drop a view's tables (every generation, or the ones given) and forget their positions."""
    existing = [t.generation for t in tracking.tracks(store, projection.name)]
    with store.transaction() as cursor:
        if store.backend == "postgres":
            for table in projection.tables:  # the read views point at a generation's tables
                cursor.execute(f"DROP VIEW IF EXISTS {tracking.READ_SCHEMA}.{projection.name}_{table.name}")
        for generation in sorted(set(existing) | set(generations or [])):
            if generations is not None and generation not in generations:
                continue
            for table in projection.tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table.physical(projection.name, generation)}")
            cursor.execute(f"DELETE FROM {tracking.TRACKS} WHERE name = ? AND generation = ?",
                           (projection.name, generation))


def build_views(ledger: RealtyLedger, chosen: list[Projection], head_id: int,
                label: str) -> tuple[float, int, dict[str, int]]:
    """A fresh build from position 0 of the given views with the project's runner (one runner for
    all of them, as the projector runs them); returns (seconds, log rows the runner reported, rows
    now in each view's tables)."""
    store = ledger.views.store
    names = sorted(p.name for p in chosen)
    for p in chosen:
        wipe(store, p)
    runner = ledger.views.make_runner(names)
    try:
        if runner.acquire() != names:
            raise BenchFailed(f"{', '.join(names)}: another process holds a view's lease")
        with progress_bar() as progress:  # refreshed by rich's thread 10×/s: a cost of ours, counted
            task = progress.add_task(label, total=head_id, rate="")
            t0 = time.perf_counter()
            covered = runner.catch_up(progress=lambda upto: progress.update(task, completed=upto))
            seconds = time.perf_counter() - t0
            progress.update(task, rate=f"{head_id / seconds:,.0f} events/s")
        if runner.last_error is not None:
            raise BenchFailed(str(runner.last_error))
        written = {}
        for p in chosen:
            track = tracking.active(store, p.name)
            if track is None or track.last_id != head_id or track.error:
                raise BenchFailed(f"{p.name}: the build stopped at {track} (head {head_id})")
            written[p.name] = sum(
                int(store.query(f"SELECT count(*) FROM {t.physical(p.name, track.generation)}")[0][0])
                for t in p.tables)
        return seconds, covered, written
    finally:
        runner.release()


# --- 4. the library's runner on the same projection code (PostgreSQL) -------------------------------


def library_line(ledger: RealtyLedger, raw: Raw, projection: Projection, seconds: float,
                 warmup: float) -> dict[str, Any]:
    """The library's ``ProjectionRunner`` following the log from the start, for ``warmup`` + ``seconds``;
    returns the log positions its tracking covered per second over the last ``seconds``."""
    from eventsourcing.application import Application
    from eventsourcing.postgres import PostgresTrackingRecorder
    from eventsourcing.projection import Projection as LibraryProjection
    from eventsourcing.projection import ProjectionRunner as LibraryRunner
    from psycopg.rows import dict_row, tuple_row

    from projections.projection import Rows

    class Realty(Application[uuid.UUID]):  # reads the table realty_events, as RealtyLedger writes it
        name = "Realty"

    generation = LIBRARY_GENERATION

    class View(PostgresTrackingRecorder):
        """One event, one transaction: our projection's rows and the library's tracking row."""

        def process(self, event: Any, position: Any) -> None:
            with self.datastore.transaction(commit=True) as curs:
                curs.row_factory = tuple_row  # our Cursor reads tuples; the library's cursors give dicts
                rows = Rows(projection, generation, Cursor("postgres", curs))
                wanted: dict[str, set[str]] = {}
                for table, key in projection.keys(event):
                    wanted.setdefault(table, set()).add(key)
                rows.prefetch(wanted)
                projection.handle(event, rows)
                rows.flush()
                curs.row_factory = dict_row
                self._insert_tracking(curs, position)

    name = f"bench_library_{projection.name}"
    topics = tuple(sorted(projection.topics))

    def process_event(self: Any, domain_event: Any, position: Any) -> None:
        self.view.process(domain_event, position)

    projection_class = type(f"Library_{projection.name}", (LibraryProjection,),
                            {"name": name, "topics": topics, "process_event": process_event})
    views = ledger.views.store
    # Fresh: its own generation of the view's tables, and no tracking row (it starts at the log's start).
    wipe(views, projection, [generation])
    with views.transaction() as cursor:
        for table in projection.tables:
            for statement in table.create_statements(views, table.physical(projection.name, generation)):
                cursor.execute(statement)
        cursor.execute(f"DROP TABLE IF EXISTS {name}_tracking")
    env = ledger.settings.library_env()
    last_event = raw.last_id_of(list(topics))  # the view's last event in the log
    t_start = time.perf_counter()
    with LibraryRunner(application_class=Realty, projection_class=projection_class, view_class=View,
                       env=env) as runner:
        def reached() -> int:
            if runner.is_interrupted.is_set():
                runner.run_forever(0)  # re-raises the processing thread's error
                raise BenchFailed(f"library runner on {projection.name} stopped")
            return runner.view.max_tracking_id("Realty") or 0

        # Sampled 4×/s from the start. The window is the ``seconds`` after the warm-up; on a short log
        # a view with few events can reach its last one early: the window then ends at the first
        # sample that saw it there (≤ 0.25 s late), and starts at the first sample after the
        # warm-up or, if it finished during the warm-up, at the first that saw it moving.
        samples = [(t_start, 0)]
        with progress_bar() as progress:
            task = progress.add_task(f"library ProjectionRunner on {projection.name}", total=warmup + seconds,
                                     rate="")
            while samples[-1][1] < last_event and (now := time.perf_counter()) < t_start + warmup + seconds:
                time.sleep(min(0.25, t_start + warmup + seconds - now))
                samples.append((time.perf_counter(), reached()))
                progress.update(task, completed=min(warmup + seconds, samples[-1][0] - t_start))
        after_warmup = [x for x in samples if x[0] >= t_start + warmup]
        t1, id1 = samples[-1]
        t0, id0 = (after_warmup[0] if len(after_warmup) > 1
                   else next((x for x in samples if x[1] > 0), samples[-1]))
        finished = id1 >= last_event
    runner.view.datastore.close()  # the view's own pool (the runner closes only the application)
    rows0, rows1 = raw.count_upto(id0), raw.count_upto(id1)
    handled = raw.count_topics_between(id0, id1, list(topics))
    with views.transaction() as cursor:  # leave nothing behind
        cursor.execute(f"DROP TABLE IF EXISTS {name}_tracking")
    wipe(views, projection, [generation])
    if t1 <= t0 or rows1 <= rows0:
        raise BenchFailed(f"the library's runner on {projection.name} covered nothing in its window "
                          f"(rows {rows0:,}–{rows1:,}); give it more --library-warmup or --library-seconds")
    return {"rate": (rows1 - rows0) / (t1 - t0), "covered": rows1 - rows0, "seconds": t1 - t0,
            "from": rows0, "to": rows1, "at_head": finished, "handled": handled,
            "handled_rate": handled / (t1 - t0)}


# --- the run ----------------------------------------------------------------------------------------


def handled_by(projection: Projection, topics: dict[str, int]) -> int:
    return sum(n for t, n in topics.items() if t in projection.topics)


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "projections", "service"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" (projections/ or service/ modified in the work tree)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the log (default 1,000,000)")
    ap.add_argument("--views", default="", help="comma-separated view names (default: every view of all_projections())")
    ap.add_argument("--rounds", type=int, default=0,
                    help="timed rounds, each building every view once (default 3, or 1 from 1,000,000 events)")
    ap.add_argument("--no-together", action="store_true",
                    help="skip the line that builds all the chosen views at once in one runner")
    ap.add_argument("--library-seconds", type=float, default=20.0,
                    help="measured seconds of the library's runner per view, PostgreSQL (default 20; 0 skips it)")
    ap.add_argument("--library-warmup", type=float, default=3.0,
                    help="seconds of the library's runner before its measured window (default 3)")
    ap.add_argument("--store", default=str(ROOT / "var" / "bench" / "projections.sqlite3"),
                    help="SQLite log file, kept and reused (default var/bench/projections.sqlite3)")
    ap.add_argument("--pg-dbname", default="realty_bench_projections",
                    help="PostgreSQL database of the log, kept and reused (default realty_bench_projections)")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="where to run CREATE DATABASE (default postgresql://postgres@127.0.0.1:5432/test)")
    ap.add_argument("--fresh", action="store_true", help="throw the kept store away and build the log again")
    ap.add_argument("--template-customers", type=int, default=400, help="customers of the demo copied (default 400)")
    ap.add_argument("--seed", type=int, default=2026, help="seed of the demo (default 2026)")
    ap.add_argument("--batch", type=int, default=1000, help="stored events per insert_events call (default 1000)")
    ap.add_argument("--page", type=int, default=0, help="rows per SELECT of the raw read (default: the runner's batch size)")
    args = ap.parse_args(argv)
    if args.events < 1 or args.rounds < 0 or args.library_seconds < 0 or args.template_customers < 1:
        ap.error("need --events ≥ 1, --rounds ≥ 0, --library-seconds ≥ 0, --template-customers ≥ 1")
    rounds = args.rounds or (1 if args.events >= 1_000_000 else 3)

    available = {p.name: p for p in all_projections()}  # whatever views exist when it runs
    names = [n.strip() for n in args.views.split(",") if n.strip()] or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        ap.error(f"unknown view(s) {', '.join(unknown)}; views: {', '.join(available)}")
    chosen = [available[n] for n in names]
    together = not args.no_together and len(chosen) > 1

    started = time.monotonic()
    bench_dir = ROOT / "var" / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    try:
        store = open_store(args)
    except BenchFailed as e:
        console.print(f"[bold red]FAILED[/]: {e}", highlight=False)
        return 1
    ledger = open_ledger(store, bench_dir)
    raw = Raw(store, ledger.recorder.events_table_name)
    page = args.page or ledger.settings.projection_batch_size
    try:
        gen = ensure_log(ledger, raw, args)
        if not gen.reused:
            with console.status("VACUUM (ANALYZE) of the log (untimed)"):
                settle(store, raw)
        total = raw.count()
        head_id = raw.head_id()
        topics = raw.topic_counts()
        print_environment(args, store, ledger, gen, total, head_id, rounds, chosen, page)
        if not gen.reused:
            print_generation(gen)

        raw_line = Line("raw read")
        lines = {p.name: Line(p.name) for p in chosen}
        all_line = Line(f"all {len(chosen)} views, one runner")

        def raw_pass() -> None:
            with console.status("raw read"):
                t0 = time.perf_counter()
                n = raw.read_all(page)
                raw_line.values.append(time.perf_counter() - t0)
            if n != total:
                raise BenchFailed(f"the raw read saw {n:,} rows, the log holds {total:,}")

        def view_pass(views: list[Projection], line: Line, r: int) -> Callable[[], None]:
            def run() -> None:
                seconds, covered, written = build_views(ledger, views, head_id, f"round {r + 1}/{rounds}: {line.label}")
                line.values.append(seconds)
                line.extra.update(written=sum(written.values()), covered=covered)
            return run

        with console.status("warm-up: one raw read (untimed)"):
            raw.read_all(page)
        for r in range(rounds):
            order = [raw_pass, *(view_pass([p], lines[p.name], r) for p in chosen)]
            if together:
                order.append(view_pass(chosen, all_line, r))
            k = r % len(order)  # rotate: no line always first or last
            for run in order[k:] + order[:k]:
                run()
        library: dict[str, dict[str, Any]] = {}
        if store.backend == "postgres" and args.library_seconds > 0:
            for p in chosen:
                library[p.name] = library_line(ledger, raw, p, args.library_seconds, args.library_warmup)
        print_rounds(store, total, raw_line, [*lines.values(), *([all_line] if together else [])])
        print_results(args, store, total, topics, raw_line, lines, chosen, library, rounds,
                      all_line if together else None)
        ok = print_verdicts(store, total, lines, library)
        console.print(f"[dim]run took {time.monotonic() - started:.0f} s; load average now "
                      f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}[/]")
        return 0 if ok else 1
    except BenchFailed as e:
        console.print(f"[bold red]FAILED[/]: {e}", highlight=False)
        return 1
    finally:
        raw.close()
        ledger.close()


# --- printing ---------------------------------------------------------------------------------------


def print_environment(args: argparse.Namespace, store: Store, ledger: RealtyLedger, gen: Generation, total: int,
                      head_id: int, rounds: int, chosen: list[Projection], page: int) -> None:
    rows = [
        ("backend", store.backend),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("versions", ", ".join(f"{p} {importlib_metadata.version(p)}" for p in ("eventsourcing", "psycopg"))
         + f", SQLite {sqlite3.sqlite_version}"),
        ("project code", git_state()),
        ("log", f"{store.where}; {total:,} events (head id {head_id:,})"
                + ("; reused as it was" if gen.reused else "")),
        ("template", f"the log's first {gen.template_events:,} events (load_demo); the rest are renamed copies"),
        ("views", ", ".join(p.name for p in chosen)),
        ("our runner", (f"projections.runner.ProjectionRunner via ledger.views.make_runner(names), batch "
                        f"{ledger.settings.projection_batch_size} events of its topics; views in "
                        + (str(ledger.settings.views_file) if store.backend == "sqlite" else "the log's database"))),
        ("raw read", (f"plain {'sqlite3' if store.backend == 'sqlite' else 'psycopg (binary, prepared)'}, "
                      f"{page} rows per SELECT, the runner's 6 columns, no decoding")),
        ("rounds", f"{rounds} (each: one raw read + one fresh build of every view, order rotating)"),
        ("CPUs / load average", f"{os.cpu_count()} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}"),
    ]
    if store.backend == "postgres":
        rows.append(("library runner", (f"eventsourcing.projection.ProjectionRunner, {args.library_seconds:g} s "
                                        f"measured after {args.library_warmup:g} s, per view")))
    t = Table(title="Environment", show_header=False)
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def print_generation(gen: Generation) -> None:
    t = Table(title="Building the log (before any timing)")
    for name, justify in (("step", "left"), ("events", "right"), ("seconds", "right"), ("events/s", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    if gen.template_seconds:
        t.add_row("template: load_demo through the commands", f"{gen.template_events:,}",
                  f"{gen.template_seconds:.1f}", f"{gen.template_events / gen.template_seconds:,.0f}")
    if gen.copied:
        t.add_row("copies: rename the ids (Python)", f"{gen.copied:,}", f"{gen.copy_seconds:.1f}",
                  f"{gen.copied / gen.copy_seconds:,.0f}")
        t.add_row("copies: ledger.recorder.insert_events", f"{gen.copied:,}", f"{gen.insert_seconds:.1f}",
                  f"{gen.copied / gen.insert_seconds:,.0f}")
    seconds = gen.template_seconds + gen.copy_seconds + gen.insert_seconds
    made = (gen.template_events if gen.template_seconds else 0) + gen.copied
    t.add_row("[bold]generation in all[/]", f"{made:,}", f"[bold]{seconds:.1f}[/]", f"{made / seconds:,.0f}")
    console.print(t)


def verdict(ok: bool) -> str:
    return "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"


def print_rounds(store: Store, total: int, raw_line: Line, lines: list[Line]) -> None:
    t = Table(title=f"Events/s per round on {store.backend} (log events covered ÷ seconds)")
    t.add_column("line")
    for i in range(len(raw_line.values)):
        t.add_column(f"round {i + 1}", justify="right")
    for line in (raw_line, *lines):
        t.add_row(line.label, *(f"{total / v:,.0f}" for v in line.values))
    console.print(t)


def print_results(args: argparse.Namespace, store: Store, total: int, topics: dict[str, int], raw_line: Line,
                  lines: dict[str, Line], chosen: list[Projection], library: dict[str, dict[str, Any]],
                  rounds: int, all_line: Line | None) -> None:
    pg = store.backend == "postgres"
    raw_rate = total / raw_line.median
    t = Table(title=f"Catch-up from zero on {store.backend}: log of {total:,} events, median of {rounds} "
                    f"round{'s' if rounds != 1 else ''}; events/s = log events covered ÷ seconds")
    cols = [("view", "left"), ("events handled", "right"), ("rows", "right"), ("seconds", "right"),
            ("events/s", "right"), ("÷ raw read", "right")]
    if pg:
        cols += [("library events/s", "right"), ("÷ library", "right"), (f"≥ {TARGET_RATE // 1000}k/s", "left"),
                 (f"≥ {TARGET_VS_LIBRARY:g}× lib.", "left")]
    for name, justify in cols:
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    t.add_row("raw read of every row", f"{total:,}", "", f"{raw_line.median:.2f}", f"{raw_rate:,.0f}", "1",
              *([""] * (4 if pg else 0)))
    for p in chosen:
        line = lines[p.name]
        rate = total / line.median
        row = [p.name, f"{handled_by(p, topics):,}", f"{line.extra.get('written', 0):,}", f"{line.median:.2f}",
               f"{rate:,.0f}", f"{rate / raw_rate:.3f}"]
        if pg:
            lib = library.get(p.name)
            if lib is None or lib["rate"] <= 0:
                row += ["not run" if lib is None else "0", "—", verdict(rate >= TARGET_RATE), "—"]
            else:
                ratio = rate / lib["rate"]
                row += [f"{lib['rate']:,.0f}" + ("*" if lib["at_head"] else ""), f"{ratio:.1f}×",
                        verdict(rate >= TARGET_RATE), verdict(ratio >= TARGET_VS_LIBRARY)]
        t.add_row(*row)
    if all_line is not None:
        rate = total / all_line.median
        handled = sum(n for topic, n in topics.items() if any(topic in p.topics for p in chosen))
        t.add_row(all_line.label, f"{handled:,}", f"{all_line.extra.get('written', 0):,}", f"{all_line.median:.2f}",
                  f"{rate:,.0f}", f"{rate / raw_rate:.3f}", *([""] * (4 if pg else 0)))
    console.print(t)
    if pg and library:
        d = Table(title=f"The library's ProjectionRunner per view: its tracking over the measured "
                        f"{args.library_seconds:g} s (after {args.library_warmup:g} s), and the view's own events")
        for name, justify in (("view", "left"), ("log rows", "right"), ("positions/s", "right"),
                              ("view events", "right"), ("view events/s", "right"), ("ours, view events/s", "right"),
                              ("÷", "right")):
            d.add_column(name, justify=justify)  # type: ignore[arg-type]
        for p in chosen:
            lib = library.get(p.name)
            if lib is None:
                continue
            ours = handled_by(p, topics) / lines[p.name].median
            d.add_row(p.name, f"{lib['from']:,}–{lib['to']:,}", f"{lib['rate']:,.0f}", f"{lib['handled']:,}",
                      f"{lib['handled_rate']:,.0f}", f"{ours:,.0f}",
                      f"{ours / lib['handled_rate']:.1f}×" if lib["handled_rate"] else "—")
        console.print(d)
        if any(lib["at_head"] for lib in library.values()):
            console.print("* the library's runner reached the view's last event in the log before its window ended; "
                          "the window was cut there (sampled 4×/s, so its rate is at most ≈ 0.25 s of waiting low)")
    if not pg:
        console.print("No library line on SQLite: the library's ProjectionRunner cannot follow a SQLite log (its "
                      "SQLite recorder does not implement subscribe()). The targets are PostgreSQL's.")
    elif args.library_seconds <= 0:
        console.print("library runner skipped (--library-seconds 0)")


def print_verdicts(store: Store, total: int, lines: dict[str, Line], library: dict[str, dict[str, Any]]) -> bool:
    if store.backend != "postgres":
        return True
    ok = True
    for name, line in lines.items():
        rate = total / line.median
        good = rate >= TARGET_RATE
        ok &= good
        console.print(f"{verdict(good)}: {name} catch-up {rate:,.0f} events/s (target ≥ {TARGET_RATE:,})")
        lib = library.get(name)
        if lib is not None and lib["rate"] > 0:
            good = rate >= TARGET_VS_LIBRARY * lib["rate"]
            ok &= good
            console.print(f"{verdict(good)}: {name} ÷ library runner {rate / lib['rate']:.1f}× "
                          f"(target ≥ {TARGET_VS_LIBRARY:g}×)")
    return ok


if __name__ == "__main__":
    sys.exit(main())
