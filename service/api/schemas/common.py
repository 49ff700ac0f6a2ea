"""Shared request and response shapes: every request body forbids unknown fields and may carry
a business time; every command answers with the record, its new version and any entity created.

Every body and answer carries one realistic example (``json_schema_extra={"examples": [...]}``) in
the OpenAPI description; ``tests/e2e/test_api_examples.py`` posts each documented body, so an
example that the schema or the domain would refuse fails the suite. Ids in the examples are
placeholders (the test puts real ids in their place); business times are left out (they default to
now, and a fixed past one would sit before the record's previous event).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=2000)

# Placeholder ids of the examples: a customer, a listing, a consultant, a customer manager, a
# sales manager, and an entity a command created (a showing).
EXAMPLE_CUSTOMER_ID = "5f0c6a2e-8b1d-4c3f-9e7a-2d4b6c8e0f13"
EXAMPLE_LISTING_ID = "8a3e1f5c-2b7d-4e9a-b6c4-0d2f4a6c8e21"
EXAMPLE_CONSULTANT_ID = "3d5f7b9c-1e2a-4c6e-8a0b-4c6e8a0b2d35"
EXAMPLE_CUSTOMER_MANAGER_ID = "c4e6a8b0-1d3f-4a5c-8e7b-9f1a3c5e7d42"
EXAMPLE_SALES_MANAGER_ID = "2b4d6f8a-0c1e-4f3a-9b5d-7e9f1a3c5b64"
EXAMPLE_ENTITY_ID = "e1c3a5b7-9d2f-4b6a-8c0e-1f3a5c7e9b85"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    occurred_at: AwareDatetime | None = Field(
        default=None, description="business time; defaults to now; may be back-dated, never >5 min ahead"
    )


class CommandResultPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": EXAMPLE_CUSTOMER_ID, "version": 7, "entity_id": EXAMPLE_ENTITY_ID, "position": 1042},
    ]})

    id: str = Field(description="the record the command changed or created")
    version: int = Field(description="its version after the command (also the ETag)")
    entity_id: str | None = Field(default=None, description="a request, complaint, survey… it created")
    position: int | None = Field(default=None, description="log position of the last event written; pass it as "
                                 "min_position to a view's list route to read your own write")
