"""Customer request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.customer_erasure import ErasureBasis
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
from service.api.schemas.common import (
    EXAMPLE_CUSTOMER_MANAGER_ID,
    EXAMPLE_LISTING_ID,
    EXAMPLE_SALES_MANAGER_ID,
    Body,
    Text,
)


class CustomerCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"channel": "walk_in", "reception_started_at": "2026-11-27T10:00:00+08:00",
         "reception_ended_at": "2026-11-27T10:22:00+08:00"},
    ]})

    channel: Channel
    reception_started_at: AwareDatetime
    reception_ended_at: AwareDatetime
    assigned_to: str | None = Field(default=None, description="staff member id; defaults to the caller")


class PersonalDetails(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "赵雅琴", "phone": "13800138000", "id_number": "11010519491231002X"},
    ]})

    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=5, max_length=20)
    id_number: str | None = Field(default=None, min_length=18, max_length=18)


class Needs(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"budget_min": 4_000_000, "budget_max": 6_000_000, "area_min": 70, "area_max": 100, "rooms": 2,
         "districts": ["浦东", "徐汇"], "purpose": "home", "payment_method": "provident_fund",
         "qualification": "qualified"},
    ]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"subject": "咨询浦东新区学区划片政策与对口小学"},
    ]})

    subject: str = Text


class RequestResponse(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"response": "已电话说明对口小学的划片规则，并发送区教育局政策原文"},
    ]})

    response: str = Text


class ComplaintFile(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"category": "服务态度", "severity": "medium", "description": "带看时经纪人迟到四十分钟，且未提前告知"},
    ]})

    category: str = Field(min_length=1, max_length=50)
    severity: ComplaintSeverity
    description: str = Text


class ComplaintResolution(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"resolution": "店长当面致歉，调整了带看安排并免除一次家政服务费"},
    ]})

    resolution: str = Text


class SurveyAnswer(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"scores": {"overall": 5, "attitude": 5, "professionalism": 4, "responsiveness": 5, "accuracy": 4},
         "comment": "顾问讲解耐心，交房流程顺利"},
    ]})

    scores: dict[str, int] = Field(description="1-5 per dimension; overall required")
    comment: str | None = Field(default=None, max_length=2000)


class Loss(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "competitor", "note": "已通过其他中介购入徐汇区房源"},
    ]})

    reason: LossReason
    note: str | None = Field(default=None, max_length=2000)


class Reassignment(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"to_staff": EXAMPLE_CUSTOMER_MANAGER_ID, "reason": "hand_over"},
    ]})

    to_staff: str
    reason: ReassignmentReason


class Claim(Body):
    """Claim a customer from the team's public pool (公客池) for oneself; the body may be left out.
    A sales manager may name the consultant or customer manager of the team who takes them."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    claimer: str | None = Field(default=None, description="staff member id; defaults to the caller")


class _Part(BaseModel):
    """A nested part of a request body: unknown fields are refused here too."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactCorrection(Body):
    """Corrected contact details (only the fields that were wrong) and why; the old values stay in history."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "接待时手机号录错一位，客户来电更正", "phone": "13912345678"},
    ]})

    reason: str = Text
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=5, max_length=20)
    id_number: str | None = Field(default=None, min_length=18, max_length=18)


class ShortlistMatch(_Part):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"listing_id": EXAMPLE_LISTING_ID, "score": 92},
    ]})

    listing_id: str = Field(min_length=1, max_length=64)
    score: int = Field(ge=0, le=100, description="how well the listing matches the needs, 0-100")


class Shortlist(Body):
    """Listing screening (房源筛选): replaces the shortlist."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"matches": [{"listing_id": EXAMPLE_LISTING_ID, "score": 92}]},
    ]})

    matches: list[ShortlistMatch] = Field(min_length=1, max_length=50)


class ShowingCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"listing_id": EXAMPLE_LISTING_ID, "scheduled_for": "2026-11-28T14:00:00+08:00"},
    ]})

    listing_id: str = Field(min_length=1, max_length=64)
    scheduled_for: AwareDatetime


class ShowingReschedule(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"scheduled_for": "2026-11-29T10:30:00+08:00", "reason": "客户周六临时加班，改约周日上午"},
    ]})

    scheduled_for: AwareDatetime
    reason: str = Text


class ShowingConduct(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"topics_explained": ["property_rights", "tenure", "mortgage_policy"]},
    ]})

    topics_explained: list[TopicExplained] = Field(
        max_length=len(TopicExplained), description="what was explained on site (产权、年限、按揭政策)")


class ShowingCancellation(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "业主临时出差，无法开门"},
    ]})

    reason: str = Text


class ShowingNoShow(Body):
    """No data beyond an optional business time; the body may be left out."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

class Feedback(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"interest": 4, "objections": ["楼层偏低", "总价略超预算"]},
    ]})

    interest: int = Field(ge=1, le=5, description="1 (none) to 5 (ready to make an offer)")
    objections: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list,
                                                                                  max_length=20)


class ComplaintAcknowledgement(Body):
    """No data beyond an optional business time; the body may be left out."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

class ComplaintEscalation(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"escalated_to": EXAMPLE_SALES_MANAGER_ID, "reason": "客户要求店长出面处理"},
    ]})

    escalated_to: str = Field(min_length=1, max_length=64, description="a staff member of the customer's team")
    reason: str = Text


class ReturnVisitCreate(Body):
    """Return visit (回访)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"due_at": "2026-12-05T10:00:00+08:00", "purpose": "入住一周回访"},
    ]})

    due_at: AwareDatetime
    purpose: str = Text


class ReturnVisitCompletion(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"summary": "入住顺利，水电燃气均已过户"},
    ]})

    summary: str = Text


class Reactivation(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "客户重新有置换需求，预算提高到650万"},
    ]})

    reason: str = Text


class ErasureRequest(Body):
    """A customer's request to erase their personal data (PIPL Art. 47), recorded by compliance."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"legal_basis": "consent_withdrawn"}]})

    legal_basis: ErasureBasis = Field(description="PIPL Art. 47(1) ground")


class ErasurePublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": "0b8e5f1e-6f5c-4c49-9a53-2a7f0b1e9c11", "status": "restricted",
        "retention_until": "2031-06-30T08:00:00+00:00", "position": 1043, "destroyed_keys": []}]})

    customer_id: str
    status: str = Field(description="`erased` (keys destroyed now) or `restricted` (kept, not processed, "
                        "until the retention period ends; then shredded)")
    retention_until: AwareDatetime | None = Field(description="end of the running retention period; null if "
                                                  "none runs, or if its clock has not started (an open deal)")
    position: int | None
    destroyed_keys: list[str] = Field(description="ids of the data keys destroyed (crypto-shredding)")
