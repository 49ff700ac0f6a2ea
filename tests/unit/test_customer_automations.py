"""The clock's rules on the customer record: service-level warnings and breaches (24 hours for a
request, 72 for a complaint, a warning at 75%), the team's public pool (公客池) and the after-sales
return visit of a handover. Each command re-checks its rule, so a stale candidate is refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from domain.customer import Customer
from domain.customer_service import handover_visit_id
from domain.customer_values import DealMilestone, Stage
from domain.errors import (
    CannotHoldCustomers,
    ClaimByPreviousHolder,
    ClaimerNotInTeam,
    ComplaintAlreadyResolved,
    ComplaintNotFound,
    CustomerInPool,
    CustomerIsLost,
    CustomerNotInPool,
    CustomerNotReturnable,
    CustomerTouchedRecently,
    DealNotHandedOver,
    InvalidValue,
    NotFound,
    NotPermitted,
    OccurredInFuture,
    RequestAlreadyAnswered,
    RequestNotFound,
    ReturnVisitAlreadyScheduled,
    SlaAlreadyBreached,
    SlaNotBreached,
    SlaWarningAlreadyIssued,
    SlaWarningNotDue,
)
from domain.identity import STAFF_ROLES, Actor, Role
from tests.unit.builders import (
    actor,
    ago,
    consultant,
    manager,
    received_customer,
    record_needs,
    recorded,
    refused,
)

SYSTEM = Actor.system()
TEAM = "浦东一组"
SECOND = timedelta(seconds=1)
PROTECTION = timedelta(days=15)


def _service() -> Actor:
    return actor(Role.CUSTOMER_SERVICE)


# --- service levels: requests (24 hours) and complaints (72 hours) -----------------------------


def _customer_with_request(raised_at: datetime | None = None) -> tuple[Customer, uuid.UUID, datetime]:
    customer = received_customer()
    raised_at = raised_at or ago(days=10)
    request_id = customer.raise_request(subject="学区政策", actor=_service(), occurred_at=raised_at)
    return customer, request_id, raised_at


def _customer_with_complaint() -> tuple[Customer, uuid.UUID, datetime]:
    customer = received_customer()
    filed_at = ago(days=10)
    complaint_id = customer.file_complaint(
        category="服务", severity="medium", description="迟到", actor=_service(), occurred_at=filed_at
    )
    return customer, complaint_id, filed_at


def test_a_request_is_warned_about_once_18_of_its_24_hours_have_passed() -> None:
    customer, request_id, raised_at = _customer_with_request()

    customer.issue_sla_warning(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=18),
                               actor=SYSTEM)

    event = recorded(customer, Customer.SlaWarningIssued, SYSTEM, raised_at + timedelta(hours=18))
    assert (event.item_kind, event.item_id, event.due_at) == ("request", request_id, raised_at + timedelta(hours=24))
    assert Customer.SlaWarningIssued.TOPIC == "realty.customer.sla_warning_issued"
    assert customer.requests[str(request_id)]["warned_at"] == raised_at + timedelta(hours=18)
    assert customer.requests[str(request_id)]["breached_at"] is None


def test_a_request_is_not_warned_about_one_second_before_18_hours() -> None:
    customer, request_id, raised_at = _customer_with_request()
    with refused(customer, SlaWarningNotDue, "sla_warning_not_due") as excinfo:
        customer.issue_sla_warning(item_kind="request", item_id=request_id,
                                   now=raised_at + timedelta(hours=18) - SECOND, actor=SYSTEM)
    assert excinfo.value.context["warn_at"] == (raised_at + timedelta(hours=18)).isoformat()


def test_the_warning_is_dated_when_the_threshold_was_crossed_not_when_the_clock_noticed() -> None:
    customer, request_id, raised_at = _customer_with_request()
    customer.issue_sla_warning(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=23),
                               actor=SYSTEM)
    recorded(customer, Customer.SlaWarningIssued, SYSTEM, raised_at + timedelta(hours=18))


def test_a_complaint_is_warned_about_once_54_of_its_72_hours_have_passed() -> None:
    customer, complaint_id, filed_at = _customer_with_complaint()
    customer.issue_sla_warning(item_kind="complaint", item_id=complaint_id, now=filed_at + timedelta(hours=54),
                               actor=SYSTEM)
    event = recorded(customer, Customer.SlaWarningIssued, SYSTEM, filed_at + timedelta(hours=54))
    assert (event.item_kind, event.due_at) == ("complaint", filed_at + timedelta(hours=72))
    assert customer.complaints[str(complaint_id)]["warned_at"] == filed_at + timedelta(hours=54)


def test_a_complaint_is_not_warned_about_one_second_before_54_hours() -> None:
    customer, complaint_id, filed_at = _customer_with_complaint()
    with refused(customer, SlaWarningNotDue, "sla_warning_not_due"):
        customer.issue_sla_warning(item_kind="complaint", item_id=complaint_id,
                                   now=filed_at + timedelta(hours=54) - SECOND, actor=SYSTEM)


def test_a_request_is_breached_at_exactly_24_hours() -> None:
    customer, request_id, raised_at = _customer_with_request()

    customer.record_sla_breach(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=24),
                               actor=SYSTEM)

    event = recorded(customer, Customer.SlaBreached, SYSTEM, raised_at + timedelta(hours=24))
    assert (event.item_kind, event.item_id, event.due_at) == ("request", request_id, raised_at + timedelta(hours=24))
    assert customer.requests[str(request_id)]["breached_at"] == raised_at + timedelta(hours=24)


def test_a_request_is_not_breached_one_second_before_24_hours() -> None:
    customer, request_id, raised_at = _customer_with_request()
    with refused(customer, SlaNotBreached, "sla_not_breached") as excinfo:
        customer.record_sla_breach(item_kind="request", item_id=request_id,
                                   now=raised_at + timedelta(hours=24) - SECOND, actor=SYSTEM)
    assert excinfo.value.context["due_at"] == (raised_at + timedelta(hours=24)).isoformat()


def test_a_complaint_is_breached_at_exactly_72_hours() -> None:
    customer, complaint_id, filed_at = _customer_with_complaint()
    customer.record_sla_breach(item_kind="complaint", item_id=complaint_id, now=filed_at + timedelta(hours=72),
                               actor=SYSTEM)
    recorded(customer, Customer.SlaBreached, SYSTEM, filed_at + timedelta(hours=72))
    assert customer.complaints[str(complaint_id)]["breached_at"] == filed_at + timedelta(hours=72)


def test_a_complaint_is_not_breached_one_second_before_72_hours() -> None:
    customer, complaint_id, filed_at = _customer_with_complaint()
    with refused(customer, SlaNotBreached, "sla_not_breached"):
        customer.record_sla_breach(item_kind="complaint", item_id=complaint_id,
                                   now=filed_at + timedelta(hours=72) - SECOND, actor=SYSTEM)


def test_a_breach_needs_no_warning_first() -> None:
    customer, request_id, raised_at = _customer_with_request()
    customer.record_sla_breach(item_kind="request", item_id=request_id, now=raised_at + timedelta(days=3),
                               actor=SYSTEM)
    assert customer.requests[str(request_id)]["warned_at"] is None
    assert customer.requests[str(request_id)]["breached_at"] == raised_at + timedelta(hours=24)


def test_a_warning_then_a_breach_are_both_recorded_in_order() -> None:
    customer, request_id, raised_at = _customer_with_request()
    now = raised_at + timedelta(days=2)
    customer.issue_sla_warning(item_kind="request", item_id=request_id, now=now, actor=SYSTEM)
    customer.record_sla_breach(item_kind="request", item_id=request_id, now=now, actor=SYSTEM)
    warned, breached = customer.pending_events[-2:]
    assert (warned.occurred_at, breached.occurred_at) == (raised_at + timedelta(hours=18),
                                                          raised_at + timedelta(hours=24))


def test_a_request_is_warned_about_only_once() -> None:
    customer, request_id, raised_at = _customer_with_request()
    customer.issue_sla_warning(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=20),
                               actor=SYSTEM)
    with refused(customer, SlaWarningAlreadyIssued, "sla_warning_already_issued"):
        customer.issue_sla_warning(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=21),
                                   actor=SYSTEM)


def test_a_request_is_breached_only_once() -> None:
    customer, request_id, raised_at = _customer_with_request()
    customer.record_sla_breach(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=25),
                               actor=SYSTEM)
    with refused(customer, SlaAlreadyBreached, "sla_already_breached"):
        customer.record_sla_breach(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=26),
                                   actor=SYSTEM)


def test_an_overdue_request_is_no_longer_warned_about() -> None:
    customer, request_id, raised_at = _customer_with_request()
    customer.record_sla_breach(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=25),
                               actor=SYSTEM)
    with refused(customer, SlaAlreadyBreached, "sla_already_breached"):
        customer.issue_sla_warning(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=26),
                                   actor=SYSTEM)


def test_an_answered_request_is_neither_warned_about_nor_breached() -> None:
    customer, request_id, raised_at = _customer_with_request()
    customer.respond_to_request(request_id=request_id, response="已回复", actor=consultant(),
                                occurred_at=raised_at + timedelta(hours=30))
    now = raised_at + timedelta(hours=31)
    with refused(customer, RequestAlreadyAnswered, "request_already_answered"):
        customer.issue_sla_warning(item_kind="request", item_id=request_id, now=now, actor=SYSTEM)
    with refused(customer, RequestAlreadyAnswered, "request_already_answered"):
        customer.record_sla_breach(item_kind="request", item_id=request_id, now=now, actor=SYSTEM)


def test_a_resolved_complaint_is_neither_warned_about_nor_breached() -> None:
    customer, complaint_id, filed_at = _customer_with_complaint()
    customer.resolve_complaint(complaint_id=complaint_id, resolution="已致歉", actor=_service(),
                               occurred_at=filed_at + timedelta(hours=80))
    now = filed_at + timedelta(hours=81)
    with refused(customer, ComplaintAlreadyResolved, "complaint_already_resolved"):
        customer.issue_sla_warning(item_kind="complaint", item_id=complaint_id, now=now, actor=SYSTEM)
    with refused(customer, ComplaintAlreadyResolved, "complaint_already_resolved"):
        customer.record_sla_breach(item_kind="complaint", item_id=complaint_id, now=now, actor=SYSTEM)


def test_acknowledging_a_complaint_does_not_stop_its_clock() -> None:
    customer, complaint_id, filed_at = _customer_with_complaint()
    customer.acknowledge_complaint(complaint_id=complaint_id, actor=_service(), occurred_at=filed_at + timedelta(hours=1))
    customer.record_sla_breach(item_kind="complaint", item_id=complaint_id, now=filed_at + timedelta(hours=72),
                               actor=SYSTEM)
    recorded(customer, Customer.SlaBreached, SYSTEM, filed_at + timedelta(hours=72))


def test_a_system_event_is_never_dated_before_the_records_previous_event() -> None:
    customer, request_id, raised_at = _customer_with_request()
    later = raised_at + timedelta(hours=20)
    customer.raise_request(subject="另一个问题", actor=_service(), occurred_at=later)

    customer.issue_sla_warning(item_kind="request", item_id=request_id, now=raised_at + timedelta(hours=21),
                               actor=SYSTEM)

    recorded(customer, Customer.SlaWarningIssued, SYSTEM, later)
    assert customer.requests[str(request_id)]["warned_at"] == later


def test_the_clock_cannot_record_a_breach_ahead_of_real_time() -> None:
    customer, request_id, _ = _customer_with_request(raised_at=ago(hours=1))
    with refused(customer, OccurredInFuture, "occurred_in_future"):
        customer.record_sla_breach(item_kind="request", item_id=request_id, now=ago(hours=-30), actor=SYSTEM)


def test_an_unknown_kind_of_item_is_an_invalid_value() -> None:
    customer, request_id, raised_at = _customer_with_request()
    with refused(customer, InvalidValue, "invalid_value") as excinfo:
        customer.issue_sla_warning(item_kind="showing", item_id=request_id, now=raised_at + timedelta(days=1),
                                   actor=SYSTEM)
    assert excinfo.value.context == {"field": "item_kind"}


def test_the_clock_names_an_existing_request_or_complaint() -> None:
    customer, request_id, raised_at = _customer_with_request()
    now = raised_at + timedelta(days=1)
    with refused(customer, RequestNotFound, "request_not_found"):
        customer.issue_sla_warning(item_kind="request", item_id=uuid.uuid4(), now=now, actor=SYSTEM)
    with refused(customer, ComplaintNotFound, "complaint_not_found"):
        customer.record_sla_breach(item_kind="complaint", item_id=request_id, now=now, actor=SYSTEM)


def test_now_must_carry_a_time_zone() -> None:
    customer, request_id, raised_at = _customer_with_request()
    with refused(customer, InvalidValue, "invalid_value"):
        customer.record_sla_breach(item_kind="request", item_id=request_id,
                                   now=(raised_at + timedelta(days=1)).replace(tzinfo=None), actor=SYSTEM)


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_only_the_system_records_service_levels(role: Role) -> None:
    customer, request_id, raised_at = _customer_with_request()
    now = raised_at + timedelta(days=2)
    with refused(customer, NotPermitted, "not_permitted"):
        customer.issue_sla_warning(item_kind="request", item_id=request_id, now=now, actor=actor(role))
    with refused(customer, NotPermitted, "not_permitted"):
        customer.record_sla_breach(item_kind="request", item_id=request_id, now=now, actor=actor(role))


# --- the public pool (公客池) -------------------------------------------------------------------


def _untouched(received_at: datetime | None = None) -> tuple[Customer, Actor, datetime]:
    holder = consultant()
    received_at = received_at or ago(days=20)
    return received_customer(by=holder, at=received_at), holder, received_at


def _pooled() -> tuple[Customer, Actor, datetime]:
    customer, holder, received_at = _untouched()
    customer.return_to_pool(now=received_at + PROTECTION, protection=PROTECTION, actor=SYSTEM)
    return customer, holder, received_at + PROTECTION


def test_a_customer_untouched_for_exactly_the_protection_period_returns_to_the_pool() -> None:
    customer, holder, received_at = _untouched()

    customer.return_to_pool(now=received_at + PROTECTION, protection=PROTECTION, actor=SYSTEM)

    event = recorded(customer, Customer.ReturnedToPool, SYSTEM, received_at + PROTECTION)
    assert (event.from_staff, event.team, event.last_touched_at, event.protection_days) == (
        holder.id, TEAM, received_at, 15)
    assert customer.in_pool and customer.pooled_from == holder.id
    assert customer.assigned_to is None and customer.team == TEAM


def test_a_customer_is_not_returned_one_second_before_the_protection_period_ends() -> None:
    customer, _, received_at = _untouched()
    with refused(customer, CustomerTouchedRecently, "customer_touched_recently") as excinfo:
        customer.return_to_pool(now=received_at + PROTECTION - SECOND, protection=PROTECTION, actor=SYSTEM)
    assert excinfo.value.context["last_touched_at"] == received_at.isoformat()
    assert excinfo.value.context["returnable_at"] == (received_at + PROTECTION).isoformat()


def test_the_return_is_dated_when_the_protection_ran_out() -> None:
    customer, _, received_at = _untouched()
    customer.return_to_pool(now=received_at + timedelta(days=19), protection=PROTECTION, actor=SYSTEM)
    recorded(customer, Customer.ReturnedToPool, SYSTEM, received_at + PROTECTION)


def test_the_reception_is_a_touch_whoever_recorded_it() -> None:
    holder = consultant()
    at = ago(days=20)
    customer = Customer.receive(channel="phone", assigned_to=holder.id, assignee_role=Role.PROPERTY_CONSULTANT,
                                team=TEAM, reception_started_at=at, reception_ended_at=at + timedelta(minutes=20),
                                actor=manager())
    assert customer.last_touched_at == at


def test_the_holders_work_is_a_touch() -> None:
    customer, holder, received_at = _untouched()
    record_needs(customer, by=holder, at=received_at + timedelta(days=3))
    assert customer.last_touched_at == received_at + timedelta(days=3)
    with refused(customer, CustomerTouchedRecently, "customer_touched_recently"):
        customer.return_to_pool(now=received_at + PROTECTION, protection=PROTECTION, actor=SYSTEM)
    customer.return_to_pool(now=received_at + timedelta(days=18), protection=PROTECTION, actor=SYSTEM)
    assert customer.in_pool


def test_work_on_the_holders_behalf_is_a_touch() -> None:
    customer, holder, received_at = _untouched()
    assistant = actor(Role.CUSTOMER_SERVICE, on_behalf_of=holder.id)
    customer.raise_request(subject="资料", actor=assistant, occurred_at=received_at + timedelta(days=2))
    assert customer.last_touched_at == received_at + timedelta(days=2)


def test_someone_elses_work_is_not_a_touch() -> None:
    customer, _, received_at = _untouched()
    customer.raise_request(subject="资料", actor=_service(), occurred_at=received_at + timedelta(days=2))
    record_needs(customer, by=consultant(), at=received_at + timedelta(days=3))
    assert customer.last_touched_at == received_at
    customer.return_to_pool(now=received_at + PROTECTION, protection=PROTECTION, actor=SYSTEM)


def test_a_reassignment_gives_the_new_holder_a_full_protection_period() -> None:
    customer, _, received_at = _untouched()
    colleague = consultant()
    at = received_at + timedelta(days=10)
    customer.reassign(to_staff=colleague.id, to_role=Role.PROPERTY_CONSULTANT, to_active=True, to_team=TEAM,
                      reason="workload", actor=manager(), occurred_at=at)
    assert customer.last_touched_at == at
    with refused(customer, CustomerTouchedRecently, "customer_touched_recently"):
        customer.return_to_pool(now=at + PROTECTION - SECOND, protection=PROTECTION, actor=SYSTEM)


@pytest.mark.parametrize(("milestone", "stage"), [
    (DealMilestone.DRAFTED, Stage.SIGNING), (DealMilestone.SIGNED, Stage.TRANSACTION),
    (DealMilestone.HANDED_OVER, Stage.AFTER_SALES), (DealMilestone.CLOSED, Stage.AFTER_SALES),
])
def test_a_customer_with_a_deal_stays_with_their_holder(milestone: DealMilestone, stage: Stage) -> None:
    customer, _, received_at = _untouched()
    customer.reach_deal_milestone(deal_id=uuid.uuid4(), milestone=milestone, actor=manager(),
                                  occurred_at=received_at + timedelta(days=1))
    with refused(customer, CustomerNotReturnable, "customer_not_returnable") as excinfo:
        customer.return_to_pool(now=received_at + timedelta(days=19), protection=PROTECTION, actor=SYSTEM)
    assert excinfo.value.context["stage"] == stage.value


def test_a_customer_whose_deal_was_cancelled_can_return_to_the_pool() -> None:
    customer, _, received_at = _untouched()
    deal_id = uuid.uuid4()
    for day, milestone in ((1, DealMilestone.DRAFTED), (2, DealMilestone.CANCELLED)):
        customer.reach_deal_milestone(deal_id=deal_id, milestone=milestone, actor=manager(),
                                      occurred_at=received_at + timedelta(days=day))
    assert customer.stage is Stage.MATCHING
    customer.return_to_pool(now=received_at + PROTECTION, protection=PROTECTION, actor=SYSTEM)
    assert customer.in_pool


def test_a_lost_customer_does_not_return_to_the_pool() -> None:
    customer, holder, received_at = _untouched()
    customer.mark_lost(reason="price", note=None, actor=_service(), occurred_at=received_at + timedelta(days=1))
    with refused(customer, CustomerIsLost, "customer_lost"):
        customer.return_to_pool(now=received_at + timedelta(days=19), protection=PROTECTION, actor=SYSTEM)


def test_a_customer_in_the_pool_is_not_returned_twice() -> None:
    customer, _, returned_at = _pooled()
    with refused(customer, CustomerInPool, "customer_in_pool"):
        customer.return_to_pool(now=returned_at + timedelta(days=1), protection=PROTECTION, actor=SYSTEM)


@pytest.mark.parametrize("protection", [timedelta(hours=36), timedelta(0), timedelta(days=-1), 15])
def test_the_protection_period_is_a_whole_number_of_days(protection: object) -> None:
    customer, _, received_at = _untouched()
    with refused(customer, InvalidValue, "invalid_value") as excinfo:
        customer.return_to_pool(now=received_at + PROTECTION, protection=protection, actor=SYSTEM)  # type: ignore[arg-type]
    assert excinfo.value.context == {"field": "protection"}


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_only_the_system_returns_customers_to_the_pool(role: Role) -> None:
    customer, _, received_at = _untouched()
    with refused(customer, NotPermitted, "not_permitted"):
        customer.return_to_pool(now=received_at + PROTECTION, protection=PROTECTION, actor=actor(role))


def test_a_colleague_of_the_team_claims_a_customer_from_the_pool() -> None:
    customer, _, returned_at = _pooled()
    colleague = consultant()
    at = returned_at + timedelta(hours=2)

    customer.claim_from_pool(claimer_id=colleague.id, claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                             actor=colleague, occurred_at=at)

    event = recorded(customer, Customer.ClaimedFromPool, colleague, at)
    assert event.claimed_by == colleague.id
    assert customer.assigned_to == colleague.id and not customer.in_pool and customer.pooled_from is None
    assert customer.last_touched_at == at  # a claim starts a fresh protection period


def test_a_customer_manager_of_the_team_may_claim() -> None:
    customer, _, _ = _pooled()
    keeper = actor(Role.CUSTOMER_MANAGER)
    customer.claim_from_pool(claimer_id=keeper.id, claimer_role=Role.CUSTOMER_MANAGER, claimer_team=TEAM,
                             actor=keeper)
    assert customer.assigned_to == keeper.id


def test_a_sales_manager_claims_for_a_member_of_the_team() -> None:
    customer, _, _ = _pooled()
    boss, colleague = manager(), consultant()
    customer.claim_from_pool(claimer_id=colleague.id, claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                             actor=boss)
    assert customer.assigned_to == colleague.id
    assert customer.pending_events[-1].actor_id == boss.id


def test_a_sales_manager_cannot_hold_the_customer_they_claim() -> None:
    customer, _, _ = _pooled()
    boss = manager()
    with refused(customer, CannotHoldCustomers, "cannot_hold_customers"):
        customer.claim_from_pool(claimer_id=boss.id, claimer_role=Role.SALES_MANAGER, claimer_team=TEAM, actor=boss)


def test_a_consultant_claims_only_for_themselves() -> None:
    customer, _, _ = _pooled()
    colleague = consultant()
    with refused(customer, NotPermitted, "not_permitted"):
        customer.claim_from_pool(claimer_id=uuid.uuid4(), claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                                 actor=colleague)


def test_a_consultant_of_another_team_cannot_claim() -> None:
    customer, _, _ = _pooled()
    stranger = consultant()
    with refused(customer, ClaimerNotInTeam, "claimer_not_in_team") as excinfo:
        customer.claim_from_pool(claimer_id=stranger.id, claimer_role=Role.PROPERTY_CONSULTANT,
                                 claimer_team="徐汇二组", actor=stranger)
    assert excinfo.value.context == {"staff_id": str(stranger.id), "team": TEAM}


def test_the_holder_a_customer_was_returned_from_cannot_claim_them_back() -> None:
    customer, holder, _ = _pooled()
    with refused(customer, ClaimByPreviousHolder, "claim_by_previous_holder"):
        customer.claim_from_pool(claimer_id=holder.id, claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                                 actor=holder)


def test_a_customer_not_in_the_pool_cannot_be_claimed() -> None:
    customer, _, _ = _untouched()
    colleague = consultant()
    with refused(customer, CustomerNotInPool, "customer_not_in_pool"):
        customer.claim_from_pool(claimer_id=colleague.id, claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                                 actor=colleague)


def test_a_lost_customer_in_the_pool_is_reactivated_before_a_claim() -> None:
    customer, _, _ = _pooled()
    customer.mark_lost(reason="no_response", note=None, actor=manager())
    colleague = consultant()
    with refused(customer, CustomerIsLost, "customer_lost"):
        customer.claim_from_pool(claimer_id=colleague.id, claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                                 actor=colleague)


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.COMPLIANCE_OFFICER, Role.ARCHIVIST,
                                  Role.ADMINISTRATOR, Role.SERVICE_ACCOUNT])
def test_only_consultants_customer_managers_and_sales_managers_claim(role: Role) -> None:
    customer, _, _ = _pooled()
    someone = actor(role)
    with refused(customer, NotPermitted, "not_permitted"):
        customer.claim_from_pool(claimer_id=someone.id, claimer_role=role, claimer_team=TEAM, actor=someone)


@pytest.mark.parametrize("who", ["the previous holder", "a colleague", "a customer manager"])
def test_in_the_pool_consultants_and_customer_managers_may_only_claim(who: str) -> None:
    customer, holder, _ = _pooled()
    someone = {"the previous holder": holder, "a colleague": consultant(),
               "a customer manager": actor(Role.CUSTOMER_MANAGER)}[who]
    with refused(customer, CustomerInPool, "customer_in_pool"):
        record_needs(customer, by=someone)
    with refused(customer, CustomerInPool, "customer_in_pool"):
        customer.raise_request(subject="资料", actor=someone)


def test_in_the_pool_the_service_desk_and_the_sales_manager_carry_on() -> None:
    customer, _, _ = _pooled()
    request_id = customer.raise_request(subject="资料", actor=_service())
    customer.respond_to_request(request_id=request_id, response="已回复", actor=manager())
    assert customer.in_pool


def test_a_reassignment_takes_a_customer_out_of_the_pool() -> None:
    customer, _, _ = _pooled()
    colleague = consultant()
    customer.reassign(to_staff=colleague.id, to_role=Role.PROPERTY_CONSULTANT, to_active=True, to_team=TEAM,
                      reason="workload", actor=manager())
    event = customer.pending_events[-1]
    assert type(event) is Customer.Reassigned and event.from_staff is None
    assert customer.assigned_to == colleague.id and not customer.in_pool


def test_the_pool_and_the_last_touch_are_rebuilt_from_the_events() -> None:
    customer, _, _ = _pooled()
    colleague = consultant()
    customer.claim_from_pool(claimer_id=colleague.id, claimer_role=Role.PROPERTY_CONSULTANT, claimer_team=TEAM,
                             actor=colleague)
    rebuilt = None
    for event in customer.pending_events:
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Customer)
    for field in ("assigned_to", "in_pool", "pooled_from", "last_touched_at", "last_occurred_at"):
        assert getattr(rebuilt, field) == getattr(customer, field), field


# --- the after-sales return visit of a handover (交房回访) ----------------------------------------


def _handed_over(*, closed: bool = False) -> tuple[Customer, uuid.UUID, datetime]:
    customer = received_customer()
    deal_id = uuid.uuid4()
    start = ago(days=20)
    for day, milestone in ((1, DealMilestone.DRAFTED), (2, DealMilestone.SIGNED), (3, DealMilestone.HANDED_OVER)):
        customer.reach_deal_milestone(deal_id=deal_id, milestone=milestone, actor=consultant(),
                                      occurred_at=start + timedelta(days=day))
    if closed:
        customer.reach_deal_milestone(deal_id=deal_id, milestone=DealMilestone.CLOSED, actor=consultant(),
                                      occurred_at=start + timedelta(days=4))
    return customer, deal_id, start + timedelta(days=3)


def test_a_handover_calls_for_a_return_visit_seven_days_later() -> None:
    customer, deal_id, handed_over_at = _handed_over()

    visit_id = customer.schedule_handover_return_visit(deal_id=deal_id, after=timedelta(days=7), actor=SYSTEM)

    event = recorded(customer, Customer.ReturnVisitScheduled, SYSTEM, handed_over_at)
    assert visit_id == event.visit_id == handover_visit_id(deal_id)
    assert event.due_at == handed_over_at + timedelta(days=7)
    assert str(deal_id) in event.purpose
    assert customer.return_visits[str(visit_id)]["due_at"] == handed_over_at + timedelta(days=7)


def test_the_after_sales_return_visit_is_scheduled_once_per_deal() -> None:
    customer, deal_id, _ = _handed_over()
    visit_id = customer.schedule_handover_return_visit(deal_id=deal_id, after=timedelta(days=7), actor=SYSTEM)
    with refused(customer, ReturnVisitAlreadyScheduled, "return_visit_already_scheduled") as excinfo:
        customer.schedule_handover_return_visit(deal_id=deal_id, after=timedelta(days=7), actor=SYSTEM)
    assert excinfo.value.context == {"deal_id": str(deal_id), "visit_id": str(visit_id)}


def test_a_closed_deal_still_gets_the_visit_of_its_handover() -> None:
    customer, deal_id, handed_over_at = _handed_over(closed=True)
    customer.schedule_handover_return_visit(deal_id=deal_id, after=timedelta(days=7), actor=SYSTEM)
    event = recorded(customer, Customer.ReturnVisitScheduled, SYSTEM, handed_over_at + timedelta(days=1))
    assert event.due_at == handed_over_at + timedelta(days=7)


@pytest.mark.parametrize("milestone", [DealMilestone.DRAFTED, DealMilestone.SIGNED, DealMilestone.CANCELLED])
def test_a_deal_not_handed_over_has_no_after_sales_visit(milestone: DealMilestone) -> None:
    customer = received_customer()
    deal_id = uuid.uuid4()
    customer.reach_deal_milestone(deal_id=deal_id, milestone=milestone, actor=consultant())
    with refused(customer, DealNotHandedOver, "deal_not_handed_over"):
        customer.schedule_handover_return_visit(deal_id=deal_id, after=timedelta(days=7), actor=SYSTEM)


def test_the_deal_must_be_one_of_the_customers() -> None:
    customer, _, _ = _handed_over()
    with refused(customer, NotFound, "not_found"):
        customer.schedule_handover_return_visit(deal_id=uuid.uuid4(), after=timedelta(days=7), actor=SYSTEM)


@pytest.mark.parametrize("after", [timedelta(0), timedelta(days=-7), 7])
def test_the_visit_is_due_some_time_after_the_handover(after: object) -> None:
    customer, deal_id, _ = _handed_over()
    with refused(customer, InvalidValue, "invalid_value"):
        customer.schedule_handover_return_visit(deal_id=deal_id, after=after, actor=SYSTEM)  # type: ignore[arg-type]


def test_a_consultant_does_not_schedule_return_visits() -> None:
    customer, deal_id, _ = _handed_over()
    with refused(customer, NotPermitted, "not_permitted"):
        customer.schedule_handover_return_visit(deal_id=deal_id, after=timedelta(days=7), actor=consultant())
