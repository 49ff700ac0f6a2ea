"""Many clients at once on one record, through two real API processes on one store: where the rules
allow one winner there is exactly one (the others 412 or 409, recording nothing), commands that may
all succeed all land, each once, with contiguous versions, and nothing deadlocks — every request is
answered within a bound, and on PostgreSQL no backend is left waiting on a lock. Both backends.

The clients start together on a barrier and alternate between the two processes, so the races are
between processes (each with its own record cache), not only between threads of one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.reliability.test_acknowledged_writes import events_by_correlation
from tests.reliability.topology import Topology, running

CLIENTS = 32
# Every request answers within this (a deadlock would hold a request for ever); generous, for a
# loaded 2-core machine.
ANSWER_WITHIN = 60.0


@pytest.fixture
def topology(own_database_url: str, tmp_path: Path) -> Iterator[Topology]:
    with running(own_database_url, tmp_path / "topology", apis=2, projectors=0) as started:
        yield started


def race(topology: Topology, role: str, send: Callable[[httpx.Client, int], httpx.Response]
         ) -> list[httpx.Response]:
    """``CLIENTS`` clients, each with its own connection, released together; client ``n`` talks to
    API process ``n % 2``. Every one must be answered within ``ANSWER_WITHIN`` seconds."""
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> httpx.Response:
        url = topology.api_urls[n % len(topology.api_urls)]
        with httpx.Client(base_url=url, timeout=ANSWER_WITHIN,
                          headers={"Authorization": f"Bearer {topology.tokens[role]}"}) as http:
            http.get("/healthz")  # connected before the start, so the race is the requests'
            start.wait(timeout=ANSWER_WITHIN)
            return send(http, n)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(client, range(CLIENTS), timeout=2 * ANSWER_WITHIN))


def post(topology: Topology, path: str, body: dict[str, Any], role: str = "consultant") -> dict[str, Any]:
    response = httpx.post(topology.api_urls[0] + path, json=body, timeout=ANSWER_WITHIN,
                          headers={"Authorization": f"Bearer {topology.tokens[role]}"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def receive(topology: Topology) -> str:
    now = datetime.now(UTC)
    return str(post(topology, "/customers", {
        "channel": "walk_in", "reception_started_at": (now - timedelta(minutes=20)).isoformat(),
        "reception_ended_at": now.isoformat()})["id"])


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    return Counter((r.status_code, r.json().get("code") if r.status_code >= 400 else None) for r in responses)


def assert_no_backend_waits_on_a_lock(topology: Topology) -> None:
    if not topology.database_url.startswith("postgresql"):
        return
    with psycopg.connect(topology.database_url, autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT pid, wait_event_type, state, left(query, 80) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'").fetchall()
        ungranted = conn.execute(
            "SELECT l.pid, l.locktype, l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.datname = current_database() AND NOT l.granted").fetchall()
    assert waiting == [] and ungranted == []


def test_thirty_two_conditional_commands_on_one_customer_have_exactly_one_winner(topology: Topology) -> None:
    customer = receive(topology)
    responses = race(topology, "consultant", lambda http, n: http.post(
        f"/customers/{customer}/requests", json={"subject": f"racer {n}"},
        headers={"If-Match": '"1"', "X-Request-ID": f"conditional-{customer}-{n}"}))
    assert codes(responses) == {(201, None): 1, (412, "precondition_failed"): CLIENTS - 1}
    winner = next(n for n, r in enumerate(responses) if r.status_code == 201)
    ledger = topology.open_ledger()
    try:
        recorded = {cid for cid in events_by_correlation(ledger) if cid.startswith(f"conditional-{customer}-")}
        assert recorded == {f"conditional-{customer}-{winner}"}  # the losers recorded nothing
        assert ledger.state(customer)["version"] == 2
    finally:
        ledger.close()
    assert_no_backend_waits_on_a_lock(topology)


def test_thirty_two_unconditional_commands_on_one_customer_all_land_with_contiguous_versions(
        topology: Topology) -> None:
    customer = receive(topology)
    responses = race(topology, "consultant", lambda http, n: http.post(
        f"/customers/{customer}/requests", json={"subject": f"racer {n}"},
        headers={"X-Request-ID": f"unconditional-{customer}-{n}"}))
    outcome = codes(responses)
    print(f"32 unconditional commands on one customer: {dict(outcome)}")
    # A command that loses a race is re-checked on fresh state and retried until it lands (for up
    # to 3 seconds): every one of them is valid, so every one is recorded.
    assert outcome == {(201, None): CLIENTS}
    won = {n for n, r in enumerate(responses) if r.status_code == 201}
    ledger = topology.open_ledger()
    try:
        history = ledger.history(customer)
        assert [e["version"] for e in history] == list(range(1, len(history) + 1))
        recorded = Counter(e["correlation_id"] for e in history if e["name"] == "Customer.RequestRaised")
        assert recorded == Counter(f"unconditional-{customer}-{n}" for n in won)  # each winner once, no loser
        assert sorted(r.json()["version"] for r in responses if r.status_code == 201) == list(
            range(2, 2 + len(won)))
    finally:
        ledger.close()
    assert_no_backend_waits_on_a_lock(topology)


def test_thirty_two_deals_racing_for_one_listing_have_exactly_one_winner(topology: Topology) -> None:
    listing = str(post(topology, "/listings", {
        "district": "徐汇", "address": "漕溪北路 1 号", "area": 60, "rooms": 1, "price": 3_000_000,
        "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True})["id"])
    customers = [receive(topology) for _ in range(CLIENTS)]
    responses = race(topology, "consultant", lambda http, n: http.post(
        "/deals", json={"customer_id": customers[n], "listing_id": listing, "price": 3_000_000, "terms": "全款"},
        headers={"X-Request-ID": f"deal-{listing}-{n}"}))
    outcome = codes(responses)
    print(f"32 deals racing for one listing: {dict(outcome)}")
    # One open deal per listing (domain.listing): the losers are told so, or lost the race itself.
    assert outcome[(201, None)] == 1
    assert set(outcome) - {(201, None)} <= {(409, "listing_has_open_deal"), (409, "concurrency_conflict")}
    assert sum(outcome.values()) == CLIENTS
    winner = next(n for n, r in enumerate(responses) if r.status_code == 201)
    ledger = topology.open_ledger()
    try:
        log = events_by_correlation(ledger)
        recorded = {cid for cid in log if cid.startswith(f"deal-{listing}-")}
        assert recorded == {f"deal-{listing}-{winner}"}
        assert Counter(e.topic for e in log[f"deal-{listing}-{winner}"]) == Counter(
            {"realty.deal.drafted": 1, "realty.listing.deal_opened": 1, "realty.customer.deal_milestone_reached": 1})
        assert ledger.state(listing)["open_deal_id"] == responses[winner].json()["id"]
        assert Counter(ledger.state(c)["stage"] for c in customers) == {"signing": 1, "reception": CLIENTS - 1}
    finally:
        ledger.close()
    assert_no_backend_waits_on_a_lock(topology)
