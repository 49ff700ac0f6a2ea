"""Staff and token bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.identity import STAFF_ROLES
from service.api.schemas.common import Body, Text


class StaffCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(description="one of: " + ", ".join(sorted(r.value for r in STAFF_ROLES)))
    team: str = Field(min_length=1, max_length=100)


class TokenCreate(Body):
    label: str = Field(min_length=1, max_length=100, description="where the token is used")


class TokenIssuedPublic(BaseModel):
    token: str = Field(description="shown once; store it now, it cannot be read again")
    token_id: str
    staff_id: str


class RoleChange(Body):
    role: str = Field(description="one of: " + ", ".join(sorted(r.value for r in STAFF_ROLES)))
    team: str | None = Field(default=None, min_length=1, max_length=100, description="defaults to the current team")


class TrainingRecord(Body):
    course: str = Field(min_length=1, max_length=200)
    score: int = Field(ge=0, le=100)


class AssessmentRecord(Body):
    period: str = Field(min_length=1, max_length=20, examples=["2025-Q1"])
    score: int = Field(ge=0, le=100)


class IncentiveAward(Body):
    kind: str = Field(min_length=1, max_length=50, examples=["bonus"])
    amount: int = Field(ge=0, le=10**8, description="in yuan")
    reason: str = Text


class Deactivation(Body):
    reason: str = Text


class TokenRevocation(BaseModel):
    """No business time: a revocation takes effect when it is recorded."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Text
