"""The projector's state: each view's position, its lag behind the log, any error, and rebuilds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import AccessDep

router = APIRouter(prefix="/projections", tags=["views"])


@router.get("", name="projections.status", summary="Each view's position, lag behind the log head, and error")
def status(access: AccessDep) -> dict[str, Any]:
    return access.ledger.views.status()
