"""Service files over HTTP, on both backends: each role's part of the archiving flow with its own
token, raw document bodies judged by their bytes, downloads that return the very bytes collected
(and record the read first), scopes (another team's consultant is told 404, a service account
403), the upload limit that replaces the general 1 MiB, and a full two-person disposition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.e2e.test_api import api, assert_problem, auth, tokens  # noqa: F401 - fixtures
from tests.integration.scenarios import list_flat, receive, sign
from tests.integration.test_service_files import (
    CONTRACT,
    CONTRACT_V2,
    ID_COPY,
    RECEIPT,
    SHORT_POLICY,
    lost_customer_with_a_file,
)

PDF, PNG = {"Content-Type": "application/pdf"}, {"Content-Type": "image/png"}


def upload(client: TestClient, token: str, file_id: str, content: bytes, kind: str, **headers: str) -> Any:
    return client.post(f"/service-files/{file_id}/documents?kind={kind}", content=content,
                    headers=auth(token, **headers))


def open_deal_file(client: TestClient, app: RealtyLedger, team: Team, token: str) -> str:
    deal = sign(app, team, receive(app, team), list_flat(app, team.consultant))
    r = client.post("/service-files", headers=auth(token),
                 json={"owner_kind": "deal", "owner_id": deal, "record_class": "deal_file"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/service-files/{r.json()['id']}"
    return str(r.json()["id"])


def test_a_deal_file_through_the_api_each_role_doing_its_part(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    consultant, archivist, compliance = tokens["consultant"], tokens["archivist"], tokens["compliance"]
    file_id = open_deal_file(api, app, team, consultant)

    r = upload(api, consultant, file_id, CONTRACT, "contract", **PDF)
    assert r.status_code == 201, r.text
    contract = r.json()["entity_id"]
    assert r.headers["Location"] == f"/service-files/{file_id}/documents/{contract}"
    assert upload(api, consultant, file_id, ID_COPY, "id_copy", **PNG).status_code == 201
    # No declared type (or "I don't know"): the bytes decide.
    assert upload(api, consultant, file_id, RECEIPT, "receipt",
                  **{"Content-Type": "application/octet-stream"}).status_code == 201

    r = api.post(f"/service-files/{file_id}/completeness-check", headers=auth(archivist))
    assert r.status_code == 200 and r.json()["missing"] == [] and r.json()["complete"] is True
    r = api.post(f"/service-files/{file_id}/filing", headers=auth(archivist))
    assert r.status_code == 200, r.text
    number = r.json()["archive_number"]
    assert number.startswith("DF-") and r.headers["ETag"] == f'"{r.json()["version"]}"'
    assert api.post(f"/service-files/{file_id}/seal", headers=auth(archivist)).status_code == 200
    assert_problem(api.post(f"/service-files/{file_id}/seal", headers=auth(consultant)), 403, "forbidden")

    # An update: refused on the sealed file, then reopened with a reason; the reason rides in a header.
    reason = {"X-Change-Reason": quote("客户补签第三页")}
    versions = f"/service-files/{file_id}/documents/{contract}/versions"
    assert_problem(api.post(versions, content=CONTRACT_V2, headers=auth(consultant, **PDF, **reason)), 409,
                   "invalid_service_file_transition")
    assert api.post(f"/service-files/{file_id}/reopen", headers=auth(archivist),
                    json={"reason": "补签合同第三页"}).status_code == 200
    body = assert_problem(api.post(versions, content=CONTRACT_V2, headers=auth(consultant, **PDF)), 422,
                          "invalid_request")
    assert any("x-change-reason" in e["field"].lower() for e in body["errors"])
    r = api.post(versions, content=CONTRACT_V2, headers=auth(consultant, **PDF, **reason))
    assert r.status_code == 201, r.text

    state = api.get(f"/service-files/{file_id}", headers=auth(consultant))
    assert state.status_code == 200 and state.headers["ETag"] == f'"{state.json()["version"]}"'
    file = state.json()
    assert "storage_key" not in state.text and "key_id" not in state.text
    assert file["archive_number"] == number and file["status"] == "open" and file["retention_end"] is None
    (doc,) = [d for d in file["documents"] if d["document_id"] == contract]
    assert [(v["version"], v["change_reason"], v["media_type"]) for v in doc["versions"]] == [
        (1, None, "application/pdf"), (2, "客户补签第三页", "application/pdf")]
    assert doc["versions"][0]["sha256"] == hashlib.sha256(CONTRACT).hexdigest()

    # Downloads: the bytes collected, as an attachment nobody caches; the read is on the file first.
    r = api.get(f"/service-files/{file_id}/documents/{contract}?version=1",
                headers=auth(compliance, **{"X-Read-Purpose": quote("合规抽查")}))
    assert r.status_code == 200 and r.content == CONTRACT
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert api.get(f"/service-files/{file_id}/documents/{contract}",
                   headers=auth(archivist, **{"X-Read-Purpose": "x"})).content == CONTRACT_V2
    read = app.history(file_id)[-2]
    assert (read["name"], read["actor_role"], read["data"]["read_purpose"]) == (
        "ServiceFile.DocumentRead", "compliance_officer", "合规抽查")
    assert_problem(api.get(f"/service-files/{file_id}/documents/{contract}", headers=auth(compliance)), 422,
                   "invalid_request")

    # Holds and retention: compliance holds; nothing is due while the deal is open.
    r = api.post(f"/service-files/{file_id}/holds", headers=auth(compliance), json={"reason": "法院调查令"})
    assert r.status_code == 201, r.text
    hold = r.json()["entity_id"]
    assert api.get(f"/service-files/{file_id}", headers=auth(archivist)).json()["active_holds"] == [hold]
    assert api.post(f"/service-files/{file_id}/holds/{hold}/release", headers=auth(compliance),
                    json={"reason": "调查结束"}).status_code == 200
    assert_problem(api.post(f"/service-files/{file_id}/disposition/proposal", headers=auth(archivist)), 422,
                   "invalid_value")
    due = api.get("/retention/due", headers=auth(archivist))
    assert due.status_code == 200 and file_id not in {d["file_id"] for d in due.json()}
    assert_problem(api.get("/retention/due", headers=auth(consultant)), 403, "forbidden")


def test_what_the_bytes_are_decides_not_what_the_sender_says(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    file_id = open_deal_file(api, app, team, tokens["consultant"])
    version = app.state(file_id)["version"]
    body = assert_problem(upload(api, tokens["consultant"], file_id, ID_COPY, "id_copy", **PDF), 415,
                          "document_type_mismatch")
    assert body["detected"] == "image/png"
    text = "这不是PDF，只是改了扩展名的文本文件。".encode()
    assert_problem(upload(api, tokens["consultant"], file_id, text, "contract", **PDF), 415,
                   "unsupported_document_type")
    assert_problem(upload(api, tokens["consultant"], file_id, CONTRACT, "passport", **PDF), 422, "invalid_request")
    # A document over the general 1 MiB is still a document: the upload route has its own limit.
    big = CONTRACT + b"%" * (1536 * 1024)
    r = upload(api, tokens["consultant"], file_id, big, "contract", **PDF)
    assert r.status_code == 201, r.text
    assert app.state(file_id)["version"] == version + 1
    customer = receive(app, team)
    assert_problem(api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                            content=b'{"subject": "' + b"x" * (1024 * 1024) + b'"}'), 413, "payload_too_large")


def test_another_teams_consultant_is_told_404_and_a_service_account_403(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    file_id = open_deal_file(api, app, team, tokens["consultant"])
    contract = upload(api, tokens["consultant"], file_id, CONTRACT, "contract", **PDF).json()["entity_id"]
    other = register_team(app, name="徐汇二组")
    stranger, _ = app.issue_token(other.admin, other.id(other.consultant), label="tests")
    for path in (f"/service-files/{file_id}", f"/service-files/{file_id}/documents/{contract}"):
        theirs = api.get(path, headers=auth(stranger, **{"X-Read-Purpose": "x"}))
        missing = api.get(path.replace(file_id, "0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10"),
                          headers=auth(stranger, **{"X-Read-Purpose": "x"}))
        assert_problem(theirs, 404, "not_found")
        assert_problem(missing, 404, "not_found")
        assert_problem(api.get(path, headers=auth(tokens["service_account"])), 403, "forbidden")
    assert_problem(upload(api, stranger, file_id, CONTRACT, "contract", **PDF), 404, "not_found")
    # The teammate who does not hold the customer is outside an ASSIGNED scope too; the manager is in.
    assert_problem(api.get(f"/service-files/{file_id}", headers=auth(tokens["second_consultant"])), 404, "not_found")
    assert api.get(f"/service-files/{file_id}", headers=auth(tokens["manager"])).status_code == 200
    assert app.history(file_id)[-1]["name"] == "ServiceFile.DocumentCollected"  # no read was recorded


@pytest.fixture
def own(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, RealtyLedger,
                                                                                             Team, dict[str, str]]]:
    """An API on a ledger of the test's own settings (``@pytest.mark.parametrize("settings", ...)``)."""
    settings: dict[str, Any] = dict(request.param)
    if "retention_policy" in settings:
        policy = tmp_path / "retention.toml"
        policy.write_text(settings["retention_policy"], encoding="utf-8")
        settings["retention_policy"] = policy
    ledger = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys", **settings))
    try:
        team = register_team(ledger)
        issued = {field: ledger.issue_token(team.admin, team.id(getattr(team, field)), label="tests")[0]
                  for field in ("consultant", "archivist", "compliance")}
        with TestClient(create_app(ledger=ledger)) as client:
            yield client, ledger, team, issued
    finally:
        ledger.close()


