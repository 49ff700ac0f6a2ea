"""The open-loop load generator of ``benchmarks/load.py``, run as a process of its own.

Open loop: request *i* of a step is due at ``t0 + i / rate`` and is sent then, whether or not the
earlier ones have been answered, on an idle keep-alive connection or a new one. Its latency is
measured from the moment it was *due*, not from when it left, so a server (or a generator) that
falls behind shows up in the latency instead of silently lowering the rate (coordinated omission).
The generator says how late it sent (its own lag) and how much CPU it used per request, so a
reader can tell whether it or the service was the limit.

It talks to ``load.py`` over stdin/stdout, one JSON object a line: a ``setup`` message (what to
send where), then one ``run``, ``warm`` or ``quit`` per step; each ``run`` is answered with one
line of results. It prints nothing else on stdout.

Requests of the ``project`` plan: commands (receive a customer, raise a request, schedule a
return visit, each with a fresh ``Idempotency-Key``) and reads (``GET /customers/{id}``,
``GET /views/pipeline?limit=20``), spread round-robin over the API URLs; no two commands on one
customer are in flight at once (the service would retry the lost race; that is contention, not
load). The ``bare`` plan posts ``benchmarks/bare_api.py`` notes, each ticket always to the process
that holds it in memory; the ``healthz`` plan gets ``/healthz``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # api.py sits next to this module

import httpx
from api import RawConnection

SUBJECT = "Please send the floor plan and the property-fee schedule"  # append.py's, the bench's usual body
MAX_KEPT_ERRORS = 5
COMMANDS = ("receive", "raise_request", "return_visit")
# Shares within commands and within reads (the --mix decides commands against reads).
COMMAND_WEIGHTS = {"receive": 0.2, "raise_request": 0.4, "return_visit": 0.4}
READ_WEIGHTS = {"read_customer": 0.5, "view_list": 0.5}


class LoadConnection(RawConnection):
    """``api.py``'s minimal keep-alive HTTP/1.1 client (≈0.1 ms of CPU a request, against ≈2 ms
    for ``httpx.AsyncClient`` here); ``request`` takes any method."""


@dataclass
class Pool:
    """Keep-alive connections to one server: an idle one if there is one, else a new one (up to a cap)."""

    url: str
    client: str
    cap: int
    idle: list[Any] = field(default_factory=list)
    opened: int = 0
    waiters: deque[asyncio.Future[Any]] = field(default_factory=deque)
    httpx_client: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        if self.client == "httpx":
            limits = httpx.Limits(max_connections=self.cap, max_keepalive_connections=self.cap)
            self.httpx_client = httpx.AsyncClient(base_url=self.url, limits=limits, timeout=None)

    async def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.httpx_client is not None:
            r = await self.httpx_client.request(method, path, content=body or None, headers=headers)
            return r.status_code, r.content
        conn = await self._acquire()
        ok = False
        try:
            result = await conn.request(method, path, body, headers)
            ok = True
            return result
        finally:
            if not ok:  # cancelled (timed out) or failed: the connection's state is unknown
                await conn.close()
            self._release(conn)

    async def _acquire(self) -> LoadConnection:
        if self.idle:
            return self.idle.pop()
        if self.opened < self.cap:
            self.opened += 1
            return LoadConnection(self.host, self.port)
        waiter: asyncio.Future[LoadConnection] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    def _release(self, conn: LoadConnection) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    async def close(self) -> None:
        for conn in self.idle:
            await conn.close()
        if self.httpx_client is not None:
            await self.httpx_client.aclose()


@dataclass
class Actor:
    """A customer manager: the token, and the customers they hold (those free of a command in flight)."""

    headers: dict[str, str]
    free: deque[str]
    busy: set[str] = field(default_factory=set)


@dataclass
class Request:
    kind: str
    url: str
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    release: Callable[[], None] | None = None  # gives the record back when the answer is in
    actor: Actor | None = None

    @property
    def is_command(self) -> bool:
        return self.method == "POST"


class Plan:
    """What to send: the next request, and the URL it goes to."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.kind = setup["plan"]
        self.urls: list[str] = setup["urls"]
        self.mix = float(setup.get("mix", 0.5))
        self.rng = random.Random(setup.get("seed", 7))
        self.actors = [Actor({"Authorization": f"Bearer {a['token']}"}, deque(a["customers"]))
                       for a in setup.get("actors", [])]
        # Per URL: the tickets that bare process holds in memory (a ticket never goes elsewhere).
        self.tickets = [deque(t) for t in setup.get("tickets", [])]
        self.sequence = 0

    def customers(self) -> int:
        return sum(len(a.free) + len(a.busy) for a in self.actors)

    def next(self) -> Request:
        i = self.sequence
        self.sequence += 1
        url = self.urls[i % len(self.urls)]
        if self.kind == "healthz":
            return Request("healthz", url, "GET", "/healthz")
        if self.kind == "bare":
            free = self.tickets[i % len(self.urls)]
            ticket = free.popleft()  # load.py gives each URL more tickets than can be in flight
            return Request("note", url, "POST", f"/tickets/{ticket}/notes", json.dumps({"subject": SUBJECT}).encode(),
                           {"Content-Type": "application/json"}, lambda: free.append(ticket))
        actor = self.actors[i % len(self.actors)]
        weights = COMMAND_WEIGHTS if self.rng.random() < self.mix else READ_WEIGHTS
        kind = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        if kind != "receive" and kind != "view_list" and not actor.free:
            kind = "receive" if kind in COMMANDS else "view_list"  # all of this actor's customers are busy
        request = Request(kind, url, "POST" if kind in COMMANDS else "GET", "", headers=dict(actor.headers),
                          actor=actor)
        now = datetime.now(UTC)
        if request.is_command:
            request.headers["Content-Type"] = "application/json"
            request.headers["Idempotency-Key"] = uuid.uuid4().hex
        if kind in ("raise_request", "return_visit"):
            customer = actor.free.popleft()
            actor.busy.add(customer)

            def release() -> None:
                actor.busy.discard(customer)
                actor.free.append(customer)

            request.release = release
        if kind == "receive":
            request.path = "/customers"
            request.body = json.dumps({"channel": "walk_in",
                                       "reception_started_at": (now - timedelta(minutes=30)).isoformat(),
                                       "reception_ended_at": (now - timedelta(minutes=5)).isoformat()}).encode()
        elif kind == "raise_request":
            request.path = f"/customers/{customer}/requests"
            request.body = json.dumps({"subject": SUBJECT}).encode()
        elif kind == "return_visit":
            request.path = f"/customers/{customer}/return-visits"
            request.body = json.dumps({"due_at": (now + timedelta(days=3)).isoformat(),
                                       "purpose": "Follow up on the second showing"}).encode()
        elif kind == "read_customer":
            customer = actor.free[0]
            actor.free.rotate(-1)
            request.path = f"/customers/{customer}"
        else:
            request.path = "/views/pipeline?limit=20"
        return request


