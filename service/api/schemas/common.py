"""Shared request and response shapes: every request body forbids unknown fields and may carry
a business time; every command answers with the record, its new version and any entity created."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=2000)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    occurred_at: AwareDatetime | None = Field(
        default=None, description="business time; defaults to now; may be back-dated, never >5 min ahead"
    )


class CommandResultPublic(BaseModel):
    id: str = Field(description="the record the command changed or created")
    version: int = Field(description="its version after the command (also the ETag)")
    entity_id: str | None = Field(default=None, description="a request, complaint, survey… it created")
