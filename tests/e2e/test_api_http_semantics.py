"""HTTP conventions: idempotency keys, request ids, and logs that carry no personal data."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from service.application import RealtyLedger
from tests.conftest import Team
from tests.e2e.test_api import api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures


def test_a_retried_post_with_the_same_key_returns_the_first_response_and_records_nothing(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    headers = auth(tokens["consultant"], **{"Idempotency-Key": "k-1"})
    first = api.post(f"/customers/{customer}/requests", headers=headers, json={"subject": "资料"})
    second = api.post(f"/customers/{customer}/requests", headers=headers, json={"subject": "资料"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["ETag"] == first.headers["ETag"]
    assert app.state(customer)["version"] == 2  # one request, not two

    other = api.post(f"/customers/{customer}/requests", headers=headers, json={"subject": "别的"})
    assert_problem(other, 422, "idempotency_key_reused")
    assert app.state(customer)["version"] == 2


def test_a_revoked_token_does_not_get_its_stored_answer_back(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger, team: Team  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    headers = auth(tokens["consultant"], **{"Idempotency-Key": "k-revoked"})
    first = api.post(f"/customers/{customer}/requests", headers=headers, json={"subject": "资料"})
    assert first.status_code == 201
    token_id = tokens["consultant"].split("_", 3)[2]
    app.revoke_token(team.admin, team.id(team.consultant), token_id=token_id, reason="电脑丢失")
    again = api.post(f"/customers/{customer}/requests", headers=headers, json={"subject": "资料"})
    assert_problem(again, 401, "unauthenticated")
    assert "Idempotent-Replayed" not in again.headers and first.json()["entity_id"] not in again.text
    assert app.state(customer)["version"] == 2


def test_keys_belong_to_their_caller(api: TestClient, tokens: dict[str, str],  # noqa: F811
                                     app: RealtyLedger) -> None:
    customer = receive(api, tokens["consultant"])
    key = {"Idempotency-Key": "shared-key"}
    mine = api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"], **key),
                    json={"subject": "a"})
    theirs = api.post(f"/customers/{customer}/requests", headers=auth(tokens["manager"], **key),
                      json={"subject": "a"})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["entity_id"] != theirs.json()["entity_id"]
    assert app.state(customer)["version"] == 3


def test_a_refused_command_is_replayed_as_refused(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    customer = receive(api, tokens["consultant"])
    headers = auth(tokens["service"], **{"Idempotency-Key": "k-survey"})
    first = api.post(f"/customers/{customer}/surveys", headers=headers, json={"scores": {"overall": 7}})
    again = api.post(f"/customers/{customer}/surveys", headers=headers, json={"scores": {"overall": 7}})
    assert_problem(first, 422, "invalid_value")
    assert_problem(again, 422, "invalid_value")
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_malformed_key_is_refused(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    bad = api.post("/customers", headers=auth(tokens["consultant"], **{"Idempotency-Key": "x" * 201}), json={})
    assert_problem(bad, 400, "invalid_idempotency_key")


def test_every_request_gets_an_id_and_one_json_log_line_without_personal_data(
    api: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="realty.access")
    customer = receive(api, tokens["consultant"])
    api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
             json={"name": "钱多多", "phone": "13912345678", "id_number": "11010519491231002X"})
    read = api.get(f"/customers/{customer}", headers=auth(tokens["consultant"], **{"X-Request-ID": "trace-42"}))
    assert read.headers["X-Request-ID"] == "trace-42"
    generated = api.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    odd = api.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert odd != "<script>"  # not echoed: replaced by a generated id

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "realty.access"]
    assert any(line["request_id"] == "trace-42" and line["route"] == "/customers/{customer_id}"
               and line["status"] == 200 and line["actor_id"] for line in lines)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("钱多多", "13912345678", "11010519491231002X", tokens["consultant"]):
        assert secret not in text


def test_full_reads_of_personal_data_are_recorded_and_masked_reads_are_not(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger, team: Team  # noqa: F811
) -> None:
    import uuid
    from datetime import UTC, datetime

    from domain.access_log import access_log_id

    customer = receive(api, tokens["consultant"])
    api.get(f"/customers/{customer}", headers=auth(tokens["consultant"]))
    api.get(f"/customers/{customer}/history", headers=auth(tokens["consultant"]))
    api.get(f"/customers/{customer}", headers=auth(tokens["compliance"]))  # masked: not a full read

    today = datetime.now(UTC).date()
    reads = app.state(access_log_id(uuid.UUID(team.id(team.consultant)), today))["reads"]
    assert [(r["subject_id"], r["purpose"]) for r in reads] == [
        (customer, "customers.read"), (customer, "customers.history")]
    compliance_log = access_log_id(uuid.UUID(team.id(team.compliance)), today)
    with pytest.raises(Exception) as missing:
        app.state(compliance_log)
    assert getattr(missing.value, "code", None) == "not_found"


def test_a_service_account_reads_masked_and_writes_nothing(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    customer = receive(api, tokens["consultant"])
    api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
             json={"name": "孙小美", "phone": "13700001111"})
    read = api.get(f"/customers/{customer}", headers=auth(tokens["service_account"]))
    assert read.status_code == 200
    assert read.json()["phone"] == "1******1111" and "孙小美" not in read.text
    assert_problem(api.post(f"/customers/{customer}/requests", headers=auth(tokens["service_account"]),
                            json={"subject": "x"}), 403, "forbidden")
    assert_problem(api.post("/customers", headers=auth(tokens["service_account"]), json={}), 403, "forbidden")


def test_a_new_token_is_never_kept_with_its_key_and_a_retry_is_told_it_was_issued(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger, team: Team  # noqa: F811
) -> None:
    from service.idempotency import TABLE

    key = f"token-{team.id(team.consultant)}"
    headers = auth(tokens["admin"], **{"Idempotency-Key": key})
    first = api.post(f"/staff/{team.id(team.consultant)}/tokens", headers=headers, json={"label": "laptop"})
    assert first.status_code == 201 and first.headers["Cache-Control"] == "no-store"
    secret = first.json()["token"]
    stored = app.recorder.datastore  # type: ignore[attr-defined]
    from archive.sql import Database

    rows = Database(stored).query(f"SELECT status, body FROM {TABLE} WHERE key = ?", (key,))  # noqa: S608
    assert len(rows) == 1 and secret.encode() not in bytes(rows[0][1] or b"")  # the secret is not in the database
    again = api.post(f"/staff/{team.id(team.consultant)}/tokens", headers=headers, json={"label": "laptop"})
    assert_problem(again, 409, "idempotency_key_recorded")
    assert again.json()["entity_id"] == first.json()["token_id"] and secret not in again.text
    assert len(app.state(team.id(team.consultant))["tokens"]) == 1 + 1  # the tests' token and this one: not two


def test_an_answer_with_a_secret_kept_by_an_earlier_version_is_forgotten_on_start(
    app: RealtyLedger, team: Team  # noqa: F811
) -> None:
    from archive.sql import Database
    from service.idempotency import TABLE, IdempotencyStore

    db = Database(app.recorder.datastore)  # type: ignore[attr-defined]
    IdempotencyStore(app.recorder.datastore)  # type: ignore[attr-defined]
    key = f"legacy-{team.id(team.admin)}"
    created = "2026-11-01T00:00:00+00:00"
    db.execute(f"INSERT INTO {TABLE} (scope, key, fingerprint, status, headers, body, created_at) "  # noqa: S608
               "VALUES (?, ?, ?, 201, ?, ?, ?)", ("scope", key, "print",
                                                 json.dumps({"content-type": "application/json",
                                                             "cache-control": "no-store"}),
                                                 b'{"token": "rlt_secret"}', created))
    IdempotencyStore(app.recorder.datastore)  # type: ignore[attr-defined]  # a process starting
    ((status, body),) = db.query(f"SELECT status, body FROM {TABLE} WHERE key = ?", (key,))  # noqa: S608
    assert status == 409 and b"rlt_secret" not in bytes(body)
    assert json.loads(bytes(body))["code"] == "idempotency_key_recorded"
