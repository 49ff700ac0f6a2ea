"""Queries over the record: full history with metadata, and state as of a version or a time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import ConcurrencyConflict, InvalidValue, NotFound, OccurredBeforePrevious
from service.application import Acting, RealtyLedger
from tests.conftest import Team
from tests.integration.scenarios import receive


def test_history_lists_every_event_with_who_when_and_why(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    acting = Acting(team.consultant.staff_id, correlation_id="req-42", on_behalf_of=team.manager.staff_id)
    back_dated = datetime.now(UTC) - timedelta(minutes=2)
    app.raise_request(acting, customer, subject="补录：客户来电询价", occurred_at=back_dated)

    last = app.history(customer)[-1]
    assert last["name"] == "Customer.RequestRaised"
    assert last["event"] == "realty.customer.request_raised"
    assert last["correlation_id"] == "req-42"
    assert last["on_behalf_of"] == team.id(team.manager)
    assert datetime.fromisoformat(last["occurred_at"]) == back_dated
    assert datetime.fromisoformat(last["recorded_at"]) > back_dated  # business time vs recorded time
    assert last["data"]["subject"] == "补录：客户来电询价"


def test_the_state_as_of_a_version_and_as_of_a_time(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name="钱多多", phone="13912345678")
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    app.correct_contact_details(team.consultant, customer, phone="13987654321", reason="客户更换号码")

    assert app.state(customer)["phone"] == "13987654321"
    assert app.state(customer, version=2)["phone"] == "13912345678"
    assert app.state(customer, version=1)["phone"] is None
    assert app.state(customer, at=between)["version"] == 2
    assert app.state(customer, at=between)["phone"] == "13912345678"
    # The correction keeps what was there before.
    names = [e["name"] for e in app.history(customer)]
    assert names[-2:] == ["Customer.PersonalDetailsRecorded", "Customer.ContactDetailsCorrected"]

    with pytest.raises(NotFound):
        app.state(customer, version=9)
    with pytest.raises(NotFound):
        app.state(customer, at=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(InvalidValue):
        app.state(customer, version=1, at=between)
    with pytest.raises(InvalidValue):
        app.state(customer, at=datetime.now())  # no time zone


def test_a_stale_expected_version_is_a_conflict_that_stores_nothing(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    app.raise_request(team.consultant, customer, subject="a", expected_version=1)
    with pytest.raises(ConcurrencyConflict) as conflict:
        app.raise_request(team.consultant, customer, subject="b", expected_version=1)
    assert conflict.value.code == "concurrency_conflict"
    assert conflict.value.context == {"aggregate_id": customer, "expected_version": 1, "actual_version": 2}
    assert app.state(customer)["version"] == 2


def test_business_time_never_goes_backwards_within_a_record(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team, started_minutes_ago=30)
    app.raise_request(team.consultant, customer, subject="a", occurred_at=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(OccurredBeforePrevious):
        app.raise_request(team.consultant, customer, subject="b",
                          occurred_at=datetime.now(UTC) - timedelta(minutes=5))
    assert app.state(customer)["version"] == 2
