"""Listing routes: putting a property on offer, its price, withdrawal, and reads.

Listings hold no personal data and belong to no team: every role with a listings route sees every
listing. Which deal holds a listing is mirrored here by the deal routes, never set directly.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from service.api.answers import answer
from service.api.deps import AccessDep, ExpectedVersionDep
from service.api.schemas import common as c
from service.api.schemas import listings as s

router = APIRouter(prefix="/listings", tags=["listings"])


@router.post("", name="listings.list", status_code=201, response_model=c.CommandResultPublic,
             summary="List a property (房源录入)")
def list_property(body: s.ListingCreate, access: AccessDep) -> Any:
    result = access.ledger.list_property(
        access.caller.acting, district=body.district, address=body.address, area=body.area, rooms=body.rooms,
        price=body.price, property_right_status=body.property_right_status.value, tenure_years=body.tenure_years,
        mortgage_eligible=body.mortgage_eligible, occurred_at=body.occurred_at,
    )
    return answer(result, 201, location=f"/listings/{result.id}")


@router.get("/{listing_id}", name="listings.read", summary="A listing's current state")
def read(listing_id: str, access: AccessDep, response: Response) -> dict[str, Any]:
    state = access.load(listing_id, "listing")
    response.headers["ETag"] = f'"{state["version"]}"'
    return state


@router.get("/{listing_id}/history", name="listings.history", summary="Every event, with who, when and why")
def history(listing_id: str, access: AccessDep) -> list[dict[str, Any]]:
    access.load(listing_id, "listing")
    return access.ledger.history(listing_id)


@router.post("/{listing_id}/price", name="listings.change_price", response_model=c.CommandResultPublic,
             summary="Change the asking price, with the reason")
def change_price(listing_id: str, body: s.ListingPriceChange, access: AccessDep,
                 version: ExpectedVersionDep) -> Any:
    access.load(listing_id, "listing")
    return answer(access.ledger.change_listing_price(access.caller.acting, listing_id, new_price=body.new_price,
                                                     reason=body.reason, expected_version=version,
                                                     occurred_at=body.occurred_at))


@router.post("/{listing_id}/withdrawal", name="listings.withdraw", response_model=c.CommandResultPublic,
             summary="Withdraw an available listing without an open deal")
def withdraw(listing_id: str, body: s.ListingWithdrawal, access: AccessDep,
             version: ExpectedVersionDep) -> Any:
    access.load(listing_id, "listing")
    return answer(access.ledger.withdraw_listing(access.caller.acting, listing_id, reason=body.reason,
                                                 expected_version=version, occurred_at=body.occurred_at))
