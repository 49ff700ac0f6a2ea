"""The FastAPI application factory: routes, problem details and the request pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service import console
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
from service.api.routes import metrics as metric_routes
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
    app.include_router(metric_routes.router)
    console.install(app)  # the browser console under /console (not part of the OpenAPI description)
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
    503: "the store does not answer now (down, restarting, busy): send it again after `Retry-After` seconds",
}
_PUBLIC_PROBLEMS = {503: _PROBLEMS[503]}
_RETRY_AFTER = {"description": "seconds to wait before sending the request again",
                "schema": {"type": "integer", "minimum": 0}}
# Every POST can be refused before its route runs: a body that is not JSON (or not UTF-8), a
# malformed Idempotency-Key (middleware), a malformed If-Match (deps.expected_version).
_BAD_REQUEST = "the body is not JSON, or a malformed `If-Match` / `Idempotency-Key` header"
# A service file's commands and document reads (problems.STATUS_OF), and a raw document upload.
_GONE = "the service file was disposed of, or the document's key destroyed by an erasure"
_UNSUPPORTED = "the bytes are none of the accepted document types, or contradict the declared Content-Type"
# A JSON route sent another media type (text/plain, a form, none at all): problems.install.
_NOT_JSON = "the body is not sent as `application/json`"
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
             "schema": {"type": "string", "pattern": '^[ \\t]*(W/)?"?[0-9]{1,18}"?[ \\t]*$', "examples": ['"7"']}}


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
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                public = operation["operationId"].startswith("health.")
                problems = dict(_PUBLIC_PROBLEMS if public else _PROBLEMS)
                if method == "post":
                    problems[400] = _BAD_REQUEST
                if "application/json" in operation.get("requestBody", {}).get("content", {}):
                    problems[415] = _NOT_JSON
                if "{file_id}" in path and (method == "post" or "{document_id}" in path):
                    problems[410] = _GONE
                if "application/json" not in operation.get("requestBody", {}).get("content", {"application/json": 0}):
                    problems[415] = _UNSUPPORTED
                for status, why in problems.items():
                    operation["responses"][str(status)] = {"description": why, "content": ref}
                operation["responses"]["503"]["headers"] = {"Retry-After": _RETRY_AFTER}
                # The problems a route declares itself (``responses=``) are problem details too.
                for status, response in operation["responses"].items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = ref
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
