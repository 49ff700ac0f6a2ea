"""Does the ledger stay as fast with 10 million events in its PostgreSQL log as with an empty one?

Command latency (p50/p99), loading a customer with 10,000 events (through its snapshots), an
inclusion proof, a consistency proof and a signed checkpoint, and the views catching up on 10,000
new events: each on the big log and on an almost empty scratch log, in interleaved rounds of one
run, with the ratio big ÷ empty. Target: every ratio ≤ 1.2.

The big log is made of the same records as the application makes (the domain's aggregates and
methods), sealed by the application's own mapper with its data keys; by default they are appended by
the bulk builder (``scale_bulk``: generator processes seal, one writer COPYs them in transactions of
50,000 under the log's lock, the chain links computed with ``archive.chain``), or, with
``--build-through-app``, through ``RealtyLedger.save`` 250 events per transaction as before (the
comparison). Either way the log is then indexed for the Merkle tree, a checkpoint is signed, and it
is proved to be a real log before anything is measured: the project's verifier (chain from genesis,
Merkle root against the signed checkpoint), the sealing check (``archive.sealing_check``) over a
sample of rows, records read back through the application; a finding is exit 1. Then every view is
built from zero once (the full-rebuild figure). The log is built once and can be kept (``--keep``)
and used again (``--reuse DBNAME``; a log that was only written, ``--build-only``, is finished
then); its keys live in ``var/bench/scale-DBNAME/``. What each line does, exactly, is written down
in ``benchmarks/README.md``; keep the two in step.

How long (measured 2026-12-07 on the shared 2-core machine): the bulk builder writes ≈ 11,000 events/s
with 2 generator processes under other agents' load, ≈ 30,000 on a quiet machine (through the
application: ≈ 1,600–2,000 loaded, ≈ 9,500 quiet), the Merkle index
≈ 13,000–40,000 events/s, the verifier ≈ 50,000–150,000, every view from zero ≈ 2,000–5,000 with one
process (several processes, each some views, help only while a core is idle: each decodes the log
again). 10,000,000
events: ≈ 15 min to write, ≈ 1 KB per event in the log and keys, ≈ 1.3 h in all with the rounds,
≈ 20 GiB with the Merkle nodes and views; the README has the measured run.

    python benchmarks/scale.py --events 200000 --long-events 2000          # ≈ 4 min
    python benchmarks/scale.py --events 200000 --build-only                 # the build rate alone
    python benchmarks/scale.py --events 200000 --build-only --build-through-app   # the same through save()
    python benchmarks/scale.py --keep                                       # the 10,000,000-event run
    python benchmarks/scale.py --reuse realty_bench_scale_…                 # measure again on a kept log
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import psycopg  # noqa: E402
from append import PgTarget, git_state  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402
from scale_bulk import bulk_write  # noqa: E402

from archive import merkle  # noqa: E402
from archive.chain import event_leaf  # noqa: E402
from domain.customer import Customer  # noqa: E402
from domain.staff import StaffMember  # noqa: E402
from projections import tracking  # noqa: E402
from service.application import Acting, RealtyLedger  # noqa: E402
from service.settings import load_settings  # noqa: E402

TARGET = 1.2  # big log ÷ empty log, per line
META = "bench_scale_meta"
SAMPLE = "bench_scale_customers"
SUBJECT = "请把户型图和物业费标准发给我"
console = Console(width=int(os.environ.get("COLUMNS", "120")))


class BenchFailed(Exception):
    pass


# --- stores ---------------------------------------------------------------------------------------


def bench_dir_of(dbname: str) -> Path:
    """Keys, master keys and the checkpoint journal of a log: kept as long as the log is."""
    return ROOT / "var" / "bench" / f"scale-{dbname}"


def open_ledger(pg: PgTarget, dbname: str, **extra: Any) -> RealtyLedger:
    # The project's settings, except: no background checkpoints (the script makes them), no
    # embedded projector (the script runs it), small pools (shared PostgreSQL), the keys of this
    # log, and what the caller changes (``extra``: snapshot interval, projection batch size).
    where = bench_dir_of(dbname)
    return RealtyLedger(load_settings(
        database_url=f"postgresql://{pg.user}@{pg.host}:{pg.port}/{dbname}", checkpoint_every=0,
        checkpoint_interval=0, embedded_projector=False, pool_size=2, pool_max_overflow=4,
        signing_keys_dir=where / "keys", master_keys_dir=where / "keys" / "master", master_keys=None,
        checkpoint_journal=where / "checkpoints.jsonl", **extra))


def admin(pg: PgTarget) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.conninfo(pg.admin_db), autocommit=True)


def create_database(pg: PgTarget, dbname: str) -> None:
    with admin(pg) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')


def drop_database(pg: PgTarget, dbname: str) -> None:
    with admin(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    shutil.rmtree(bench_dir_of(dbname), ignore_errors=True)


def raw(pg: PgTarget, dbname: str) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.conninfo(dbname), autocommit=True)


# --- writing: records built in memory, saved many per transaction -----------------------------


@dataclass
class WriterPlan:
    dbname: str
    pg: PgTarget
    staff: list[str]
    short_events: int  # events of short customers this writer writes
    long_customers: list[int]  # events of each long customer it writes
    batch: int
    seed: int
    sample: int  # short customer ids it reports, for the command line


@dataclass
class WriterResult:
    events: int = 0
    customers: int = 0
    long_ids: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Writer:
    """Makes customers with the domain's own methods and saves them through ``RealtyLedger.save``."""

    def __init__(self, app: RealtyLedger, staff_ids: list[str], seed: int) -> None:
        self.app = app
        self.rng = random.Random(seed)
        members = [app.repository.get(uuid.UUID(s)) for s in staff_ids]
        self.staff = [(m, m.acting_as(uuid.uuid4().hex)) for m in members if isinstance(m, StaffMember)]
        self.n = 0

    def new_customer(self) -> tuple[Customer, Any]:
        member, actor = self.staff[self.rng.randrange(len(self.staff))]
        start = datetime.now(UTC) - timedelta(days=self.rng.randint(1, 300), minutes=30)
        customer = Customer.receive(channel="walk_in", assigned_to=member.id, assignee_role=member.role_enum,
                                    team=member.team, reception_started_at=start,
                                    reception_ended_at=start + timedelta(minutes=20), actor=actor)
        self.n += 1
        customer.record_personal_details(name=f"客户{self.n}", phone=f"13{self.rng.randrange(10**9):09d}",
                                         id_number=None, actor=actor)
        return customer, actor

    def short(self) -> tuple[Customer, int]:
        """A customer of 3–12 events: received, personal details, needs, then requests and answers."""
        customer, actor = self.new_customer()
        low = self.rng.choice((3_000_000, 4_000_000, 5_000_000))
        customer.record_needs(budget_min=low, budget_max=low + 2_000_000, area_min=60, area_max=110, rooms=2,
                              districts=["浦东"], purpose="home", payment_method="provident_fund",
                              qualification="qualified", actor=actor)
        extra = self.rng.randint(0, 9)
        self.grow(customer, actor, extra)
        return customer, 3 + extra

    def grow(self, customer: Customer, actor: Any, n: int) -> None:
        """``n`` more events: a request, its answer, the next request…"""
        open_request = None
        for _ in range(n):
            if open_request is None:
                open_request = customer.raise_request(subject=SUBJECT, actor=actor)
            else:
                customer.respond_to_request(request_id=open_request, response="已发送", actor=actor)
                open_request = None


