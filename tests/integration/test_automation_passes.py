"""The automations as the service runs them: a pass at a set time finds what came due in the views
and records it through the command path as the system actor — the breach at 24 h / 72 h and not a
second before, the pool return at the protection period, the return visit after handover once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.pipeline import CUSTOMERS
from projections.service_desk import ITEM_LIST
from service.application import RealtyLedger
from service.automations import Automations
from tests.conftest import Team, register_team
from tests.integration.scenarios import execute, list_flat, match, sign
from tests.integration.views_support import catch_up, open_ledger


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = open_ledger(own_database_url, tmp_path, pool_protection_days=15, return_visit_after_days=7)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def team(ledger: RealtyLedger) -> Team:
    return register_team(ledger)


def at(automations: Automations, ledger: RealtyLedger, now: datetime) -> dict[str, Any]:
    """One pass at ``now`` on views that have seen the whole log, then the views catch up again."""
    catch_up(ledger)
    report = automations.run_once(now).as_dict()
    catch_up(ledger)
    return report


def system_events(ledger: RealtyLedger, customer_id: str) -> list[tuple[str, str]]:
    return [(e["event"].rsplit(".", 1)[1], e["occurred_at"]) for e in ledger.history(customer_id)
            if e["actor_role"] == "system"]


def received(ledger: RealtyLedger, team: Team, started: datetime) -> str:
    return ledger.receive_customer(team.consultant, channel="phone", reception_started_at=started,
                                   reception_ended_at=started + timedelta(minutes=20)).id


def test_a_request_is_warned_at_18_hours_and_breached_at_24_not_a_second_before(
        ledger: RealtyLedger, team: Team) -> None:
    raised = (datetime.now(UTC) - timedelta(hours=30)).replace(microsecond=0)
    customer = received(ledger, team, raised - timedelta(hours=1))
    ledger.raise_request(team.consultant, customer, subject="学区政策", occurred_at=raised)
    automations = Automations(ledger)
    second = timedelta(seconds=1)

    assert at(automations, ledger, raised + timedelta(hours=18) - second)["warnings"] == 0
    assert at(automations, ledger, raised + timedelta(hours=18))["warnings"] == 1
    assert at(automations, ledger, raised + timedelta(hours=20))["warnings"] == 0  # once
    assert at(automations, ledger, raised + timedelta(hours=24) - second)["breaches"] == 0
    assert at(automations, ledger, raised + timedelta(hours=24))["breaches"] == 1
    assert at(automations, ledger, raised + timedelta(hours=25))["breaches"] == 0  # once
    assert system_events(ledger, customer) == [
        ("sla_warning_issued", (raised + timedelta(hours=18)).isoformat()),
        ("sla_breached", (raised + timedelta(hours=24)).isoformat()),
    ]
    page, _ = ledger.views.list(ITEM_LIST, filters={})
    assert [(row["warned"], row["breached"]) for row in page.items] == [(True, True)]


def test_a_complaint_is_breached_at_72_hours_not_a_second_before(ledger: RealtyLedger, team: Team) -> None:
    filed = (datetime.now(UTC) - timedelta(hours=80)).replace(microsecond=0)
    customer = received(ledger, team, filed - timedelta(hours=1))
    ledger.file_complaint(team.service, customer, category="service", severity="high", description="顾问迟到",
                          occurred_at=filed)
    automations = Automations(ledger)
    assert at(automations, ledger, filed + timedelta(hours=72) - timedelta(seconds=1))["breaches"] == 0
    assert at(automations, ledger, filed + timedelta(hours=72))["breaches"] == 1
    assert system_events(ledger, customer)[-1] == ("sla_breached", (filed + timedelta(hours=72)).isoformat())


def test_an_answered_request_is_never_breached(ledger: RealtyLedger, team: Team) -> None:
    raised = (datetime.now(UTC) - timedelta(hours=30)).replace(microsecond=0)
    customer = received(ledger, team, raised - timedelta(hours=1))
    request = ledger.raise_request(team.consultant, customer, subject="贷款", occurred_at=raised).entity_id
    ledger.respond_to_request(team.consultant, customer, request_id=str(request), response="已答复",
                              occurred_at=raised + timedelta(hours=2))
    report = at(Automations(ledger), ledger, raised + timedelta(hours=29))
    assert (report["warnings"], report["breaches"]) == (0, 0)
    assert system_events(ledger, customer) == []


def test_an_untouched_customer_returns_to_the_pool_at_15_days_and_a_colleague_claims_them(
        ledger: RealtyLedger, team: Team) -> None:
    started = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
    customer = received(ledger, team, started)
    touched = received(ledger, team, started)
    ledger.record_needs(team.consultant, touched, budget_min=3_000_000, budget_max=4_000_000, area_min=60,
                        area_max=90, rooms=2, districts=["浦东"], purpose="home", payment_method="full",
                        qualification="qualified", occurred_at=started + timedelta(days=10))
    automations = Automations(ledger)
    assert at(automations, ledger, started + timedelta(days=15) - timedelta(seconds=1))["returned_to_pool"] == 0
    assert at(automations, ledger, started + timedelta(days=15))["returned_to_pool"] == 1
    assert system_events(ledger, customer) == [("returned_to_pool", (started + timedelta(days=15)).isoformat())]
    pool, _ = ledger.views.list(CUSTOMERS, filters={"in_pool": "true"})
    assert [row["customer_id"] for row in pool.items] == [customer]
    assert pool.items[0]["assigned_to"] is None

    ledger.claim_from_pool(team.second_consultant, customer)
    catch_up(ledger)
    held, _ = ledger.views.list(CUSTOMERS, filters={"assigned_to": team.id(team.second_consultant)})
    assert [(row["customer_id"], row["in_pool"]) for row in held.items] == [(customer, False)]
    late = at(automations, ledger, started + timedelta(days=25) + timedelta(seconds=1))
    assert late["returned_to_pool"] == 1, late
    assert system_events(ledger, touched) == [("returned_to_pool", (started + timedelta(days=25)).isoformat())]


def test_a_customer_a_sales_manager_reassigns_out_of_the_pool_leaves_the_pool_in_the_view(
        ledger: RealtyLedger, team: Team) -> None:
    # Reassigned takes the customer out of the pool (domain.customer_events.Reassigned.apply): the
    # pipeline must say so, or the pool lists a held customer and the clock never returns them again.
    started = (datetime.now(UTC) - timedelta(days=40)).replace(microsecond=0)
    customer = received(ledger, team, started)
    automations = Automations(ledger)
    assert at(automations, ledger, started + timedelta(days=15))["returned_to_pool"] == 1
    ledger.reassign_customer(team.manager, customer, to_staff=team.id(team.second_consultant), reason="workload",
                             occurred_at=started + timedelta(days=16))
    catch_up(ledger)
    assert ledger.state(customer)["in_pool"] is False
    pool, _ = ledger.views.list(CUSTOMERS, filters={"in_pool": "true"})
    assert pool.items == []
    held, _ = ledger.views.list(CUSTOMERS, filters={"assigned_to": team.id(team.second_consultant)})
    assert [(row["customer_id"], row["in_pool"]) for row in held.items] == [(customer, False)]
    assert at(automations, ledger, started + timedelta(days=31))["returned_to_pool"] == 1


def test_the_return_visit_after_handover_is_scheduled_once_due_seven_days_later(
        ledger: RealtyLedger, team: Team) -> None:
    listing = list_flat(ledger, team.consultant)
    customer = received(ledger, team, datetime.now(UTC) - timedelta(hours=2))
    match(ledger, team, customer, listing)
    deal = sign(ledger, team, customer, listing)
    execute(ledger, team, deal)
    handed_over = next(e["occurred_at"] for e in ledger.history(deal) if e["event"] == "realty.deal.handover_confirmed")
    automations = Automations(ledger)
    assert at(automations, ledger, datetime.now(UTC))["return_visits"] == 1
    assert at(automations, ledger, datetime.now(UTC))["return_visits"] == 0
    visits = ledger.state(customer)["return_visits"]
    assert [v["due_at"] for v in visits.values()] == [
        (datetime.fromisoformat(handed_over) + timedelta(days=7)).isoformat()]
    row, _ = ledger.views.list(CUSTOMERS, filters={"stage": "after_sales"})
    assert [(r["customer_id"], r["deals"]) for r in row.items] == [(customer, {deal: "closed"})]
    awaiting, _ = ledger.views.query("pipeline", "SELECT awaiting_visit FROM {customers} WHERE customer_id = ?",
                                     [customer])
    assert [bool(a) for (a,) in awaiting] == [False]
