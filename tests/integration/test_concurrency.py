"""Racing commands: one wins, the others get ConcurrencyConflict, and nothing acknowledged is lost."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from domain.errors import ConcurrencyConflict, ListingHasOpenDeal
from service.application import RealtyLedger
from tests.conftest import Team
from tests.integration.scenarios import list_flat, receive

THREADS = 8


def test_eight_writers_on_one_customer_lose_no_acknowledged_event(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    per_thread = 12
    start = threading.Barrier(THREADS)

    def writer(n: int) -> tuple[list[str], int]:
        acknowledged, conflicts = [], 0
        start.wait()
        for i in range(per_thread):
            try:
                result = app.raise_request(team.consultant, customer, subject=f"writer {n} request {i}")
            except ConcurrencyConflict:
                conflicts += 1
            else:
                assert result.entity_id is not None
                acknowledged.append(result.entity_id)
        return acknowledged, conflicts

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(writer, range(THREADS)))

    acknowledged = [rid for ids, _ in outcomes for rid in ids]
    conflicts = sum(c for _, c in outcomes)
    assert len(acknowledged) + conflicts == THREADS * per_thread
    assert len(acknowledged) >= THREADS * per_thread // 2  # retries absorb most races
    history = app.history(customer)
    recorded = [e["data"]["request_id"] for e in history if e["name"] == "Customer.RequestRaised"]
    assert Counter(recorded) == Counter(acknowledged)  # every acknowledged command exactly once
    assert [e["version"] for e in history] == list(range(1, len(history) + 1))
    assert app.state(customer)["version"] == 1 + len(acknowledged)


def test_eight_writers_with_the_same_expected_version_have_exactly_one_winner(
    app: RealtyLedger, team: Team
) -> None:
    customer = receive(app, team)
    start = threading.Barrier(THREADS)

    def writer(n: int) -> str:
        start.wait()
        try:
            app.raise_request(team.consultant, customer, subject=f"writer {n}", expected_version=1)
        except ConcurrencyConflict as conflict:
            assert conflict.context["expected_version"] == 1
            return "conflict"
        return "won"

    with ThreadPoolExecutor(THREADS) as pool:
        results = Counter(pool.map(writer, range(THREADS)))
    assert results == {"won": 1, "conflict": THREADS - 1}
    assert app.state(customer)["version"] == 2


def test_deals_racing_for_one_listing_have_exactly_one_winner(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customers = [receive(app, team) for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def draft(customer: str) -> str:
        start.wait()
        try:
            app.draft_deal(team.consultant, customer_id=customer, listing_id=listing, price=5_000_000, terms="x")
        except (ListingHasOpenDeal, ConcurrencyConflict):
            return "refused"
        return "won"

    with ThreadPoolExecutor(THREADS) as pool:
        results = Counter(pool.map(draft, customers))
    assert results == {"won": 1, "refused": THREADS - 1}
    stages = Counter(app.state(c)["stage"] for c in customers)
    assert stages == {"signing": 1, "reception": THREADS - 1}
    assert app.state(listing)["open_deal_id"] is not None
