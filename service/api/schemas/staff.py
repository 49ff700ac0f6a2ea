"""Staff and token bodies."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.identity import STAFF_ROLES
from domain.staff import MAX_TOKEN_LIFETIME
from service.api.schemas.common import EXAMPLE_CONSULTANT_ID, Body, Text

_EXAMPLE_TOKEN_ID = "7c9e1a3b-5d7f-4b2d-8f4a-6b8d0f2a4c57"


class StaffCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "李晓明", "role": "property_consultant", "team": "浦东一组"},
    ]})

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(description="one of: " + ", ".join(sorted(r.value for r in STAFF_ROLES)))
    team: str = Field(min_length=1, max_length=100)


class TokenCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"label": "门店前台电脑", "expires_in_days": 30},
    ]})

    label: str = Field(min_length=1, max_length=100, description="where the token is used")
    expires_in_days: int | None = Field(
        default=None, ge=0, le=MAX_TOKEN_LIFETIME.days,
        description="days the token lives; 0: never expires; default: the server's REALTY_TOKEN_LIFETIME_DAYS")


class TokenIssuedPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token": "rlt_3d5f7b9c1e2a4c6e8a0b4c6e8a0b2d35_7c9e1a3b5d7f4b2d8f4a6b8d0f2a4c57_"
                  "3YnLyJ9GEIpp3WcScWG0aL6XRS54el5zghTTGl472LM",
         "token_id": _EXAMPLE_TOKEN_ID, "staff_id": EXAMPLE_CONSULTANT_ID,
         "expires_at": "2026-12-27T09:30:00+00:00", "position": 1042},
    ]})

    token: str = Field(description="shown once; store it now, it cannot be read again")
    token_id: str
    staff_id: str
    expires_at: AwareDatetime | None = Field(description="when the token stops working; null: never")
    position: int | None = Field(default=None, description="log position of the event that recorded the token")


class RoleChange(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"role": "customer_manager", "team": "浦东一组"},
    ]})

    role: str = Field(description="one of: " + ", ".join(sorted(r.value for r in STAFF_ROLES)))
    team: str | None = Field(default=None, min_length=1, max_length=100, description="defaults to the current team")


class TrainingRecord(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"course": "房地产经纪合规与个人信息保护", "score": 92},
    ]})

    course: str = Field(min_length=1, max_length=200)
    score: int = Field(ge=0, le=100)


class AssessmentRecord(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"period": "2026-Q3", "score": 88},
    ]})

    period: str = Field(min_length=1, max_length=20)
    score: int = Field(ge=0, le=100)


class IncentiveAward(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "bonus", "amount": 3000, "reason": "第三季度门店成交额第一"},
    ]})

    kind: str = Field(min_length=1, max_length=50)
    amount: int = Field(ge=0, le=10**8, description="in yuan")
    reason: str = Text


class Deactivation(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "劳动合同到期，不再续签"},
    ]})

    reason: str = Text


class TokenRevocation(BaseModel):
    """No business time: a revocation takes effect when it is recorded."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [
        {"reason": "门店前台电脑更换，旧令牌停用"},
    ]})

    reason: str = Text
