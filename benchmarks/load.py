"""Mixed load on two API processes: the highest sustained rate, and the latency at 70 % of it.

The production topology without Docker (``tests/reliability/topology.py``: two ``realty serve``
and two ``realty projector`` processes on one scratch PostgreSQL database) takes an open-loop
load from a generator process of its own (``benchmarks/load_generator.py``): requests leave at a
fixed arrival rate whatever the answers do, spread round-robin over the two APIs, by default half
commands (receive a customer, raise a request, schedule a return visit, each with an
``Idempotency-Key``) and half reads (a customer, a page of the pipeline view). Latency is counted
from when a request was due, so queueing shows (no coordinated omission).

Steps: the generator's own ceiling against ``/healthz``; then a ramp of the offered rate until a
step is no longer sustained (an error, an achieved rate below 95 % of the offered one, or p99 past
``--explode-ms``), refined by bisection; then ``--rounds`` rounds of ``--duration`` seconds at 70 %
of the highest sustained rate, with p50/p99/max and the target (issue 7): p99 < 100 ms. The
reference is ``benchmarks/bare_api.py`` (two processes doing the raw minimum per request: one bare
library save) ramped the same way in the same run. At the end every acknowledged command must be
in the log (and the log may hold nothing else new), or the run exits 1.

Details are in ``benchmarks/README.md``; keep the two in step.

    python benchmarks/load.py                      # ≈ 6-8 min on a quiet 2-core machine
    python benchmarks/load.py --duration 10 --rounds 2 --no-reference
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # api.py and append.py (which puts the checkout on the path)

from api import BenchFailure, DbCpu, Server, child_env, count_events, free_port, machine_cpu, percentile, proc_cpu
from append import BareApp, PostgresBackend, Ticket, console, git_state
from rich.table import Table

from service.application import Acting
from tests.reliability.topology import Topology

TARGET_SHARE = 0.70  # of the highest sustained rate
TARGET_P99 = 0.100  # seconds
SUSTAINED_SHARE = 0.95  # achieved ÷ offered below this: the step is not sustained
# Pools of the API and projector processes (the topology's default is 2 + 4, sized for tests):
# 4 processes × (4 + 6) stays well inside max_connections = 100, which other users share.
POOLS = {"REALTY_POOL_SIZE": "4", "REALTY_POOL_MAX_OVERFLOW": "6"}


# --- the generator process -----------------------------------------------------------------------


class GeneratorProcess:
    """``load_generator.py`` in its own process, driven one JSON line at a time."""

    def __init__(self, setup: dict[str, Any], log_dir: str) -> None:
        self.log = open(os.path.join(log_dir, f"generator-{setup['plan']}.log"), "wb")  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, str(BENCH_DIR / "load_generator.py")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.setup = self.call({"op": "setup", **setup})

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-2000:]
            raise BenchFailure(f"the generator exited ({self.process.returncode}):\n{tail}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call({"op": "quit"})
            except (BenchFailure, BrokenPipeError, json.JSONDecodeError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


# --- one step: a rate for a while, and where the CPU went -----------------------------------------


@dataclass
class StepResult:
    offered: float
    seconds: float
    raw: dict[str, Any]
    cpu: dict[str, float]  # share of one core, per group of processes, over the step
    busy: float  # share of all CPUs
    explode: float

    @property
    def latencies(self) -> list[float]:
        return [x for values in self.raw["latencies"].values() for x in values]

    def kind_latencies(self, kinds: set[str] | None = None) -> list[float]:
        return [x for k, values in self.raw["latencies"].items() if kinds is None or k in kinds for x in values]

    @property
    def achieved(self) -> float:
        return self.raw["ok_in_window"] / self.seconds

    @property
    def errors(self) -> int:
        return int(self.raw["errors"])

    def p(self, q: float, values: list[float] | None = None) -> float:
        values = self.latencies if values is None else values
        return percentile(values, q) if values else float("nan")

    @property
    def why_not(self) -> str:
        """Empty when the step was sustained, else why not."""
        if self.errors:
            return f"{self.errors} errors"
        if self.achieved < SUSTAINED_SHARE * self.offered:
            return f"achieved {self.achieved / self.offered:.0%} of offered"
        if self.p(99) > self.explode:
            return f"p99 > {self.explode * 1e3:.0f} ms"
        return ""

    @property
    def generator_us(self) -> float:
        answered = sum(len(v) for v in self.raw["latencies"].values()) + self.errors
        return self.raw["cpu"] / max(answered, 1) * 1e6


@dataclass
class Measured:
    """The processes whose CPU a step accounts for."""

    groups: dict[str, list[int]]
    db: DbCpu | None = None

    def snapshot(self) -> tuple[dict[str, float], dict[int, float], tuple[float, float], float]:
        cpu = {name: sum(proc_cpu(pid) for pid in pids) for name, pids in self.groups.items()}
        return cpu, (self.db.snapshot() if self.db else {}), machine_cpu(), time.monotonic()


def run_step(gen: GeneratorProcess, measured: Measured, rate: float, seconds: float, explode: float) -> StepResult:
    cpu0, db0, (busy0, total0), t0 = measured.snapshot()
    raw = gen.call({"op": "run", "rate": rate, "duration": seconds})
    cpu1, db1, (busy1, total1), t1 = measured.snapshot()
    wall = max(t1 - t0, 1e-9)
    cpu = {name: (cpu1[name] - cpu0[name]) / wall for name in cpu1}
    if measured.db is not None:
        cpu["PostgreSQL"] = DbCpu.used(db0, db1) / wall
    return StepResult(rate, seconds, raw, cpu, (busy1 - busy0) / max(total1 - total0, 1), explode)


@dataclass
class Ramp:
    label: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def sustained(self) -> list[StepResult]:
        return [s for s in self.steps if not s.why_not]

    @property
    def best(self) -> StepResult | None:
        return max(self.sustained, key=lambda s: s.achieved, default=None)


def ramp(label: str, gen: GeneratorProcess, measured: Measured, start: float, factor: float, seconds: float,
         explode: float, ceiling: float, bisections: int = 2, pause: float = 2.0) -> Ramp:
    """Raise the offered rate by ``factor`` until a rate is not sustained twice in a row, then
    bisect between the last sustained rate and the first one that was not."""
    result = Ramp(label)
    rate, good, bad = start, None, None
    with console.status(f"{label}: ramping") as status:
        while rate <= ceiling:
            status.update(f"{label}: {rate:,.0f} req/s offered")
            step = run_step(gen, measured, rate, seconds, explode)
            result.steps.append(step)
            time.sleep(pause)  # the processes settle (pools, projectors catching up) before the next step
            if step.why_not:
                # On a shared machine one step can be hit by someone else's burst: the rate that ends
                # the ramp must fail twice in a row.
                status.update(f"{label}: {rate:,.0f} req/s offered again (confirming)")
                step = run_step(gen, measured, rate, seconds, explode)
                result.steps.append(step)
                time.sleep(pause)
            if step.why_not:
                bad = rate
                break
            good, rate = rate, rate * factor
        for _ in range(bisections if good is not None and bad is not None else 0):
            assert good is not None and bad is not None
            rate = (good + bad) / 2
            status.update(f"{label}: {rate:,.0f} req/s offered (bisecting)")
            step = run_step(gen, measured, rate, seconds, explode)
            result.steps.append(step)
            time.sleep(pause)
            if step.why_not:
                bad = rate
            else:
                good = rate
    return result


# --- preparing the store -------------------------------------------------------------------------


@dataclass
class Prepared:
    actors: list[dict[str, Any]]
    events: int  # in the log before the API processes start
    topics: dict[str, int]  # the same, per topic


def prepare_project(topology: Topology, managers: int, customers: int) -> Prepared:
    """Customer managers (they may receive, serve and follow up) with a token each, and their customers."""
    topology.prepare()
    assert topology.team is not None
    ledger = topology.open_ledger()
    try:
        now = datetime.now(UTC)
        actors = []
        for i in range(managers):
            staff = ledger.register_staff(Acting.system(), name=f"Load Manager {i}", role="customer_manager",
                                          team=topology.team.name)
            token, _ = ledger.issue_token(Acting.system(), staff.id, label="load benchmark")
            ids = [ledger.receive_customer(Acting(staff.id), channel="walk_in",
                                           reception_started_at=now - timedelta(minutes=30),
                                           reception_ended_at=now - timedelta(minutes=5)).id
                   for _ in range(customers // managers)]
            actors.append({"token": token, "customers": ids})
        events = ledger.event_count()
    finally:
        ledger.close()
    return Prepared(actors, events, events_by_topic(topology))


ACCESS_LOG_READ = "realty.access_log.personal_data_read"
ACCESS_LOG_OPENED = "realty.access_log.opened"


def events_by_topic(topology: Topology) -> dict[str, int]:
    """Events in the log per topic (the topic column is stored in the clear; the state is sealed)."""
    from psycopg.sql import SQL, Identifier

    ledger = topology.open_ledger()
    try:
        recorder: Any = ledger.recorder
        with recorder.datastore.get_connection() as conn:
            rows = conn.execute(SQL("SELECT topic, COUNT(*) AS n FROM {}.{} GROUP BY topic").format(
                Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))).fetchall()
        return {row["topic"]: int(row["n"]) for row in rows}
    finally:
        ledger.close()


def acknowledged_found(topology: Topology, acknowledged: list[tuple[str, int]]) -> int:
    from psycopg.sql import SQL, Identifier

    ledger = topology.open_ledger()
    try:
        recorder: Any = ledger.recorder
        with recorder.datastore.get_connection() as conn:
            row = conn.execute(SQL(
                "SELECT COUNT(*) AS n FROM {}.{} e JOIN unnest(%s::uuid[], %s::bigint[]) AS a(id, v) "
                "ON e.originator_id = a.id AND e.originator_version = a.v").format(
                Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)),
                ([i for i, _ in acknowledged], [v for _, v in acknowledged])).fetchone()
        return int(row["n"])
    finally:
        ledger.close()


def check_log(topology: Topology, before: dict[str, int], steps: list[StepResult], readers: int) -> tuple[bool, str]:
    """Every acknowledged command's event is in the log; the log holds nothing else new but the
    readers' access-log events, one per full customer read that was answered; only requests that
    never got an answer may have left more."""
    acknowledged = [(str(i), int(v)) for s in steps for i, v in s.raw["acknowledged"]]
    unanswered_commands = sum(s.raw["unanswered_commands"] for s in steps)
    reads = sum(s.raw["customer_reads"] for s in steps)
    unanswered_reads = sum(s.raw["unanswered_customer_reads"] for s in steps)
    after = events_by_topic(topology)
    new = {t: n - before.get(t, 0) for t, n in after.items() if n != before.get(t, 0)}
    found = acknowledged_found(topology, acknowledged)
    commands_new = sum(n for t, n in new.items() if not t.startswith("realty.access_log."))
    read_events, opened = new.get(ACCESS_LOG_READ, 0), new.get(ACCESS_LOG_OPENED, 0)
    distinct = len(set(acknowledged))
    ok = (found == distinct == len(acknowledged)
          and distinct <= commands_new <= distinct + unanswered_commands
          and reads <= read_events <= reads + unanswered_reads
          and opened <= 2 * readers)  # one log per reader per day: a run across midnight opens two
    return ok, (f"{found}/{len(acknowledged)} acknowledged commands found in the log, {commands_new} new command "
                f"events (allowed {distinct}–{distinct + unanswered_commands}); {read_events} access-log reads for "
                f"{reads} answered full reads (+ ≤ {unanswered_reads} unanswered), {opened} access logs opened")


# --- the run -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20, help="seconds per round at 70 %% (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds at 70 %% of the maximum (default 3)")
    ap.add_argument("--mix", type=float, default=0.5, help="share of commands, the rest reads (default 0.5)")
    ap.add_argument("--step-seconds", type=float, default=5, help="seconds per ramp step (default 5)")
    ap.add_argument("--start-rate", type=float, default=40, help="first offered rate of a ramp, req/s (default 40)")
    ap.add_argument("--factor", type=float, default=1.3, help="rate multiplier between ramp steps (default 1.3)")
    ap.add_argument("--explode-ms", type=float, default=500, help="p99 above this ends a ramp (default 500)")
    ap.add_argument("--managers", type=int, default=40,
                    help="customer managers, one token each, each on their own customers (default 40)")
    ap.add_argument("--customers", type=int, default=400, help="customers received before the run (default 400)")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="raw: api.py's minimal HTTP/1.1 client (default); httpx: httpx.AsyncClient")
    ap.add_argument("--no-reference", action="store_true", help="skip the bare_api.py reference ramp")
    ap.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                    help="database to connect to for CREATE/DROP DATABASE of the scratch database")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database and the processes' logs")
    args = ap.parse_args(argv)
    if not 0 <= args.mix <= 1 or args.rounds < 1 or args.duration <= 0 or args.factor <= 1 \
            or args.customers < args.managers:
        ap.error("need 0 ≤ --mix ≤ 1, --rounds ≥ 1, --duration > 0, --factor > 1, --customers ≥ --managers")

    started = time.monotonic()
    load_before = os.getloadavg()
    backend = PostgresBackend(args.pg_admin_url, args.keep)
    backend.setup()
    home = tempfile.mkdtemp(prefix="realty-load-bench-")
    topology = Topology(backend.project_url(), Path(home), apis=2, projectors=2, extra_env=POOLS)
    gens: list[GeneratorProcess] = []
    bare_servers: list[Server] = []
    db = DbCpu(backend)
    explode = args.explode_ms / 1e3
    try:
        with console.status("preparing customer managers, tokens and customers"):
            prep = prepare_project(topology, args.managers, args.customers)
        with console.status("starting 2 API and 2 projector processes"):
            topology.start()
        urls = topology.api_urls
        measured = Measured({
            "APIs": [p.popen.pid for p in topology.api_processes if p.popen],
            "projectors": [p.popen.pid for p in topology.projector_processes if p.popen]}, db)
        common = {"urls": urls, "client": args.client, "timeout": 10}

        # 1. The generator's own ceiling: the cheapest answer the APIs give.
        health = GeneratorProcess({"plan": "healthz", **common}, home)
        gens.append(health)
        measured.groups["generator"] = [health.pid]
        healthz = ramp("/healthz", health, measured, 200, 1.5, 3, explode, ceiling=20_000, bisections=0)
        health.close()

        # 2. The project: warm the record caches, find the maximum, then run at 70 % of it.
        gen = GeneratorProcess({"plan": "project", "actors": prep.actors, "mix": args.mix, **common}, home)
        gens.append(gen)
        measured.groups["generator"] = [gen.pid]
        with console.status("warming up: every customer read through each API"):
            failures = gen.call({"op": "warm", "token": topology.tokens["compliance"]})["failures"]
            if failures:
                raise BenchFailure(f"{len(failures)} warm-up reads failed; the first: {failures[0]}")
        warm = run_step(gen, measured, args.start_rate, args.step_seconds, explode)
        project = ramp("project", gen, measured, args.start_rate, args.factor, args.step_seconds, explode,
                       ceiling=20_000)
        steps = [warm, *project.steps]
        best = project.best
        rounds: list[StepResult] = []
        if best is not None:
            rate = TARGET_SHARE * best.achieved
            with console.status(f"{args.rounds} rounds at {rate:,.0f} req/s") as status:
                for r in range(args.rounds):
                    status.update(f"round {r + 1}/{args.rounds} at {rate:,.0f} req/s")
                    rounds.append(run_step(gen, measured, rate, args.duration, explode))
                    time.sleep(2)
        gen.close()
        topology.stop()
        all_steps = [*steps, *rounds]
        log_ok, log_text = check_log(topology, prep.topics, all_steps, len(prep.actors))

        print_environment(args, backend, load_before, prep)
        print_results(args, healthz, project, steps, rounds)

        # 3. The reference: two bare_api.py processes, one bare save per request.
        bare_ok, bare_text = True, ""
        if not args.no_reference:
            reference, bare_ok, bare_text = run_reference(args, backend, home, db, explode, bare_servers, gens)
            print_reference(args, project, reference)
        load_after = os.getloadavg()
        round_errors = sum(s.errors for s in rounds)
        ok = log_ok and bare_ok and best is not None and round_errors == 0
        console.print(f"[{'dim' if ok else 'bold red'}]check {'ok' if ok else 'FAILED'}: project: {log_text}; "
                      f"{round_errors} errors at 70 %{'; bare: ' + bare_text if bare_text else ''}; "
                      f"load average at the end {' '.join(f'{x:.2f}' for x in load_after)}; "
                      f"run took {time.monotonic() - started:.0f} s[/]", highlight=False)
        if not ok:
            for s in all_steps:
                for sample in s.raw["error_samples"]:
                    console.print(f"  {sample}", highlight=False, markup=False)
        return 0 if ok else 1
    except BenchFailure as e:
        console.print(f"[bold red]FAILED[/]: {e}", highlight=False)
        return 1
    finally:
        for g in gens:
            g.close()
        for s in bare_servers:
            s.stop()
        topology.stop()
        db.close()
        backend.teardown()
        if args.keep:
            console.print(f"[yellow]kept the processes' logs in {home}[/]")
        else:
            import shutil

            shutil.rmtree(home, ignore_errors=True)


def run_reference(args: argparse.Namespace, backend: PostgresBackend, home: str, db: DbCpu, explode: float,
                  servers: list[Server], gens: list[GeneratorProcess]) -> tuple[Ramp, bool, str]:
    """Two bare_api.py processes on the same scratch database, each holding its own tickets."""
    per_url = 2000  # more than can be in flight on one URL (at most rate × the 10 s timeout)
    bare = BareApp(env=backend.bare_env())
    try:
        tickets = [[Ticket(team="bench") for _ in range(per_url)] for _ in range(2)]
        for share in tickets:
            bare.save(*share)
        before = count_events(bare)
    finally:
        bare.close()
    for i in range(2):
        port = free_port()
        servers.append(Server(
            f"bare-{i}", [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "bare_api:create_app",
                          "--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                          "--log-level", "warning", "--no-access-log"],
            child_env(BENCH_BARE_ENV=json.dumps(backend.bare_env())), port, "/docs", home))
    with console.status("starting 2 bare_api.py processes"):
        for s in servers:  # one after the other: the library's CREATE TABLE IF NOT EXISTS races with itself
            s.start()
            s.wait_ready()
    # Ticket i's share goes only to the process of the same index: each holds its aggregates in memory.
    gen = GeneratorProcess({"plan": "bare", "urls": [s.base for s in servers], "client": args.client,
                            "tickets": [[str(t.id) for t in share] for share in tickets], "timeout": 10}, home)
    gens.append(gen)
    measured = Measured({"APIs": [s.pid for s in servers], "generator": [gen.pid]}, db)
    result = ramp("bare", gen, measured, args.start_rate, args.factor, args.step_seconds, explode, ceiling=20_000)
    gen.close()
    for s in servers:
        s.stop()
    acknowledged = sum(len(s.raw["acknowledged"]) for s in result.steps)
    unanswered = sum(s.raw["unanswered_commands"] for s in result.steps)
    bare = BareApp(env=backend.bare_env())
    try:
        new = count_events(bare) - before
    finally:
        bare.close()
    ok = acknowledged <= new <= acknowledged + unanswered
    return result, ok, f"{new} new events for {acknowledged} acknowledged notes ({unanswered} unanswered)"


# --- printing ------------------------------------------------------------------------------------


def print_environment(args: argparse.Namespace, backend: PostgresBackend, load_before: tuple[float, ...],
                      prep: Prepared) -> None:
    rows = [
        ("machine", f"{os.cpu_count()} CPUs, shared by the 2 API processes, the 2 projectors, PostgreSQL and the "
                    "generator (and by anything else running: other work on this machine counts too)"),
        ("load average at the start", " ".join(f"{x:.2f}" for x in load_before)),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("versions", ", ".join(f"{p} {importlib_metadata.version(p)}" for p in
                               ("eventsourcing", "fastapi", "uvicorn", "httpx"))),
        ("project code", git_state()),
        *backend.describe(),
        ("topology", "tests/reliability/topology.py: 2 × `realty serve` (1 uvicorn worker each, no embedded "
                     "projector), 2 × `realty projector --no-automations`; pools "
                     f"{POOLS['REALTY_POOL_SIZE']} + {POOLS['REALTY_POOL_MAX_OVERFLOW']} per process"),
        ("generator", f"its own process, open loop (fixed arrival rate, latency from the due time), "
                      f"{'api.py raw HTTP/1.1' if args.client == 'raw' else 'httpx.AsyncClient'} keep-alive "
                      "connections opened as needed, round-robin over the 2 APIs, 10 s timeout"),
        ("mix", f"{args.mix:.0%} commands (receive 20 %, raise request 40 %, return visit 40 %; each with an "
                f"Idempotency-Key), {1 - args.mix:.0%} reads (GET /customers/{{id}} 50 %, "
                "GET /views/pipeline?limit=20 50 %)"),
        ("records", f"{args.managers} customer managers (a token each), {len(prep.actors) * (args.customers // args.managers)} "
                    f"customers received before the run ({prep.events} events); received ones join in"),
        ("ramp", f"from {args.start_rate:g} req/s × {args.factor:g} per step of {args.step_seconds:g} s until a step "
                 f"is not sustained twice in a row (an error, achieved < {SUSTAINED_SHARE:.0%} of offered, or p99 > "
                 f"{args.explode_ms:g} ms), then 2 bisections; maximum = the highest achieved rate of a sustained step"),
        ("at 70 %", f"{args.rounds} rounds × {args.duration:g} s"),
    ]
    t = Table(title="Environment", show_header=False)
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def ms(x: float) -> str:
    return f"{x * 1e3:,.1f}"


def step_table(title: str, steps: list[StepResult], groups: list[str], warm_up: bool = False) -> Table:
    """One row per step; CPU as a share of one core per group of processes over the step."""
    t = Table(title=f"{title}\n(req/s; latency in ms from the due time; gen lag = how late the generator sent; "
                    "CPU in % of one core)")
    for name in ("step", "offered", "achieved", "p50", "p99", "max", "errors", "gen lag", "gen µs/req",
                 *groups, "CPUs busy", "sustained"):
        t.add_column(name, justify="right")
    for i, s in enumerate(steps):
        label = "warm-up" if warm_up and i == 0 else str(i + 1 - warm_up)
        sustained = "—" if label == "warm-up" else "yes" if not s.why_not else f"no: {s.why_not}"
        t.add_row(label, f"{s.offered:,.0f}", f"{s.achieved:,.0f}", ms(s.p(50)), ms(s.p(99)), ms(s.p(100)),
                  str(s.errors), ms(s.raw["max_lateness"]), f"{s.generator_us:,.0f}",
                  *(f"{s.cpu.get(g, 0):.0%}" for g in groups), f"{s.busy:.0%}", sustained)
    return t


def print_results(args: argparse.Namespace, healthz: Ramp, project: Ramp, steps: list[StepResult],
                  rounds: list[StepResult]) -> None:
    groups = ["APIs", "projectors", "PostgreSQL", "generator"]  # keys of StepResult.cpu
    console.print(step_table("The generator's ceiling: GET /healthz on the 2 APIs", healthz.steps,
                             ["APIs", "generator"]))
    h = healthz.best
    if h is not None:
        console.print(f"/healthz: {h.achieved:,.0f} req/s sustained; the generator spent {h.generator_us:,.0f} µs of CPU "
                      f"per request there, so one core of it would send ≈ {1e6 / h.generator_us:,.0f} req/s")
    console.print(step_table("Project, mixed load: ramp", steps, groups, warm_up=True))
    best = project.best
    if best is None:
        console.print("[bold red]no step was sustained: no maximum, nothing run at 70 %[/]")
        return
    console.print(f"maximum sustained: [bold]{best.achieved:,.0f} req/s[/] (offered {best.offered:,.0f}), "
                  f"of which ≈ {best.achieved * args.mix:,.0f} commands/s; generator {best.generator_us:,.0f} µs "
                  f"of CPU per request, {best.cpu.get('generator', 0):.0%} of a core")

    t = Table(title=f"At 70 % of the maximum: {rounds[0].offered:,.0f} req/s offered, {args.rounds} × {args.duration:g} s "
                    "(latency in ms from the due time; CPU in % of one core)")
    for name in ("round", "achieved req/s", "p50 ms", "p99 ms", "max ms", "commands p50/p99", "reads p50/p99",
                 "errors", "APIs", "PostgreSQL", "CPUs busy"):
        t.add_column(name, justify="right")
    commands = {"receive", "raise_request", "return_visit"}
    reads = {"read_customer", "view_list"}
    for i, s in enumerate(rounds, 1):
        c, r = s.kind_latencies(commands), s.kind_latencies(reads)
        t.add_row(str(i), f"{s.achieved:,.0f}", ms(s.p(50)), ms(s.p(99)), ms(s.p(100)),
                  f"{ms(s.p(50, c))} / {ms(s.p(99, c))}", f"{ms(s.p(50, r))} / {ms(s.p(99, r))}", str(s.errors),
                  f"{s.cpu.get('APIs', 0):.0%}", f"{s.cpu.get('PostgreSQL', 0):.0%}", f"{s.busy:.0%}")
    pooled = [x for s in rounds for x in s.latencies]
    p99s = [s.p(99) for s in rounds]
    t.add_row("all", f"{statistics.median(s.achieved for s in rounds):,.0f} (median)", ms(percentile(pooled, 50)),
              ms(percentile(pooled, 99)), ms(max(pooled)), "", "", str(sum(s.errors for s in rounds)), "", "", "")
    console.print(t)
    by_kind = Table(title="At 70 %: latency by request kind (all rounds)")
    for name in ("kind", "requests", "p50 ms", "p99 ms", "max ms"):
        by_kind.add_column(name, justify="right")
    for kind in ("receive", "raise_request", "return_visit", "read_customer", "view_list"):
        values = [x for s in rounds for x in s.raw["latencies"].get(kind, [])]
        if values:
            by_kind.add_row(kind, f"{len(values):,}", ms(percentile(values, 50)), ms(percentile(values, 99)),
                            ms(max(values)))
    console.print(by_kind)

    p99 = percentile(pooled, 99)
    verdict = "PASS" if p99 < TARGET_P99 else "FAIL"
    console.print(f"[bold {'green' if verdict == 'PASS' else 'red'}]{verdict}[/]: p99 {ms(p99)} ms over all "
                  f"{len(pooled):,} answered requests at 70 % of the maximum (per round {ms(min(p99s))}–{ms(max(p99s))} "
                  f"ms); target < {TARGET_P99 * 1e3:.0f} ms.")


def print_reference(args: argparse.Namespace, project: Ramp, reference: Ramp) -> None:
    console.print(step_table("Reference: bare_api.py × 2, POST /tickets/{id}/notes only (one bare save each)",
                             reference.steps, ["APIs", "PostgreSQL", "generator"]))
    best, bare = project.best, reference.best
    if best is not None and bare is not None:
        console.print(f"bare maximum {bare.achieved:,.0f} req/s (all commands); project maximum ÷ bare maximum "
                      f"{best.achieved / bare.achieved:.2f}, project commands/s at its maximum ÷ bare "
                      f"{best.achieved * args.mix / bare.achieved:.2f} (the project's load is {1 - args.mix:.0%} "
                      "reads, which the bare app has no counterpart for)")


if __name__ == "__main__":
    sys.exit(main())
