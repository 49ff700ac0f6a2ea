"""Listing (房源): a property on offer, its price history, and which deal holds it.

A listing carries at most one open deal at a time; the deal's drafting, signing, settlement and
cancellation are mirrored here in the same transaction, so two deals racing for one listing
cannot both win (the loser's save fails on the listing's version).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import Aggregate

from domain.errors import DealNotOnListing, InvalidValue, ListingHasOpenDeal, ListingNotAvailable
from domain.identity import Actor, Duty
from domain.recording import Recordable, RecordedEvent, require_choice, require_range, require_text, require_whole


class ListingStatus(StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"
    WITHDRAWN = "withdrawn"


class PropertyRightStatus(StrEnum):
    CLEAR = "clear"  # 产权清晰
    MORTGAGED = "mortgaged"  # 有抵押
    SHARED = "shared"  # 共有产权


class Listing(Recordable, Aggregate):
    TOPIC = "realty.listing"

    class Event(RecordedEvent):
        pass

    class Listed(Event, Aggregate.Created):
        TOPIC = "realty.listing.listed"
        district: str
        address: str
        area: float
        rooms: int
        price: int
        property_right_status: str
        tenure_years: int
        mortgage_eligible: bool

        def apply(self, listing: Listing) -> None:
            listing.district = self.district
            listing.address = self.address
            listing.area = self.area
            listing.rooms = self.rooms
            listing.price = self.price
            listing.property_right_status = self.property_right_status
            listing.tenure_years = self.tenure_years
            listing.mortgage_eligible = self.mortgage_eligible
            listing.status = ListingStatus.AVAILABLE.value
            listing.open_deal_id = None
            listing.price_history = [{"price": self.price, "at": self.occurred_at}]

    Created = Listed

    class PriceChanged(Event):
        TOPIC = "realty.listing.price_changed"
        old_price: int
        new_price: int
        reason: str

        def apply(self, listing: Listing) -> None:
            listing.price = self.new_price
            listing.price_history.append({"price": self.new_price, "at": self.occurred_at})

    class DealOpened(Event):
        TOPIC = "realty.listing.deal_opened"
        deal_id: uuid.UUID

        def apply(self, listing: Listing) -> None:
            listing.open_deal_id = self.deal_id

    class Reserved(Event):
        TOPIC = "realty.listing.reserved"
        deal_id: uuid.UUID

        def apply(self, listing: Listing) -> None:
            listing.status = ListingStatus.RESERVED.value

    class Released(Event):
        TOPIC = "realty.listing.released"
        deal_id: uuid.UUID
        reason: str

        def apply(self, listing: Listing) -> None:
            listing.status = ListingStatus.AVAILABLE.value
            listing.open_deal_id = None

    class Sold(Event):
        TOPIC = "realty.listing.sold"
        deal_id: uuid.UUID
        price: int

        def apply(self, listing: Listing) -> None:
            listing.status = ListingStatus.SOLD.value

    class Withdrawn(Event):
        TOPIC = "realty.listing.withdrawn"
        reason: str

        def apply(self, listing: Listing) -> None:
            listing.status = ListingStatus.WITHDRAWN.value


    @classmethod
    def list(
        cls,
        *,
        district: str,
        address: str,
        area: float,
        rooms: int,
        price: int,
        property_right_status: str,
        tenure_years: int,
        mortgage_eligible: bool,
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> Listing:
        actor.require(Duty.MANAGE_LISTINGS)
        require_range("area", area, 1, 10_000)
        require_whole("rooms", rooms, 0, 20)
        require_whole("price", price, 1, 10**10)
        require_whole("tenure_years", tenure_years, 1, 99)
        if not isinstance(mortgage_eligible, bool):
            raise InvalidValue("mortgage_eligible", "must be true or false")
        return cls._create_recorded(
            cls.Listed,
            actor,
            occurred_at,
            district=require_text("district", district, 50),
            address=require_text("address", address, 200),
            area=float(area),
            rooms=int(rooms),
            price=int(price),
            property_right_status=require_choice(
                "property_right_status", property_right_status, PropertyRightStatus
            ),
            tenure_years=int(tenure_years),
            mortgage_eligible=mortgage_eligible,
        )

    def change_price(
        self, *, new_price: int, reason: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.MANAGE_LISTINGS)
        self._require_status(ListingStatus.AVAILABLE, ListingStatus.RESERVED)
        require_whole("price", new_price, 1, 10**10)
        if new_price == self.price:
            raise InvalidValue("price", "is unchanged")
        self._record(
            self.PriceChanged,
            actor,
            occurred_at,
            old_price=self.price,
            new_price=int(new_price),
            reason=require_text("reason", reason),
        )

    def open_deal(self, *, deal_id: uuid.UUID, actor: Actor, occurred_at: datetime | None = None) -> None:
        self._require_status(ListingStatus.AVAILABLE)
        if self.open_deal_id is not None:
            raise ListingHasOpenDeal(self.id, self.open_deal_id)
        self._record(self.DealOpened, actor, occurred_at, deal_id=deal_id)

    def reserve(self, *, deal_id: uuid.UUID, actor: Actor, occurred_at: datetime | None = None) -> None:
        self._require_deal(deal_id)
        self._require_status(ListingStatus.AVAILABLE)
        self._record(self.Reserved, actor, occurred_at, deal_id=deal_id)

    def release(
        self, *, deal_id: uuid.UUID, reason: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        self._require_deal(deal_id)
        self._require_status(ListingStatus.AVAILABLE, ListingStatus.RESERVED)
        self._record(
            self.Released, actor, occurred_at, deal_id=deal_id, reason=require_text("reason", reason)
        )

    def mark_sold(
        self, *, deal_id: uuid.UUID, price: int, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        self._require_deal(deal_id)
        self._require_status(ListingStatus.RESERVED)
        self._record(self.Sold, actor, occurred_at, deal_id=deal_id, price=price)

    def withdraw(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.MANAGE_LISTINGS)
        self._require_status(ListingStatus.AVAILABLE)
        if self.open_deal_id is not None:
            raise ListingHasOpenDeal(self.id, self.open_deal_id)
        self._record(self.Withdrawn, actor, occurred_at, reason=require_text("reason", reason))

    def _require_status(self, *allowed: ListingStatus) -> None:
        if self.status not in allowed:
            raise ListingNotAvailable(self.id, self.status)

    def _require_deal(self, deal_id: uuid.UUID) -> None:
        if self.open_deal_id != deal_id:
            raise DealNotOnListing(self.id, deal_id)
