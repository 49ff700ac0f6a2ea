"""The FastAPI application factory: routes, problem details, request ids, body limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from service.api import problems
from service.api.routes import customers, health, staff
from service.application import RealtyLedger
from service.settings import Settings, load_settings

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def create_app(settings: Settings | None = None, ledger: RealtyLedger | None = None) -> FastAPI:
    """The API on ``ledger`` (or on a ledger opened from ``settings`` for the app's lifetime)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ledger is None
        app.state.ledger = ledger or RealtyLedger(settings or load_settings())
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
    problems.install(app)

    @app.middleware("http")
    async def request_id_and_limits(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response: Response = problems.problem_response(
                413, "payload_too_large", "Payload too large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    for router in (health.router, customers.router, staff.router):
        app.include_router(router)
    return app


def route_names(app: FastAPI) -> dict[str, tuple[str, str]]:
    """Every operation of the app: route name -> (method, path), from its OpenAPI description."""
    found: dict[str, tuple[str, str]] = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            found[operation["operationId"]] = (method.upper(), path)
    return found
