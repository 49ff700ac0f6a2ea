"""Commands that save more than once in one request (an erasure: the request, then the shredding
record; a disposition: the approval, the certificate, a customer file's erasure record) and fail
between their saves: the retry with the same Idempotency-Key finishes them, the key is marked
"recorded" only by the save that completes the command, and nothing is recorded twice.

The failure is the store going away (``psycopg.OperationalError``, as a dropped connection raises
it) in the step between two saves, once. A request is played at the application level by running
the command under its claim (``HELD``), as the middleware does, and through HTTP for the erasure.
Both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.errors import ErasureAlreadyRequested, ServiceFileDisposed
from domain.personal_data import ERASED, RESTRICTED
from service.api.app import create_app
from service.application import RealtyLedger
from service.idempotency import HeldClaim, IdempotencyKeyTakenOver, IdempotencyStore
from tests.conftest import Team, register_team
from tests.e2e.test_api import assert_problem, auth
from tests.integration.scenarios import list_flat, receive, sign
from tests.integration.test_idempotency_claims import age, claim_row, under
from tests.integration.test_service_files import NAME, SHORT_POLICY, ledger, lost_customer_with_a_file


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """The next call of ``owner.name`` finds the store gone; later calls reach it again."""
    real = getattr(owner, name)

    def outage(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(owner, name, real)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(owner, name, outage)


def hold_a_claim(app: RealtyLedger) -> HeldClaim:
    scope, key = uuid.uuid4().hex, uuid.uuid4().hex
    claim = IdempotencyStore(app.recorder.datastore).claim(scope, key, "print")
    assert claim.outcome == "new"
    return HeldClaim(scope, key, claim.token)


def events(app: RealtyLedger, record_id: str, suffix: str) -> int:
    return sum(1 for e in app.history(record_id) if e["event"].endswith(suffix))


def customer_with_details(app: RealtyLedger, team: Team) -> str:
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone="13912345678")
    return customer


# --- erasure ---------------------------------------------------------------------------------------


def test_an_erasure_cut_short_after_its_request_is_carried_out_by_the_retry_under_the_same_key(
        app: RealtyLedger, team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = customer_with_details(app, team)
    held = hold_a_claim(app)
    fail_once(monkeypatch, app.data_keys, "destroy")
    with pytest.raises(psycopg.OperationalError):
        under(held, lambda: app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn"))
    assert app.state(customer)["name"] == RESTRICTED  # requested, not carried out...
    row = claim_row(app, held.scope, held.key)
    assert row is not None and row["recorded"] == 0  # ...so the key does not say "recorded"

    answer = under(held, lambda: app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn"))

    assert answer["status"] == "erased" and answer["destroyed_keys"]
    assert app.state(customer)["name"] == ERASED
    assert (events(app, customer, "erasure_requested"), events(app, customer, "personal_data_erased")) == (1, 1)
    row = claim_row(app, held.scope, held.key)
    assert row is not None and (row["recorded"], row["record_id"], row["record_version"]) == (
        1, customer, app.state(customer)["version"])
    with pytest.raises(ErasureAlreadyRequested):  # once done, a further request is refused as before
        app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")


def test_an_erasure_held_back_by_a_retention_period_marks_its_key_with_its_only_save(
        app: RealtyLedger, team: Team) -> None:
    customer = customer_with_details(app, team)
    sign(app, team, customer, list_flat(app, team.consultant))  # an open deal: its period has not started
    held = hold_a_claim(app)

    answer = under(held, lambda: app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn"))

    assert answer["status"] == "restricted"
    row = claim_row(app, held.scope, held.key)
    assert row is not None and (row["recorded"], row["record_id"]) == (1, customer)
    with pytest.raises(ErasureAlreadyRequested):  # restricted while the period runs: nothing to finish
        app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")
    assert events(app, customer, "erasure_requested") == 1 and events(app, customer, "personal_data_erased") == 0


def test_a_first_save_that_does_not_mark_the_key_still_records_nothing_once_a_retry_took_it_over(
        app: RealtyLedger, team: Team) -> None:
    customer = customer_with_details(app, team)
    original = hold_a_claim(app)
    age(app, original.scope, original.key)
    retry = IdempotencyStore(app.recorder.datastore).claim(original.scope, original.key, "print")
    assert retry.outcome == "new"

    with pytest.raises(IdempotencyKeyTakenOver):
        under(original, lambda: app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn"))

    assert events(app, customer, "erasure_requested") == 0 and app.state(customer)["name"] == NAME
    assert not app.data_keys.is_restricted(customer)
    row = claim_row(app, original.scope, original.key)
    assert row is not None and (row["token"], row["recorded"]) == (retry.token, 0)


def test_through_http_a_retry_of_an_erasure_that_failed_half_way_erases_the_customer(
        app: RealtyLedger, team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = customer_with_details(app, team)
    token, _ = app.issue_token(team.admin, team.id(team.compliance), label="multi-step erasure")
    headers = auth(token, **{"Idempotency-Key": uuid.uuid4().hex})
    body = {"legal_basis": "consent_withdrawn"}
    fail_once(monkeypatch, app.data_keys, "destroy")
    with TestClient(create_app(ledger=app), raise_server_exceptions=False) as api:
        assert_problem(api.post(f"/customers/{customer}/erasure", json=body, headers=headers), 503,
                       "store_unavailable")
        retried = api.post(f"/customers/{customer}/erasure", json=body, headers=headers)
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "erased" and retried.json()["destroyed_keys"]
        replayed = api.post(f"/customers/{customer}/erasure", json=body, headers=headers)
        assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == retried.json()
    assert app.state(customer)["name"] == ERASED
    assert (events(app, customer, "erasure_requested"), events(app, customer, "personal_data_erased")) == (1, 1)


# --- disposition -------------------------------------------------------------------------------------


@pytest.fixture
def short_app(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    """A store of the test's own (the automations judge every file in it), and a retention policy
    that keeps a lost customer's file one day."""
    policy = tmp_path / "retention.toml"
    policy.write_text(SHORT_POLICY, encoding="utf-8")
    app = ledger(own_database_url, tmp_path, retention_policy=policy)
    try:
        yield app
    finally:
        app.close()


