"""Deal request bodies: drafting, review, signing, documents, payments and the closing steps.

Amounts are whole yuan: integers, never coerced from strings or floats. Steps that need no data
(submission, settlement, closing, a document's receipt or verification) take an optional body
that may carry only a business time.
"""

from __future__ import annotations

from pydantic import Field

from domain.deal import DocumentKind, PaymentKind
from service.api.schemas.common import Body, Text

MAX_AMOUNT = 10**10


class DealCreate(Body):
    customer_id: str = Field(min_length=1, max_length=64, description="a customer assigned to you (or of your team)")
    listing_id: str = Field(min_length=1, max_length=64, description="an available listing without an open deal")
    price: int = Field(gt=0, le=MAX_AMOUNT, strict=True, description="agreed price in yuan")
    terms: str = Field(min_length=1, max_length=5000)


class DealStep(Body):
    """No data beyond an optional business time."""


class DealApproval(Body):
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class DealRejection(Body):
    reason: str = Text


class DealSigning(Body):
    contract_number: str = Field(min_length=1, max_length=64)


class RequiredDocuments(Body):
    kinds: list[DocumentKind] = Field(min_length=1, max_length=len(DocumentKind))


class PaymentRecord(Body):
    kind: PaymentKind
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True, description="yuan")
    payer_account: str = Field(min_length=12, max_length=34,
                               description="bank card or account number, 12-19 digits (personal data)")


class Handover(Body):
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class DealCancellation(Body):
    reason: str = Text
