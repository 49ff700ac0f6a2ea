"""A small load generator for the HTTP API: client threads send a seeded, mixed stream of commands to
several API processes and keep every outcome, so a test (or a benchmark) can judge afterwards what
the store holds against what each client was told.

Every command carries a unique marker, sent as ``X-Request-ID`` (the API records it as the
``correlation_id`` of every event the command writes) and, where the body has free text, in that
text too; and a unique ``Idempotency-Key``. Clients go round-robin over the URLs; a connection that
fails (a process killed mid-request, or one still restarting) is retried on the next URL with the
same key and the same body, so a command the dead process had already recorded is answered from the
idempotency record instead of being recorded twice. ``Outcome.acknowledged`` is what a caller would
take as "it is recorded".
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# Answers that say "not decided yet, send it again" (same key): the store or a duplicate was busy.
RETRIED_STATUSES = frozenset({502, 503, 504})
RETRIED_CODES = frozenset({"idempotency_key_in_use"})

# The mix, by weight. Each kind needs some state of the client's own (a customer, a listing...); a
# kind whose needs are not met yet is skipped for that draw.
DEFAULT_MIX: dict[str, int] = {
    "receive": 3, "list_property": 1, "raise_request": 4, "respond": 2, "file_complaint": 1,
    "answer_survey": 1, "schedule_return_visit": 1, "draft_deal": 1,
}

# The role whose token sends each kind (a consultant holds the customers they receive; customer
# service works on the team's customers).
ROLE_OF: dict[str, str] = {
    "receive": "consultant", "list_property": "consultant", "raise_request": "consultant",
    "respond": "service", "file_complaint": "service", "answer_survey": "service",
    "schedule_return_visit": "service", "draft_deal": "consultant",
}

# Where each kind's body carries the marker (None: only in X-Request-ID).
MARKED_FIELD: dict[str, str | None] = {
    "receive": None, "list_property": "address", "raise_request": "subject", "respond": "response",
    "file_complaint": "description", "answer_survey": "comment", "schedule_return_visit": "purpose",
    "draft_deal": "terms",
}


@dataclass(frozen=True)
class Outcome:
    """What one command was finally told. ``status`` is None when no attempt got an answer."""

    kind: str
    marker: str
    idempotency_key: str
    status: int | None
    code: str | None  # a problem's stable code
    latency: float  # seconds, of the attempt that got the final answer
    elapsed: float  # seconds, first send to final answer (failovers included)
    attempts: int
    replayed: bool  # answered from the idempotency record
    url: str | None
    body: dict[str, Any] | None
    sent: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """A definite no (a 4xx that is not "still in progress"): nothing may be recorded."""
        return self.status is not None and 400 <= self.status < 500 and self.code not in RETRIED_CODES

    @property
    def undecided(self) -> bool:
        """Neither acknowledged nor refused: the client cannot know whether it was recorded."""
        return not self.acknowledged and not self.refused and not (self.status or 0) >= 500


@dataclass
class _State:
    """What one client has made so far and may act on."""

    customers: list[str] = field(default_factory=list)
    without_deal: list[str] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    open_requests: list[tuple[str, str]] = field(default_factory=list)


class LoadGenerator:
    """``LoadGenerator(urls, tokens, seed).run(duration=…)`` or ``.run(count=…)`` -> outcomes.

    ``tokens`` maps roles (``consultant``, ``service``) to bearer tokens of one team. Each client
    thread draws from ``random.Random(f"{seed}-{n}")``, so a seed replays the same choices (the
    timing of a run, and so its races, is never replayable).
    """

    def __init__(self, urls: Sequence[str], tokens: dict[str, str], seed: int, *, clients: int = 4,
                 mix: dict[str, int] | None = None, retry_for: float = 30.0, in_progress_for: float = 5.0,
                 timeout: float = 30.0) -> None:
        self.urls, self.tokens, self.seed, self.clients = list(urls), tokens, seed, clients
        self.mix = dict(mix or DEFAULT_MIX)
        self.retry_for, self.in_progress_for, self.timeout = retry_for, in_progress_for, timeout
        self.run_id = uuid.uuid4().hex[:8]
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []

    @property
    def outcomes(self) -> list[Outcome]:
        """The outcomes so far (a copy; safe to read while the load runs)."""
        with self._lock:
            return list(self._outcomes)

    def run(self, duration: float | None = None, count: int | None = None,
            stop: threading.Event | None = None) -> list[Outcome]:
        """Send commands until ``duration`` seconds have passed, ``count`` commands (over all
        clients) have been answered, or ``stop`` is set; then wait for the commands in flight."""
        if duration is None and count is None and stop is None:
            raise ValueError("say when to stop: duration, count or stop")
        deadline = None if duration is None else time.monotonic() + duration
        stop = stop or threading.Event()
        issued = iter(range(10**12))
        issue_lock = threading.Lock()

        def more() -> bool:
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                return False
            if count is None:
                return True
            with issue_lock:
                return next(issued) < count

        threads = [threading.Thread(target=self._client, args=(n, more), name=f"load-{n}", daemon=True)
                   for n in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.outcomes

    # --- one client ------------------------------------------------------------------------

    def _client(self, n: int, more: Callable[[], bool]) -> None:
        rng = random.Random(f"{self.seed}-{n}")  # noqa: S311 - load choices, not crypto
        state = _State()
        sequence = 0
        with httpx.Client(timeout=self.timeout) as http:
            while more():
                kind, path, body = self._draw(rng, state)
                sequence += 1
                marker = f"load-{self.run_id}-{n}-{sequence}"
                if MARKED_FIELD[kind]:
                    body[MARKED_FIELD[kind]] = f"{kind} {marker}"  # type: ignore[index]
                outcome = self._send(http, n + sequence, kind, path, body, marker)
                with self._lock:
                    self._outcomes.append(outcome)
                if outcome.acknowledged and outcome.body is not None:
                    self._learn(state, kind, body, outcome.body)

    def _draw(self, rng: random.Random, s: _State) -> tuple[str, str, dict[str, Any]]:
        possible = {
            "receive": True, "list_property": True, "raise_request": bool(s.customers),
            "respond": bool(s.open_requests), "file_complaint": bool(s.customers),
            "answer_survey": bool(s.customers), "schedule_return_visit": bool(s.customers),
            "draft_deal": bool(s.without_deal and s.listings),
        }
        kinds = [k for k in self.mix if possible[k] and self.mix[k] > 0]
        kind = rng.choices(kinds, weights=[self.mix[k] for k in kinds])[0]
        now = datetime.now(UTC)
        customer = rng.choice(s.customers) if s.customers else ""
        if kind == "receive":
            return kind, "/customers", {"channel": rng.choice(["walk_in", "phone", "online"]),
                                        "reception_started_at": (now - timedelta(minutes=30)).isoformat(),
                                        "reception_ended_at": (now - timedelta(minutes=5)).isoformat()}
        if kind == "list_property":
            return kind, "/listings", {"district": rng.choice(["浦东", "徐汇", "静安"]), "address": "",
                                       "area": rng.randint(40, 160), "rooms": rng.randint(1, 4),
                                       "price": rng.randint(2, 9) * 1_000_000, "property_right_status": "clear",
                                       "tenure_years": 70, "mortgage_eligible": True}
        if kind == "raise_request":
            return kind, f"/customers/{customer}/requests", {"subject": ""}
        if kind == "respond":
            customer, request = s.open_requests.pop(rng.randrange(len(s.open_requests)))
            return kind, f"/customers/{customer}/requests/{request}/response", {"response": ""}
        if kind == "file_complaint":
            return kind, f"/customers/{customer}/complaints", {"category": "服务", "severity": "low",
                                                               "description": ""}
        if kind == "answer_survey":
            return kind, f"/customers/{customer}/surveys", {"scores": {"overall": rng.randint(1, 5)}, "comment": ""}
        if kind == "schedule_return_visit":
            return kind, f"/customers/{customer}/return-visits", {
                "due_at": (now + timedelta(days=rng.randint(1, 30))).isoformat(), "purpose": ""}
        customer = s.without_deal.pop(rng.randrange(len(s.without_deal)))
        listing = s.listings.pop(rng.randrange(len(s.listings)))
        return kind, "/deals", {"customer_id": customer, "listing_id": listing, "price": 3_000_000, "terms": ""}

    @staticmethod
    def _learn(s: _State, kind: str, sent: dict[str, Any], answer: dict[str, Any]) -> None:
        if kind == "receive":
            s.customers.append(answer["id"])
            s.without_deal.append(answer["id"])
        elif kind == "list_property":
            s.listings.append(answer["id"])
        elif kind == "raise_request" and answer.get("entity_id"):
            s.open_requests.append((answer["id"], answer["entity_id"]))

    def _send(self, http: httpx.Client, turn: int, kind: str, path: str, body: dict[str, Any],
              marker: str) -> Outcome:
        key = f"idem-{marker}"
        headers = {"Authorization": f"Bearer {self.tokens[ROLE_OF[kind]]}", "Idempotency-Key": key,
                   "X-Request-ID": marker}
        first = time.monotonic()
        attempts, status, code, latency, url, answer, replayed = 0, None, None, 0.0, None, None, False
        while True:
            url = self.urls[(turn + attempts) % len(self.urls)]
            attempts += 1
            sent_at = time.monotonic()
            try:
                response = http.post(url + path, json=body, headers=headers)
            except httpx.TransportError:
                status, code = None, None
            else:
                latency = time.monotonic() - sent_at
                status, replayed = response.status_code, response.headers.get("idempotent-replayed") == "true"
                parsed = _json(response)
                code = parsed.get("code") if status >= 400 and parsed else None
                answer = parsed if status < 300 else None
            waited = time.monotonic() - first
            if status is None or status in RETRIED_STATUSES:
                if waited < self.retry_for:
                    time.sleep(min(0.05 * attempts, 0.5))
                    continue
            elif code in RETRIED_CODES and waited < self.in_progress_for:
                time.sleep(min(0.1 * attempts, 0.5))
                continue
            return Outcome(kind, marker, key, status, code, latency, time.monotonic() - first, attempts, replayed,
                           url, answer, dict(body))


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        parsed = response.json()
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def summary(outcomes: Sequence[Outcome]) -> str:
    """One line for a test's or a benchmark's output: counts by final status and the failovers."""
    by_status: dict[str, int] = {}
    for o in outcomes:
        label = "no answer" if o.status is None else f"{o.status}{' ' + o.code if o.code else ''}"
        by_status[label] = by_status.get(label, 0) + 1
    retried = sum(o.attempts > 1 for o in outcomes)
    replayed = sum(o.replayed for o in outcomes)
    return (f"{len(outcomes)} commands: " + ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items()))
            + f"; {retried} sent again after a failure, {replayed} answered from the idempotency record")