def proposed_customer_file(app: RealtyLedger, team: Team) -> tuple[str, str]:
    customer, file_id, _ = lost_customer_with_a_file(app, team)
    app.propose_disposition(team.archivist, file_id)
    return customer, file_id


def test_a_disposition_cut_short_after_its_certificate_is_finished_by_the_retry_under_the_same_key(
        short_app: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    app = short_app
    team = register_team(app)
    customer, file_id = proposed_customer_file(app, team)
    held = hold_a_claim(app)
    fail_once(monkeypatch, app.data_keys, "destroy")
    with pytest.raises(psycopg.OperationalError):
        under(held, lambda: app.approve_disposition(team.compliance, file_id))
    certificate = app.state(file_id)["certificate"]
    assert app.state(file_id)["status"] == "disposed" and app.state(customer)["name"] == NAME  # nothing destroyed
    row = claim_row(app, held.scope, held.key)
    assert row is not None and row["recorded"] == 0

    under(held, lambda: app.approve_disposition(team.compliance, file_id))

    assert app.state(customer)["name"] == ERASED
    assert all(app.data_keys.key_by_id(uuid.UUID(k)) is None for k in certificate["destroyed_keys"])
    assert app.state(file_id)["certificate"] == certificate  # the certificate stands, recorded once
    assert (events(app, file_id, "disposition_approved"), events(app, file_id, "disposition_carried_out"),
            events(app, customer, "personal_data_erased")) == (1, 1, 1)
    row = claim_row(app, held.scope, held.key)  # marked by the last save: the customer's erasure record
    assert row is not None and (row["recorded"], row["record_id"]) == (1, customer)
    with pytest.raises(ServiceFileDisposed):  # finished: approving again is refused as before
        app.approve_disposition(team.compliance, file_id)


def test_a_disposition_cut_short_before_its_certificate_is_finished_by_the_automations_once(
        short_app: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    app = short_app
    team = register_team(app)
    customer, file_id = proposed_customer_file(app, team)
    fail_once(monkeypatch, app.data_keys, "owner_keys")  # read while the certificate is drawn up
    with pytest.raises(psycopg.OperationalError):
        app.approve_disposition(team.compliance, file_id)
    assert app.state(file_id)["disposition"]["approved_by"] == team.id(team.compliance)
    now = datetime.now(UTC)

    # Left to the request that may still be carrying it out, for a grace period...
    assert app.automations.run_once(now).dispositions == 0
    assert app.state(file_id)["status"] != "disposed"
    # ...then finished, once.
    assert app.automations.run_once(now + timedelta(minutes=10)).dispositions == 1
    assert app.state(file_id)["status"] == "disposed" and app.state(customer)["name"] == ERASED
    assert app.automations.run_once(now + timedelta(minutes=20)).dispositions == 0
    assert (events(app, file_id, "disposition_carried_out"), events(app, customer, "personal_data_erased")) == (1, 1)
