"""Customer request bodies."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from domain.customer_values import (
    Channel,
    ComplaintSeverity,
    LossReason,
    PaymentMethod,
    Purpose,
    Qualification,
    ReassignmentReason,
)
from service.api.schemas.common import Body, Text


class CustomerCreate(Body):
    channel: Channel
    reception_started_at: AwareDatetime
    reception_ended_at: AwareDatetime
    assigned_to: str | None = Field(default=None, description="staff member id; defaults to the caller")


class PersonalDetails(Body):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=5, max_length=20)
    id_number: str | None = Field(default=None, min_length=18, max_length=18)


class Needs(Body):
    budget_min: int = Field(gt=0)
    budget_max: int = Field(gt=0)
    area_min: float = Field(gt=0)
    area_max: float = Field(gt=0)
    rooms: int = Field(ge=1, le=20)
    districts: list[str] = Field(min_length=1, max_length=20)
    purpose: Purpose
    payment_method: PaymentMethod
    qualification: Qualification


class RequestRaise(Body):
    subject: str = Text


class RequestResponse(Body):
    response: str = Text


class ComplaintFile(Body):
    category: str = Field(min_length=1, max_length=50)
    severity: ComplaintSeverity
    description: str = Text


class ComplaintResolution(Body):
    resolution: str = Text


class SurveyAnswer(Body):
    scores: dict[str, int] = Field(description="1-5 per dimension; overall required")
    comment: str | None = Field(default=None, max_length=2000)


class Loss(Body):
    reason: LossReason
    note: str | None = Field(default=None, max_length=2000)


class Reassignment(Body):
    to_staff: str
    reason: ReassignmentReason
