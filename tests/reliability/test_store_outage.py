"""PostgreSQL stopped under load, once in an orderly way and once as a crash, then started again:
while it is away every API answer is a 503 ``store_unavailable`` with ``Retry-After`` (never a 500,
never a hang); once it is back the same API and projector processes carry on without a restart;
every command that was acknowledged is in the log exactly once, the log verifies, and the views the
projectors kept equal a fresh rebuild.

The server is a private cluster (``tests.reliability.private_postgres``), never the shared one on
5432 that other tests use meanwhile. Two API and two projector processes run on it
(``tests.reliability.topology``); the mixed load of ``tests.reliability.load`` runs throughout,
retrying a 503 with the same Idempotency-Key as a client would, and one probe per API process
keeps every answer it gets with the time it got it, so that the answers given while the server was
down can be judged on their own. ``REALTY_POOL_TIMEOUT=2`` (instead of 5): the first requests
caught by the outage wait that long for a connection, and the outages here are short.

Both kinds of stop cut off a few commits whose answer never reaches the client although the server
has recorded them (a fast stop ends a session right after its commit; a crash can land between the
WAL flush and the answer). Such a command must still be in the log once, and its retry must not
record it again: ``service.unsettled_saves`` settles the library's own retry, the claim marked in
the command's transaction (``service.idempotency``) settles the client's.

The store-error mapping itself (a command and a read, both backends) is tested in-process at the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from service.api.app import create_app
from tests.conftest import register_team
from tests.e2e.test_api import assert_problem, auth, now
from tests.integration.views_support import open_ledger
from tests.reliability.load import LoadGenerator, Outcome, summary
from tests.reliability.private_postgres import PrivatePostgres
from tests.reliability.test_acknowledged_writes import (
    EVENTS_OF,
    assert_each_command_recorded_as_answered,
    assert_the_log_is_whole,
    assert_views_equal_a_fresh_rebuild,
    events_by_correlation,
    wait_for_views,
)
from tests.reliability.topology import Topology

# Answers that mean "send it again with the same key" (the store away; the key's last request not
# settled yet); a connection that fails (None) would too, but an API process that is up never does.
RETRIED = {(503, "store_unavailable"), (409, "idempotency_key_in_use"), (None, None)}
OUTAGE_SECONDS = 8.0  # long enough for answers to come back while the server is away
RECOVERY_DEADLINE = 30.0  # a generous bound for "the same process answers 2xx again"


@dataclass(frozen=True)
class Answer:
    api: int
    what: str  # "command" or "read"
    sent: float  # time.monotonic() when sent
    received: float
    status: int | None  # None: no HTTP answer at all
    code: str | None
    retry_after: str | None
    marker: str


@dataclass(frozen=True)
class Window:
    mode: str
    down: float  # the server had stopped by then
    restarting: float  # and was being started again from then


class Probe:
    """One thread per API process: a command (sent again with its key until it is acknowledged)
    and a read, over and over; every answer is kept with the time it came."""

    def __init__(self, urls: list[str], token: str) -> None:
        self.urls, self.token = urls, token
        self.answers: list[Answer] = []
        self.finals: list[Outcome] = []  # each command's final answer, as the load generator keeps them
        self.unfinished: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(urls))]

    def start(self) -> Probe:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        assert not any(t.is_alive() for t in self._threads), "a probe did not finish"

    def _keep(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _ask(self, http: httpx.Client, api: int, what: str, marker: str, **request: Any) -> Answer:
        sent = time.monotonic()
        try:
            response = http.request(**request)
        except httpx.TransportError:
            answer = Answer(api, what, sent, time.monotonic(), None, None, None, marker)
        else:
            problem = response.json() if response.headers.get("content-type", "").endswith("json") else {}
            code = problem.get("code") if response.status_code >= 400 else None
            answer = Answer(api, what, sent, time.monotonic(), response.status_code, code,
                            response.headers.get("retry-after"), marker)
            if what == "command" and (response.status_code, code) not in RETRIED:
                with self._lock:
                    self.finals.append(Outcome(
                        "raise_request", marker, f"idem-{marker}", response.status_code, code, 0.0, 0.0, 1, False,
                        self.urls[api], response.json() if response.status_code < 300 else None,
                        dict(request["json"])))
        self._keep(answer)
        return answer

    def _run(self, api: int) -> None:
        url = self.urls[api]
        with httpx.Client(base_url=url, timeout=60, headers=auth(self.token)) as http:
            customer = http.post("/customers", json={"channel": "phone", "reception_started_at": now(-30),
                                                     "reception_ended_at": now(-5)})
            customer.raise_for_status()
            customer_id = customer.json()["id"]
            n = 0
            while not self._stop.is_set():
                n += 1
                marker = f"outage-probe-{api}-{n}-{uuid.uuid4().hex[:6]}"
                command = {"method": "POST", "url": f"/customers/{customer_id}/requests",
                           "json": {"subject": f"probe {marker}"},
                           "headers": {"Idempotency-Key": f"idem-{marker}", "X-Request-ID": marker}}
                give_up = None
                while True:  # the same command, the same key, until it has a final answer
                    answer = self._ask(http, api, "command", marker, **command)
                    if (answer.status, answer.code) not in RETRIED:
                        break
                    if self._stop.is_set():
                        give_up = give_up or time.monotonic() + RECOVERY_DEADLINE
                        if time.monotonic() > give_up:
                            with self._lock:
                                self.unfinished.append(marker)
                            break
                    self._ask(http, api, "read", marker, method="GET", url=f"/customers/{customer_id}")
                    time.sleep(0.2)
                self._ask(http, api, "read", marker, method="GET", url=f"/customers/{customer_id}")
                time.sleep(0.05)


def outage(pg: PrivatePostgres, topology: Topology, probe: Probe, mode: str) -> tuple[Window, dict[int, httpx.Response]]:
    """Stop the server (``mode``), ask each API's readiness meanwhile, start it again, and wait
    until every API process has acknowledged a command sent after the restart."""
    time.sleep(1.5)  # traffic before
    pg.stop(mode)  # type: ignore[arg-type]
    down = time.monotonic()
    time.sleep(OUTAGE_SECONDS / 2)
    readiness = {i: httpx.get(f"{url}/readyz", timeout=60) for i, url in enumerate(topology.api_urls)}
    time.sleep(max(0.0, down + OUTAGE_SECONDS - time.monotonic()))
    restarting = time.monotonic()
    pg.start()
    deadline = restarting + RECOVERY_DEADLINE
    while time.monotonic() < deadline:
        with probe._lock:
            back = {a.api for a in probe.answers if a.what == "command" and a.sent > restarting
                    and a.status is not None and a.status < 300}
        if back == set(range(len(topology.api_urls))):
            break
        time.sleep(0.2)
    return Window(mode, down, restarting), readiness


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgresql_stopped_under_load_costs_503s_while_it_is_away_and_no_acknowledged_command(
        tmp_path: Path, mode: str) -> None:
    with PrivatePostgres() as pg:
        topology = Topology(pg.url, tmp_path / "topology", apis=2, projectors=2,
                            extra_env={"REALTY_POOL_TIMEOUT": "2"})
        try:
            topology.start()
            processes = [*topology.api_processes, *topology.projector_processes]
            pids = [p.popen.pid for p in processes]  # type: ignore[union-attr]
            generator = LoadGenerator(topology.api_urls, topology.tokens, seed=7, clients=3,
                                      retry_for=RECOVERY_DEADLINE + OUTAGE_SECONDS, in_progress_for=RECOVERY_DEADLINE)
            stop_load = threading.Event()
            loaded: list[Any] = []
            load = threading.Thread(target=lambda: loaded.append(generator.run(stop=stop_load)), daemon=True)
            probe = Probe(topology.api_urls, topology.tokens["consultant"]).start()
            load.start()
            try:
                window, readiness = outage(pg, topology, probe, mode)
                time.sleep(1.0)  # traffic after
            finally:
                stop_load.set()
                probe.stop()
                load.join(120)
            outcomes = loaded[0]
            print(summary(outcomes))
            print(Counter((a.what, a.status, a.code) for a in probe.answers))

            # While the server was away: 503 store_unavailable with Retry-After, from both processes,
            # for commands, reads and readiness alike; never a 500, never a dropped connection.
            assert not [a for a in probe.answers if a.status is None], "an API process stopped answering"
            assert not [a for a in probe.answers if (a.status or 0) >= 500 and a.status != 503]
            during = [a for a in probe.answers if a.sent > window.down and a.received < window.restarting]
            assert {(a.api, a.what) for a in during} == {(api, what) for api in (0, 1) for what in ("command", "read")}
            assert {(a.status, a.code) for a in during} == {(503, "store_unavailable")}
            assert all(a.retry_after is not None and a.retry_after.isdigit() for a in during)
            for answer in readiness.values():
                assert_problem(answer, 503, "store_unavailable")
            # Afterwards the same processes answer 2xx again: each acknowledged a command sent after
            # the restart, and none of them was restarted or died.
            assert {a.api for a in probe.answers if a.what == "command" and a.sent > window.restarting
                    and a.status is not None and a.status < 300} == {0, 1}
            assert [p.popen.pid for p in processes] == pids and all(p.alive for p in processes)  # type: ignore[union-attr]
            # Every command refused with a 503 had its final answer when sent again with its key.
            assert not probe.unfinished
            assert sum(o.acknowledged for o in probe.finals) >= 2
            assert not [o for o in outcomes if (o.status or 0) >= 500], summary(outcomes)

            ledger = topology.open_ledger()
            try:
                # Acknowledged: exactly once, whole; refused: not at all. A command whose commit reached
                # the server while its answer was lost to the stop (or the crash) is answered 409
                # idempotency_key_recorded when sent again: it is in the log, once.
                log = events_by_correlation(ledger)
                every = [*outcomes, *probe.finals]
                lost = [o for o in every if o.code == "idempotency_key_recorded"]
                assert_each_command_recorded_as_answered([o for o in every if o not in lost], log)
                for o in lost:
                    assert Counter(e.topic for e in log.get(o.marker, [])) == EVENTS_OF[o.kind], o
                print(f"{len(lost)} commands recorded although their answer was lost")
                assert_the_log_is_whole(ledger)
                wait_for_views(ledger)
                topology.stop()
                assert_views_equal_a_fresh_rebuild(ledger)
            finally:
                ledger.close()
            # Each process said once that the store was gone (and once that it was back), without a
            # traceback, and without the text of any command.
            for process in processes:
                output = process.output()
                assert "Traceback" not in output, f"{process.name}: {output[-3000:]}"
                assert "probe outage-probe" not in output and "raise_request load-" not in output
            for process in topology.api_processes:
                assert process.output().count("event store: no connection to the database") == 1, process.output()[-3000:]
            for process in topology.projector_processes:
                assert process.output().count("retrying until it works") == 1, process.output()[-3000:]
        finally:
            topology.stop()


# --- the mapping, in-process: a command and a read while the store is unreachable ---------------


@pytest.fixture
def unreachable(own_database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str, Any]]:
    """An API on its own store, a consultant's token and customer, and a function that takes the
    store away: on PostgreSQL its database is dropped (every session ended, new ones refused); on
    SQLite another connection holds the write lock (as a long writer, a backup or a VACUUM would)."""
    ledger = open_ledger(own_database_url, tmp_path, lock_timeout=1, pool_timeout=1)
    team = register_team(ledger)
    token, _ = ledger.issue_token(team.admin, team.id(team.consultant), label="tests")
    holders: list[Any] = []

    def give_back() -> None:
        for holder in holders:
            holder.rollback()
            holder.close()
        holders.clear()

    def take_away() -> Any:
        """Take the store away; returns what gives it back (SQLite only: a dropped database is gone)."""
        if own_database_url.startswith("postgresql"):
            name = own_database_url.rsplit("/", 1)[1]
            with psycopg.connect(own_database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(SQL("DROP DATABASE {} WITH (FORCE)").format(Identifier(name)))
            return None
        import sqlite3

        holder = sqlite3.connect(ledger.settings.database.path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        holders.append(holder)
        return give_back

    try:
        with TestClient(create_app(ledger=ledger)) as api:
            received = api.post("/customers", headers=auth(token), json={
                "channel": "online", "reception_started_at": now(-25), "reception_ended_at": now(-5)})
            assert received.status_code == 201, received.text
            yield api, auth(token), received.json()["id"], take_away
    finally:
        give_back()
        ledger.close()


def test_a_command_the_store_cannot_take_is_answered_503_with_retry_after_and_records_nothing(
        unreachable: tuple[TestClient, dict[str, str], str, Any]) -> None:
    api, headers, customer, take_away = unreachable
    before = api.get(f"/customers/{customer}", headers=headers).json()["version"]
    give_back = take_away()
    refused = api.post(f"/customers/{customer}/requests", json={"subject": "nothing to record"},
                       headers={**headers, "Idempotency-Key": f"idem-{uuid.uuid4().hex}"})
    body = assert_problem(refused, 503, "store_unavailable")
    assert refused.headers["retry-after"].isdigit() and "nothing to record" not in refused.text
    assert body["detail"] == "the event store does not answer"
    plain = api.post(f"/customers/{customer}/requests", json={"subject": "nor this"}, headers=headers)
    assert_problem(plain, 503, "store_unavailable")
    if give_back is not None:  # SQLite: a held write lock stops writers only, and is let go
        assert api.get("/readyz").status_code == 200  # reading the log goes on meanwhile
        give_back()
        after = api.get(f"/customers/{customer}", headers=headers)
        assert after.status_code == 200 and after.json()["version"] == before  # nothing was recorded


# PostgreSQL only: on SQLite nothing natural stops a read (a writer's lock does not, in WAL mode).
@pytest.mark.parametrize("own_database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_read_the_store_cannot_answer_is_answered_503_with_retry_after(
        unreachable: tuple[TestClient, dict[str, str], str, Any]) -> None:
    api, headers, customer, take_away = unreachable
    take_away()
    read = api.get(f"/customers/{customer}", headers=headers)
    assert_problem(read, 503, "store_unavailable")
    assert read.headers["retry-after"].isdigit()
    assert_problem(api.get("/readyz"), 503, "store_unavailable")

