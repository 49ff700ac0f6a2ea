"""HTTP command throughput, side by side: the project's API against a bare FastAPI endpoint that
does a bare eventsourcing save, both under a real uvicorn on loopback, on one backend, in one run.

Two servers are started as subprocesses on free ports (one uvicorn worker each):

- **project**: ``realty serve --port P`` on a scratch store prepared by this process through the
  application (C staff members with one token each, 200 customers split between them);
- **bare**: ``benchmarks/bare_api.py`` — ``POST /tickets/{id}/notes`` (a plain ``def``) doing the
  bare library's ``note`` + ``save`` of one event of the same size, no read, no auth, no middleware.

A concurrent client (asyncio, C keep-alive HTTP/1.1 connections, one request in flight per
connection, each connection on its own customers/tickets; a minimal client by default, because
``httpx.AsyncClient`` needs as much CPU per request as the bare server, ``--client httpx``) sends
``POST /customers/{id}/requests`` to the first and ``POST /tickets/{id}/notes`` to the second, in
interleaved rounds. The table gives requests/s (median and min/max across rounds), p50/p99
latency over all timed requests, and where the CPU went. Any non-2xx answer fails the run, and
at the end the events in each store are counted against the acknowledged requests.

Details of what is measured are in ``benchmarks/README.md``; keep the two in step.

    python benchmarks/api.py --backend sqlite
    python benchmarks/api.py --backend postgres --seconds 20 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))  # append.py, next to this file (it puts ROOT on the path itself)

import httpx
from append import (
    SUBJECT,
    BareApp,
    PostgresBackend,
    SqliteBackend,
    Ticket,
    console,
    git_state,
    sample_state_sizes,
    spread,
)
from eventsourcing.application import Application
from rich.table import Table

from service.application import Acting, RealtyLedger
from service.settings import load_settings

TARGET = 0.70  # the project's command rate must be at least this share of the bare endpoint's (both backends)
BODY = json.dumps({"subject": SUBJECT}).encode()
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_KEPT_ERRORS = 5


class BenchFailure(Exception):
    """The run cannot be trusted: a server did not come up, a request failed, a count is off."""


# --- CPU accounting (Linux /proc) -------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system seconds used so far by a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- the two servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn server in a subprocess (one worker, so the pid is the serving process)."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], port: int, ready_path: str,
                 log_dir: str) -> None:
        self.label, self.argv, self.env, self.port, self.ready_path = label, argv, env, port, ready_path
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(log_dir, f"{label}.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BenchFailure(f"the {self.label} server exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if httpx.get(self.base + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BenchFailure(f"the {self.label} server did not answer {self.ready_path} within {timeout:.0f} s:\n"
                           f"{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        self.process = None


def child_env(**extra: str) -> dict[str, str]:
    # Nothing of ours (REALTY_*) or the library's leaks in from the caller's environment.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REALTY_", "POSTGRES_", "SQLITE_", "PERSISTENCE_", "BENCH_"))}
    env.update(extra)
    return env


def realty_argv() -> list[str]:
    script = Path(sys.executable).parent / "realty"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


# --- the client --------------------------------------------------------------------------------


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client connection on asyncio streams.

    httpx's AsyncClient costs ≈2 ms of client CPU per request here, as much as the bare server
    spends answering it; on a 2-core machine that CPU is taken from the servers being measured.
    This client sends the same bytes (method, path, Host, headers, JSON body) for ≈0.1 ms.
    It understands only what uvicorn answers to these routes: a status line, headers, and a body
    of ``content-length`` bytes.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.reader is not None and self.reader.at_eof():
            await self.close()  # the server closed it while idle (uvicorn's keep-alive timeout is 5 s)
        reused = self.writer is not None
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        length_header = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}{length_header}\r\n"
                          .encode("latin-1") + body)
        try:
            status_line = await self.reader.readline()
        except ConnectionResetError:
            status_line = b""
        if not status_line:
            await self.close()
            if reused:  # closed while idle, before any answer: nothing was processed; send it again once
                return await self.request(method, path, body, headers)
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, close = None, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise ConnectionError("answer without Content-Length (not supported by this client)")
        content = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


@dataclass
class Job:
    """One connection's share: its credentials and the records it alone writes to."""

    headers: dict[str, str]
    urls: list[str]
    position: int = 0
    raw: RawConnection | None = None  # with --client raw