@pytest.mark.parametrize("own", [{"max_document_bytes": 1024}], indirect=True)
def test_a_document_over_the_upload_limit_is_413_and_records_nothing(own: Any) -> None:
    client, ledger, team, issued = own
    customer = receive(ledger, team)
    file_id = ledger.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                       record_class="customer_file").id
    assert_problem(upload(client, issued["consultant"], file_id, CONTRACT + b"%" * 1024, "id_copy", **PDF), 413,
                   "document_too_large")
    assert ledger.state(file_id)["version"] == 1


@pytest.mark.parametrize("own", [{"retention_policy": SHORT_POLICY}], indirect=True)
def test_a_disposition_proposed_by_the_archivist_approved_by_compliance_answers_the_certificate(own: Any) -> None:
    client, ledger, team, issued = own
    customer, file_id, id_copy = lost_customer_with_a_file(ledger, team)
    due = client.get("/retention/due", headers=auth(issued["compliance"])).json()
    assert [d["disposition"] for d in due if d["file_id"] == file_id] == [None]
    r = client.post(f"/service-files/{file_id}/disposition/proposal", headers=auth(issued["archivist"]))
    assert r.status_code == 201, r.text
    assert_problem(client.post(f"/service-files/{file_id}/disposition/approval", headers=auth(issued["archivist"])),
                   403, "forbidden")
    r = client.post(f"/service-files/{file_id}/disposition/approval", headers=auth(issued["compliance"]))
    assert r.status_code == 200, r.text
    certificate = r.json()["certificate"]
    assert certificate["destroyed_documents"] == [{"document_id": id_copy, "version": 1}]
    assert certificate["approved_by"] == team.id(team.compliance) and certificate["destroyed_keys"]
    assert_problem(client.get(f"/service-files/{file_id}/documents/{id_copy}",
                              headers=auth(issued["compliance"], **{"X-Read-Purpose": "x"})), 410, "service_file_disposed")
    assert client.get(f"/service-files/{file_id}", headers=auth(issued["archivist"])).json()["status"] == "disposed"
    assert ledger.state(customer)["name"] == "[erased]"
