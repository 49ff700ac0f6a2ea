"""Liveness and readiness, for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import LedgerDep
from service.api.problems import store_unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health.live", summary="The process is up")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", name="health.ready", summary="The store answers")
def ready(ledger: LedgerDep) -> dict[str, str | int]:
    try:
        head = ledger.log_head()
    except Exception:  # noqa: BLE001 - any failure to reach the store means not ready
        raise store_unavailable() from None
    return {"status": "ready", "log_head": head}
