"""Deal request bodies: drafting, review, signing, documents, payments and the closing steps.

Amounts are whole yuan: integers, never coerced from strings or floats. Steps that need no data
(submission, settlement, closing, a document's receipt or verification) take an optional body
that may carry only a business time.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from domain.deal import DocumentKind, PaymentKind
from service.api.schemas.common import (
    EXAMPLE_CUSTOMER_ID,
    EXAMPLE_LISTING_ID,
    Body,
    Text,
)

MAX_AMOUNT = 10**10


class DealCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"customer_id": EXAMPLE_CUSTOMER_ID, "listing_id": EXAMPLE_LISTING_ID, "price": 5_200_000,
         "terms": "首付三成，余款公积金贷款；2027年1月31日前交房，税费按规定各自承担"},
    ]})

    customer_id: str = Field(min_length=1, max_length=64, description="a customer assigned to you (or of your team)")
    listing_id: str = Field(min_length=1, max_length=64, description="an available listing without an open deal")
    price: int = Field(gt=0, le=MAX_AMOUNT, strict=True, description="agreed price in yuan")
    terms: str = Field(min_length=1, max_length=5000)


class DealStep(Body):
    """No data beyond an optional business time."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class DealApproval(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"note": "资料齐全，成交价与挂牌价相符"},
    ]})

    note: str | None = Field(default=None, min_length=1, max_length=2000)


class DealRejection(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "合同未写明贷款未获批时的处理方式，请补充后重新提交"},
    ]})

    reason: str = Text


class DealSigning(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"contract_number": "HT-2026-0001"},
    ]})

    contract_number: str = Field(min_length=1, max_length=64)


class RequiredDocuments(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kinds": ["id_card", "purchase_qualification", "loan_approval"]},
    ]})

    kinds: list[DocumentKind] = Field(min_length=1, max_length=len(DocumentKind))


class PaymentRecord(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "down_payment", "amount": 1_560_000, "payer_account": "6222020200112233445"},
    ]})

    kind: PaymentKind
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True, description="yuan")
    payer_account: str = Field(min_length=12, max_length=34,
                               description="bank card or account number, 12-19 digits (personal data)")


class Handover(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"note": "钥匙两把、门禁卡一张已交付，水电燃气表读数已确认"},
    ]})

    note: str | None = Field(default=None, min_length=1, max_length=2000)


class DealCancellation(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "客户贷款审批未通过，双方协商解除"},
    ]})

    reason: str = Text
