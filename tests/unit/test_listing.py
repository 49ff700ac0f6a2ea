"""The listing: on offer, its price history, and the one open deal that may hold it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.errors import DealNotOnListing, InvalidValue, ListingHasOpenDeal, ListingNotAvailable, NotPermitted
from domain.identity import Actor, Role
from domain.listing import Listing, ListingStatus
from tests.unit.builders import (
    actor,
    ago,
    consultant,
    listed_listing,
    listing_with_open_deal,
    manager,
    recorded,
    refused,
    refused_creation,
    reserved_listing,
    sold_listing,
    withdrawn_listing,
)


def test_listing_a_property_records_its_facts_and_first_price() -> None:
    by = consultant(on_behalf_of=uuid.uuid4())
    at = ago(days=3)

    listing = Listing.list(
        district=" 浦东 ",
        address="世纪大道 100 弄 8 号 1201",
        area=98.5,
        rooms=3,
        price=4_200_000,
        property_right_status="mortgaged",
        tenure_years=70,
        mortgage_eligible=False,
        actor=by,
        occurred_at=at,
    )

    event = recorded(listing, Listing.Listed, by, at)
    assert event.district == "浦东"
    assert (listing.district, listing.area, listing.rooms, listing.price) == ("浦东", 98.5, 3, 4_200_000)
    assert (listing.property_right_status, listing.tenure_years, listing.mortgage_eligible) == ("mortgaged", 70, False)
    assert listing.status == ListingStatus.AVAILABLE
    assert listing.open_deal_id is None
    assert listing.price_history == [{"price": 4_200_000, "at": at}]


_LISTING: dict[str, Any] = {
    "district": "浦东",
    "address": "世纪大道 100 弄",
    "area": 98.5,
    "rooms": 3,
    "price": 4_200_000,
    "property_right_status": "clear",
    "tenure_years": 70,
    "mortgage_eligible": True,
}


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("area", {"area": 0}),
        ("rooms", {"rooms": 21}),
        ("price", {"price": 0}),
        ("tenure_years", {"tenure_years": 100}),
        ("mortgage_eligible", {"mortgage_eligible": "yes"}),
        ("property_right_status", {"property_right_status": "disputed"}),
        ("district", {"district": ""}),
        ("address", {"address": "x" * 201}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_malformed_listing_is_refused(field: str, change: dict[str, Any]) -> None:
    with refused_creation(InvalidValue, "invalid_value") as excinfo:
        Listing.list(**{**_LISTING, **change}, actor=consultant())
    assert excinfo.value.context["field"] == field


@pytest.mark.parametrize("role", [Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.ARCHIVIST])
def test_only_consultants_and_sales_managers_manage_listings(role: Role) -> None:
    with refused_creation(NotPermitted, "not_permitted"):
        Listing.list(**_LISTING, actor=actor(role))
    listing = listed_listing()
    with refused(listing, NotPermitted, "not_permitted"):
        listing.change_price(new_price=1, reason="甩卖", actor=actor(role))
    with refused(listing, NotPermitted, "not_permitted"):
        listing.withdraw(reason="业主撤回", actor=actor(role))


# --- price ------------------------------------------------------------------------------------


def test_a_price_change_keeps_the_old_price_in_the_history() -> None:
    listing = listed_listing(price=4_000_000)
    first_at = listing.last_occurred_at
    by = manager()
    at = ago(hours=1)

    listing.change_price(new_price=3_850_000, reason="业主降价", actor=by, occurred_at=at)

    event = recorded(listing, Listing.PriceChanged, by, at)
    assert (event.old_price, event.new_price, event.reason) == (4_000_000, 3_850_000, "业主降价")
    assert listing.price == 3_850_000
    assert listing.price_history == [{"price": 4_000_000, "at": first_at}, {"price": 3_850_000, "at": at}]


def test_the_price_of_a_reserved_listing_can_still_change() -> None:
    listing, _ = reserved_listing()
    listing.change_price(new_price=3_900_000, reason="调整", actor=consultant())
    assert listing.price == 3_900_000


@pytest.mark.parametrize("new_price", [4_000_000, 0], ids=["unchanged", "zero"])
def test_a_price_change_must_name_a_new_positive_price(new_price: int) -> None:
    listing = listed_listing(price=4_000_000)
    with refused(listing, InvalidValue, "invalid_value") as excinfo:
        listing.change_price(new_price=new_price, reason="调整", actor=consultant())
    assert excinfo.value.context["field"] == "price"
    assert listing.price_history[-1]["price"] == 4_000_000


@pytest.mark.parametrize("state", ["sold", "withdrawn"])
def test_the_price_of_a_listing_off_the_market_cannot_change(state: str) -> None:
    listing = _listing_in(state)
    with refused(listing, ListingNotAvailable, "listing_not_available") as excinfo:
        listing.change_price(new_price=1_000_000, reason="调整", actor=consultant())
    assert excinfo.value.context == {"listing_id": str(listing.id), "status": state}


def _listing_in(state: str) -> Listing:
    if state == "reserved":
        return reserved_listing()[0]
    if state == "sold":
        return sold_listing()[0]
    assert state == "withdrawn"
    return withdrawn_listing()


# --- the one open deal ---------------------------------------------------------------------------


def test_opening_a_deal_makes_it_the_listings_open_deal() -> None:
    listing = listed_listing()
    deal_id = uuid.uuid4()
    by = consultant()
    at = ago(hours=1)

    listing.open_deal(deal_id=deal_id, actor=by, occurred_at=at)

    event = recorded(listing, Listing.DealOpened, by, at)
    assert event.deal_id == deal_id
    assert listing.open_deal_id == deal_id
    assert listing.status == ListingStatus.AVAILABLE


def test_a_listing_cannot_have_a_second_open_deal() -> None:
    listing, first = listing_with_open_deal()
    with refused(listing, ListingHasOpenDeal, "listing_has_open_deal") as excinfo:
        listing.open_deal(deal_id=uuid.uuid4(), actor=consultant())
    assert excinfo.value.context["deal_id"] == str(first)
    assert listing.open_deal_id == first


@pytest.mark.parametrize("state", ["reserved", "sold", "withdrawn"])
def test_a_deal_cannot_be_opened_on_a_listing_that_is_not_available(state: str) -> None:
    listing = _listing_in(state)
    with refused(listing, ListingNotAvailable, "listing_not_available") as excinfo:
        listing.open_deal(deal_id=uuid.uuid4(), actor=consultant())
    assert excinfo.value.context["status"] == state


def test_signing_the_open_deal_reserves_the_listing() -> None:
    listing, deal_id = listing_with_open_deal()
    by = consultant()
    at = ago(hours=1)

    listing.reserve(deal_id=deal_id, actor=by, occurred_at=at)

    event = recorded(listing, Listing.Reserved, by, at)
    assert event.deal_id == deal_id
    assert listing.status == ListingStatus.RESERVED
    assert listing.open_deal_id == deal_id


def test_only_the_open_deal_can_reserve_the_listing() -> None:
    listing, _ = listing_with_open_deal()
    other = uuid.uuid4()
    with refused(listing, DealNotOnListing, "deal_not_on_listing") as excinfo:
        listing.reserve(deal_id=other, actor=consultant())
    assert excinfo.value.context == {"listing_id": str(listing.id), "deal_id": str(other)}


def test_a_reserved_listing_cannot_be_reserved_again() -> None:
    listing, deal_id = reserved_listing()
    with refused(listing, ListingNotAvailable, "listing_not_available"):
        listing.reserve(deal_id=deal_id, actor=consultant())


@pytest.mark.parametrize("reserved", [False, True], ids=["before-signing", "after-signing"])
def test_a_cancelled_deal_releases_the_listing(reserved: bool) -> None:
    listing, deal_id = reserved_listing() if reserved else listing_with_open_deal()
    by = consultant()
    at = ago(hours=1)

    listing.release(deal_id=deal_id, reason="deal cancelled", actor=by, occurred_at=at)

    event = recorded(listing, Listing.Released, by, at)
    assert (event.deal_id, event.reason) == (deal_id, "deal cancelled")
    assert listing.status == ListingStatus.AVAILABLE
    assert listing.open_deal_id is None
    listing.open_deal(deal_id=uuid.uuid4(), actor=consultant())  # a new deal may now open


def test_only_the_open_deal_can_release_the_listing() -> None:
    listing, deal_id = reserved_listing()
    with refused(listing, DealNotOnListing, "deal_not_on_listing"):
        listing.release(deal_id=uuid.uuid4(), reason="deal cancelled", actor=consultant())
    assert listing.open_deal_id == deal_id


def test_a_sold_listing_cannot_be_released() -> None:
    listing, deal_id = sold_listing()
    with refused(listing, ListingNotAvailable, "listing_not_available"):
        listing.release(deal_id=deal_id, reason="deal cancelled", actor=consultant())


def test_settling_the_reserving_deal_marks_the_listing_sold() -> None:
    listing, deal_id = reserved_listing()
    by = consultant()
    at = ago(hours=1)

    listing.mark_sold(deal_id=deal_id, price=3_950_000, actor=by, occurred_at=at)

    event = recorded(listing, Listing.Sold, by, at)
    assert (event.deal_id, event.price) == (deal_id, 3_950_000)
    assert listing.status == ListingStatus.SOLD


def test_a_listing_is_sold_only_after_it_was_reserved() -> None:
    listing, deal_id = listing_with_open_deal()
    with refused(listing, ListingNotAvailable, "listing_not_available") as excinfo:
        listing.mark_sold(deal_id=deal_id, price=listing.price, actor=consultant())
    assert excinfo.value.context["status"] == "available"


def test_only_the_open_deal_can_mark_the_listing_sold() -> None:
    listing, _ = reserved_listing()
    with refused(listing, DealNotOnListing, "deal_not_on_listing"):
        listing.mark_sold(deal_id=uuid.uuid4(), price=listing.price, actor=consultant())


# --- withdrawal -------------------------------------------------------------------------------


def test_withdrawing_a_listing_takes_it_off_the_market() -> None:
    listing = listed_listing()
    by = manager()
    at = ago(hours=1)

    listing.withdraw(reason="业主不卖了", actor=by, occurred_at=at)

    event = recorded(listing, Listing.Withdrawn, by, at)
    assert event.reason == "业主不卖了"
    assert listing.status == ListingStatus.WITHDRAWN


def test_a_listing_with_an_open_deal_cannot_be_withdrawn() -> None:
    listing, deal_id = listing_with_open_deal()
    with refused(listing, ListingHasOpenDeal, "listing_has_open_deal") as excinfo:
        listing.withdraw(reason="业主不卖了", actor=consultant())
    assert excinfo.value.context == {"listing_id": str(listing.id), "deal_id": str(deal_id)}


@pytest.mark.parametrize("state", ["reserved", "sold", "withdrawn"])
def test_only_an_available_listing_can_be_withdrawn(state: str) -> None:
    listing = _listing_in(state)
    with refused(listing, ListingNotAvailable, "listing_not_available"):
        listing.withdraw(reason="业主不卖了", actor=consultant())
    assert listing.status == state


def test_a_withdrawal_needs_a_reason() -> None:
    listing = listed_listing()
    with refused(listing, InvalidValue, "invalid_value"):
        listing.withdraw(reason=" ", actor=consultant())


def test_the_system_actor_may_manage_listings() -> None:
    listing = Listing.list(**_LISTING, actor=Actor.system())
    listing.withdraw(reason="导入错误", actor=Actor.system())
    assert listing.status == ListingStatus.WITHDRAWN


def test_replaying_a_listings_events_rebuilds_the_same_listing() -> None:
    listing, deal_id = reserved_listing()
    listing.change_price(new_price=3_900_000, reason="调整", actor=consultant())
    listing.mark_sold(deal_id=deal_id, price=3_900_000, actor=consultant())

    rebuilt = None
    for event in listing.pending_events:
        rebuilt = event.mutate(rebuilt)

    assert isinstance(rebuilt, Listing)
    assert {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"} == {
        k: v for k, v in vars(listing).items() if k != "_pending_events"
    }
