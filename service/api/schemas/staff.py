"""Staff and token bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.identity import STAFF_ROLES
from service.api.schemas.common import Body


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
