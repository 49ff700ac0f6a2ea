"""``GET /audit/access-log`` on both backends: who read whose personal data in full, found on the
readers' access logs by id (one log per reader and day); ids only, so reading it records nothing;
bad ranges refused; only compliance officers and administrators may ask."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from archive.signing import Checkpoint, load_public_keys, verify_checkpoint
from service.application import RealtyLedger
from tests.conftest import Team
from tests.e2e.test_api import api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures


def reads_of(api: TestClient, token: str, **query: str) -> list[dict]:  # noqa: F811
    answer = api.get("/audit/access-log", headers=auth(token), params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()["reads"]


def test_full_reads_by_an_officer_and_a_consultant_show_up_newest_first_and_masked_reads_do_not(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    assert api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
                    json={"name": "钱访问", "phone": "13911113333"}).status_code == 200
    assert api.get(f"/customers/{customer}", headers=auth(tokens["consultant"])).status_code == 200  # in full
    assert api.get(f"/audit/customers/{customer}/history", headers=auth(tokens["compliance"])).status_code == 200
    assert api.get(f"/audit/customers/{customer}/history", headers=auth(tokens["admin"])).status_code == 200  # masked

    officer, consultant, admin = (team.id(m) for m in (team.compliance, team.consultant, team.admin))
    mine = reads_of(api, tokens["compliance"], reader=officer)
    assert [(r["subject_id"], r["subject_kind"], r["purpose"], r["reader_role"]) for r in mine
            if r["subject_id"] == customer] == [(customer, "customer", "audit.history", "compliance_officer")]
    theirs = [r for r in reads_of(api, tokens["admin"], reader=consultant) if r["subject_id"] == customer]
    assert [(r["purpose"], r["reader_id"], r["reader_role"]) for r in theirs] == [
        ("customers.read", consultant, "property_consultant")]
    assert reads_of(api, tokens["compliance"], reader=admin) == []  # the administrator saw it masked

    # Every staff member's reads (the default), newest first, ids only.
    everyone = [r for r in reads_of(api, tokens["compliance"]) if r["subject_id"] == customer]
    assert [r["reader_id"] for r in everyone] == [officer, consultant]
    assert all(a["at"] >= b["at"] for a, b in zip(everyone, everyone[1:], strict=False))
    today = datetime.now(UTC).date().isoformat()
    assert {r["day"] for r in everyone} == {today}
    assert "钱访问" not in str(everyone) and "13911113333" not in str(everyone)


def test_reading_the_access_log_is_not_itself_a_read_of_personal_data(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    officer = team.id(team.compliance)
    customer = receive(api, tokens["consultant"])
    api.get(f"/audit/customers/{customer}/history", headers=auth(tokens["compliance"]))
    before = reads_of(api, tokens["compliance"], reader=officer)
    for _ in range(3):
        reads_of(api, tokens["compliance"], reader=officer)
    assert reads_of(api, tokens["compliance"], reader=officer) == before


def test_the_range_defaults_to_the_last_seven_days_and_takes_at_most_thirty_one(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    officer = auth(tokens["compliance"])
    today = datetime.now(UTC).date()
    default = api.get("/audit/access-log", headers=officer, params={"reader": team.id(team.compliance)}).json()
    assert (default["from"], default["to"]) == ((today - timedelta(days=6)).isoformat(), today.isoformat())
    assert default["reader"] == team.id(team.compliance)
    span = api.get("/audit/access-log", headers=officer, params={
        "reader": team.id(team.compliance), "from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()})
    assert span.status_code == 200 and span.json()["from"] == (today - timedelta(days=30)).isoformat()

    for query, code in [
        ({"from": (today - timedelta(days=31)).isoformat(), "to": today.isoformat()}, "invalid_value"),  # 32 days
        ({"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()}, "invalid_value"),  # reversed
        ({"to": "2026-02-30"}, "invalid_request"),
        ({"from": "last week"}, "invalid_request"),
        ({"reader": "孟芳"}, "invalid_value"),
    ]:
        assert_problem(api.get("/audit/access-log", headers=officer, params=query), 422, code)


def test_only_compliance_officers_and_administrators_may_read_the_access_log(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    for role in ("consultant", "manager", "customer_manager", "service", "archivist", "service_account"):
        assert_problem(api.get("/audit/access-log", headers=auth(tokens[role])), 403, "forbidden")
    assert api.get("/audit/access-log", headers=auth(tokens["admin"])).status_code == 200
    assert_problem(api.get("/audit/access-log"), 401, "unauthenticated")



def test_the_public_keys_route_gives_the_keys_that_verify_the_latest_checkpoint(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    """What the console checks each checkpoint's signature with: the text `realty audit public-key` prints."""
    receive(api, tokens["consultant"])
    app.audit.checkpoint()
    answer = api.get("/audit/public-keys", headers=auth(tokens["compliance"]))
    assert answer.status_code == 200
    keys = load_public_keys(answer.json()["file"])
    assert {k["key_id"] for k in answer.json()["keys"]} == set(keys) and keys
    assert answer.json()["file"] == app.audit.keyring.export_public()
    latest = api.get("/audit/checkpoints/latest", headers=auth(tokens["compliance"])).json()
    verify_checkpoint(Checkpoint.from_json(json.dumps(latest)), keys)  # raises if it does not verify
    assert_problem(api.get("/audit/public-keys", headers=auth(tokens["consultant"])), 403, "forbidden")


def test_the_checkpoints_route_lists_every_signed_checkpoint_newest_first(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    receive(api, tokens["consultant"])
    first = app.audit.checkpoint()
    receive(api, tokens["consultant"])
    second = app.audit.checkpoint()
    answer = api.get("/audit/checkpoints", headers=auth(tokens["compliance"]), params={"limit": 2})
    assert answer.status_code == 200
    listed = answer.json()["checkpoints"]
    assert [c["tree_size"] for c in listed] == [second.tree_size, first.tree_size]
    assert listed[0] == api.get("/audit/checkpoints/latest", headers=auth(tokens["compliance"])).json()
    assert answer.json()["total"] >= 2
    assert_problem(api.get("/audit/checkpoints", headers=auth(tokens["compliance"]), params={"limit": 0}),
                   422, "invalid_request")
    assert_problem(api.get("/audit/checkpoints", headers=auth(tokens["archivist"])), 403, "forbidden")
