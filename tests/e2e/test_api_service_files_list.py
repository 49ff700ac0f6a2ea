"""``GET /service-files`` over HTTP, on both backends, each on a store of its own (the list walks
every file in the log): what each file answers (documents, active holds, disposition, retention
end) as the file itself and the retention-due list say, the filters, paging with limit and offset,
and who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.e2e.test_api import assert_problem, auth
from tests.integration.scenarios import list_flat, receive, sign
from tests.integration.test_service_files import CONTRACT, ID_COPY, RECEIPT, SHORT_POLICY, lost_customer_with_a_file


@pytest.fixture
def served(own_database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, RealtyLedger, Team, dict[str, str]]]:
    """The API on a store of the test's own, keeping a lost customer's file one day (SHORT_POLICY)."""
    policy = tmp_path / "retention.toml"
    policy.write_text(SHORT_POLICY, encoding="utf-8")
    ledger = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys",
                                        retention_policy=policy, documents_path=tmp_path / "documents"))
    try:
        team = register_team(ledger)
        issued = {field: ledger.issue_token(team.admin, team.id(getattr(team, field)), label="tests")[0]
                  for field in ("consultant", "manager", "archivist", "compliance", "admin", "service_account")}
        with TestClient(create_app(ledger=ledger)) as client:
            yield client, ledger, team, issued
    finally:
        ledger.close()


def listed(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    answer = client.get("/service-files", params=params, headers=auth(token))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def deal_file(ledger: RealtyLedger, team: Team) -> str:
    deal = sign(ledger, team, receive(ledger, team), list_flat(ledger, team.consultant))
    file_id = ledger.open_service_file(team.consultant, owner_kind="deal", owner_id=deal, record_class="deal_file").id
    for content, kind in ((CONTRACT, "contract"), (ID_COPY, "id_copy"), (RECEIPT, "receipt")):
        ledger.upload_document(team.consultant, file_id, content=content, kind=kind)
    return file_id


def test_each_file_answers_what_the_file_and_the_retention_due_list_say(served: Any) -> None:
    client, ledger, team, issued = served
    archivist, compliance = issued["archivist"], issued["compliance"]
    customer, lost_file, _ = lost_customer_with_a_file(ledger, team)
    deal = deal_file(ledger, team)
    for action in ("check_completeness", "file", "seal"):
        ledger.file_command(team.archivist, deal, action)

    page = listed(client, archivist)
    assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (2, 100, 0, None)
    rows = {row["file_id"]: row for row in page["items"]}
    assert [row["file_id"] for row in page["items"]] == [lost_file, deal]  # the order they were opened
    for file_id, row in rows.items():
        file = client.get(f"/service-files/{file_id}", headers=auth(archivist)).json()
        assert row == {"file_id": file_id, "record_class": file["record_class"], "owner_kind": file["owner_kind"],
                       "owner_id": file["owner_id"], "status": file["status"],
                       "archive_number": file["archive_number"], "documents": len(file["documents"]),
                       "holds": [], "disposition": None, "retention_end": file["retention_end"]}
    assert rows[deal]["status"] == "sealed" and rows[deal]["archive_number"].startswith("DF-")
    assert rows[deal]["documents"] == 3 and rows[deal]["retention_end"] is None  # the deal is still open
    assert rows[lost_file]["owner_id"] == customer and rows[lost_file]["retention_end"] is not None

    # A hold shows in both lists alike; so does a proposal, and once carried out, the certificate's end.
    hold = client.post(f"/service-files/{lost_file}/holds", headers=auth(compliance), json={"reason": "调查令"})
    assert hold.status_code == 201, hold.text
    (row,) = listed(client, compliance, owner_id=customer)["items"]
    (due,) = [d for d in client.get("/retention/due", headers=auth(compliance)).json() if d["file_id"] == lost_file]
    assert row["holds"] == due["holds"] and [h["hold_id"] for h in row["holds"]] == [hold.json()["entity_id"]]
    assert {k: due[k] for k in row} == row  # the due list answers the same fields, and the rule besides
    assert due["rule"].startswith("customer_file: 1d from last_contact")
    client.post(f"/service-files/{lost_file}/holds/{hold.json()['entity_id']}/release", headers=auth(compliance),
                json={"reason": "结案"})
    assert client.post(f"/service-files/{lost_file}/disposition/proposal", headers=auth(archivist)).status_code == 201
    assert listed(client, archivist, owner_id=customer)["items"][0]["disposition"] == "proposed"
    approved = client.post(f"/service-files/{lost_file}/disposition/approval", headers=auth(compliance))
    assert approved.status_code == 200, approved.text
    (row,) = listed(client, archivist, owner_id=customer)["items"]
    assert (row["status"], row["disposition"], row["holds"]) == ("disposed", "carried_out", [])
    certified = approved.json()["certificate"]["retention_end"]
    assert datetime.fromisoformat(row["retention_end"]) == datetime.fromisoformat(certified)


def test_filters_and_pages(served: Any) -> None:
    client, ledger, team, issued = served
    token = issued["compliance"]
    customers = [lost_customer_with_a_file(ledger, team) for _ in range(3)]
    deal = deal_file(ledger, team)
    ledger.file_command(team.archivist, deal, "check_completeness")
    ledger.file_command(team.archivist, deal, "file")

    assert listed(client, token, status="filed")["total"] == 1
    assert [r["file_id"] for r in listed(client, token, status="open")["items"]] == [c[1] for c in customers]
    assert listed(client, token, record_class="deal_file")["items"][0]["file_id"] == deal
    assert listed(client, token, record_class="complaint_record")["total"] == 0
    assert listed(client, token, owner_id=customers[1][0])["items"][0]["file_id"] == customers[1][1]
    assert listed(client, token, owner_id=customers[1][0], record_class="deal_file")["total"] == 0

    every = listed(client, token)["items"]
    first = listed(client, token, limit=3)
    assert (first["total"], first["next_offset"], first["items"]) == (4, 3, every[:3])
    last = listed(client, token, limit=3, offset=3)
    assert (last["next_offset"], last["items"]) == (None, every[3:])
    assert listed(client, token, offset=10)["items"] == []

    for params, code in (({"status": "lost"}, None), ({"record_class": "tax_file"}, "invalid_value"),
                         ({"owner_id": "not-an-id"}, None), ({"limit": 0}, None), ({"limit": 501}, None),
                         ({"offset": -1}, None)):
        answer = client.get("/service-files", params=params, headers=auth(token))
        assert answer.status_code == 422, (params, answer.text)
        if code:
            assert_problem(answer, 422, code)


def test_only_the_archivist_and_the_compliance_officer_may_list_files(served: Any) -> None:
    client, ledger, team, issued = served
    lost_customer_with_a_file(ledger, team)
    for role in ("archivist", "compliance"):
        assert listed(client, issued[role])["total"] == 1
    for role in ("consultant", "manager", "admin", "service_account"):
        assert_problem(client.get("/service-files", headers=auth(issued[role])), 403, "forbidden")
    assert client.get("/service-files").status_code == 401
