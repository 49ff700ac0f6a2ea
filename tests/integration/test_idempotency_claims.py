"""Idempotency-Key claims never stay stuck, and are never run twice: the claim's token, the mark its
command's own transaction writes, and the takeover of a claim older than the timeout.

A dead request is played here by what it leaves behind: a claim made through the store and, for a
command that got as far as its commit, the command run under that claim (``HELD``) with no answer
stored. Claims are aged by moving their claim time back, so no test waits for a clock. The real
crash, with processes killed by SIGKILL, is ``tests/reliability/test_idempotency_after_a_crash.py``.
Both backends.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archive.sql import Database
from service.api.app import create_app
from service.application import Acting, CommandResult, RealtyLedger
from service.idempotency import (
    HELD,
    TABLE,
    HeldClaim,
    IdempotencyKeyTakenOver,
    IdempotencyStore,
    fingerprint,
    scope_of,
)
from service.settings import load_settings
from tests.conftest import Team
from tests.e2e.test_api import assert_problem, auth


@pytest.fixture
def store(app: RealtyLedger) -> IdempotencyStore:
    return IdempotencyStore(app.recorder.datastore)


def unique() -> str:
    return uuid.uuid4().hex


def age(app: RealtyLedger, scope: str, key: str, seconds: float = 3600) -> None:
    """Move the claim's time back, as if its request had been running for ``seconds``."""
    db = Database(app.recorder.datastore)
    older = ("claimed_at - ?" if db.backend == "sqlite" else "claimed_at - make_interval(secs => ?)")
    db.execute(f"UPDATE {db.table(TABLE)} SET claimed_at = {older} WHERE scope = ? AND key = ?", (seconds, scope, key))


def claim_row(app: RealtyLedger, scope: str, key: str) -> dict[str, Any] | None:
    db = Database(app.recorder.datastore)
    rows = db.query(f"SELECT status, token, recorded, record_id, record_version, entity_id, recorded_position "
                    f"FROM {db.table(TABLE)} WHERE scope = ? AND key = ?", (scope, key))
    if not rows:
        return None
    names = ("status", "token", "recorded", "record_id", "record_version", "entity_id", "recorded_position")
    return dict(zip(names, rows[0], strict=True))


def receive(app: RealtyLedger, team: Team, correlation_id: str) -> CommandResult:
    acting = Acting(team.consultant.staff_id, correlation_id=correlation_id)
    now = datetime.now(UTC)
    return app.receive_customer(acting, channel="walk_in", reception_started_at=now - timedelta(minutes=20),
                                reception_ended_at=now - timedelta(minutes=5))


def under(held: HeldClaim, command: Any) -> Any:
    """Run ``command`` as the request holding ``held`` would (the middleware sets HELD)."""
    reset = HELD.set(held)
    try:
        return command()
    finally:
        HELD.reset(reset)


def events_of(app: RealtyLedger, correlation_id: str) -> list[str]:
    from service.views import describe_event

    found, after = [], 0
    while page := app.recorder.select_notifications(start=after, limit=500, inclusive_of_start=False):
        for notification in page:
            described = describe_event(app.mapper.to_domain_event(notification))
            if described["correlation_id"] == correlation_id:
                found.append(described["event"])
        after = page[-1].id
    return found


# --- the store and the recorders ------------------------------------------------------------------


