"""Append throughput, side by side: the raw driver floor, the bare eventsourcing library, and this
project's commands with 1 and with 8 writer threads, all on one backend, in one run.

Every line is "events appended per second", measured over several interleaved rounds (the
machine is shared, so each round runs every line once, in a rotating order, and the table shows
the median and the min/max across rounds). What each line does, exactly, is written down in
``benchmarks/README.md``; keep the two in step.

PostgreSQL runs go into a fresh scratch database (``realty_bench_<pid>_<hex>``) that is dropped at
the end, so nothing here touches the ``test`` database that the test suite shares. SQLite runs
go into a scratch directory that is removed at the end.

    python benchmarks/append.py --backend sqlite
    python benchmarks/append.py --backend postgres --events 2000 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate  # noqa: E402
from eventsourcing.persistence import Mapper  # noqa: E402
from eventsourcing.utils import Environment  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from service.application import Acting, RealtyLedger  # noqa: E402
from service.settings import load_settings  # noqa: E402

TARGET = 0.85  # project 1-writer rate must be at least this share of the bare library's (PostgreSQL)
SEALING_TARGET = 0.85  # the project with encryption must keep this share of its rate without it
SUBJECT = "Please send the floor plan and the property-fee schedule"
SCRATCH_TOPIC = "bench.raw.noted"
console = Console(width=int(os.environ.get("COLUMNS", "110")))


# --- the bare library's aggregate: one event shaped like our RequestRaised --------------------


class Ticket(Aggregate):
    """A trivial aggregate whose event carries what our RequestRaised carries (≈500 bytes JSON)."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.notes = 0

    class Noted(Aggregate.Event):
        actor_id: uuid.UUID
        actor_role: str
        on_behalf_of: uuid.UUID | None
        correlation_id: str
        occurred_at: datetime
        request_id: uuid.UUID
        subject: str

        def apply(self, aggregate: Any) -> None:
            aggregate.notes += 1

    def note(self, actor_id: uuid.UUID, subject: str) -> None:
        self.trigger_event(
            self.Noted,
            actor_id=actor_id,
            actor_role="property_consultant",
            on_behalf_of=None,
            correlation_id=uuid.uuid4().hex,
            occurred_at=datetime.now(UTC),
            request_id=uuid.uuid4(),
            subject=subject,
        )


class BareApp(Application[uuid.UUID]):
    """A plain library Application (table ``barebench_events``), library defaults otherwise."""

    name = "BareBench"

    def construct_env(self, name: str, env: Any = None) -> Environment:  # type: ignore[override]
        # Like RealtyLedger: only the settings given here, never os.environ.
        return Environment(name, dict(env or {}))


# --- backends: scratch stores, and the three ways of appending ------------------------------


@dataclass
class PgTarget:
    host: str
    port: int
    user: str
    admin_db: str
    dbname: str = ""

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        p = urlsplit(url)
        return cls(host=p.hostname or "127.0.0.1", port=p.port or 5432, user=p.username or "postgres",
                   admin_db=p.path.lstrip("/") or "postgres")

    def conninfo(self, dbname: str | None = None) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname or self.dbname}"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


class Backend:
    name: str

    def setup(self) -> None: ...
    def teardown(self) -> None: ...
    def describe(self) -> list[tuple[str, str]]: return []
    def raw_writer(self) -> RawWriter: raise NotImplementedError
    def bare_env(self) -> dict[str, str]: raise NotImplementedError
    def project_url(self) -> str: raise NotImplementedError


class RawWriter:
    def append(self, originator_id: uuid.UUID, version: int, state: bytes) -> int: raise NotImplementedError
    def count(self) -> int: raise NotImplementedError
    def close(self) -> None: ...


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, admin_url: str, keep: bool) -> None:
        import psycopg

        self.psycopg = psycopg
        self.pg = PgTarget.from_url(admin_url)
        self.pg.dbname = f"realty_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.keep = keep
        self.server_version = ""

    def setup(self) -> None:
        with self.psycopg.connect(self.pg.conninfo(self.pg.admin_db), autocommit=True) as conn:
            self.server_version = conn.execute("SHOW server_version").fetchone()[0]
            self.sync_commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
            conn.execute(f'CREATE DATABASE "{self.pg.dbname}"')

    def teardown(self) -> None:
        if self.keep:
            console.print(f"[yellow]kept scratch database {self.pg.dbname}[/]")
            return
        with self.psycopg.connect(self.pg.conninfo(self.pg.admin_db), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.pg.dbname}" WITH (FORCE)')

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("PostgreSQL", f"{self.server_version} (synchronous_commit={self.sync_commit})"),
            ("psycopg", importlib_metadata.version("psycopg")),
            ("scratch database", f"{self.pg.dbname} (dropped at the end)" if not self.keep else self.pg.dbname),
        ]

    def raw_writer(self) -> RawWriter:
        return PgRawWriter(self.psycopg, self.pg.conninfo())

    def bare_env(self) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.pg.dbname,
            "POSTGRES_HOST": self.pg.host,
            "POSTGRES_PORT": str(self.pg.port),
            "POSTGRES_USER": self.pg.user,
            "POSTGRES_PASSWORD": "",
            # The same pool size as the project's defaults; everything else stays the library's.
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
        }

    def project_url(self) -> str:
        return self.pg.url


