"""An API process killed (SIGKILL) while a request holds its Idempotency-Key leaves no key stuck: the
client's retry, once the claim timeout has passed, gets a definite answer, and the log holds the
command exactly once.

The moment of the kill is fixed by locks the test holds in PostgreSQL, never by timing:

- inside the command's transaction, before its commit: the test holds the log's table lock (``LOCK
  TABLE ... IN EXCLUSIVE MODE``, the lock every append takes), sees the request wait for it in
  ``pg_locks``, and kills the process. The retry runs the command (201), once.
- after the commit, before the answer is stored: the test also holds the claim's row (``FOR
  UPDATE``), so the command's transaction, its events inserted, waits to mark the claim; a third
  connection queues for ``SHARE`` on the claims table behind that transaction, and is granted the
  moment it commits — which then keeps the request's storing of its answer waiting. The process is
  killed there. The retry is told 409 ``idempotency_key_recorded``, with the record and position.

PostgreSQL only: SQLite has one lock for the whole file, so the test cannot stop a request between
its claim and its commit without stopping the claim too (the store-level tests in
``tests/integration/test_idempotency_claims.py`` cover both backends).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from service.idempotency import TABLE, scope_of
from tests.reliability.test_acknowledged_writes import events_by_correlation, open_ledger
from tests.reliability.topology import Topology, running

EVENTS = "realty_events"
# A retry may take a claim over after this long; the locks a writer waits for are held longer than that.
SETTINGS = {"REALTY_IDEMPOTENCY_CLAIM_SECONDS": "1", "REALTY_LOCK_TIMEOUT": "300"}
pytestmark = pytest.mark.parametrize("own_database_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                     indirect=True)


def customer_body() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"channel": "walk_in", "reception_started_at": (now - timedelta(minutes=20)).isoformat(),
            "reception_ended_at": (now - timedelta(minutes=5)).isoformat()}


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def waiting_for(watcher: psycopg.Connection[Any], table: str, pid: int | None = None) -> bool:
    """Does some backend (``pid``, or any) wait for a lock on ``table``?"""
    rows = watcher.execute("SELECT pid FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                           (table,)).fetchall()
    return any(pid is None or row[0] == pid for row in rows)


class Command:
    """One POST /customers with its key and marker, sent in a thread (its process may die under it)."""

    def __init__(self, topology: Topology) -> None:
        self.topology, self.key, self.marker = topology, f"crash-{uuid.uuid4().hex}", f"crash-{uuid.uuid4().hex}"
        self.body, self.token = customer_body(), topology.tokens["consultant"]
        self.headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": self.key,
                        "X-Request-ID": self.marker}
        self.first: list[Any] = []
        self._thread = threading.Thread(target=lambda: self.first.append(self._send()), name="first-attempt")

    @property
    def scope(self) -> str:
        return scope_of(self.headers["Authorization"])

    def _send(self) -> Any:
        try:
            return httpx.post(self.topology.api_urls[0] + "/customers", json=self.body, headers=self.headers,
                              timeout=300)
        except httpx.TransportError as lost:
            return lost

    def start(self) -> None:
        self._thread.start()

    def cut_off(self) -> None:
        """Its process is killed: the client gets no answer."""
        self._thread.join(60)
        assert self.first and isinstance(self.first[0], httpx.TransportError), self.first

    def retry(self) -> httpx.Response:
        """As a client does: the same key and body until the answer is not "in progress"."""
        answer: list[httpx.Response] = []

        def decided() -> bool:
            try:
                response = httpx.post(self.topology.api_urls[0] + "/customers", json=self.body,
                                      headers=self.headers, timeout=60)
            except httpx.TransportError:
                return False
            if response.status_code == 409 and response.json().get("code") == "idempotency_key_in_use":
                return False
            answer.append(response)
            return True

        wait_until(decided, "a definite answer to the retry")
        return answer[0]

    def claim(self, conn: psycopg.Connection[Any]) -> tuple[int, int]:
        """(status, recorded) of its claim."""
        row = conn.execute(f"SELECT status, recorded FROM {TABLE} WHERE scope = %s AND key = %s",  # noqa: S608
                           (self.scope, self.key)).fetchone()
        assert row is not None, "no claim"
        return int(row[0]), int(row[1])


def recorded_once(topology: Topology, marker: str) -> list[Any]:
    ledger = open_ledger(topology)
    try:
        events = events_by_correlation(ledger).get(marker, [])
    finally:
        ledger.close()
    assert [e.topic for e in events] == ["realty.customer.received"], events
    return events


def test_a_retry_after_a_kill_inside_the_commands_transaction_records_it_once(
        own_database_url: str, tmp_path: Path) -> None:
    with (running(own_database_url, tmp_path / "topology", apis=1, projectors=0, extra_env=SETTINGS) as topology,
          psycopg.connect(own_database_url, autocommit=True) as watcher,
          psycopg.connect(own_database_url) as log_lock):
        api = topology.api_processes[0]
        log_lock.execute(f"LOCK TABLE {EVENTS} IN EXCLUSIVE MODE")
        command = Command(topology)
        command.start()
        wait_until(lambda: waiting_for(watcher, EVENTS), "the command waiting for the log's lock")
        assert command.claim(watcher) == (0, 0)  # claimed, nothing recorded
        topology.kill(api)
        log_lock.rollback()
        command.cut_off()
        assert command.claim(watcher) == (0, 0)  # the claim the dead process left

        topology.restart(api)
        answer = command.retry()
        assert answer.status_code == 201, answer.text
        events = recorded_once(topology, command.marker)
        assert answer.json()["id"] == events[0].record_id and answer.json()["position"] == events[0].position


def test_a_retry_after_a_kill_between_the_commit_and_the_answer_is_told_it_was_recorded(
        own_database_url: str, tmp_path: Path) -> None:
    with (running(own_database_url, tmp_path / "topology", apis=1, projectors=0, extra_env=SETTINGS) as topology,
          psycopg.connect(own_database_url, autocommit=True) as watcher,
          psycopg.connect(own_database_url) as log_lock,
          psycopg.connect(own_database_url) as row_lock,
          psycopg.connect(own_database_url) as table_lock):
        api = topology.api_processes[0]
        log_lock.execute(f"LOCK TABLE {EVENTS} IN EXCLUSIVE MODE")
        command = Command(topology)
        command.start()
        wait_until(lambda: waiting_for(watcher, EVENTS), "the command waiting for the log's lock")
        row_lock.execute(f"SELECT 1 FROM {TABLE} WHERE scope = %s AND key = %s FOR UPDATE",  # noqa: S608
                         (command.scope, command.key))
        holder = row_lock.execute("SELECT pg_current_xact_id()::text").fetchone()[0]  # type: ignore[index]
        log_lock.commit()  # the command inserts its events, then waits to mark its claim
        wait_until(lambda: bool(watcher.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'transactionid' AND transactionid::text = %s AND NOT granted",
            (holder,)).fetchone()), "the command's transaction waiting to mark its claim")

        # Queued behind the command's transaction (which holds ROW EXCLUSIVE on the claims table):
        # granted when it commits, and then in the way of the request storing its answer.
        queued_pid = table_lock.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        granted = threading.Event()
        locker = threading.Thread(target=lambda: (table_lock.execute(f"LOCK TABLE {TABLE} IN SHARE MODE"),
                                                  granted.set()), name="claims-table-lock")
        locker.start()
        wait_until(lambda: waiting_for(watcher, TABLE, queued_pid), "the SHARE lock queued")
        row_lock.commit()  # the command marks its claim and commits
        assert granted.wait(60), "the command's transaction never ended"
        locker.join()
        wait_until(lambda: waiting_for(watcher, TABLE), "the request waiting to store its answer")
        assert command.claim(watcher) == (0, 1)  # recorded, no answer stored
        topology.kill(api)
        table_lock.rollback()
        command.cut_off()

        topology.restart(api)
        answer = command.retry()
        assert answer.status_code == 409 and answer.json()["code"] == "idempotency_key_recorded", answer.text
        events = recorded_once(topology, command.marker)
        assert (answer.json()["record_id"], answer.json()["position"]) == (events[0].record_id, events[0].position)
        again = httpx.post(topology.api_urls[0] + "/customers", json=command.body, headers=command.headers)
        assert again.headers["idempotent-replayed"] == "true" and again.json() == answer.json()
        recorded_once(topology, command.marker)