def test_a_command_marks_its_claim_recorded_in_its_own_transaction(app: RealtyLedger, team: Team,
                                                                   store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    claim = store.claim(scope, key, "print")
    result = under(HeldClaim(scope, key, claim.token), lambda: receive(app, team, unique()))
    row = claim_row(app, scope, key)
    assert row is not None and row["recorded"] == 1 and row["status"] == 0
    assert (row["record_id"], row["record_version"], row["recorded_position"]) == (
        result.id, result.version, result.position)


def test_a_command_outside_any_request_marks_nothing(app: RealtyLedger, team: Team, store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    store.claim(scope, key, "print")
    receive(app, team, unique())
    row = claim_row(app, scope, key)
    assert row is not None and row["recorded"] == 0


def test_a_claim_taken_over_makes_the_original_save_fail_and_record_nothing(
        app: RealtyLedger, team: Team, store: IdempotencyStore) -> None:
    scope, key, marker = unique(), unique(), unique()
    original = store.claim(scope, key, "print")
    age(app, scope, key)
    retry = store.claim(scope, key, "print")
    assert retry.outcome == "new" and retry.token != original.token
    with pytest.raises(IdempotencyKeyTakenOver):
        under(HeldClaim(scope, key, original.token), lambda: receive(app, team, marker))
    # The store is shared with tests running in parallel: what this command would have written is
    # found by its correlation id, not by counting the whole log.
    assert events_of(app, marker) == []
    row = claim_row(app, scope, key)
    assert row is not None and (row["token"], row["recorded"]) == (retry.token, 0)
    # The slow original's answer and release no longer touch the retry's claim.
    store.complete(scope, key, 409, {}, b"{}", token=original.token)
    store.release(scope, key, token=original.token)
    row = claim_row(app, scope, key)
    assert row is not None and (row["status"], row["token"]) == (0, retry.token)


def test_a_recorded_but_unanswered_claim_answers_the_retry_with_the_recorded_outcome(
        app: RealtyLedger, team: Team, store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    first = store.claim(scope, key, "print")
    result = under(HeldClaim(scope, key, first.token), lambda: receive(app, team, unique()))
    assert store.claim(scope, key, "print").outcome == "in_progress"  # its process may still answer
    age(app, scope, key)
    retry = store.claim(scope, key, "print")
    assert retry.outcome == "recorded" and retry.recorded is not None
    assert (retry.recorded.record_id, retry.recorded.version, retry.recorded.position) == (
        result.id, result.version, result.position)


def test_a_claim_younger_than_the_timeout_is_still_in_progress(app: RealtyLedger, store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    first = store.claim(scope, key, "print")
    age(app, scope, key, seconds=20)
    assert store.claim(scope, key, "print", claim_seconds=30).outcome == "in_progress"
    assert store.claim(scope, key, "print", claim_seconds=10).outcome == "new"
    assert claim_row(app, scope, key)["token"] != first.token  # type: ignore[index]


def test_of_two_retries_taking_over_at_once_only_one_wins(app: RealtyLedger, store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    store.claim(scope, key, "print")
    age(app, scope, key)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def retry() -> None:
        start.wait()
        outcomes.append(store.claim(scope, key, "print").outcome)

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["in_progress"] * 3 + ["new"]


def test_a_command_saving_twice_in_one_request_marks_its_claim_each_time(
        app: RealtyLedger, team: Team, store: IdempotencyStore) -> None:
    scope, key, marker = unique(), unique(), unique()
    claim = store.claim(scope, key, "print")

    def two_saves() -> CommandResult:
        customer = receive(app, team, marker)
        acting = Acting(team.consultant.staff_id, correlation_id=marker)
        return app.raise_request(acting, customer.id, subject="a second save under the same key")

    second = under(HeldClaim(scope, key, claim.token), two_saves)
    assert events_of(app, marker) == ["realty.customer.received", "realty.customer.request_raised"]
    row = claim_row(app, scope, key)
    assert row is not None and (row["recorded"], row["record_version"], row["recorded_position"]) == (
        1, second.version, second.position)


def test_a_release_after_a_recorded_command_keeps_the_claim_for_the_retry_to_learn_it(
        app: RealtyLedger, team: Team, store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    claim = store.claim(scope, key, "print")
    result = under(HeldClaim(scope, key, claim.token), lambda: receive(app, team, unique()))
    store.release(scope, key, token=claim.token)  # the request ended in a 5xx after its commit
    retry = store.claim(scope, key, "print")  # at once: nobody holds the claim any more
    assert retry.outcome == "recorded" and retry.recorded is not None and retry.recorded.record_id == result.id


def test_a_release_before_anything_was_recorded_frees_the_key(app: RealtyLedger, store: IdempotencyStore) -> None:
    scope, key = unique(), unique()
    claim = store.claim(scope, key, "print")
    store.release(scope, key, token=claim.token)
    assert claim_row(app, scope, key) is None
    assert store.claim(scope, key, "print").outcome == "new"


# --- an idempotency table from before claim tokens ------------------------------------------------


def test_a_store_written_before_claim_tokens_opens_and_its_stuck_claims_are_taken_over(
        own_database_url: str, tmp_path: Path) -> None:
    old = ("CREATE TABLE {table} (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
           "status INTEGER NOT NULL, headers TEXT, body {blob}, created_at {time} NOT NULL, PRIMARY KEY (scope, key))")
    long_ago = datetime.now(UTC) - timedelta(days=1)
    rows = [("scope", "stuck", "print", 0, None, None), ("scope", "answered", "print", 201, "{}", b"{}")]
    if own_database_url.startswith("sqlite"):
        import sqlite3

        path = own_database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute(old.format(table=TABLE, blob="BLOB", time="TEXT"))
            conn.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(*r, long_ago.isoformat()) for r in rows])
    else:
        import psycopg

        with psycopg.connect(own_database_url) as conn:
            conn.execute(old.format(table=TABLE, blob="BYTEA", time="TIMESTAMPTZ"))
            for r in rows:
                conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s)", (*r, long_ago))
    ledger = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys"))
    try:
        store = IdempotencyStore(ledger.recorder.datastore)
        IdempotencyStore(ledger.recorder.datastore)  # a second process opening it changes nothing
        replay = store.claim("scope", "answered", "print")
        assert (replay.outcome, replay.status, replay.body) == ("replay", 201, b"{}")
        assert store.claim("scope", "stuck", "print", claim_seconds=2 * 86400).outcome == "in_progress"
        assert store.claim("scope", "stuck", "print").outcome == "new"  # a day old: taken over
    finally:
        ledger.close()


# --- through the HTTP middleware ------------------------------------------------------------------


@pytest.fixture
def api(app: RealtyLedger) -> Iterator[TestClient]:
    with TestClient(create_app(ledger=app)) as client:
        yield client


@pytest.fixture
def token(app: RealtyLedger, team: Team) -> str:
    issued, _ = app.issue_token(team.admin, team.id(team.consultant), label="idempotency claims")
    return issued


def customer_body() -> bytes:
    now = datetime.now(UTC)
    return json.dumps({"channel": "walk_in", "reception_started_at": (now - timedelta(minutes=20)).isoformat(),
                       "reception_ended_at": (now - timedelta(minutes=5)).isoformat()}).encode()


def left_behind(app: RealtyLedger, token: str, key: str, body: bytes) -> tuple[str, str]:
    """The claim a request to ``POST /customers`` with this key and body made before its process died."""
    scope = scope_of(f"Bearer {token}")
    claim = IdempotencyStore(app.recorder.datastore).claim(scope, key, fingerprint("POST", "/customers", body))
    assert claim.outcome == "new"
    return scope, claim.token


def post(api: TestClient, token: str, key: str, body: bytes, marker: str) -> Any:
    return api.post("/customers", content=body, headers=auth(token, **{
        "Idempotency-Key": key, "X-Request-ID": marker, "Content-Type": "application/json"}))


def test_the_request_itself_marks_its_claim_through_the_thread_pool(app: RealtyLedger, api: TestClient,
                                                                    token: str) -> None:
    key, marker = unique(), unique()
    answer = post(api, token, key, customer_body(), marker)
    assert answer.status_code == 201, answer.text
    row = claim_row(app, scope_of(f"Bearer {token}"), key)
    assert row is not None and (row["status"], row["recorded"], row["record_id"]) == (201, 1, answer.json()["id"])


def test_a_retry_of_a_request_that_died_before_its_commit_runs_the_command_once(
        app: RealtyLedger, api: TestClient, token: str) -> None:
    key, marker, body = unique(), unique(), customer_body()
    scope, _ = left_behind(app, token, key, body)
    assert_problem(post(api, token, key, body, marker), 409, "idempotency_key_in_use")
    age(app, scope, key)
    retried = post(api, token, key, body, marker)
    assert retried.status_code == 201, retried.text
    assert events_of(app, marker) == ["realty.customer.received"]
    replayed = post(api, token, key, body, marker)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == retried.json()


def test_a_retry_of_a_request_that_died_after_its_commit_is_told_it_was_recorded_and_where(
        app: RealtyLedger, team: Team, api: TestClient, token: str) -> None:
    key, marker, body = unique(), unique(), customer_body()
    scope, held = left_behind(app, token, key, body)
    recorded = under(HeldClaim(scope, key, held), lambda: receive(app, team, marker))
    age(app, scope, key)
    told = assert_problem(post(api, token, key, body, marker), 409, "idempotency_key_recorded")
    assert (told["record_id"], told["version"], told["position"]) == (recorded.id, recorded.version,
                                                                      recorded.position)
    assert events_of(app, marker) == ["realty.customer.received"]
    again = post(api, token, key, body, marker)  # later retries: the same answer, replayed
    assert again.headers["idempotent-replayed"] == "true"
    assert assert_problem(again, 409, "idempotency_key_recorded") == told


def test_claims_marked_after_lost_races_keep_the_connection_usable(
        database_url: str, tmp_path: Path, team: Team, app: RealtyLedger) -> None:
    """A lost race aborts the insert's pipeline before the mark's statement reaches the server; a
    statement psycopg had meanwhile decided to prepare would then be missing on that connection for
    good ("prepared statement does not exist"). Two connections, each used past the auto-prepare threshold."""
    one = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys",
                                     pool_size=2, pool_max_overflow=0))
    try:
        store = IdempotencyStore(one.recorder.datastore)
        customer = receive(one, team, unique())
        acting = Acting(team.consultant.staff_id)
        for n in range(12):
            app.raise_request(acting, customer.id, subject=f"meanwhile {n}")  # another process moves it on
            scope, key = unique(), unique()
            claim = store.claim(scope, key, "print")
            # Read from this process's cache, one version behind: the first save loses the race.
            result = under(HeldClaim(scope, key, claim.token),
                           lambda n=n: one.raise_request(acting, customer.id, subject=f"under a key {n}"))
            row = claim_row(one, scope, key)
            assert row is not None and (row["recorded"], row["record_version"]) == (1, result.version)
    finally:
        one.close()
