"""Step helpers for application scenarios, so each test reads as the story it tells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.application import Acting, CommandResult, RealtyLedger
from tests.conftest import Team

ACCOUNT = "6222020200112233445"


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


def list_flat(app: RealtyLedger, who: Acting, price: int = 5_200_000) -> str:
    return app.list_property(
        who, district="浦东", address="锦绣路 1888 弄 8 号 1201 室", area=89.5, rooms=2, price=price,
        property_right_status="clear", tenure_years=70, mortgage_eligible=True,
    ).id


def receive(app: RealtyLedger, team: Team, started_minutes_ago: float = 25) -> str:
    return app.receive_customer(
        team.consultant, channel="walk_in",
        reception_started_at=minutes_ago(started_minutes_ago),
        reception_ended_at=minutes_ago(started_minutes_ago - 20),
    ).id


def match(app: RealtyLedger, team: Team, customer_id: str, listing_id: str) -> str:
    """Details, needs, shortlist, a showing that took place and its feedback; returns the showing id."""
    c = team.consultant
    app.record_personal_details(c, customer_id, name="赵雅琴", phone="13800138000", id_number="11010519491231002X")
    app.record_needs(
        c, customer_id, budget_min=4_000_000, budget_max=6_000_000, area_min=70, area_max=100, rooms=2,
        districts=["浦东", "徐汇"], purpose="home", payment_method="provident_fund", qualification="qualified",
    )
    app.shortlist_listings(c, customer_id, matches=[(listing_id, 92)])
    showing = app.schedule_showing(c, customer_id, listing_id=listing_id,
                                   scheduled_for=datetime.now(UTC) + timedelta(hours=2)).entity_id
    assert showing is not None
    app.conduct_showing(c, customer_id, showing_id=showing,
                        topics_explained=["property_rights", "tenure", "mortgage_policy"])
    app.record_feedback(c, customer_id, showing_id=showing, interest=5, objections=["楼层偏低"])
    return showing


def sign(app: RealtyLedger, team: Team, customer_id: str, listing_id: str, price: int = 5_200_000) -> str:
    deal = app.draft_deal(team.consultant, customer_id=customer_id, listing_id=listing_id, price=price,
                          terms="首付三成，公积金贷款").id
    app.submit_deal_for_review(team.consultant, deal)
    app.approve_deal(team.manager, deal, note="资料齐全")
    app.sign_deal(team.consultant, deal, contract_number="HT-2026-0001")
    return deal


def execute(app: RealtyLedger, team: Team, deal_id: str, price: int = 5_200_000) -> CommandResult:
    c = team.consultant
    app.require_deal_documents(c, deal_id, kinds=["id_card", "loan_approval"])
    for kind in ("id_card", "loan_approval"):
        app.receive_deal_document(c, deal_id, kind=kind)
        app.verify_deal_document(c, deal_id, kind=kind)
    app.record_payment(c, deal_id, kind="down_payment", amount=price * 3 // 10, payer_account=ACCOUNT)
    app.record_payment(c, deal_id, kind="loan_disbursement", amount=price - price * 3 // 10, payer_account=ACCOUNT)
    app.settle_funds(c, deal_id)
    app.confirm_handover(c, deal_id, note="钥匙两把")
    return app.close_deal(c, deal_id)
