"""Customer request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.customer_values import (
    Channel,
    ComplaintSeverity,
    LossReason,
    PaymentMethod,
    Purpose,
    Qualification,
    ReassignmentReason,
    TopicExplained,
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


class _Part(BaseModel):
    """A nested part of a request body: unknown fields are refused here too."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactCorrection(Body):
    """Corrected contact details (only the fields that were wrong) and why; the old values stay in history."""

    reason: str = Text
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=5, max_length=20)
    id_number: str | None = Field(default=None, min_length=18, max_length=18)


class ShortlistMatch(_Part):
    listing_id: str = Field(min_length=1, max_length=64)
    score: int = Field(ge=0, le=100, description="how well the listing matches the needs, 0-100")


class Shortlist(Body):
    """Listing screening (房源筛选): replaces the shortlist."""

    matches: list[ShortlistMatch] = Field(min_length=1, max_length=50)


class ShowingCreate(Body):
    listing_id: str = Field(min_length=1, max_length=64)
    scheduled_for: AwareDatetime


class ShowingReschedule(Body):
    scheduled_for: AwareDatetime
    reason: str = Text


class ShowingConduct(Body):
    topics_explained: list[TopicExplained] = Field(
        max_length=len(TopicExplained), description="what was explained on site (产权、年限、按揭政策)")


class ShowingCancellation(Body):
    reason: str = Text


class ShowingNoShow(Body):
    pass


class Feedback(Body):
    interest: int = Field(ge=1, le=5, description="1 (none) to 5 (ready to make an offer)")
    objections: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list,
                                                                                  max_length=20)


class ComplaintAcknowledgement(Body):
    pass


class ComplaintEscalation(Body):
    escalated_to: str = Field(min_length=1, max_length=64, description="a staff member of the customer's team")
    reason: str = Text


class ReturnVisitCreate(Body):
    """Return visit (回访)."""

    due_at: AwareDatetime
    purpose: str = Text


class ReturnVisitCompletion(Body):
    summary: str = Text


class Reactivation(Body):
    reason: str = Text
