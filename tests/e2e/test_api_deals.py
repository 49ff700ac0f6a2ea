"""Listings and deals over HTTP on both backends: the journey from listing to closing, each step
as the role that would take it; review by another person; scope through the deal's customer;
conditional commands; payer accounts masked for roles that do not handle the money."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from service.application import RealtyLedger
from service.redaction import mask
from tests.conftest import Team, register_team
from tests.e2e.test_api import api, assert_problem, auth, now, receive, tokens  # noqa: F401 - fixtures

PRICE = 5_000_000
ACCOUNT = "6222020200112233445"
LISTING = {"district": "浦东", "address": "锦绣路1888弄3号1201室", "area": 89.5, "rooms": 2, "price": PRICE,
           "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True}


def list_property(api: TestClient, token: str, **changes: Any) -> str:  # noqa: F811
    r = api.post("/listings", headers=auth(token), json={**LISTING, **changes})
    assert r.status_code == 201, r.text
    listing = str(r.json()["id"])
    assert r.headers["Location"] == f"/listings/{listing}" and r.headers["ETag"] == '"1"'
    return listing


def draft(api: TestClient, token: str, customer: str, listing: str, price: int = PRICE) -> Any:  # noqa: F811
    return api.post("/deals", headers=auth(token), json={
        "customer_id": customer, "listing_id": listing, "price": price, "terms": "首付三成，商业贷款，60日内交房"})


def drafted(api: TestClient, token: str, customer: str, listing: str) -> str:  # noqa: F811
    r = draft(api, token, customer, listing)
    assert r.status_code == 201, r.text
    deal = str(r.json()["id"])
    assert r.headers["Location"] == f"/deals/{deal}" and r.headers["ETag"] == '"1"'
    return deal


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def signed_deal(api: TestClient, tokens: dict[str, str]) -> str:  # noqa: F811
    """A deal of the consultant's customer, approved by the manager and signed."""
    customer = receive(api, tokens["consultant"])
    deal = drafted(api, tokens["consultant"], customer, list_property(api, tokens["consultant"]))
    ok(api.post(f"/deals/{deal}/submission", headers=auth(tokens["consultant"])))
    ok(api.post(f"/deals/{deal}/approval", headers=auth(tokens["manager"])))
    ok(api.post(f"/deals/{deal}/signing", headers=auth(tokens["consultant"]), json={"contract_number": "HT-1"}))
    return deal


def test_the_deal_journey_from_listing_to_after_sales_as_each_role_would_do_it(
    api: TestClient, tokens: dict[str, str], team: Team  # noqa: F811
) -> None:
    consultant, manager = auth(tokens["consultant"]), auth(tokens["manager"])
    listing = list_property(api, tokens["consultant"])
    customer = receive(api, tokens["consultant"])
    deal = drafted(api, tokens["consultant"], customer, listing)
    assert api.get(f"/listings/{listing}", headers=consultant).json()["open_deal_id"] == deal

    ok(api.post(f"/deals/{deal}/submission", headers=consultant))
    assert_problem(api.post(f"/deals/{deal}/approval", headers=consultant), 403, "forbidden")  # no approvals
    etag = api.get(f"/deals/{deal}", headers=manager).headers["ETag"]
    approved = ok(api.post(f"/deals/{deal}/approval", headers={**manager, "If-Match": etag},
                           json={"note": "条款齐全"}))
    assert approved.headers["ETag"] == '"3"'

    ok(api.post(f"/deals/{deal}/signing", headers=consultant, json={"contract_number": "HT-2024-0001"}))
    assert api.get(f"/listings/{listing}", headers=consultant).json()["status"] == "reserved"
    ok(api.post(f"/deals/{deal}/required-documents", headers=consultant,
                json={"kinds": ["id_card", "loan_approval"]}))
    for kind in ("id_card", "loan_approval"):
        ok(api.post(f"/deals/{deal}/documents/{kind}/receipt", headers=consultant))
        ok(api.post(f"/deals/{deal}/documents/{kind}/verification", headers=consultant, json={}))
    down = ok(api.post(f"/deals/{deal}/payments", headers=consultant,
                       json={"kind": "down_payment", "amount": 1_500_000, "payer_account": ACCOUNT}), 201)
    assert down.json()["entity_id"]
    ok(api.post(f"/deals/{deal}/payments", headers=consultant,
                json={"kind": "loan_disbursement", "amount": PRICE - 1_500_000, "payer_account": ACCOUNT}), 201)
    ok(api.post(f"/deals/{deal}/settlement", headers=consultant))
    assert api.get(f"/listings/{listing}", headers=consultant).json()["status"] == "sold"
    ok(api.post(f"/deals/{deal}/handover", headers=consultant, json={"note": "钥匙与水电卡已交付"}))
    ok(api.post(f"/deals/{deal}/closing", headers=consultant))

    state = api.get(f"/deals/{deal}", headers=consultant).json()
    assert (state["status"], state["paid"], state["reviewed_by"]) == ("closed", PRICE, team.id(team.manager))
    assert state["documents"] == {"id_card": "verified", "loan_approval": "verified"}
    assert api.get(f"/customers/{customer}", headers=consultant).json()["stage"] == "after_sales"
    history = api.get(f"/deals/{deal}/history", headers=manager).json()
    steps = [(e["name"].split(".")[1], e["actor_role"]) for e in history]
    c, m = "property_consultant", "sales_manager"
    assert steps == [
        ("Drafted", c), ("SubmittedForReview", c), ("Approved", m), ("Signed", c), ("DocumentsRequired", c),
        ("DocumentReceived", c), ("DocumentVerified", c), ("DocumentReceived", c), ("DocumentVerified", c),
        ("PaymentRecorded", c), ("PaymentRecorded", c), ("FundsSettled", c), ("HandoverConfirmed", c),
        ("Closed", c),
    ]
    assert {e["actor_id"] for e in history} == {team.id(team.consultant), team.id(team.manager)}
    listing_history = api.get(f"/listings/{listing}/history", headers=consultant).json()
    assert [e["name"] for e in listing_history] == [
        "Listing.Listed", "Listing.DealOpened", "Listing.Reserved", "Listing.Sold"]