@dataclass
class Line:
    key: str
    label: str
    server: Server
    jobs: list[Job]
    idempotency_keys: bool = False
    client: httpx.AsyncClient | None = None
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    timed_requests: int = 0
    acknowledged: int = 0  # every 2xx, warm-up included: what the store must hold at the end
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # seconds per request, per round
    client_cpu: list[float] = field(default_factory=list)
    db_cpu: list[float] = field(default_factory=list)
    machine_busy: list[float] = field(default_factory=list)  # share of all CPUs, per round

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


async def drive(line: Line, seconds: float, each_at_least: int = 0) -> tuple[int, float, list[float]]:
    """Every connection sends requests back to back until ``seconds`` have passed (and it has
    sent at least ``each_at_least``). Returns (acknowledged, wall seconds, latencies)."""
    client = line.client
    ok = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def connection(job: Job) -> None:
        nonlocal ok
        sent = 0
        base_headers = {**job.headers, "Content-Type": "application/json"}
        while sent < each_at_least or time.perf_counter() < deadline:
            url = job.urls[job.position % len(job.urls)]
            job.position += 1
            sent += 1
            headers = ({**base_headers, "Idempotency-Key": uuid.uuid4().hex} if line.idempotency_keys
                       else base_headers)
            t0 = time.perf_counter()
            try:
                if job.raw is not None:
                    status, content = await job.raw.post(url, BODY, headers)
                else:
                    assert client is not None
                    r = await client.post(url, content=BODY, headers=headers)
                    status, content = r.status_code, r.content
            except (httpx.HTTPError, OSError, EOFError, ValueError) as e:  # IncompleteReadError is an EOFError
                line.error_count += 1
                if job.raw is not None:
                    await job.raw.close()
                if len(line.errors) < MAX_KEPT_ERRORS:
                    line.errors.append(f"{url}: {type(e).__name__}: {e}")
                continue
            elapsed = time.perf_counter() - t0
            if 200 <= status < 300:
                ok += 1
                latencies.append(elapsed)
            else:
                line.error_count += 1
                if len(line.errors) < MAX_KEPT_ERRORS:
                    line.errors.append(f"{url}: HTTP {status}: {content[:300].decode(errors='replace')}")

    start = time.perf_counter()
    await asyncio.gather(*(connection(job) for job in line.jobs))
    wall = time.perf_counter() - start
    line.acknowledged += ok
    return ok, wall, latencies


class DbCpu:
    """CPU of the PostgreSQL backends serving the scratch database (None on SQLite)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.conn = None
        if isinstance(backend, PostgresBackend):
            import psycopg

            self.conn = psycopg.connect(backend.pg.conninfo(backend.pg.admin_db), autocommit=True)

    def snapshot(self) -> dict[int, float]:
        if self.conn is None:
            return {}
        rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                 (self.backend.pg.dbname,)).fetchall()
        return {pid: proc_cpu(pid) for (pid,) in rows}

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        # Backends that appeared during the round count from zero; those that left are missed.
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


async def measure(lines: list[Line], args: argparse.Namespace, db: DbCpu) -> None:
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    for line in lines:
        if args.client == "httpx":
            line.client = httpx.AsyncClient(base_url=line.server.base, limits=limits, timeout=60.0, http1=True)
        else:
            for job in line.jobs:
                job.raw = RawConnection("127.0.0.1", line.server.port)
    try:
        with console.status("warming up") as status:
            for line in lines:
                # Every record once (the project's server starts with an empty record cache), then on.
                status.update(f"warming up: {line.label}")
                await drive(line, args.warmup, each_at_least=len(line.jobs[0].urls))
                check_errors(line)
            per_round = args.seconds / args.rounds
            for r in range(args.rounds):
                order = lines if r % 2 == 0 else lines[::-1]  # alternate which line goes first
                for line in order:
                    status.update(f"round {r + 1}/{args.rounds}: {line.label}")
                    db_before, cpu_before = db.snapshot(), proc_cpu(line.server.pid)
                    own_before, (busy0, total0) = own_cpu(), machine_cpu()
                    ok, wall, latencies = await drive(line, per_round)
                    busy1, total1 = machine_cpu()
                    line.client_cpu.append((own_cpu() - own_before) / max(ok, 1))
                    line.server_cpu.append((proc_cpu(line.server.pid) - cpu_before) / max(ok, 1))
                    line.db_cpu.append(db.used(db_before, db.snapshot()) / max(ok, 1))
                    line.machine_busy.append((busy1 - busy0) / max(total1 - total0, 1))
                    line.rates.append(ok / wall)
                    line.latencies.extend(latencies)
                    line.timed_requests += ok
                    check_errors(line)
    finally:
        for line in lines:
            if line.client is not None:
                await line.client.aclose()
            for job in line.jobs:
                if job.raw is not None:
                    await job.raw.close()


def check_errors(line: Line) -> None:
    if line.error_count:
        raise BenchFailure(f"{line.error_count} request(s) of '{line.label}' failed (non-2xx or transport "
                           f"error); first ones:\n  " + "\n  ".join(line.errors)
                           + f"\nserver log tail:\n{line.server.tail()}")


# --- preparing the stores ------------------------------------------------------------------------


def count_events(app: Application[Any]) -> int:
    """Rows in the application's events table (not the head notification id: sequences have gaps)."""
    recorder: Any = app.recorder
    table = recorder.events_table_name
    if app.env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            return int(cursor.fetchone()[0])
    from psycopg.sql import SQL, Identifier

    with recorder.datastore.get_connection() as conn:
        row = conn.execute(SQL("SELECT COUNT(*) AS n FROM {}.{}").format(
            Identifier(recorder.datastore.schema), Identifier(table))).fetchone()
        return int(row["n"])


