"""Two processes (two application objects) on one store: cached reads never decide on old facts.

Each application keeps a process-local cache of records. These tests make one application's
cache stale through the other and show that the stale copy can cost a retry but never lets a
command through that the store's current state forbids, nor refuses one that it allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import IntegrityError

from archive.recorders import RecordMovedOn
from domain.errors import ListingNotShowable, StaffDeactivated
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.integration.scenarios import list_flat, receive


@pytest.fixture
def other(database_url: str) -> Iterator[RealtyLedger]:
    """A second process's application on the same store."""
    app = RealtyLedger(load_settings(database_url=database_url))
    try:
        yield app
    finally:
        app.close()


def test_a_staff_member_deactivated_elsewhere_cannot_act_here(
    app: RealtyLedger, other: RealtyLedger, team: Team
) -> None:
    customer = receive(app, team)
    app.raise_request(team.second_consultant, customer, subject="warms the cache")  # caches the member
    other.deactivate_staff(team.admin, team.id(team.second_consultant), reason="离职")

    with pytest.raises(StaffDeactivated):
        app.raise_request(team.second_consultant, customer, subject="after deactivation")
    assert app.state(customer)["version"] == 2


def test_a_listing_withdrawn_elsewhere_cannot_be_shown_here(
    app: RealtyLedger, other: RealtyLedger, team: Team
) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    later = datetime.now(UTC) + timedelta(days=1)
    app.schedule_showing(team.consultant, customer, listing_id=listing, scheduled_for=later)  # caches it
    other.withdraw_listing(team.consultant, listing, reason="业主撤回")

    with pytest.raises(ListingNotShowable):
        app.schedule_showing(team.consultant, customer, listing_id=listing, scheduled_for=later)
    assert len(app.state(customer)["showings"]) == 1


def test_a_customer_reactivated_elsewhere_is_not_refused_here(
    app: RealtyLedger, other: RealtyLedger, team: Team
) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    app.mark_customer_lost(team.consultant, customer, reason="price")  # this process caches "lost"
    other.reactivate_customer(team.customer_manager, customer, reason="预算提高")

    result = app.schedule_showing(team.consultant, customer, listing_id=listing,
                                  scheduled_for=datetime.now(UTC) + timedelta(days=1))
    assert result.version == 4
    assert app.state(customer)["stage"] == "matching"


def test_a_command_on_a_record_changed_elsewhere_lands_after_that_change(
    app: RealtyLedger, other: RealtyLedger, team: Team
) -> None:
    customer = receive(app, team)
    app.raise_request(team.consultant, customer, subject="one")  # cached at version 2
    other.raise_request(team.consultant, customer, subject="two")  # the store moves to version 3
    result = app.raise_request(team.consultant, customer, subject="three")
    assert result.version == 4
    subjects = [e["data"]["subject"] for e in app.history(customer) if e["name"] == "Customer.RequestRaised"]
    assert subjects == ["one", "two", "three"]


def test_the_recorder_refuses_a_write_whose_guarded_read_moved_on(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    staff_id = uuid.UUID(team.id(team.consultant))
    staff_version = app.staff_member(staff_id)["version"]
    listing = list_flat(app, team.consultant)

    def repriced() -> object:
        aggregate = app.repository.get(uuid.UUID(listing))
        aggregate.change_price(new_price=4_900_000, reason="降价", actor=app._actor(team.consultant))
        return aggregate

    with pytest.raises(IntegrityError) as refused:
        app.save(repriced(), guards={staff_id: staff_version - 1, uuid.UUID(customer): 1})
    # Both backends name the record that moved on (PostgreSQL in its unique-violation detail).
    assert str(staff_id) in str(refused.value)
    if app.settings.database.backend == "sqlite":
        assert isinstance(refused.value, RecordMovedOn)
    assert app.state(listing)["version"] == 1  # nothing of the refused transaction was stored

    app.save(repriced(), guards={staff_id: staff_version, uuid.UUID(customer): 1})
    assert app.state(listing)["price"] == 4_900_000


def test_without_a_cache_every_command_reads_the_store(database_url: str) -> None:
    app = RealtyLedger(load_settings(database_url=database_url, cache_size=0))
    try:
        team = register_team(app)
        customer = receive(app, team)
        assert app.raise_request(team.consultant, customer, subject="x").version == 2
        assert app._cache.take(uuid.UUID(customer)) is None
    finally:
        app.close()
