"""The manual's scenarios through the one Application, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import (
    CannotHoldCustomers,
    ComplaintAlreadyResolved,
    CustomerIsLost,
    ListingHasOpenDeal,
    ListingNotShowable,
    NotFound,
    NotPermitted,
    SelfApproval,
    StaffDeactivated,
)
from service.application import RealtyLedger
from tests.conftest import Team
from tests.integration.scenarios import execute, list_flat, match, receive, sign


def stage(app: RealtyLedger, customer_id: str) -> str:
    return app.state(customer_id)["stage"]


def test_a_customer_goes_from_reception_to_an_after_sales_survey(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    assert stage(app, customer) == "reception"

    match(app, team, customer, listing)
    assert stage(app, customer) == "matching"

    deal = sign(app, team, customer, listing)
    assert stage(app, customer) == "transaction"
    assert app.state(listing)["status"] == "reserved"

    closed = execute(app, team, deal)
    assert closed.version == app.state(deal)["version"]
    assert app.state(deal)["status"] == "closed"
    assert app.state(listing)["status"] == "sold"
    assert stage(app, customer) == "after_sales"

    visit = app.schedule_return_visit(team.customer_manager, customer,
                                      due_at=datetime.now(UTC) + timedelta(days=7), purpose="入住回访").entity_id
    assert visit is not None
    app.complete_return_visit(team.customer_manager, customer, visit_id=visit, summary="入住顺利")
    app.answer_survey(team.service, customer, scores={"overall": 5, "attitude": 5, "accuracy": 4}, comment="满意")

    state = app.state(customer)
    assert state["return_visits"][visit]["summary"] == "入住顺利"
    assert [s["scores"]["overall"] for s in state["surveys"].values()] == [5]
    assert state["deals"] == {deal: "closed"}

    # The record says who did what, in which role, in one global order.
    history = app.history(customer)
    assert [e["version"] for e in history] == list(range(1, len(history) + 1))
    assert history[0]["name"] == "Customer.Received"
    assert history[0]["actor_id"] == team.id(team.consultant)
    assert history[0]["actor_role"] == "property_consultant"
    survey = history[-1]
    assert survey["name"] == "Customer.SurveyAnswered"
    assert survey["actor_role"] == "customer_service"
    assert all(e["correlation_id"] for e in history)
    deal_history = app.history(deal)
    approval = next(e for e in deal_history if e["name"] == "Deal.Approved")
    assert approval["actor_id"] == team.id(team.manager)
    assert approval["actor_role"] == "sales_manager"
    # The mirrored milestone on the customer shares the deal event's business time.
    signed = next(e for e in deal_history if e["name"] == "Deal.Signed")
    mirrored = next(e for e in history if e["name"] == "Customer.DealMilestoneReached"
                    and e["data"]["milestone"] == "signed")
    assert mirrored["occurred_at"] == signed["occurred_at"]
    assert mirrored["correlation_id"] == signed["correlation_id"]


def test_a_lost_customer_is_refused_new_work_until_reactivated(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    app.mark_customer_lost(team.consultant, customer, reason="competitor", note="选择了其他中介")
    assert stage(app, customer) == "lost"
    version = app.state(customer)["version"]

    with pytest.raises(CustomerIsLost) as refused:
        app.schedule_showing(team.consultant, customer, listing_id=listing,
                             scheduled_for=datetime.now(UTC) + timedelta(days=1))
    assert refused.value.code == "customer_lost"
    with pytest.raises(CustomerIsLost):
        app.draft_deal(team.consultant, customer_id=customer, listing_id=listing, price=1, terms="x")
    assert app.state(customer)["version"] == version
    assert app.state(listing)["open_deal_id"] is None

    app.reactivate_customer(team.customer_manager, customer, reason="重新联系，预算提高")
    assert stage(app, customer) == "reception"
    app.schedule_showing(team.consultant, customer, listing_id=listing,
                         scheduled_for=datetime.now(UTC) + timedelta(days=1))
    assert stage(app, customer) == "matching"
    lost = [e for e in app.history(customer) if e["name"] == "Customer.MarkedLost"]
    assert lost[0]["data"] == {"reason": "competitor", "note": "选择了其他中介"}


def test_a_cancelled_deal_releases_the_listing_for_the_next_buyer(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    first = receive(app, team)
    deal = sign(app, team, first, listing)
    assert app.state(listing)["status"] == "reserved"

    app.cancel_deal(team.consultant, deal, reason="贷款未获批")
    assert app.state(deal)["status"] == "cancelled"
    assert app.state(listing)["status"] == "available"
    assert app.state(listing)["open_deal_id"] is None
    assert stage(app, first) == "matching"  # back to matching: the cancelled deal no longer counts

    second = receive(app, team)
    next_deal = app.draft_deal(team.second_consultant, customer_id=second, listing_id=listing,
                               price=5_000_000, terms="全款").id
    assert app.state(listing)["open_deal_id"] == next_deal
    assert stage(app, second) == "signing"


def test_a_complaint_is_filed_acknowledged_escalated_and_resolved(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    filed = app.file_complaint(team.service, customer, category="服务态度", severity="high",
                               description="带看迟到四十分钟")
    complaint = filed.entity_id
    assert complaint is not None
    app.acknowledge_complaint(team.service, customer, complaint_id=complaint)
    app.escalate_complaint(team.service, customer, complaint_id=complaint,
                           escalated_to=team.id(team.manager), reason="需经理致歉")
    app.resolve_complaint(team.manager, customer, complaint_id=complaint, resolution="经理上门致歉，更换顾问")

    record = app.state(customer)["complaints"][complaint]
    filed_at = datetime.fromisoformat(record["filed_at"])
    assert datetime.fromisoformat(record["due_at"]) - filed_at == timedelta(hours=72)
    assert record["status"] == "resolved"
    assert record["escalated_to"] == team.id(team.manager)

    version = app.state(customer)["version"]
    with pytest.raises(ComplaintAlreadyResolved):
        app.resolve_complaint(team.manager, customer, complaint_id=complaint, resolution="again")
    assert app.state(customer)["version"] == version


def test_a_request_is_due_within_24_hours_and_answered_once(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    request = app.raise_request(team.consultant, customer, subject="想了解学区政策").entity_id
    assert request is not None
    raised = app.state(customer)["requests"][request]
    assert (datetime.fromisoformat(raised["due_at"]) - datetime.fromisoformat(raised["raised_at"])
            == timedelta(hours=24))
    app.respond_to_request(team.service, customer, request_id=request, response="已发送政策解读")
    assert app.state(customer)["requests"][request]["responded_by"] == team.id(team.service)


def test_a_manager_cannot_approve_a_deal_they_drafted(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.manager)
    customer = receive(app, team)
    deal = app.draft_deal(team.manager, customer_id=customer, listing_id=listing, price=5_000_000, terms="x").id
    app.submit_deal_for_review(team.manager, deal)
    with pytest.raises(SelfApproval) as refused:
        app.approve_deal(team.manager, deal)
    assert refused.value.code == "self_approval"
    assert app.state(deal)["status"] == "in_review"
    app.approve_deal(team.second_manager, deal)
    assert app.state(deal)["reviewed_by"] == team.id(team.second_manager)


def test_a_listing_cannot_carry_two_open_deals(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    first, second = receive(app, team), receive(app, team)
    first_deal = app.draft_deal(team.consultant, customer_id=first, listing_id=listing, price=5_000_000,
                                terms="x").id
    listing_version = app.state(listing)["version"]
    with pytest.raises(ListingHasOpenDeal) as refused:
        app.draft_deal(team.second_consultant, customer_id=second, listing_id=listing, price=5_100_000, terms="y")
    assert refused.value.code == "listing_has_open_deal"
    assert app.state(listing)["version"] == listing_version
    assert app.state(listing)["open_deal_id"] == first_deal
    assert app.state(second)["version"] == 1
    assert stage(app, second) == "reception"


def test_a_withdrawn_listing_cannot_be_shown(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    app.withdraw_listing(team.consultant, listing, reason="业主撤回")
    with pytest.raises(ListingNotShowable):
        app.schedule_showing(team.consultant, customer, listing_id=listing,
                             scheduled_for=datetime.now(UTC) + timedelta(days=1))
    assert app.state(customer)["showings"] == {}


def test_a_deactivated_staff_member_can_no_longer_act(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    app.deactivate_staff(team.admin, team.id(team.second_consultant), reason="离职")
    with pytest.raises(StaffDeactivated) as refused:
        app.raise_request(team.second_consultant, customer, subject="x")
    assert refused.value.code == "staff_deactivated"
    with pytest.raises(StaffDeactivated):
        app.reassign_customer(team.manager, customer, to_staff=team.id(team.second_consultant), reason="workload")
    with pytest.raises(StaffDeactivated):
        app.list_property(team.second_consultant, district="徐汇", address="x", area=50, rooms=1, price=1,
                          property_right_status="clear", tenure_years=70, mortgage_eligible=False)
    assert app.state(customer)["version"] == 1
    assert app.state(customer)["assigned_to"] == team.id(team.consultant)


def test_customers_are_reassigned_only_to_staff_who_can_hold_them(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    with pytest.raises(CannotHoldCustomers):
        app.reassign_customer(team.manager, customer, to_staff=team.id(team.service), reason="workload")
    with pytest.raises(NotPermitted):
        app.reassign_customer(team.consultant, customer, to_staff=team.id(team.second_consultant),
                              reason="hand_over")
    app.reassign_customer(team.manager, customer, to_staff=team.id(team.customer_manager), reason="hand_over")
    state = app.state(customer)
    assert state["assigned_to"] == team.id(team.customer_manager)
    assert app.history(customer)[-1]["data"]["from_staff"] == team.id(team.consultant)


def test_a_compliance_officer_cannot_record_interactions(app: RealtyLedger, team: Team) -> None:
    with pytest.raises(NotPermitted) as refused:
        app.receive_customer(team.compliance, channel="phone",
                             reception_started_at=datetime.now(UTC) - timedelta(minutes=20),
                             reception_ended_at=datetime.now(UTC))
    assert refused.value.code == "not_permitted"


def test_unknown_and_malformed_ids_are_not_found_or_invalid(app: RealtyLedger, team: Team) -> None:
    with pytest.raises(NotFound):
        app.state("0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10")
    with pytest.raises(NotFound):
        app.raise_request(team.consultant, "0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10", subject="x")
    with pytest.raises(Exception) as bad:
        app.state("not-an-id")
    assert getattr(bad.value, "code", None) == "invalid_value"
    listing = list_flat(app, team.consultant)
    with pytest.raises(NotFound) as wrong_kind:
        app.raise_request(team.consultant, listing, subject="x")  # a listing is not a customer
    assert "customer" in str(wrong_kind.value)
