"""The FastAPI application factory: routes, problem details and the request pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.api import middleware, problems
from service.api.deps import expected_version
from service.api.routes import (
    archive,
    audit,
    customers,
    deals,
    health,
    listings,
    service_files,
    staff,
    views_analytics,
    views_desk,
)
from service.api.routes import events as event_routes
from service.api.routes import projections as projection_routes
from service.api.routes import views as view_routes
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
        if owned:  # the served ledger signs checkpoints in the background (every N events, on a timer)
            app.state.ledger.checkpoint_scheduler.start()
            if app.state.ledger.settings.embedded_projector:  # else `realty projector` processes do both
                app.state.ledger.views.start_embedded()
                app.state.ledger.start_automations()
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

    for router in (health.router, customers.router, listings.router, deals.router, service_files.router, staff.router,
                   audit.router, archive.router):
        app.include_router(router)
    app.include_router(event_routes.router)
    app.include_router(view_routes.router)
    app.include_router(views_desk.router)
    app.include_router(views_analytics.router)
    app.include_router(projection_routes.router)
    document_problems(app)
    return app


# The problems each kind of operation can answer, beside its success (see docs/api.md).
_PROBLEMS = {
    401: "no token, or not a valid one",
    403: "the caller's role may not call this route",
    404: "no such record, or one outside the caller's scope",
    409: "a rule of the process refuses the command, or a lost race",
    412: "If-Match names a version the record has moved past",
    413: "the body is over 1 MiB (a document upload: over `max_document_bytes`)",
    422: "the body does not match the schema, or a value the domain refuses",
}
_PUBLIC_PROBLEMS = {503: "the store does not answer"}
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details with a stable code",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["self_approval"]},
        "context": {"type": "object", "description": "ids and values of the refused command"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "problem": {"type": "string"}}}},
    },
}


_BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "rlt_<staff>_<token>_<secret>",
                  "description": "a staff member's or service account's API token (see `realty token issue`)"}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
             "description": 'the ETag of a GET (e.g. "7"): run only if the record is still at that version, else 412',
             "schema": {"type": "string", "examples": ['"7"']}}


def conditional_routes(app: FastAPI) -> set[str]:
    """The routes that honour ``If-Match`` (they depend on ``deps.expected_version``)."""
    found = set()
    for route in api_routes(app):
        if any(dependency.call is expected_version for dependency in route.dependant.dependencies):
            found.add(route.name)
    return found


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every operation route, also those inside included routers."""
    found: list[APIRoute] = []
    for route in app.routes:
        router = getattr(route, "original_router", None)
        found.extend(r for r in (router.routes if router is not None else [route]) if isinstance(r, APIRoute))
    return found


def document_problems(app: FastAPI) -> None:
    """Add the problem responses to every operation of the OpenAPI description."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        schema["components"]["securitySchemes"] = {"bearer": _BEARER_SCHEME}
        conditional = conditional_routes(app)
        for operations in schema["paths"].values():
            for operation in operations.values():
                public = operation["operationId"].startswith("health.")
                for status, why in (_PUBLIC_PROBLEMS if public else _PROBLEMS).items():
                    operation["responses"][str(status)] = {"description": why, "content": ref}
                if not public:
                    operation["security"] = [{"bearer": []}]
                if operation["operationId"] in conditional:
                    operation.setdefault("parameters", []).append(_IF_MATCH)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def idempotency_store(ledger: RealtyLedger) -> IdempotencyStore:
    return IdempotencyStore(ledger.recorder.datastore)  # type: ignore[attr-defined]


def route_names(app: FastAPI) -> dict[str, tuple[str, str]]:
    """Every operation of the app: route name -> (method, path), from its OpenAPI description."""
    found: dict[str, tuple[str, str]] = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            found[operation["operationId"]] = (method.upper(), path)
    return found