@dataclass
class Step:
    """The results of one run, sent back to ``load.py`` as JSON."""

    rate: float
    duration: float
    scheduled: int = 0
    ok_in_window: int = 0  # 2xx answers that arrived before the sending window closed
    latencies: dict[str, list[float]] = field(default_factory=dict)  # 2xx only, seconds, from due time
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    unanswered_commands: int = 0  # timed out or lost in transport: may or may not have been recorded
    customer_reads: int = 0  # 2xx full reads of a customer: each puts one event on the reader's access log
    unanswered_customer_reads: int = 0
    refused_commands: int = 0  # answered, but not 2xx: must have recorded nothing
    acknowledged: list[tuple[str, int]] = field(default_factory=list)  # (record id, version) of 2xx commands
    max_lateness: float = 0.0
    cpu: float = 0.0
    connections: int = 0
    wall: float = 0.0


class Generator:
    def __init__(self, setup: dict[str, Any]) -> None:
        self.plan = Plan(setup)
        self.timeout = float(setup.get("timeout", 10))
        cap = int(setup.get("max_connections", 256))
        self.pools = {u: Pool(u, setup.get("client", "raw"), cap) for u in self.plan.urls}

    async def one(self, step: Step, due: float, window_end: float) -> None:
        r = self.plan.next()
        try:
            try:
                status, content = await asyncio.wait_for(self.pools[r.url].send(r.method, r.path, r.body, r.headers),
                                                         self.timeout)
            except (TimeoutError, OSError, EOFError, ValueError, httpx.HTTPError) as e:
                step.errors += 1
                step.unanswered_commands += r.is_command
                step.unanswered_customer_reads += r.kind == "read_customer"
                if len(step.error_samples) < MAX_KEPT_ERRORS:
                    step.error_samples.append(f"{r.kind} {r.method} {r.path.split('?')[0]}: {type(e).__name__}: {e}")
                return
            done = time.perf_counter()
            if 200 <= status < 300:
                step.latencies.setdefault(r.kind, []).append(done - due)
                step.ok_in_window += done <= window_end
                step.customer_reads += r.kind == "read_customer"
                if r.is_command:
                    answer = json.loads(content)
                    step.acknowledged.append((answer["id"], answer["version"]))
                    if r.kind == "receive" and r.actor is not None:
                        r.actor.free.append(answer["id"])  # a new customer joins its receiver's share
            else:
                step.errors += 1
                step.refused_commands += r.is_command
                if len(step.error_samples) < MAX_KEPT_ERRORS:
                    step.error_samples.append(f"{r.kind} {r.method} {r.path.split('?')[0]}: HTTP {status}: "
                                              f"{content[:200].decode(errors='replace')}")
        finally:
            if r.release is not None:
                r.release()

    async def run(self, rate: float, duration: float) -> Step:
        step = Step(rate, duration)
        n = max(1, int(rate * duration))
        step.scheduled = n
        cpu0 = sum(os.times()[:2])
        t0 = time.perf_counter() + 0.02
        window_end = t0 + duration
        tasks = []
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                step.max_lateness = max(step.max_lateness, -delay)
            tasks.append(asyncio.create_task(self.one(step, due, window_end)))
        await asyncio.gather(*tasks)  # each ends within the timeout
        step.wall = time.perf_counter() - t0
        step.cpu = sum(os.times()[:2]) - cpu0
        step.connections = sum(p.opened for p in self.pools.values())
        return step

    async def warm(self, token: str, concurrency: int = 8) -> list[str]:
        """Every customer read once through every URL (each API starts with an empty record cache),
        with a token whose role sees personal data masked: such a read writes nothing, where a
        full read puts an event on the reader's access log."""
        headers = {"Authorization": f"Bearer {token}"}
        jobs = [(url, c) for actor in self.plan.actors for c in actor.free for url in self.plan.urls]
        failures: list[str] = []

        async def worker() -> None:
            while jobs:
                url, customer = jobs.pop()
                status, content = await self.pools[url].send("GET", f"/customers/{customer}", b"", headers)
                if not 200 <= status < 300:
                    failures.append(f"GET /customers/{{id}}: HTTP {status}: {content[:200].decode(errors='replace')}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return failures


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)  # a setup message carries every record id
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    generator: Generator | None = None
    while line := await reader.readline():
        message = json.loads(line)
        op = message["op"]
        if op == "setup":
            generator = Generator(message)
            answer: dict[str, Any] = {"ok": True, "customers": generator.plan.customers()}
        elif op == "warm":
            assert generator is not None
            answer = {"failures": await generator.warm(message["token"])}
        elif op == "run":
            assert generator is not None
            answer = (await generator.run(float(message["rate"]), float(message["duration"]))).__dict__
        else:
            break
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    if generator is not None:
        for pool in generator.pools.values():
            await pool.close()


if __name__ == "__main__":
    asyncio.run(serve())
