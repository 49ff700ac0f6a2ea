"""Listing request bodies. Prices are whole yuan: integers, never coerced from strings or floats."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from domain.listing import PropertyRightStatus
from service.api.schemas.common import Body, Text

MAX_PRICE = 10**10


class ListingCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"district": "浦东", "address": "锦绣路 1888 弄 8 号 1201 室", "area": 89.5, "rooms": 2,
         "price": 5_200_000, "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True},
    ]})

    district: str = Field(min_length=1, max_length=50)
    address: str = Field(min_length=1, max_length=200)
    area: float = Field(ge=1, le=10_000, description="square metres")
    rooms: int = Field(ge=0, le=20)
    price: int = Field(gt=0, le=MAX_PRICE, strict=True, description="asking price in yuan")
    property_right_status: PropertyRightStatus
    tenure_years: int = Field(ge=1, le=99, description="years left on the land-use right")
    mortgage_eligible: bool = Field(strict=True)


class ListingPriceChange(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"new_price": 4_980_000, "reason": "业主急于置换，同意让价22万"},
    ]})

    new_price: int = Field(gt=0, le=MAX_PRICE, strict=True, description="new asking price in yuan")
    reason: str = Text


class ListingWithdrawal(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "业主决定自住，暂不出售"},
    ]})

    reason: str = Text