class PgRawWriter(RawWriter):
    """Hand-written psycopg: the library's row shape and table lock, nothing else."""

    def __init__(self, psycopg: Any, conninfo: str) -> None:
        from psycopg import sql

        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.table = "raw_events"
        t = sql.Identifier(self.table)
        self.conn.execute(sql.SQL(
            "CREATE TABLE {t} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        ).format(t=t))
        self.conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {t} (notification_id ASC)").format(t=t))
        self.lock = sql.SQL("LOCK TABLE {t} IN EXCLUSIVE MODE").format(t=t)
        self.insert = sql.SQL(
            "INSERT INTO {t} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) RETURNING notification_id"
        ).format(t=t)
        self.count_sql = sql.SQL("SELECT count(*) FROM {t}").format(t=t)

    def append(self, originator_id: uuid.UUID, version: int, state: bytes) -> int:
        # Pipelined like the library's recorder: BEGIN, LOCK, INSERT go out together, one sync,
        # then COMMIT. One transaction per event.
        conn = self.conn
        with conn.pipeline() as p, conn.transaction(), conn.cursor() as cur:
            cur.execute(self.lock, prepare=True)
            cur.execute(self.insert, (originator_id, version, SCRATCH_TOPIC, state), prepare=True)
            p.sync()
            row = cur.fetchone()
        return row[0]

    def count(self) -> int:
        return self.conn.execute(self.count_sql).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.dir = ""

    def setup(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="realty-bench-")

    def teardown(self) -> None:
        if self.keep:
            console.print(f"[yellow]kept scratch directory {self.dir}[/]")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self) -> list[tuple[str, str]]:
        return [("SQLite", sqlite3.sqlite_version), ("scratch directory", f"{self.dir} (removed at the end)")]

    def raw_writer(self) -> RawWriter:
        return SqliteRawWriter(os.path.join(self.dir, "raw.sqlite3"))

    def bare_env(self) -> dict[str, str]:
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": os.path.join(self.dir, "bare.sqlite3")}

    def project_url(self) -> str:
        return "sqlite:///" + os.path.join(self.dir, "realty.sqlite3")  # absolute: sqlite:////tmp/...


class SqliteRawWriter(RawWriter):
    """Hand-written sqlite3: the library's row shape, WAL mode, one transaction per event."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")  # as the library sets on file databases
        self.conn.execute(
            "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
            "state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        self.insert = "INSERT INTO raw_events VALUES (?,?,?,?)"

    def append(self, originator_id: uuid.UUID, version: int, state: bytes) -> int:
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        cur.execute(self.insert, (originator_id.hex, version, SCRATCH_TOPIC, state))
        rowid = cur.lastrowid  # the notification id, as the library returns it
        cur.execute("COMMIT")
        return rowid

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM raw_events").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


# --- workloads: each prepares untimed, then times exactly `n` appends --------------------------


def spread(n: int, k: int) -> list[int]:
    """n split into k near-equal parts."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


class RawLine:
    label = "raw driver floor, 1 writer"

    def __init__(self, backend: Backend, customers: int, state: bytes) -> None:
        self.writer = backend.raw_writer()
        self.state = state
        self.customers = customers
        self.appended = 0

    def run(self, n: int) -> float:
        ids = [uuid.uuid4() for _ in range(self.customers)]
        versions = [0] * len(ids)
        append, state = self.writer.append, self.state
        start = time.perf_counter()
        for i in range(n):
            j = i % len(ids)
            versions[j] += 1
            append(ids[j], versions[j], state)
        elapsed = time.perf_counter() - start
        self.appended += n
        return elapsed


    def close(self) -> None:
        self.writer.close()


class BareLine:
    def __init__(self, app: BareApp, customers: int, writers: int, read_first: bool = False) -> None:
        self.app = app
        self.customers = customers
        self.writers = writers
        self.read_first = read_first
        self.label = (f"bare eventsourcing, {'get + ' if read_first else ''}save, "
                      f"{writers} writer{'s' if writers > 1 else ''}")
        self.actor = uuid.uuid4()
        self.appended = 0
        self.errors = 0

    def _prepare(self) -> list[list[Ticket]]:
        per = spread(self.customers, self.writers)
        groups = []
        for k in per:
            tickets = [Ticket(team="bench") for _ in range(k)]
            for t in tickets:
                self.app.save(t)
            self.appended += k
            groups.append(tickets)
        return groups

    def _work(self, tickets: list[Ticket], n: int) -> None:
        app, actor, get = self.app, self.actor, self.app.repository.get
        try:
            if self.read_first:  # read-modify-write, like a command: no cache, so a database read
                ids = [t.id for t in tickets]
                for i in range(n):
                    t = get(ids[i % len(ids)])
                    t.note(actor, SUBJECT)
                    app.save(t)
                return
            for i in range(n):
                t = tickets[i % len(tickets)]
                t.note(actor, SUBJECT)
                app.save(t)
        except Exception:
            self.errors += 1
            raise

    def run(self, n: int) -> float:
        groups = self._prepare()
        elapsed = timed_threads([(lambda g=g, k=k: self._work(g, k)) for g, k in zip(groups, spread(n, self.writers))])
        self.appended += n
        return elapsed



class PlainLedger(RealtyLedger):
    """The project with the library's own mapper, in a table of its own: no sealing, nothing encrypted.
    The reference for what encryption at rest costs (never used outside this benchmark)."""

    name = "RealtyPlain"  # table realtyplain_events

    def construct_mapper(self) -> Any:  # type: ignore[override]
        return Mapper(self.construct_transcoder())


class ProjectLine:
    def __init__(self, app: RealtyLedger, staff: list[str], customers: int, writers: int, note: str = "") -> None:
        self.app = app
        self.staff = staff[:writers]
        self.customers = customers
        self.writers = writers
        self.label = f"project RealtyLedger.raise_request{note}, {writers} writer{'s' if writers > 1 else ''}"
        self.errors = 0
        self.appended = 0

    def _prepare(self) -> list[list[str]]:
        now = datetime.now(UTC)
        groups = []
        for staff_id, k in zip(self.staff, spread(self.customers, self.writers)):
            acting = Acting(staff_id)
            groups.append([
                self.app.receive_customer(acting, channel="walk_in",
                                          reception_started_at=now - timedelta(minutes=30),
                                          reception_ended_at=now - timedelta(minutes=5)).id
                for _ in range(k)
            ])
        return groups

    def _work(self, staff_id: str, customer_ids: list[str], n: int) -> None:
        app, acting = self.app, Acting(staff_id)
        try:
            for i in range(n):
                app.raise_request(acting, customer_ids[i % len(customer_ids)], subject=SUBJECT)
        except Exception:
            self.errors += 1
            raise

    def run(self, n: int) -> float:
        groups = self._prepare()
        jobs = [(lambda s=s, g=g, k=k: self._work(s, g, k))
                for s, g, k in zip(self.staff, groups, spread(n, self.writers))]
        elapsed = timed_threads(jobs)
        self.appended += self.customers + n
        return elapsed



def timed_threads(jobs: list[Callable[[], None]]) -> float:
    """Run the jobs (one per thread, or inline if there is one) and return wall seconds."""
    if len(jobs) == 1:
        start = time.perf_counter()
        jobs[0]()
        return time.perf_counter() - start
    barrier = threading.Barrier(len(jobs) + 1)
    failures: list[BaseException] = []

    def body(job: Callable[[], None]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=body, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} writer thread(s) failed: {failures[0]!r}") from failures[0]
    return elapsed


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    key: str
    label: str
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def sample_state_sizes(bare: BareApp, project: RealtyLedger) -> tuple[int, int]:
    t = Ticket(team="bench")
    t.note(uuid.uuid4(), SUBJECT)
    bare_size = len(bare.mapper.to_stored_event(t.collect_events()[-1]).state)
    staff = project.register_staff(Acting.system(), name="Size Probe", role="property_consultant", team="bench")
    now = datetime.now(UTC)
    c = project.receive_customer(Acting(staff.id), channel="walk_in",
                                 reception_started_at=now - timedelta(minutes=30),
                                 reception_ended_at=now - timedelta(minutes=5))
    project.raise_request(Acting(staff.id), c.id, subject=SUBJECT)
    last = project.recorder.select_events(uuid.UUID(c.id), desc=True, limit=1)[0]
    return bare_size, len(last.state)


def git_state() -> str:
    """The commit measured, and whether service/ or domain/ had uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "service", "domain"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head}" + (" + uncommitted changes in service/ or domain/" if dirty else "")


def settings_diff(project: Application[Any], bare: Application[Any]) -> str:
    """The persistence settings that can differ between the two applications (unset = library default)."""
    keys = ("POSTGRES_PRE_PING", "POSTGRES_LOCK_TIMEOUT", "POSTGRES_POOL_SIZE", "POSTGRES_MAX_OVERFLOW",
            "SQLITE_LOCK_TIMEOUT", "AGGREGATE_CACHE_MAXSIZE")
    backend_prefix = "POSTGRES_" if project.env.get("PERSISTENCE_MODULE", "").endswith("postgres") else "SQLITE_"
    parts = []
    for k in keys:
        if k.startswith(("POSTGRES_", "SQLITE_")) and not k.startswith(backend_prefix):
            continue
        p, b = project.env.get(k) or "unset", bare.env.get(k) or "unset"
        parts.append(f"{k.removeprefix(backend_prefix)} {p} vs {b}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    ap.add_argument("--events", type=int, default=1000, help="events appended per line per round (default 1000)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    ap.add_argument("--customers", type=int, default=200, help="aggregates the appends are spread over (default 200)")
    ap.add_argument("--writers", type=int, default=8, help="threads for the concurrent lines (default 8)")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="database to connect to for CREATE/DROP DATABASE of the scratch database")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database/directory")
    args = ap.parse_args(argv)
    if args.events < args.writers or args.customers < args.writers or args.rounds < 1:
        ap.error("need --events and --customers ≥ --writers, and --rounds ≥ 1")

    backend: Backend = PostgresBackend(args.pg_admin_url, args.keep) if args.backend == "postgres" else SqliteBackend(args.keep)
    backend.setup()
    apps: list[Application[Any]] = []
    lines: list[Any] = []
    try:
        bare = BareApp(env=backend.bare_env())
        apps.append(bare)
        project = RealtyLedger(load_settings(database_url=backend.project_url()))
        apps.append(project)
        # Its own checkpoint journal: it is another log in the same database.
        plain_url = backend.project_url()
        if plain_url.startswith("sqlite"):  # SQLite's table is the same whatever the name: a file of its own
            plain_url = plain_url.rsplit("/", 1)[0] + "/plain.sqlite3"
        plain = PlainLedger(load_settings(database_url=plain_url,
                                          checkpoint_journal=Path(tempfile.mkdtemp()) / "plain-checkpoints.jsonl"))
        apps.append(plain)
        bare_size, project_size = sample_state_sizes(bare, project)
        state = b"x" * project_size  # raw rows carry a blob as large as our event's state

        staff = [project.register_staff(Acting.system(), name=f"Bench Consultant {i}",
                                        role="property_consultant", team="bench").id
                 for i in range(args.writers)]
        plain_staff = [plain.register_staff(Acting.system(), name=f"Bench Consultant {i}",
                                            role="property_consultant", team="bench").id for i in range(args.writers)]
        raw = RawLine(backend, args.customers, state)
        lines = [
            ("raw", raw),
            ("bare1", BareLine(bare, args.customers, 1)),
            ("bareget", BareLine(bare, args.customers, 1, read_first=True)),
            ("proj1", ProjectLine(project, staff, args.customers, 1)),
            ("plain1", ProjectLine(plain, plain_staff, args.customers, 1, " without encryption")),
            ("bareN", BareLine(bare, args.customers, args.writers)),
            ("projN", ProjectLine(project, staff, args.customers, args.writers)),
        ]

        env_rows = [
            ("backend", backend.name),
            ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
            ("eventsourcing", importlib_metadata.version("eventsourcing")),
            ("project code", git_state()),
            *backend.describe(),
            ("events per line per round (N)", str(args.events)),
            ("timed rounds", f"{args.rounds} (+1 untimed warm-up)"),
            ("aggregates per round", f"{args.customers} fresh customers/tickets, round-robin"),
            ("concurrent writers", str(args.writers)),
            ("event state size", f"project RequestRaised {project_size} B, bare Ticket.Noted {bare_size} B, raw {len(state)} B"),
            ("library settings, project vs bare", settings_diff(project, bare)),
            ("CPUs / load average", f"{os.cpu_count()} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}"),
        ]
        t = Table(title="Environment", show_header=False)
        for k, v in env_rows:
            t.add_row(k, v)
        console.print(t)

        results = {key: Result(key, line.label) for key, line in lines}
        warm = max(args.writers, min(200, args.events // 5))
        with console.status("warming up") as status:
            for key, line in lines:
                status.update(f"warming up: {line.label}")
                line.run(warm)
            for r in range(args.rounds):
                order = lines[r % len(lines):] + lines[: r % len(lines)]  # rotate to spread drift
                for key, line in order:
                    status.update(f"round {r + 1}/{args.rounds}: {line.label}")
                    results[key].rates.append(args.events / line.run(args.events))

        print_results(args, backend, results)
        # Every append really landed: count what the stores hold against what we asked for.
        ln = dict(lines)
        want_bare = ln["bare1"].appended + ln["bareget"].appended + ln["bareN"].appended
        want_proj = ln["proj1"].appended + ln["projN"].appended + args.writers + 1 + 2  # + staff, size probe
        want_plain = ln["plain1"].appended + args.writers
        got_bare = bare.recorder.max_notification_id() or 0
        got_proj = project.event_count()
        got_plain = plain.event_count()
        ok = (raw.writer.count() == raw.appended and got_bare == want_bare and got_proj == want_proj
              and got_plain == want_plain
              and not any(getattr(line, "errors", 0) for line in ln.values()))
        console.print(f"[dim]check {'ok' if ok else 'FAILED'}: raw {raw.writer.count()}/{raw.appended} rows, "
                      f"bare {got_bare}/{want_bare} events, project {got_proj}/{want_proj} events, "
                      f"project without encryption {got_plain}/{want_plain} events[/]")
        if not ok:
            return 1
    finally:
        for _, line in lines:
            if isinstance(line, RawLine):
                line.close()
        for app in apps:
            app.close()
        backend.teardown()
    return 0


def print_results(args: argparse.Namespace, backend: Backend, results: dict[str, Result]) -> None:
    raw, bare1, bareget, proj1, plain1, bareN, projN = (
        results[k] for k in ("raw", "bare1", "bareget", "proj1", "plain1", "bareN", "projN"))
    t = Table(title=f"Append throughput on {backend.name}: events/s over {args.rounds} rounds of {args.events} events")
    t.add_column("#", justify="right")
    t.add_column("line")
    t.add_column("median", justify="right")
    t.add_column("min", justify="right")
    t.add_column("max", justify="right")
    t.add_column("µs/event (median)", justify="right")
    for i, res in enumerate((raw, bare1, bareget, proj1, plain1, bareN, projN), 1):
        t.add_row(str(i), res.label, f"{res.median:,.0f}", f"{min(res.rates):,.0f}", f"{max(res.rates):,.0f}",
                  f"{1e6 / res.median:,.0f}")
    console.print(t)

    def paired(a: Result, b: Result) -> str:
        rs = [x / y for x, y in zip(a.rates, b.rates)]  # same round, so same machine weather
        return f"{statistics.median(rs):.2f} ({min(rs):.2f}–{max(rs):.2f})"

    r = Table(title="Ratios (of medians; in brackets the per-round paired ratio: median (min–max))")
    r.add_column("ratio")
    r.add_column("of medians", justify="right")
    r.add_column("per-round paired", justify="right")
    for name, a, b in (
        ("project 1 writer / bare library 1 writer", proj1, bare1),
        ("project 1 writer, encrypted / without encryption", proj1, plain1),
        ("project 1 writer / raw floor", proj1, raw),
        ("bare library 1 writer / raw floor", bare1, raw),
        ("project 1 writer / bare library get + save", proj1, bareget),
        (f"project {args.writers} writers / project 1 writer", projN, proj1),
        (f"bare library {args.writers} writers / bare library 1 writer", bareN, bare1),
    ):
        r.add_row(name, f"{a.median / b.median:.2f}", paired(a, b))
    console.print(r)

    sealed = proj1.median / plain1.median
    verdict = "PASS" if sealed >= SEALING_TARGET else "FAIL"
    console.print(f"[bold {'green' if verdict == 'PASS' else 'red'}]{verdict}[/]: with encryption at rest the project "
                  f"keeps {sealed:.0%} of its 1-writer rate without it (target ≥ {SEALING_TARGET:.0%}).")
    share = proj1.median / bare1.median
    verdict = "PASS" if share >= TARGET else "FAIL"
    colour = "green" if verdict == "PASS" else "red"
    if backend.name == "postgres":
        console.print(f"[bold {colour}]{verdict}[/]: project 1-writer rate is {share:.0%} of the bare library's "
                      f"on PostgreSQL (target ≥ {TARGET:.0%}).")
    else:
        console.print(f"[dim]target applies to PostgreSQL only; here the project 1-writer rate is {share:.0%} "
                      f"of the bare library's ({'would pass' if share >= TARGET else 'would fail'} "
                      f"a {TARGET:.0%} target).[/]")


if __name__ == "__main__":
    sys.exit(main())
