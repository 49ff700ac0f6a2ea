"""Racing requests through a real server: exactly one winner, the others 409 or 412, no deadlock."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.test_serve import demo_tokens, served  # noqa: F401 - fixture

RACERS = 8


def test_racing_requests_have_exactly_one_winner(served: tuple[str, str]) -> None:  # noqa: F811
    base, home = served
    token = demo_tokens(Path(home) / "var")["property_consultant"]
    auth = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
        customers = [client.post("/customers", json={
            "channel": "online", "reception_started_at": (now - timedelta(minutes=20)).isoformat(),
            "reception_ended_at": now.isoformat()}).json()["id"] for _ in range(RACERS)]
        listing = client.post("/listings", json={
            "district": "徐汇", "address": "漕溪北路 1 号", "area": 60, "rooms": 1, "price": 3_000_000,
            "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True}).json()["id"]
        etag = client.get(f"/customers/{customers[0]}").headers["ETag"]

    start = threading.Barrier(RACERS)

    def conditional_request(n: int) -> int:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as own:
            start.wait()
            return own.post(f"/customers/{customers[0]}/requests", json={"subject": f"racer {n}"},
                            headers={"If-Match": etag}).status_code

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = Counter(pool.map(conditional_request, range(RACERS)))
    assert outcomes == {201: 1, 412: RACERS - 1}

    start = threading.Barrier(RACERS)

    def draft(customer: str) -> int:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as own:
            start.wait()
            return own.post("/deals", json={"customer_id": customer, "listing_id": listing,
                                             "price": 3_000_000, "terms": "全款"}).status_code

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = Counter(pool.map(draft, customers))
    assert outcomes[201] == 1
    assert outcomes[409] == RACERS - 1  # listing_has_open_deal, or a lost race