def record_batches(writer: Writer, plan: Any, long_ids: list[str],
                   on_short: Callable[[Customer], None]) -> Iterator[tuple[list[Any], int]]:
    """The records of each save (or sealed chunk), with their event count: the long customers'
    events spread over the whole log, the rest filled with short customers (``on_short`` hears of
    each). Both builders, through the application and in bulk, make the log from this."""
    longs: list[list[Any]] = []
    for n in plan.long_customers:
        customer, actor = writer.new_customer()
        longs.append([customer, actor, n - 2])
        long_ids.append(str(customer.id))
    total = plan.short_events + sum(plan.long_customers)
    batches = max(1, -(-total // plan.batch))
    per_batch_long = -(-sum(n for _, _, n in longs) // batches)
    short_left = plan.short_events
    while short_left > 0 or any(left > 0 or c._pending_events for c, _, left in longs):
        records: list[Any] = []
        events, budget = 0, per_batch_long
        for entry in longs:
            customer, actor, left = entry
            take = min(left, budget)
            if take or customer._pending_events:
                writer.grow(customer, actor, take)
                events += len(customer._pending_events)
                records.append(customer)
                entry[2] = left - take
                budget -= take
        while events < plan.batch and short_left > 0:
            customer, n = writer.short()
            records.append(customer)
            events += n
            short_left -= n
            on_short(customer)
        if not records:
            return
        yield records, events


def count_short(tally: Any, sample: int) -> Callable[[Customer], None]:
    """Count a short customer in ``tally`` (``customers``, ``sample``)."""
    def on_short(customer: Customer) -> None:
        tally.customers += 1
        if len(tally.sample) < sample:
            tally.sample.append(str(customer.id))
    return on_short


def write_share(plan: WriterPlan, progress: Any = None) -> WriterResult:
    """One writer's part of the log (run in a process of its own when there are several)."""
    app = open_ledger(plan.pg, plan.dbname)
    result = WriterResult()
    try:
        writer = Writer(app, plan.staff, plan.seed)
        t0 = time.perf_counter()
        for records, events in record_batches(writer, plan, result.long_ids, count_short(result, plan.sample)):
            app.save(*records)
            result.events += events
            if progress is not None:
                progress(events)
        result.seconds = time.perf_counter() - t0
    finally:
        app.close()
    return result


def _child(plan: WriterPlan, queue: Any) -> None:
    try:
        result = write_share(plan, progress=lambda n: queue.put(("events", n)))
        queue.put(("done", result))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        queue.put(("failed", f"{type(e).__name__}: {e}"))


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[rate]}"),
                    console=console, transient=False)


def register_staff(app: RealtyLedger, teams: int = 10, per_team: int = 4) -> list[str]:
    system = Acting.system()
    return [app.register_staff(system, name=f"顾问{t}-{i}", role="property_consultant", team=f"bench-{t}").id
            for t in range(teams) for i in range(per_team)]


def write_log(pg: PgTarget, dbname: str, staff: list[str], *, events: int, long_events: list[int], batch: int,
              writers: int, seed: int, sample: int, label: str) -> tuple[WriterResult, float]:
    """The whole log: ``events`` events in all (the long customers' included); returns the merged
    result and the wall seconds."""
    short = max(0, events - sum(long_events))
    shares = [short // writers + (1 if i < short % writers else 0) for i in range(writers)]
    plans = [WriterPlan(dbname, pg, staff, shares[i], long_events if i == 0 else [], batch, seed + i,
                        sample // writers + 1) for i in range(writers)]
    merged = WriterResult()
    with progress_bar() as bar:
        task = bar.add_task(label, total=events, rate="")
        t0 = time.perf_counter()

        def advance(n: int) -> None:
            bar.advance(task, n)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / max(1e-9, time.perf_counter() - t0):,.0f} events/s")

        if writers == 1:
            results = [write_share(plans[0], progress=advance)]
        else:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            procs = [ctx.Process(target=_child, args=(p, queue)) for p in plans]
            for p in procs:
                p.start()
            results, failures = [], []
            while len(results) + len(failures) < writers:
                kind, value = queue.get()
                if kind == "events":
                    advance(value)
                elif kind == "done":
                    results.append(value)
                else:
                    failures.append(value)
            for p in procs:
                p.join()
            if failures:
                raise BenchFailed(f"a writer process failed: {failures[0]}")
        seconds = time.perf_counter() - t0
    for r in results:
        merged.events += r.events
        merged.customers += r.customers
        merged.long_ids += r.long_ids
        merged.sample += r.sample
    return merged, seconds


# --- a log made ready: written, indexed, projected ----------------------------------------------


@dataclass
class Log:
    label: str
    dbname: str
    app: RealtyLedger
    plain: RealtyLedger  # the same store without snapshots (loads replay every event)
    long_id: str
    long_events: int
    customers: list[str]  # short customers nobody has touched in this process yet
    staff: list[str]
    writer: Writer
    runner: Any = None
    figures: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        if self.runner is not None:
            self.runner.release()
        self.app.close()
        self.plain.close()


def bulk_log(pg: PgTarget, dbname: str, staff: list[str], *, events: int, long_events: list[int],
             args: argparse.Namespace, label: str) -> tuple[WriterResult, float]:
    """The whole log through the bulk builder (``scale_bulk``): the same plans as ``write_log``, one per
    generator process, the rows appended by COPY in transactions of ``--txn-events``."""
    short = max(0, events - sum(long_events))
    g = args.generators
    shares = [short // g + (1 if i < short % g else 0) for i in range(g)]
    plans = [WriterPlan(dbname, pg, staff, shares[i], long_events if i == 0 else [], args.batch, args.seed + i,
                        args.sample // g + 1) for i in range(g)]
    t0, state = time.perf_counter(), {"done": 0, "said": 0}

    def progress(n: int) -> None:  # plain lines: the long run is read from a log file
        state["done"] += n
        if state["done"] - state["said"] >= args.report_every or state["done"] >= events:
            state["said"] = state["done"]
            elapsed = time.perf_counter() - t0
            console.print(f"{label}: {state['done']:,}/{events:,} events appended, {elapsed:,.0f} s, "
                          f"{state['done'] / elapsed:,.0f} events/s", highlight=False)

    r = bulk_write(plans, pg.conninfo(dbname), chunk_events=args.chunk_events, txn_events=args.txn_events,
                   progress=progress)
    return WriterResult(events=r.events, customers=r.customers, long_ids=r.long_ids, sample=r.sample,
                        seconds=r.seconds), r.seconds


def snapshot_long(app: RealtyLedger, long_ids: list[str]) -> float:
    """The snapshot ``save`` would have left last on each long record: at the latest multiple of the interval."""
    t0 = time.perf_counter()
    interval = app.settings.snapshot_interval
    for record in long_ids:
        version = app.repository.get(uuid.UUID(record)).version
        if interval and version >= interval:
            app.take_snapshot(uuid.UUID(record), version=version - version % interval)
    return time.perf_counter() - t0


def index_and_checkpoint(app: RealtyLedger, label: str) -> dict[str, float]:
    """Index the whole log for the Merkle tree and sign a checkpoint of it."""
    t0 = time.perf_counter()
    indexed = app.audit.index.extend()
    seconds = time.perf_counter() - t0
    app.audit.checkpoint()
    console.print(f"{label}: Merkle index of {indexed:,} events in {seconds:,.1f} s ({indexed / seconds:,.0f} events/s), "
                  "checkpoint signed", highlight=False)
    return {"index_s": seconds}


def prove(app: RealtyLedger, label: str, records: list[str], seal_sample: int) -> dict[str, float]:
    """Is what was built a real log? The project's verifier (the chain from genesis, the Merkle root
    against the signed checkpoint), the sealing check (every state, or every k-th for ``seal_sample``
    rows, opens for its own row), and records read back through the application."""
    t0 = time.perf_counter()
    report = app.audit.verify()
    verify_s = time.perf_counter() - t0
    if not report.clean or report.checkpoints_checked < 1:
        raise BenchFailed(f"{label}: the verifier found {len(report.problems)} problem(s), first: "
                          f"{report.first_problem}; checkpoints checked: {report.checkpoints_checked}")
    t1 = time.perf_counter()
    if seal_sample and seal_sample < report.events:
        checked, findings = check_sealed_sample(app, seal_sample)
    else:
        checked, findings = app.check_sealing()
    seal_s = time.perf_counter() - t1
    if findings or checked < min(seal_sample or report.events, report.events):
        raise BenchFailed(f"{label}: the sealing check found {len(findings)} problem(s) in {checked:,} rows, "
                          f"first: {findings[0] if findings else 'too few rows checked'}")
    for record in records:  # the personal fields open too (the sealing check opens only the state)
        customer = app.repository.get(uuid.UUID(record))
        if not isinstance(customer, Customer) or not (customer.name or "").startswith("客户") or customer.version < 3:
            raise BenchFailed(f"{label}: record {record} does not read back as the customer it was written as")
    console.print(f"{label}: verified {report.events:,} events (chain, Merkle root, {report.checkpoints_checked} "
                  f"signed checkpoint(s)) in {verify_s:,.1f} s ({report.events / verify_s:,.0f} events/s); "
                  f"sealing check of {checked:,} rows in {seal_s:,.1f} s: clean; {len(records)} records read back",
                  highlight=False)
    return {"verify_s": verify_s, "seal_s": seal_s}


def check_sealed_sample(app: RealtyLedger, rows: int) -> tuple[int, list[Any]]:
    """``archive.sealing_check`` over every k-th row (a view of the events table in which it runs as it is)."""
    from archive.sealing_check import check_sealed_states
    from archive.sql import Database

    db = Database(app.recorder.datastore)
    step = max(1, app.event_count() // rows)
    view = f"bench_sealing_sample_{os.getpid()}"  # a view in the scratch database, dropped at once
    db.execute(f"CREATE VIEW {view} AS SELECT position, originator_id, originator_version, topic, state "  # noqa: S608
               f"FROM {db.table(app.recorder.events_table_name)} WHERE mod(position, {step}) = 0")
    try:
        return check_sealed_states(db, view, app.data_keys)
    finally:
        db.execute(f"DROP VIEW {view}")


def project(pg: PgTarget, dbname: str, label: str, processes: int, batch: int) -> dict[str, float]:
    """Build every view from zero: one runner holding them all, or the views shared among
    ``processes`` processes (each a runner of its own views, as ``realty projector --only … --once``),
    reading ``batch`` events of the log at a time."""
    app = open_ledger(pg, dbname)
    try:
        head = app.log_head()
        names = sorted(app.views.make_runner().projections)
    finally:
        app.close()
    groups = [names[i::processes] for i in range(max(1, min(processes, len(names))))]
    t0 = time.perf_counter()
    if len(groups) == 1:
        errors = [project_views(pg, dbname, groups[0], batch)]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(len(groups)) as pool:
            errors = pool.starmap(project_views, [(pg, dbname, g, batch) for g in groups])
    seconds = time.perf_counter() - t0
    if any(errors):
        raise BenchFailed(f"{label}: " + "; ".join(e for e in errors if e))
    console.print(f"{label}: every view ({len(names)}) from zero by {len(groups)} process(es) in {seconds:,.1f} s "
                  f"({head / seconds:,.0f} events/s)", highlight=False)
    return {"views_s": seconds}


def project_views(pg: PgTarget, dbname: str, names: list[str], batch: int) -> str:
    """One process's views, caught up to the head; an error as text ('' if none)."""
    app = open_ledger(pg, dbname, projection_batch_size=batch)
    runner = app.views.make_runner(names)
    try:
        if runner.acquire() != sorted(names):
            return f"another process holds one of the views {names}"
        runner.catch_up()
        return str(runner.last_error) if runner.last_error is not None else ""
    finally:
        runner.release()
        app.close()


def vacuum(pg: PgTarget, dbname: str) -> None:
    """Untimed: the rounds read tables in their steady state, not racing autovacuum after a bulk build."""
    with raw(pg, dbname) as conn:
        conn.execute("VACUUM (ANALYZE)")


def set_meta(pg: PgTarget, dbname: str, meta: dict[str, str], sample: list[str]) -> None:
    with raw(pg, dbname) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {META} (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SAMPLE} (customer_id text PRIMARY KEY)")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {META} VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            list(meta.items()))
            cur.executemany(f"INSERT INTO {SAMPLE} VALUES (%s) ON CONFLICT DO NOTHING", [(c,) for c in sample])


def get_meta(pg: PgTarget, dbname: str) -> tuple[dict[str, str], list[str]]:
    with raw(pg, dbname) as conn:
        if conn.execute("SELECT to_regclass(%s)", (META,)).fetchone()[0] is None:
            raise BenchFailed(f"{dbname} was not built by this script (no {META} table)")
        meta = dict(conn.execute(f"SELECT key, value FROM {META}").fetchall())
        sample = [c for (c,) in conn.execute(f"SELECT customer_id FROM {SAMPLE}").fetchall()]
    return meta, sample


def build(pg: PgTarget, dbname: str, args: argparse.Namespace, *, events: int, long_events: list[int],
          label: str, writers: int) -> dict[str, Any]:
    """Write, index, prove, project and vacuum a new log in ``dbname``; returns its figures."""
    app = open_ledger(pg, dbname)  # the keyring is made here, before any writer process opens it
    try:
        staff = register_staff(app)
    finally:
        app.close()
    if args.build_through_app:
        result, seconds = write_log(pg, dbname, staff, events=events - len(staff), long_events=long_events,
                                    batch=args.batch, writers=writers, seed=args.seed, sample=args.sample, label=label)
    else:
        result, seconds = bulk_log(pg, dbname, staff, events=events - len(staff), long_events=long_events,
                                   args=args, label=label)
    figures: dict[str, Any] = {"write_s": seconds, "written": result.events + len(staff)}
    # Noted as soon as the log is written, so that a build stopped later can be finished (--reuse).
    set_meta(pg, dbname, {"events": str(figures["written"]), "long_id": result.long_ids[-1],
                          "long_ids": ",".join(result.long_ids), "long_events": str(long_events[-1]),
                          "staff": ",".join(staff), "write_s": f"{seconds:.1f}", "writers": str(writers),
                          "builder": "through the application" if args.build_through_app else
                          f"bulk COPY, {args.generators} generator process(es)",
                          "batch": str(args.batch), "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                          "code": git_state(), "stage": "written"}, result.sample)
    if not args.build_only:
        figures.update(finish(pg, dbname, args, label))
    return figures


def finish(pg: PgTarget, dbname: str, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """Make a written log ready: the long records' snapshots (bulk), the Merkle index and a signed
    checkpoint, the proof that it is a real log, every view from zero, VACUUM (ANALYZE)."""
    meta, sample = get_meta(pg, dbname)
    long_ids = meta.get("long_ids", meta["long_id"]).split(",")
    figures: dict[str, Any] = {}
    app = open_ledger(pg, dbname)
    try:
        if meta.get("builder", "").startswith("bulk"):  # save() snapshots every 100 events; bulk does it here
            figures["snapshot_s"] = snapshot_long(app, long_ids)
        figures.update(index_and_checkpoint(app, label))
        figures.update(prove(app, label, sample[:50] + long_ids, args.seal_sample))
    finally:
        app.close()
    figures.update(project(pg, dbname, label, args.view_processes, args.rebuild_batch))
    vacuum(pg, dbname)
    set_meta(pg, dbname, {"index_s": f"{figures['index_s']:.1f}", "views_s": f"{figures['views_s']:.1f}",
                          "verify_s": f"{figures['verify_s']:.1f}", "seal_s": f"{figures['seal_s']:.1f}",
                          "view_processes": str(args.view_processes), "rebuild_batch": str(args.rebuild_batch),
                          "stage": "ready"}, [])
    return figures


def open_log(pg: PgTarget, dbname: str, label: str) -> Log:
    meta, sample = get_meta(pg, dbname)
    app = open_ledger(pg, dbname)
    plain = open_ledger(pg, dbname, snapshot_interval=0)
    staff = meta["staff"].split(",")
    random.Random(7).shuffle(sample)
    log = Log(label, dbname, app, plain, meta["long_id"], int(meta["long_events"]), sample, staff,
              Writer(app, staff, seed=99))
    log.runner = app.views.make_runner()
    if log.runner.acquire() != sorted(log.runner.projections):
        raise BenchFailed(f"{label}: another process holds a view's lease")
    return log


# --- the lines: each returns seconds (or a list of them) on one log -------------------------------


def commands(log: Log, n: int) -> list[float]:
    """``n`` commands (``raise_request``), each on a customer this process has never read."""
    if len(log.customers) < n:
        raise BenchFailed(f"{log.label}: only {len(log.customers)} untouched customers left")
    acting = Acting(log.staff[0])
    out = []
    for _ in range(n):
        customer = log.customers.pop()
        t0 = time.perf_counter()
        log.app.raise_request(acting, customer, subject=SUBJECT)
        out.append(time.perf_counter() - t0)
    return out


def load(app: RealtyLedger, record: str, expected: int) -> float:
    t0 = time.perf_counter()
    aggregate = app.repository.get(uuid.UUID(record))
    seconds = time.perf_counter() - t0
    if aggregate.version < expected:
        raise BenchFailed(f"the long customer loaded at version {aggregate.version}, not {expected}")
    return seconds


def proofs(log: Log, n: int, rng: random.Random, kept: list[tuple[str, dict[str, Any]]]) -> tuple[list[float], list[float]]:
    latest = log.app.audit.latest_checkpoint()
    assert latest is not None
    size = latest.tree_size
    inc, con = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        p = log.app.audit.inclusion(rng.randrange(size))
        inc.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        c = log.app.audit.consistency(rng.randint(1, size))
        con.append(time.perf_counter() - t0)
        kept.append(("inclusion", p))
        kept.append(("consistency", c))
    return inc, con


def append_untimed(log: Log, events: int) -> int:
    """About ``events`` new events through ``save`` (short customers, as in the build)."""
    written, records = 0, []
    while written < events:
        customer, n = log.writer.short()
        records.append(customer)
        written += n
        if len(records) >= 200:
            log.app.save(*records)
            records = []
    if records:
        log.app.save(*records)
    return written


def checkpoint(log: Log, new_events: int) -> float:
    append_untimed(log, new_events)
    t0 = time.perf_counter()
    log.app.audit.checkpoint()
    return time.perf_counter() - t0


def catch_up(log: Log, new_events: int) -> tuple[float, int]:
    append_untimed(log, new_events)
    t0 = time.perf_counter()
    handled = log.runner.catch_up()
    seconds = time.perf_counter() - t0
    if log.runner.last_error is not None:
        raise BenchFailed(str(log.runner.last_error))
    return seconds, handled


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Line:
    key: str
    label: str
    unit: str  # "ms" lines are medians of calls per round; "p99" keeps every call
    rounds: dict[str, list[float]] = field(default_factory=lambda: {"big": [], "empty": []})
    calls: dict[str, list[float]] = field(default_factory=lambda: {"big": [], "empty": []})
    info: bool = False  # printed, not held to the target


def ms(x: float) -> str:
    return f"{x * 1000:,.2f}" if x < 10 else f"{x * 1000:,.0f}"


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(big: Log, empty: Log, args: argparse.Namespace) -> tuple[list[Line], dict[str, Any]]:
    lines = {k: Line(k, label, unit, info=info) for k, label, unit, info in (
        ("cmd50", "command raise_request, p50 (cold customer)", "ms", False),
        ("cmd99", "command raise_request, p99 (cold customer)", "ms", False),
        ("load", f"load the long customer, with snapshots (every {big.app.settings.snapshot_interval})", "ms", False),
        ("load_plain", "load the long customer, without snapshots", "ms", True),
        ("inclusion", "inclusion proof of a random event", "ms", False),
        ("consistency", "consistency proof from a random size", "ms", False),
        ("checkpoint", f"sign a checkpoint ({args.checkpoint_events} new events indexed)", "ms", False),
        ("catchup", f"every view catches up on {args.catchup_events:,} new events", "ms", False),
    )}
    rng = random.Random(args.seed)
    kept: dict[str, list[tuple[str, dict[str, Any]]]] = {"big": [], "empty": []}
    handled = {"big": 0, "empty": 0}
    logs = {"big": big, "empty": empty}

    def one_round(which: str, timed: bool) -> None:
        log = logs[which]
        cmd = commands(log, args.commands)
        loads = [load(log.app, log.long_id, log.long_events) for _ in range(args.loads)]
        plain = load(log.plain, log.long_id, log.long_events)
        inc, con = proofs(log, args.proofs, rng, kept[which])
        cps = [checkpoint(log, args.checkpoint_events) for _ in range(3)]
        seconds, n = catch_up(log, args.catchup_events)
        if not timed:
            return
        handled[which] += n
        for key, values in (("cmd50", cmd), ("load", loads), ("load_plain", [plain]), ("inclusion", inc),
                            ("consistency", con), ("checkpoint", cps), ("catchup", [seconds])):
            lines[key].rounds[which].append(statistics.median(values))
            lines[key].calls[which].extend(values)
        lines["cmd99"].calls[which].extend(cmd)
        lines["cmd99"].rounds[which].append(p(cmd, 0.99))

    with console.status("warming up") as status:
        for which in ("big", "empty"):
            status.update(f"warming up: {which} log")
            one_round(which, timed=False)
        for r in range(args.rounds):
            order = ("big", "empty") if r % 2 == 0 else ("empty", "big")
            for which in order:
                status.update(f"round {r + 1}/{args.rounds}: {which} log")
                one_round(which, timed=True)
    return list(lines.values()), {"kept": kept, "handled": handled}


def check(pg: PgTarget, big: Log, empty: Log, extra: dict[str, Any]) -> list[str]:
    """Did the work really happen? Every proof verifies, every view reached the head, the long
    customer is whole. Returns what failed."""
    failures = []
    for which, log in (("big", big), ("empty", empty)):
        latest = log.app.audit.latest_checkpoint()
        assert latest is not None
        h = bytes.fromhex
        with raw(pg, log.dbname) as conn:
            for kind, proof in extra["kept"][which]:
                if kind == "inclusion":
                    row = conn.execute("SELECT originator_id, originator_version, topic, state FROM realty_events "
                                       "WHERE position = %s", (proof["position"],)).fetchone()
                    leaf = event_leaf(row[0], int(row[1]), row[2], bytes(row[3]))
                    root = h(proof["root_hash"])
                    ok = h(proof["leaf_hash"]) == leaf and merkle.verify_inclusion(
                        leaf, proof["position"], proof["tree_size"], [h(x) for x in proof["proof"]], root)
                else:
                    ok = merkle.verify_consistency(proof["first"], proof["second"], h(proof["first_root_hash"]),
                                                   h(proof["second_root_hash"]), [h(x) for x in proof["proof"]])
                if not ok:
                    failures.append(f"{which}: a {kind} proof did not verify")
                    break
        head = log.app.log_head()
        for name in log.runner.projections:
            track = tracking.active(log.app.views.store, name)
            if track is None or track.last_id != head or track.error:
                failures.append(f"{which}: view {name} stopped at {track}, head {head}")
        if extra["handled"][which] <= 0:
            failures.append(f"{which}: the views handled no new events")
        if log.app.repository.get(uuid.UUID(log.long_id)).version < log.long_events:
            failures.append(f"{which}: the long customer is short")
    return failures


def print_results(lines: list[Line], args: argparse.Namespace) -> bool:
    t = Table(title=f"Big log ({args.events:,} events) and empty log: milliseconds, median (min–max) over "
                    f"{args.rounds} rounds")
    for col in ("line", "big log", "empty log", "big ÷ empty (of medians)", "per-round paired", "target"):
        t.add_column(col, justify="left" if col == "line" else "right")
    passed = True
    for line in lines:
        b, e = line.rounds["big"], line.rounds["empty"]
        ratio = statistics.median(b) / statistics.median(e)
        paired = [x / y for x, y in zip(b, e)]
        verdict = "info" if line.info else ("PASS" if ratio <= TARGET else "FAIL")
        passed = passed and (line.info or ratio <= TARGET)
        t.add_row(line.label, f"{ms(statistics.median(b))} ({ms(min(b))}–{ms(max(b))})",
                  f"{ms(statistics.median(e))} ({ms(min(e))}–{ms(max(e))})", f"{ratio:.2f}",
                  f"{statistics.median(paired):.2f} ({min(paired):.2f}–{max(paired):.2f})", verdict)
    console.print(t)
    return passed


def environment(pg: PgTarget, big: str, empty: str, args: argparse.Namespace, built: dict[str, Any],
                meta: dict[str, str]) -> None:
    with admin(pg) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        size = conn.execute("SELECT pg_database_size(%s)", (big,)).fetchone()[0]
    with raw(pg, big) as conn:
        tables = conn.execute(
            "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE relkind = 'r' AND nspname = 'public' ORDER BY 2 DESC LIMIT 4").fetchall()
        snaps = conn.execute("SELECT count(*) FROM realty_snapshots").fetchone()[0] if conn.execute(
            "SELECT to_regclass('realty_snapshots')").fetchone()[0] else 0
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    written = int(meta["events"])
    rows = [
        ("machine", f"{platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, {mem:.1f} GiB RAM"),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("Python / eventsourcing / psycopg", f"{platform.python_version()} / {importlib_metadata.version('eventsourcing')}"
                                             f" / {importlib_metadata.version('psycopg')}"),
        ("PostgreSQL", f"{server} (synchronous_commit={sync})"),
        ("project code", git_state()),
        ("big log", f"{big}: {written:,} events as built ({meta.get('built_at')}, {meta.get('code')}), "
                    f"{'reused' if args.reuse else 'built in this run'}; {size / 2**30:.2f} GiB"),
        ("largest tables", ", ".join(f"{n} {s / 2**30:.2f} GiB" for n, s in tables) + f"; {snaps:,} snapshots"),
        ("empty log", f"{empty}: the same staff, {args.long_events:,}-event customer and untouched customers only"),
        ("long customer", f"{meta['long_events']} events; snapshot interval {args.snapshot_interval}"),
    ]
    if meta.get("write_s") and float(meta["write_s"]):
        w, i, v = (float(meta[k]) for k in ("write_s", "index_s", "views_s"))
        how = meta.get("builder") or f"{meta['writers']} writer(s), {meta['batch']} events per save"
        rows.append(("build", f"{how}: write {written / w:,.0f} events/s ({w:,.0f} s)"
                                               + (f", Merkle index {written / i:,.0f}/s ({i:,.0f} s), every view "
                                                  f"from zero {written / v:,.0f}/s ({v:,.0f} s, "
                                                  f"{meta.get('view_processes', '1')} process(es))" if i and v else "")
                                               + (f", verify {written / float(meta['verify_s']):,.0f}/s"
                                                  if float(meta.get("verify_s") or 0) else "")))
        per = w + (i or 0) + (v or 0)
        rows.append(("10,000,000 events would take", f"≈ {per / written * 1e7 / 60:,.0f} min to build at these rates"))
    t = Table(title="Environment", show_header=False)
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[3:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000, help="events of the big log (default 10,000,000)")
    ap.add_argument("--long-events", type=int, default=10_000, help="events of the long customer (default 10,000)")
    ap.add_argument("--build-through-app", action="store_true",
                    help="build through RealtyLedger.save (the slow path, for comparison) instead of the bulk builder")
    ap.add_argument("--generators", type=int, default=2, help="bulk builder: generator processes (default 2)")
    ap.add_argument("--txn-events", type=int, default=50_000,
                    help="bulk builder: events per COPY transaction (default 50,000)")
    ap.add_argument("--chunk-events", type=int, default=5_000,
                    help="bulk builder: events a generator hands over at a time (default 5,000)")
    ap.add_argument("--report-every", type=int, default=500_000, help="bulk builder: a progress line every N events")
    ap.add_argument("--view-processes", type=int, default=1,
                    help="processes that build the views from zero, each a share of them (default 1)")
    ap.add_argument("--rebuild-batch", type=int, default=load_settings().projection_batch_size,
                    help="events per batch of the views' build from zero (default: the setting's)")
    ap.add_argument("--seal-sample", type=int, default=200_000,
                    help="rows of the big log the sealing check opens, every k-th (0: all; default 200,000)")
    ap.add_argument("--writers", type=int, default=1, help="--build-through-app: writer processes (default 1)")
    ap.add_argument("--batch", type=int, default=250, help="events per save (through the app: one transaction each; "
                                                           "bulk: the same record mix per slice) (default 250)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3, +1 untimed warm-up)")
    ap.add_argument("--commands", type=int, default=200, help="commands per log per round (default 200)")
    ap.add_argument("--loads", type=int, default=5, help="loads of the long customer per log per round (default 5)")
    ap.add_argument("--proofs", type=int, default=100, help="proofs of each kind per log per round (default 100)")
    ap.add_argument("--checkpoint-events", type=int, default=100, help="new events before each timed checkpoint")
    ap.add_argument("--catchup-events", type=int, default=10_000, help="new events the views catch up on per round")
    ap.add_argument("--sample", type=int, default=4000, help="untouched customers noted at the build (default 4000)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--reuse", metavar="DBNAME", help="measure on a big log kept by an earlier run (--keep)")
    ap.add_argument("--build-only", action="store_true", help="write the log and report the write rate, no rounds")
    ap.add_argument("--keep", action="store_true", help="keep the big log (and its keys in var/bench/scale-DBNAME)")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="database to connect to for CREATE/DROP DATABASE")
    args = ap.parse_args(argv)
    args.snapshot_interval = load_settings().snapshot_interval
    need = (args.rounds + 1) * args.commands
    if args.sample < need:
        ap.error(f"--sample must be at least (rounds + 1) × commands = {need}")
    pg = PgTarget.from_url(args.pg_admin_url)
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    big_name = args.reuse or f"realty_bench_scale_{tag}"
    empty_name = f"realty_bench_scale_empty_{tag}"
    made: list[str] = []
    logs: list[Log] = []
    try:
        built: dict[str, Any] = {}
        if not args.reuse:
            create_database(pg, big_name)
            made.append(big_name)
            longs = [max(10, args.events // 1000)] * 5 + [args.long_events]  # a few long ones, one of L events
            built = build(pg, big_name, args, events=args.events, long_events=longs, label="big log",
                          writers=args.writers)
            rate = built["written"] / built["write_s"]
            how = (f"{args.writers} writer(s), {args.batch} per save" if args.build_through_app else
                   f"bulk COPY, {args.generators} generator process(es), {args.txn_events:,} per transaction")
            console.print(f"wrote {built['written']:,} events in {built['write_s']:,.1f} s: {rate:,.0f} events/s "
                          f"({how}); 10,000,000 would take ≈ {1e7 / rate / 60:,.0f} min to write", highlight=False)
            if args.build_only:
                with raw(pg, big_name) as conn:
                    n = conn.execute("SELECT count(*) FROM realty_events").fetchone()[0]
                    size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                console.print(f"check: {n:,} rows in realty_events (wrote {built['written']:,}); "
                              f"database {size / 2**20:,.0f} MiB ({size / max(1, n):,.0f} B/event)")
                return 0 if n == built["written"] else 1
        meta, _ = get_meta(pg, big_name)
        if meta.get("stage", "ready") != "ready":  # written by a run that stopped (or --build-only): finish it
            finish(pg, big_name, args, "big log")
            meta, _ = get_meta(pg, big_name)
        args.events = int(meta["events"])  # as built (the table's title), also when reused
        create_database(pg, empty_name)
        made.append(empty_name)
        build(pg, empty_name, argparse.Namespace(**{**vars(args), "build_only": False}),
              events=int(meta["long_events"]) + need * 12 + 40, long_events=[int(meta["long_events"])],
              label="empty log", writers=1)
        logs = [open_log(pg, big_name, "big"), open_log(pg, empty_name, "empty")]
        environment(pg, big_name, empty_name, args, built, meta)
        counts = {log.label: log.app.event_count() for log in logs}
        lines, extra = measure(logs[0], logs[1], args)
        passed = print_results(lines, args)
        failures = check(pg, logs[0], logs[1], extra)
        grew = {log.label: log.app.event_count() - counts[log.label] for log in logs}
        console.print(f"[dim]check {'ok' if not failures else 'FAILED: ' + '; '.join(failures)}: "
                      f"{sum(len(v) for v in extra['kept'].values()):,} proofs verified, every view at the head, "
                      f"events appended during the rounds: big {grew['big']:,}, empty {grew['empty']:,}[/]")
        colour = "green" if passed else "red"
        console.print(f"[bold {colour}]{'PASS' if passed else 'FAIL'}[/]: every line on the big log within "
                      f"{TARGET}× of the empty log (ratio of medians)")
        return 1 if failures else 0
    except BenchFailed as e:
        console.print(f"[red]failed: {e}[/]")
        return 1
    finally:
        for log in logs:
            log.close()
        for name in made:
            if name == big_name and args.keep:
                console.print(f"[yellow]kept the big log: --reuse {big_name} (keys in {bench_dir_of(big_name)})[/]")
                continue
            drop_database(pg, name)


if __name__ == "__main__":
    sys.exit(main())
