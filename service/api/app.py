"""The FastAPI application factory: routes, problem details and the request pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api import middleware, problems
from service.api.routes import customers, deals, health, listings, staff
from service.application import RealtyLedger
from service.idempotency import IdempotencyStore
from service.settings import Settings, load_settings


def create_app(settings: Settings | None = None, ledger: RealtyLedger | None = None) -> FastAPI:
    """The API on ``ledger`` (or on a ledger opened from ``settings`` for the app's lifetime)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ledger is None
        app.state.ledger = ledger or RealtyLedger(settings or load_settings())
        app.state.idempotency = idempotency_store(app.state.ledger)
        try:
            yield
        finally:
            if owned:
                app.state.ledger.close()

    app = FastAPI(
        title="Realty Ledger",
        version="0.1.0",
        summary="The system of record of the sales-service process (房地产销售服务流程).",
        lifespan=lifespan,
        # Operation ids are the route names of the permission table (service.api.permissions).
        generate_unique_id_function=lambda route: route.name,
    )
    if ledger is not None:
        app.state.ledger = ledger
        app.state.idempotency = idempotency_store(ledger)
    problems.install(app)
    middleware.install(app)

    for router in (health.router, customers.router, listings.router, deals.router, staff.router):
        app.include_router(router)
    return app


def idempotency_store(ledger: RealtyLedger) -> IdempotencyStore:
    return IdempotencyStore(ledger.recorder.datastore, ledger.settings.database.backend)  # type: ignore[attr-defined]


def route_names(app: FastAPI) -> dict[str, tuple[str, str]]:
    """Every operation of the app: route name -> (method, path), from its OpenAPI description."""
    found: dict[str, tuple[str, str]] = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            found[operation["operationId"]] = (method.upper(), path)
    return found