def test_a_listing_holds_one_open_deal_until_it_is_cancelled(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    listing = list_property(api, tokens["consultant"])
    first = drafted(api, tokens["consultant"], receive(api, tokens["consultant"]), listing)
    second_customer = receive(api, tokens["consultant"])
    assert_problem(draft(api, tokens["consultant"], second_customer, listing), 409, "listing_has_open_deal")
    assert_problem(api.post(f"/listings/{listing}/withdrawal", headers=auth(tokens["consultant"]),
                            json={"reason": "业主暂不出售"}), 409, "listing_has_open_deal")
    assert app.state(second_customer)["version"] == 1  # nothing recorded for the refused draft

    ok(api.post(f"/deals/{first}/cancellation", headers=auth(tokens["manager"]), json={"reason": "客户贷款未获批"}))
    released = api.get(f"/listings/{listing}", headers=auth(tokens["consultant"])).json()
    assert (released["status"], released["open_deal_id"]) == ("available", None)
    drafted(api, tokens["consultant"], second_customer, listing)


def test_a_manager_who_drafted_a_deal_cannot_approve_it(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    customer = receive(api, tokens["consultant"])  # of the manager's team
    deal = drafted(api, tokens["manager"], customer, list_property(api, tokens["manager"]))
    ok(api.post(f"/deals/{deal}/submission", headers=auth(tokens["manager"])))
    assert_problem(api.post(f"/deals/{deal}/approval", headers=auth(tokens["manager"])), 403, "self_approval")
    assert_problem(api.post(f"/deals/{deal}/rejection", headers=auth(tokens["manager"]),
                            json={"reason": "自审"}), 403, "self_approval")
    ok(api.post(f"/deals/{deal}/approval", headers=auth(tokens["second_manager"])))


def test_a_stale_if_match_is_412_and_changes_nothing(api: TestClient, tokens: dict[str, str],  # noqa: F811
                                                     app: RealtyLedger) -> None:
    customer = receive(api, tokens["consultant"])
    listing = list_property(api, tokens["consultant"])
    deal = drafted(api, tokens["consultant"], customer, listing)
    etag = api.get(f"/deals/{deal}", headers=auth(tokens["consultant"])).headers["ETag"]
    assert etag == '"1"'
    ok(api.post(f"/deals/{deal}/submission", headers=auth(tokens["consultant"], **{"If-Match": etag})))
    stale = api.post(f"/deals/{deal}/approval", headers=auth(tokens["manager"], **{"If-Match": etag}))
    assert_problem(stale, 412, "precondition_failed")
    assert app.state(deal)["status"] == "in_review" and app.state(deal)["version"] == 2

    stale_price = api.post(f"/listings/{listing}/price", json={"new_price": 4_800_000, "reason": "业主降价"},
                           headers=auth(tokens["consultant"], **{"If-Match": '"1"'}))
    assert_problem(stale_price, 412, "precondition_failed")  # drafting the deal moved the listing on
    fresh = api.post(f"/listings/{listing}/price", json={"new_price": 4_800_000, "reason": "业主降价"},
                     headers=auth(tokens["consultant"], **{"If-Match": '"2"'}))
    assert ok(fresh).headers["ETag"] == '"3"'
    assert api.get(f"/listings/{listing}", headers=auth(tokens["customer_manager"])).json()["price"] == 4_800_000


def test_a_deal_is_seen_only_by_those_who_may_see_its_customer(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    deal = drafted(api, tokens["consultant"], customer, list_property(api, tokens["consultant"]))
    missing = api.get(f"/deals/{uuid.uuid4()}", headers=auth(tokens["second_consultant"]))
    theirs = api.get(f"/deals/{deal}", headers=auth(tokens["second_consultant"]))
    assert_problem(missing, 404, "not_found")
    assert_problem(theirs, 404, "not_found")
    assert theirs.json()["title"] == missing.json()["title"]
    assert_problem(api.get(f"/deals/{deal}/history", headers=auth(tokens["second_consultant"])), 404, "not_found")
    assert_problem(api.post(f"/deals/{deal}/submission", headers=auth(tokens["second_consultant"])),
                   404, "not_found")
    assert_problem(draft(api, tokens["second_consultant"], customer, list_property(api, tokens["consultant"])),
                   404, "not_found")  # a deal only for a customer of one's own
    assert_problem(api.get(f"/deals/{deal}", headers=auth(tokens["customer_manager"])), 404, "not_found")
    for field in ("manager", "service", "compliance"):  # the team, and compliance on everything
        assert api.get(f"/deals/{deal}", headers=auth(tokens[field])).status_code == 200, field
    assert_problem(api.post(f"/deals/{deal}/submission", headers=auth(tokens["service"])), 403, "forbidden")
    assert_problem(api.get(f"/deals/{deal}", headers=auth(tokens["archivist"])), 403, "forbidden")

    other_team = register_team(app, f"徐汇{uuid.uuid4().hex[:6]}组")
    outsider, _ = app.issue_token(other_team.admin, other_team.id(other_team.manager), label="tests")
    assert_problem(api.get(f"/deals/{deal}", headers=auth(outsider)), 404, "not_found")
    ok(api.post(f"/deals/{deal}/submission", headers=auth(tokens["consultant"])))
    assert_problem(api.post(f"/deals/{deal}/approval", headers=auth(outsider)), 404, "not_found")
    assert app.state(deal)["status"] == "in_review"


def test_payer_accounts_are_masked_for_roles_that_do_not_handle_the_money(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    deal = signed_deal(api, tokens)
    ok(api.post(f"/deals/{deal}/payments", headers=auth(tokens["consultant"]),
                json={"kind": "down_payment", "amount": 1_500_000, "payer_account": ACCOUNT}), 201)
    for field in ("consultant", "manager"):
        assert api.get(f"/deals/{deal}", headers=auth(tokens[field])).json()["payments"][0]["payer_account"] == ACCOUNT
    for field in ("compliance", "service"):
        audited = api.get(f"/deals/{deal}", headers=auth(tokens[field]))
        assert audited.json()["payments"][0]["payer_account"] == mask(ACCOUNT) == "6**************3445"
        assert audited.json()["payments"][0]["amount"] == 1_500_000
        history = api.get(f"/deals/{deal}/history", headers=auth(tokens[field]))
        assert history.status_code == 200 and ACCOUNT not in audited.text and ACCOUNT not in history.text
    assert_problem(api.post(f"/deals/{deal}/payments", headers=auth(tokens["compliance"]),
                            json={"kind": "balance", "amount": 1, "payer_account": ACCOUNT}), 403, "forbidden")


def test_amounts_are_whole_numbers_and_bad_deal_input_stores_nothing(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    deal = signed_deal(api, tokens)
    version = app.state(deal)["version"]
    payments = f"/deals/{deal}/payments"
    consultant = auth(tokens["consultant"])
    for amount in ("1500000", 1500000.5, True):
        assert_problem(api.post(payments, headers=consultant, json={
            "kind": "down_payment", "amount": amount, "payer_account": ACCOUNT}), 422, "invalid_request")
    assert_problem(api.post(payments, headers=consultant, json={
        "kind": "gift", "amount": 1, "payer_account": ACCOUNT}), 422, "invalid_request")
    assert_problem(api.post(payments, headers=consultant, json={
        "kind": "balance", "amount": PRICE + 1, "payer_account": ACCOUNT}), 422, "invalid_value")
    assert_problem(api.post(payments, headers=consultant, json={
        "kind": "balance", "amount": 1, "payer_account": "<script>alert(1)</script>"}), 422, "invalid_value")
    assert_problem(api.post(f"/deals/{deal}/documents/passport/receipt", headers=consultant), 422, "invalid_request")
    assert_problem(api.post(f"/deals/{deal}/documents/id_card/receipt", headers=consultant), 409,
                   "document_not_required")
    assert_problem(api.post(f"/deals/{deal}/closing", headers=consultant, json={"sneaky": 1}), 422, "invalid_request")
    assert_problem(api.post(f"/deals/{deal}/settlement", headers=consultant), 409, "documents_incomplete")
    assert_problem(api.post(f"/deals/{deal}/closing", headers=consultant), 409, "invalid_deal_transition")
    assert_problem(api.post(f"/deals/{deal}/required-documents", headers=consultant,
                            json={"kinds": ["id_card"], "occurred_at": now(60)}), 422, "occurred_in_future")
    assert_problem(api.post(f"/deals/{deal}/required-documents", headers=consultant, json={"kinds": []}),
                   422, "invalid_request")
    assert app.state(deal)["version"] == version
    assert_problem(api.post("/listings", headers=consultant, json={**LISTING, "price": "5000000"}),
                   422, "invalid_request")
    assert_problem(api.post("/listings", headers=consultant, json={**LISTING, "property_right_status": "x"}),
                   422, "invalid_request")
