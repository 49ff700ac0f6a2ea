"""Listings: what is on offer, at what price, which deal holds it, and every price it has had.

One row per listing (district, rooms, area, price, status and the deal that reserved or bought it)
for the consultants' search and the manager's stock overview, and one row per price a listing has
had (its listing price, then each change) for its price history. The address, the property-right
details and the typed reasons of price changes and withdrawals stay in the record: the view keeps
only what a search filters and sorts on.
"""

from __future__ import annotations

from typing import Any

from domain.listing import Listing, ListingStatus
from projections.projection import Projection, Rows, Table, ts
from projections.query import Filter, ListSpec

T = "listings"
P = "prices"


def price_key(listing_id: str, version: int) -> str:
    # The listing's event version, zero-padded: a listing's prices sort in the order they were set.
    return f"{listing_id}|{version:08d}"


class Listings(Projection):
    name = "listings"
    version = 1
    tables = (
        Table(T, (
            ("listing_id", "text"), ("district", "text"), ("rooms", "int"), ("area", "real"), ("price", "int"),
            ("status", "text"), ("listed_at", "text"), ("updated_at", "text"), ("first_price", "int"),
            ("price_changes", "int"), ("open_deal_id", "text"), ("has_open_deal", "bool"),
            ("reserved_by_deal", "text"), ("reserved_at", "text"), ("sold_price", "int"), ("sold_at", "text"),
            ("withdrawn_at", "text"), ("version", "int"),
        ), key="listing_id", indexes=(
            ("status", "price"), ("district", "status", "price"), ("status", "listed_at"), ("rooms", "price"),
        )),
        Table(P, (
            ("change_id", "text"), ("listing_id", "text"), ("at", "text"), ("old_price", "int"),
            ("new_price", "int"), ("version", "int"),
        ), key="change_id", indexes=(("listing_id", "at"),)),
    )
    topics = frozenset(cls.TOPIC for cls in (  # type: ignore[attr-defined]
        Listing.Listed, Listing.PriceChanged, Listing.DealOpened, Listing.Reserved, Listing.Released,
        Listing.Sold, Listing.Withdrawn,
    ))

    def keys(self, event: Any) -> list[tuple[str, str]]:
        return [(T, str(event.originator_id))]

    def creates(self, event: Any) -> list[tuple[str, str]]:
        return [(T, str(event.originator_id))] if type(event).TOPIC == Listing.Listed.TOPIC else []

    def handle(self, event: Any, rows: Rows) -> None:
        topic = type(event).TOPIC
        key = str(event.originator_id)
        when = ts(event.occurred_at)
        if topic == Listing.Listed.TOPIC:
            rows.put(T, {
                "listing_id": key, "district": event.district, "rooms": event.rooms, "area": event.area,
                "price": event.price, "status": ListingStatus.AVAILABLE.value, "listed_at": when,
                "updated_at": when, "first_price": event.price, "price_changes": 0, "open_deal_id": None,
                "has_open_deal": False, "reserved_by_deal": None, "reserved_at": None, "sold_price": None,
                "sold_at": None, "withdrawn_at": None, "version": event.originator_version,
            })
            self._price(rows, key, event, None, event.price)
            return
        row = rows.get(T, key)
        if row is None:
            raise LookupError(f"listing {key} has no row (its Listed event was never seen)")
        if topic == Listing.PriceChanged.TOPIC:
            row["price"] = event.new_price
            row["price_changes"] += 1
            self._price(rows, key, event, event.old_price, event.new_price)
        elif topic == Listing.DealOpened.TOPIC:
            row["open_deal_id"], row["has_open_deal"] = str(event.deal_id), True
        elif topic == Listing.Reserved.TOPIC:
            row["status"] = ListingStatus.RESERVED.value
            row["reserved_by_deal"], row["reserved_at"] = str(event.deal_id), when
        elif topic == Listing.Released.TOPIC:
            row["status"] = ListingStatus.AVAILABLE.value
            row["open_deal_id"], row["has_open_deal"] = None, False
            row["reserved_by_deal"], row["reserved_at"] = None, None
        elif topic == Listing.Sold.TOPIC:
            row["status"] = ListingStatus.SOLD.value
            row["sold_price"], row["sold_at"] = event.price, when
        elif topic == Listing.Withdrawn.TOPIC:
            row["status"] = ListingStatus.WITHDRAWN.value
            row["withdrawn_at"] = when
        row["updated_at"] = when
        row["version"] = event.originator_version
        rows.changed(T, row)

    @staticmethod
    def _price(rows: Rows, listing_id: str, event: Any, old: int | None, new: int) -> None:
        rows.put(P, {"change_id": price_key(listing_id, event.originator_version), "listing_id": listing_id,
                     "at": ts(event.occurred_at), "old_price": old, "new_price": new,
                     "version": event.originator_version})


LISTINGS = Listings()

LISTING_ROWS = ListSpec(
    LISTINGS, T,
    filters={
        "district": Filter("district"), "status": Filter("status"), "rooms": Filter("rooms", "int"),
        "rooms_min": Filter("rooms", "int", ">="), "rooms_max": Filter("rooms", "int", "<="),
        "price_min": Filter("price", "int", ">="), "price_max": Filter("price", "int", "<="),
        "area_min": Filter("area", "real", ">="), "area_max": Filter("area", "real", "<="),
        "has_open_deal": Filter("has_open_deal", "bool"),
        "listed_after": Filter("listed_at", "time", ">="), "listed_before": Filter("listed_at", "time", "<"),
    },
    sorts={"price": "price", "listed_at": "listed_at", "area": "area", "rooms": "rooms",
           "updated_at": "updated_at"},
    default_sort="-listed_at",
    numeric_sorts=frozenset({"price", "area", "rooms"}),
)

PRICE_ROWS = ListSpec(
    LISTINGS, P,
    filters={"changed_after": Filter("at", "time", ">="), "changed_before": Filter("at", "time", "<")},
    sorts={"at": "at"},
    default_sort="at",
)