@dataclass
class Prepared:
    project_jobs: list[Job]
    bare_jobs: list[Job]
    project_events: int  # in the store before the servers start
    bare_events: int
    project_state: int
    bare_state: int


def prepare(backend: Any, customers: int, connections: int) -> Prepared:
    """Staff, tokens and customers through the application; tickets through the bare library."""
    project = RealtyLedger(load_settings(database_url=backend.project_url()))
    bare = BareApp(env=backend.bare_env())
    try:
        bare_state, project_state = sample_state_sizes(bare, project)
        now = datetime.now(UTC)
        project_jobs = []
        for i, k in enumerate(spread(customers, connections)):
            staff = project.register_staff(Acting.system(), name=f"Bench Consultant {i}",
                                           role="property_consultant", team="bench")
            token, _ = project.issue_token(Acting.system(), staff.id, label="api benchmark")
            ids = [project.receive_customer(Acting(staff.id), channel="walk_in",
                                            reception_started_at=now - timedelta(minutes=30),
                                            reception_ended_at=now - timedelta(minutes=5)).id
                   for _ in range(k)]
            project_jobs.append(Job({"Authorization": f"Bearer {token}"},
                                    [f"/customers/{c}/requests" for c in ids]))
        bare_jobs = []
        for k in spread(customers, connections):
            tickets = [Ticket(team="bench") for _ in range(k)]
            bare.save(*tickets)
            bare_jobs.append(Job({}, [f"/tickets/{t.id}/notes" for t in tickets]))
        return Prepared(project_jobs, bare_jobs, project.event_count(), count_events(bare),
                        project_state, bare_state)
    finally:
        # Closed before the servers start: they are then the only ones using the stores.
        project.close()
        bare.close()


