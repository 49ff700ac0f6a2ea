"""The console's management pages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
