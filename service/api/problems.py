"""Errors as RFC 9457 problem details, mapped from domain codes in one place.

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``
and a stable ``code`` (the domain error's code, or one of the HTTP layer's own below). Details
never carry personal data: domain messages hold ids and enum values only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from archive.content_types import DocumentTooLarge, UnsupportedDocumentType
from domain import errors as e
from service.store_outage import RETRY_AFTER_SECONDS, STORE_ERRORS, is_outage

PROBLEM_JSON = "application/problem+json"
errors_log = logging.getLogger("realty.errors")
TYPE_BASE = "https://realty-ledger.example/problems/"

# Domain error class -> HTTP status. Subclasses inherit their base's status unless listed.
STATUS_OF: dict[type[e.DomainError], int] = {
    e.InvalidValue: 422,
    e.NotFound: 404,
    e.ConcurrencyConflict: 409,
    e.OccurredInFuture: 422,
    e.OccurredBeforePrevious: 422,
    e.NotPermitted: 403,
    e.StaffDeactivated: 409,
    e.SelfApproval: 403,
    e.SelfAssessment: 403,
    e.ClaimerNotInTeam: 403,
    e.Unauthenticated: 401,
    # Service files: the two-person rule is a refusal of the person, like self-approval; a disposed
    # file is gone for good; what the sender sent is judged by its bytes and size.
    e.SamePersonDisposition: 403,
    e.ServiceFileDisposed: 410,
    e.DocumentShredded: 410,
    e.DispositionIncomplete: 422,
    UnsupportedDocumentType: 415,
    DocumentTooLarge: 413,
}
DEFAULT_DOMAIN_STATUS = 409  # a rule of the process refuses the command in the record's state


class Problem(Exception):
    """An HTTP-layer error with its own stable code (unauthenticated, forbidden, precondition...)."""

    def __init__(self, status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.extra = status, code, title, detail, extra
        self.headers = headers

    def response(self) -> JSONResponse:
        response = problem_response(self.status, self.code, self.title, self.detail, **self.extra)
        response.headers.update(self.headers or {})
        return response


def invalid_token() -> Problem:
    return Problem(401, "unauthenticated", "Unauthenticated", "the token is not valid")


def store_unavailable() -> Problem:
    """The store cannot be reached now (down, restarting, no connection free in time): the same
    request may be sent again after ``Retry-After`` seconds (with its Idempotency-Key, it is never
    recorded twice, see ``service.idempotency``)."""
    return Problem(503, "store_unavailable", "Store unavailable", "the event store does not answer",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class BodyTooLarge(HTTPException):
    """A body sent without ``Content-Length`` (chunked) that grew past the limit while it was read.

    An ``HTTPException`` because FastAPI's body parsing passes those on as they are (any other
    error while it reads a body becomes a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes")
        self.limit = limit


def payload_too_large(limit: int) -> JSONResponse:
    return problem_response(413, "payload_too_large", "Payload too large", f"request bodies are limited to {limit} bytes")


def domain_problem(error: e.DomainError) -> JSONResponse:
    return problem_response(status_of(error), error.code, type(error).__name__, error.message, context=error.context)


def status_of(error: e.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]  # type: ignore[index]
    return DEFAULT_DOMAIN_STATUS


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail, "code": code, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="realty"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    async def _store_unavailable(request: Request, error: Exception) -> JSONResponse:
        if is_outage(error):
            return store_unavailable().response()
        # A mistake in a statement (SQLite reports "no such table" as an OperationalError too) is a
        # defect, not an outage: a 500, and the traceback in the log, rather than "retry later".
        errors_log.error("request %s failed", getattr(request.state, "request_id", "?"), exc_info=error)
        return problem_response(500, "internal_error", "Internal error", "the request failed; the failure is logged")

    for error in STORE_ERRORS:  # the access log records the 503; service.store_outage logs the outage
        app.add_exception_handler(error, _store_unavailable)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        # A caller let in on a cached staff record is refused only once a fresh read agrees.
        confirm = getattr(request.state, "confirm_refusal", None)
        if confirm is not None and exc.status != 401:
            exc = await confirm() or exc
        return exc.response()

    @app.exception_handler(e.DomainError)
    async def _domain(request: Request, exc: e.DomainError) -> JSONResponse:
        if isinstance(exc, e.ConcurrencyConflict) and request.headers.get("if-match"):
            # The caller's If-Match named a version the record has moved past.
            return problem_response(412, "precondition_failed", "Precondition failed", exc.message,
                                    context=exc.context)
        return domain_problem(exc)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return payload_too_large(exc.limit)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        if isinstance(exc.body, bytes) and exc.body:
            # FastAPI hands a JSON route the raw bytes when the Content-Type is not JSON (text/plain,
            # a form, none at all): the media type is wrong, not the fields.
            return problem_response(415, "unsupported_media_type", "Unsupported media type",
                                    "this route takes a JSON body: send Content-Type: application/json")
        fields = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "problem": err["msg"]}
            for err in exc.errors()
        ]
        return problem_response(422, "invalid_request", "Invalid request",
                                "the request does not match the schema", errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "malformed_body", 404: "no_such_route", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail), str(exc.detail))