# --- the run -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    ap.add_argument("--seconds", type=float, default=10, help="timed seconds per line, split over the rounds (default 10)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (default 5)")
    ap.add_argument("--warmup", type=float, default=2, help="untimed seconds per line before the rounds (default 2)")
    ap.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    ap.add_argument("--customers", type=int, default=200, help="customers (and bare tickets) the requests are spread over")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="raw: a minimal asyncio HTTP/1.1 client (default); httpx: httpx.AsyncClient, "
                         "≈20× the client CPU per request")
    ap.add_argument("--idempotency-keys", action="store_true",
                    help="send a fresh Idempotency-Key with every project request (not the default)")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="database to connect to for CREATE/DROP DATABASE of the scratch database")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database/directory")
    ap.add_argument("--projector", choices=("embedded", "process"), default="embedded",
                    help="embedded: the served process keeps the views (the default setting); process: a "
                         "separate `realty projector` does (REALTY_EMBEDDED_PROJECTOR=false)")
    args = ap.parse_args(argv)
    if not 1 <= args.connections <= args.customers or args.rounds < 1 or args.seconds <= 0:
        ap.error("need 1 ≤ --connections ≤ --customers, --rounds ≥ 1 and --seconds > 0")

    started = time.monotonic()
    backend = PostgresBackend(args.pg_admin_url, args.keep) if args.backend == "postgres" else SqliteBackend(args.keep)
    backend.setup()
    log_dir = tempfile.mkdtemp(prefix="realty-api-bench-logs-")
    servers: list[Server] = []
    db: DbCpu | None = None
    try:
        with console.status("preparing staff, tokens, customers and tickets"):
            prep = prepare(backend, args.customers, args.connections)

        project_port, bare_port = free_port(), free_port()
        project_env = child_env(
            REALTY_DATABASE_URL=backend.project_url(), REALTY_SIGNING_KEYS_DIR=os.path.join(log_dir, "keys"),
            REALTY_CHECKPOINT_JOURNAL=os.path.join(log_dir, "checkpoints.jsonl"),
            REALTY_VIEWS_PATH=os.path.join(log_dir, "views.sqlite3"),
            REALTY_EMBEDDED_PROJECTOR="true" if args.projector == "embedded" else "false")
        if args.projector == "process":  # the views kept by a process of their own, as at scale
            projector = subprocess.Popen([*realty_argv(), "projector"], env=project_env, cwd=ROOT,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            atexit.register(projector.terminate)
        project_server = Server(
            "project", [*realty_argv(), "serve", "--port", str(project_port)],
            # Signing keys and checkpoint journal in the scratch directory, never the checkout's var/.
            project_env,
            project_port, "/readyz", log_dir)
        bare_server = Server(
            "bare", [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "bare_api:create_app",
                     "--factory", "--host", "127.0.0.1", "--port", str(bare_port), "--workers", "1",
                     "--log-level", "warning", "--no-access-log"],
            child_env(BENCH_BARE_ENV=json.dumps(backend.bare_env())), bare_port, "/docs", log_dir)
        servers = [project_server, bare_server]
        with console.status("starting the servers"):
            for s in servers:
                s.start()
            for s in servers:
                s.wait_ready()

        project_line = Line("project", f"project POST /customers/{{id}}/requests"
                            f"{' + Idempotency-Key' if args.idempotency_keys else ''}",
                            project_server, prep.project_jobs, idempotency_keys=args.idempotency_keys)
        bare_line = Line("bare", "bare FastAPI + eventsourcing save, POST /tickets/{id}/notes",
                         bare_server, prep.bare_jobs)
        lines = [project_line, bare_line]
        print_environment(args, backend, prep)

        db = DbCpu(backend)
        failure: BenchFailure | None = None
        try:
            asyncio.run(measure(lines, args, db))
        except BenchFailure as e:
            failure = e
        if all(line.rates for line in lines):
            print_results(args, backend, lines)
        if failure is not None:
            console.print(f"[bold red]FAILED[/]: {failure}", markup=True, highlight=False)
            return 1

        for s in servers:
            s.stop()
        # Every acknowledged request is one event in its store, and nothing else was written.
        project = RealtyLedger(load_settings(database_url=backend.project_url()))
        bare = BareApp(env=backend.bare_env())
        try:
            got_project, got_bare = project.event_count() - prep.project_events, count_events(bare) - prep.bare_events
        finally:
            project.close()
            bare.close()
        ok = got_project == project_line.acknowledged and got_bare == bare_line.acknowledged
        console.print(f"[{'dim' if ok else 'bold red'}]check {'ok' if ok else 'FAILED'}: project "
                      f"{got_project}/{project_line.acknowledged} events/acknowledged requests, bare "
                      f"{got_bare}/{bare_line.acknowledged} (warm-up included); no request failed; "
                      f"run took {time.monotonic() - started:.0f} s[/]")
        return 0 if ok else 1
    except BenchFailure as e:
        console.print(f"[bold red]FAILED[/]: {e}", highlight=False)
        return 1
    finally:
        for s in servers:
            s.stop()
        if db is not None:
            db.close()
        backend.teardown()
        shutil.rmtree(log_dir, ignore_errors=True)


def print_environment(args: argparse.Namespace, backend: Any, prep: Prepared) -> None:
    impl = ("httptools" if importlib.util.find_spec("httptools") else "h11",
            "uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    rows = [
        ("backend", backend.name),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("versions", ", ".join(f"{p} {importlib_metadata.version(p)}" for p in
                               ("eventsourcing", "fastapi", "starlette", "uvicorn", "httpx"))),
        ("uvicorn", f"1 worker per server, http={impl[0]}, loop={impl[1]}, no access log"),
        ("views", "kept in the served process (embedded projector, the default)" if args.projector == "embedded"
         else "kept by a separate `realty projector` process"),
        ("project code", git_state()),
        *backend.describe(),
        ("client", (f"{'asyncio httpx.AsyncClient' if args.client == 'httpx' else 'asyncio raw HTTP/1.1 (RawConnection)'}, "
                   f"{args.connections} keep-alive connections, 1 request in flight each")),
        ("records", (f"{args.customers} customers ({args.connections} consultants, one token each) / "
                    f"{args.customers} bare tickets, each connection on its own share")),
        ("timing", (f"{args.rounds} interleaved rounds × {args.seconds / args.rounds:g} s per line "
                   f"(+{args.warmup:g} s untimed warm-up)")),
        ("event state size", f"project RequestRaised {prep.project_state} B, bare Ticket.Noted {prep.bare_state} B"),
        ("CPUs / load average", f"{os.cpu_count()} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}"),
    ]
    t = Table(title="Environment", show_header=False)
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def print_results(args: argparse.Namespace, backend: Any, lines: list[Line]) -> None:
    t = Table(title=f"HTTP command throughput on {backend.name}: {args.connections} connections, "
                    f"{args.rounds} rounds × {args.seconds / args.rounds:g} s")
    for name, justify in (("line", "left"), ("req/s median", "right"), ("min", "right"), ("max", "right"),
                          ("p50 ms", "right"), ("p99 ms", "right"), ("requests", "right"), ("errors", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for line in lines:
        t.add_row(line.label, f"{line.median:,.0f}", f"{min(line.rates):,.0f}", f"{max(line.rates):,.0f}",
                  f"{percentile(line.latencies, 50) * 1e3:.1f}", f"{percentile(line.latencies, 99) * 1e3:.1f}",
                  f"{line.timed_requests:,}", str(line.error_count))
    console.print(t)

    c = Table(title="Where the CPU went (medians of rounds; µs of CPU per acknowledged request)")
    for name in ("line", "server process", "PostgreSQL backends", "client (this process)", "all CPUs busy"):
        c.add_column(name, justify="left" if name == "line" else "right")
    for line in lines:
        db_text = f"{statistics.median(line.db_cpu) * 1e6:,.0f}" if backend.name == "postgres" else "(in server)"
        c.add_row(line.label, f"{statistics.median(line.server_cpu) * 1e6:,.0f}", db_text,
                  f"{statistics.median(line.client_cpu) * 1e6:,.0f}", f"{statistics.median(line.machine_busy):.0%}")
    console.print(c)

    project, bare = lines
    # Each request adds an event to a customer; say how long those histories were while the clock
    # ran (neither line replays them per request, but a cache miss or a retry would).
    start = 1 + (project.acknowledged - project.timed_requests) / args.customers
    console.print(f"[dim]customer histories during the timed rounds: ≈{start:.0f} → "
                  f"{1 + project.acknowledged / args.customers:.0f} events each (1 at reception, then the requests)[/]")
    share = project.median / bare.median
    paired = [p / b for p, b in zip(project.rates, bare.rates)]  # same round: same machine weather
    console.print(f"project / bare: {share:.2f} of medians; per-round paired {statistics.median(paired):.2f} "
                  f"({min(paired):.2f}–{max(paired):.2f}); p50 latency "
                  f"{percentile(project.latencies, 50) / percentile(bare.latencies, 50):.2f}× the bare one's")
    verdict = "PASS" if share >= TARGET else "FAIL"
    colour = "green" if verdict == "PASS" else "red"
    console.print(f"[bold {colour}]{verdict}[/]: the project's command rate is {share:.0%} of the bare endpoint's "
                  f"on {backend.name} (target ≥ {TARGET:.0%}).")


if __name__ == "__main__":
    sys.exit(main())
