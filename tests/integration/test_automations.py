"""The clock's commands through the one Application, on SQLite and on PostgreSQL: service-level
warnings and breaches, the team's public pool (公客池), the after-sales return visit of a handover.

The source events are back-dated (a request raised 30 hours ago) and ``now`` is passed explicitly,
so each rule is tried at its exact boundary: a second before (refused with a stable code, nothing
recorded) and on the dot (recorded, dated when the rule was broken, by the system actor).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.customer_service import handover_visit_id
from domain.errors import (
    ClaimByPreviousHolder,
    ClaimerNotInTeam,
    CustomerInPool,
    CustomerNotInPool,
    CustomerTouchedRecently,
    DealNotHandedOver,
    DomainError,
    NotPermitted,
    RequestAlreadyAnswered,
    ReturnVisitAlreadyScheduled,
    SlaAlreadyBreached,
    SlaNotBreached,
    SlaWarningAlreadyIssued,
    SlaWarningNotDue,
)
from service.application import Acting, RealtyLedger
from tests.conftest import Team, register_team
from tests.integration.scenarios import execute, list_flat, match, sign

SYSTEM = Acting.system()
SECOND = timedelta(seconds=1)


def real_now() -> datetime:
    return datetime.now(UTC)


def received_days_ago(app: RealtyLedger, team: Team, days: float, by: Acting | None = None) -> tuple[str, datetime]:
    started = real_now() - timedelta(days=days)
    customer = app.receive_customer(by or team.consultant, channel="walk_in", reception_started_at=started,
                                    reception_ended_at=started + timedelta(minutes=20)).id
    return customer, started


def last_event(app: RealtyLedger, customer_id: str) -> dict[str, Any]:
    return app.history(customer_id)[-1]


def refused_with(app: RealtyLedger, customer_id: str, error: type[DomainError], code: str, command: Any) -> None:
    """The command is refused with the stable code and records nothing."""
    version = app.state(customer_id)["version"]
    with pytest.raises(error) as excinfo:
        command()
    assert excinfo.value.code == code
    assert app.state(customer_id)["version"] == version


# --- service levels ------------------------------------------------------------------------------


def test_a_request_is_breached_at_exactly_24_hours_and_not_a_second_before(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 3)
    raised = real_now() - timedelta(hours=30)
    request = app.raise_request(team.service, customer, subject="学区政策", occurred_at=raised).entity_id
    assert request is not None
    due = raised + timedelta(hours=24)

    refused_with(app, customer, SlaNotBreached, "sla_not_breached", lambda: app.record_sla_breach(
        SYSTEM, customer, item_kind="request", item_id=request, now=due - SECOND))
    result = app.record_sla_breach(SYSTEM, customer, item_kind="request", item_id=request, now=due)

    assert result.entity_id == request
    event = last_event(app, customer)
    assert (event["event"], event["actor_role"], event["occurred_at"]) == (
        "realty.customer.sla_breached", "system", due.isoformat())
    assert event["data"] == {"item_kind": "request", "item_id": request, "due_at": due.isoformat()}
    assert app.state(customer)["requests"][request]["breached_at"] == due.isoformat()
    refused_with(app, customer, SlaAlreadyBreached, "sla_already_breached", lambda: app.record_sla_breach(
        SYSTEM, customer, item_kind="request", item_id=request, now=real_now()))


def test_a_complaint_is_breached_at_exactly_72_hours_and_not_a_second_before(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 5)
    filed = real_now() - timedelta(hours=80)
    complaint = app.file_complaint(team.service, customer, category="服务", severity="high", description="迟到一小时",
                                   occurred_at=filed).entity_id
    assert complaint is not None
    app.acknowledge_complaint(team.service, customer, complaint_id=complaint, occurred_at=filed + timedelta(hours=1))
    due = filed + timedelta(hours=72)

    refused_with(app, customer, SlaNotBreached, "sla_not_breached", lambda: app.record_sla_breach(
        SYSTEM, customer, item_kind="complaint", item_id=complaint, now=due - SECOND))
    app.record_sla_breach(SYSTEM, customer, item_kind="complaint", item_id=complaint, now=due)

    assert last_event(app, customer)["occurred_at"] == due.isoformat()
    assert app.state(customer)["complaints"][complaint]["breached_at"] == due.isoformat()


def test_a_request_is_warned_about_at_75_percent_once(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 3)
    raised = real_now() - timedelta(hours=30)
    request = app.raise_request(team.service, customer, subject="贷款额度", occurred_at=raised).entity_id
    assert request is not None
    warn_at = raised + timedelta(hours=18)

    refused_with(app, customer, SlaWarningNotDue, "sla_warning_not_due", lambda: app.issue_sla_warning(
        SYSTEM, customer, item_kind="request", item_id=request, now=warn_at - SECOND))
    app.issue_sla_warning(SYSTEM, customer, item_kind="request", item_id=request, now=warn_at)

    event = last_event(app, customer)
    assert (event["event"], event["actor_id"], event["occurred_at"]) == (
        "realty.customer.sla_warning_issued", str(SYSTEM.staff_id), warn_at.isoformat())
    assert app.state(customer)["requests"][request]["warned_at"] == warn_at.isoformat()
    refused_with(app, customer, SlaWarningAlreadyIssued, "sla_warning_already_issued", lambda: app.issue_sla_warning(
        SYSTEM, customer, item_kind="request", item_id=request, now=real_now()))


def test_a_stale_candidate_answered_in_the_meantime_records_nothing(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 3)
    request = app.raise_request(team.service, customer, subject="资料",
                                occurred_at=real_now() - timedelta(hours=30)).entity_id
    assert request is not None
    app.respond_to_request(team.consultant, customer, request_id=request, response="已发送")

    for command in (app.issue_sla_warning, app.record_sla_breach):
        refused_with(app, customer, RequestAlreadyAnswered, "request_already_answered", lambda c=command: c(
            SYSTEM, customer, item_kind="request", item_id=request, now=real_now()))


def test_staff_cannot_record_service_levels(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 3)
    request = app.raise_request(team.service, customer, subject="资料",
                                occurred_at=real_now() - timedelta(hours=30)).entity_id
    refused_with(app, customer, NotPermitted, "not_permitted", lambda: app.record_sla_breach(
        team.manager, customer, item_kind="request", item_id=str(request), now=real_now()))


# --- the public pool -------------------------------------------------------------------------------


def test_a_customer_returns_to_the_pool_at_exactly_the_protection_period(app: RealtyLedger, team: Team) -> None:
    customer, started = received_days_ago(app, team, 16)
    returnable = started + timedelta(days=15)

    refused_with(app, customer, CustomerTouchedRecently, "customer_touched_recently", lambda: app.return_to_pool(
        SYSTEM, customer, now=returnable - SECOND))
    app.return_to_pool(SYSTEM, customer, now=returnable)

    event = last_event(app, customer)
    assert (event["event"], event["actor_role"], event["occurred_at"]) == (
        "realty.customer.returned_to_pool", "system", returnable.isoformat())
    assert event["data"] == {"from_staff": team.id(team.consultant), "team": team.name,
                             "last_touched_at": started.isoformat(), "protection_days": 15}
    state = app.state(customer)
    assert (state["in_pool"], state["assigned_to"], state["team"]) == (True, None, team.name)
    refused_with(app, customer, CustomerInPool, "customer_in_pool", lambda: app.return_to_pool(
        SYSTEM, customer, now=real_now()))


def test_the_protection_period_is_configurable_per_call(app: RealtyLedger, team: Team) -> None:
    customer, started = received_days_ago(app, team, 8)
    refused_with(app, customer, CustomerTouchedRecently, "customer_touched_recently", lambda: app.return_to_pool(
        SYSTEM, customer, now=real_now()))
    app.return_to_pool(SYSTEM, customer, now=real_now(), protection=timedelta(days=7))
    assert last_event(app, customer)["occurred_at"] == (started + timedelta(days=7)).isoformat()


def test_the_holders_work_keeps_the_customer_out_of_the_pool(app: RealtyLedger, team: Team) -> None:
    customer, started = received_days_ago(app, team, 16)
    app.record_personal_details(team.consultant, customer, name="赵雅琴", phone="13800138000",
                                occurred_at=started + timedelta(days=5))
    app.raise_request(team.service, customer, subject="资料", occurred_at=started + timedelta(days=6))  # not a touch

    refused_with(app, customer, CustomerTouchedRecently, "customer_touched_recently", lambda: app.return_to_pool(
        SYSTEM, customer, now=real_now()))
    assert app.state(customer)["last_touched_at"] == (started + timedelta(days=5)).isoformat()


def test_a_colleague_of_the_team_claims_a_customer_from_the_pool(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 16)
    app.return_to_pool(SYSTEM, customer, now=real_now())

    result = app.claim_from_pool(team.second_consultant, customer)

    assert result.version == app.state(customer)["version"]
    event = last_event(app, customer)
    assert (event["event"], event["actor_id"], event["data"]) == (
        "realty.customer.claimed_from_pool", team.id(team.second_consultant),
        {"claimed_by": team.id(team.second_consultant)})
    state = app.state(customer)
    assert (state["in_pool"], state["assigned_to"]) == (False, team.id(team.second_consultant))
    assert state["last_touched_at"] == event["occurred_at"]
    refused_with(app, customer, CustomerNotInPool, "customer_not_in_pool", lambda: app.claim_from_pool(
        team.customer_manager, customer))


def test_someone_of_another_team_cannot_claim(app: RealtyLedger, team: Team) -> None:
    other = register_team(app, name="徐汇二组")
    customer, _ = received_days_ago(app, team, 16)
    app.return_to_pool(SYSTEM, customer, now=real_now())

    refused_with(app, customer, ClaimerNotInTeam, "claimer_not_in_team", lambda: app.claim_from_pool(
        other.consultant, customer))
    refused_with(app, customer, ClaimerNotInTeam, "claimer_not_in_team", lambda: app.claim_from_pool(
        team.manager, customer, claimer=other.id(other.consultant)))
    assert app.state(customer)["in_pool"] is True


def test_the_previous_holder_waits_for_a_colleague_or_the_sales_manager(app: RealtyLedger, team: Team) -> None:
    customer, _ = received_days_ago(app, team, 16)
    app.return_to_pool(SYSTEM, customer, now=real_now())

    refused_with(app, customer, ClaimByPreviousHolder, "claim_by_previous_holder", lambda: app.claim_from_pool(
        team.consultant, customer))
    refused_with(app, customer, CustomerInPool, "customer_in_pool", lambda: app.record_needs(
        team.consultant, customer, budget_min=4_000_000, budget_max=6_000_000, area_min=70, area_max=100, rooms=2,
        districts=["浦东"], purpose="home", payment_method="provident_fund", qualification="qualified"))

    app.claim_from_pool(team.manager, customer, claimer=team.id(team.customer_manager))
    assert app.state(customer)["assigned_to"] == team.id(team.customer_manager)
    assert last_event(app, customer)["actor_id"] == team.id(team.manager)


# --- the after-sales return visit -----------------------------------------------------------------


def test_the_return_visit_after_handover_is_scheduled_once(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customer, _ = received_days_ago(app, team, 1)
    match(app, team, customer, listing)
    deal = sign(app, team, customer, listing)
    refused_with(app, customer, DealNotHandedOver, "deal_not_handed_over", lambda: app.schedule_return_visit_after_handover(
        SYSTEM, customer, deal_id=deal))
    execute(app, team, deal)  # handed over, then closed
    handed_over_at = next(e["occurred_at"] for e in app.history(deal) if e["event"] == "realty.deal.handover_confirmed")

    result = app.schedule_return_visit_after_handover(SYSTEM, customer, deal_id=deal)

    visit = str(handover_visit_id(uuid.UUID(deal)))
    assert result.entity_id == visit
    event = last_event(app, customer)
    assert (event["event"], event["actor_role"]) == ("realty.customer.return_visit_scheduled", "system")
    due = datetime.fromisoformat(handed_over_at) + timedelta(days=7)
    assert app.state(customer)["return_visits"][visit]["due_at"] == due.isoformat()
    assert deal in app.state(customer)["return_visits"][visit]["purpose"]
    refused_with(app, customer, ReturnVisitAlreadyScheduled, "return_visit_already_scheduled",
                 lambda: app.schedule_return_visit_after_handover(SYSTEM, customer, deal_id=deal))
    # Whoever asked: the visit is the deal's one visit.
    refused_with(app, customer, ReturnVisitAlreadyScheduled, "return_visit_already_scheduled",
                 lambda: app.schedule_return_visit_after_handover(team.customer_manager, customer, deal_id=deal,
                                                                  after=timedelta(days=3)))
