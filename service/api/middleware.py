"""What every request goes through: a request id, the body limit, idempotency keys, one log line
and its count and latency for ``GET /metrics`` (``service.metrics``).

One plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: that wraps every request
in a task group and re-streams every response, which cost about as much CPU as a whole command.

The log line is JSON with the request id, method, route template, status, duration and the acting
staff id — never a URL's query, a body or a header value, so no personal data can reach the logs.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive.content_types import DocumentTooLarge
from service import metrics, tokens
from service.api.problems import (
    PROBLEM_JSON,
    BodyTooLarge,
    domain_problem,
    invalid_token,
    payload_too_large,
    problem_response,
    store_unavailable,
)
from service.idempotency import HELD, HeldClaim, IdempotencyStore, RecordedCommand, fingerprint, scope_of
from service.store_outage import STORE_ERRORS, is_outage

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_REPLAYED_HEADERS = ("content-type", "etag", "location", "cache-control")

access_log = logging.getLogger("realty.access")


class RequestPipeline:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["actor_id"] = request_id, None
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        length = headers.get("content-length")
        if length is None:  # chunked, or no body: counted as it comes (a Content-Length is judged up front)
            receive = _limited(scope, receive)
        try:
            # isascii: "²" passes isdigit() but not int() (in-process; a server's parser refuses it first).
            if length is not None and (not _is_count(length) or int(length) > MAX_BODY_BYTES) and (
                    not _is_count(length) or int(length) > _own_limit(scope)):
                await payload_too_large(MAX_BODY_BYTES)(scope, receive, send_with_id)
            elif scope["method"] == "POST" and "idempotency-key" in headers and "authorization" in headers:
                await self._idempotent(scope, receive, send_with_id, headers)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or metrics.UNMATCHED
            seconds = time.perf_counter() - started
            metrics.observe_request(scope["method"], route, status, seconds)
            access_log.info(json.dumps({
                "request_id": request_id,
                "method": scope["method"],
                "route": route,
                "status": status,
                "ms": round(seconds * 1000, 1),
                "actor_id": state.get("actor_id"),
            }))

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        key = headers["idempotency-key"]
        if not _KEY.match(key):
            await problem_response(400, "invalid_idempotency_key", "Invalid Idempotency-Key",
                                   "an Idempotency-Key is 1-200 printable ASCII characters")(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except BodyTooLarge as error:
            await payload_too_large(error.limit)(scope, receive, send)
            return
        except DocumentTooLarge as error:
            await domain_problem(error)(scope, receive, send)
            return
        store: IdempotencyStore = scope["app"].state.idempotency
        owner, print_ = scope_of(headers["authorization"]), fingerprint(scope["method"], scope["path"], body)
        try:
            claim = await run_in_threadpool(lambda: store.claim(
                owner, key, print_, claim_seconds=scope["app"].state.ledger.settings.idempotency_claim_seconds))
            valid = claim.outcome == "new" or await _still_valid(scope, headers["authorization"])
        except STORE_ERRORS as error:  # out here no exception handler answers for the app: nothing claimed
            if not is_outage(error):
                raise
            await store_unavailable().response()(scope, receive, send)
            return
        if not valid:
            # A stored answer goes back only to a caller who could make the request now: a token
            # revoked since (or a holder deactivated) gets a 401, not its earlier answer.
            await invalid_token().response()(scope, receive, send)
            return
        if claim.outcome == "mismatch":
            answer: Any = problem_response(422, "idempotency_key_reused", "Idempotency-Key reused",
                                           "this Idempotency-Key was used with another request")
        elif claim.outcome == "in_progress":
            answer = problem_response(409, "idempotency_key_in_use", "Request in progress",
                                      "a request with this Idempotency-Key is still being processed; retry later")
        elif claim.outcome == "replay":
            answer = _Replay(claim.status, {**(claim.headers or {}), "idempotent-replayed": "true"}, claim.body)
        else:
            answer = None
        if answer is not None:
            await answer(scope, receive, send)
            return
        # "recorded": the first request's command was recorded and its process died before it stored
        # the answer. Not run again; the retry is told so (and the answer kept for later retries).
        app = self.app if claim.recorded is None else _recorded(claim.recorded)

        start: Message = {}
        chunks: list[bytes] = []

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        completed = False

        async def capture(message: Message) -> None:
            nonlocal start, completed
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                status = start.get("status", 500)
                if not message.get("more_body", False) and status < 500:  # a 5xx is no answer: retry for real
                    # Kept before the client has the answer: a retry sent the moment it arrives is
                    # replayed, not told that the first request is still in progress.
                    kept = {h: v for h, v in Headers(raw=start.get("headers", [])).items() if h in _REPLAYED_HEADERS}
                    if "no-store" in kept.get("cache-control", ""):
                        # An answer that carries a secret (a new API token) is never kept in the
                        # database: a retry is told what was recorded, not given the secret again.
                        await run_in_threadpool(lambda: _withhold(store, owner, key, claim.token))
                    else:
                        await run_in_threadpool(lambda: store.complete(owner, key, status, kept, b"".join(chunks),
                                                                       token=claim.token))
                    completed = True
            await send(message)

        held = HELD.set(HeldClaim(owner, key, claim.token))  # the command's save marks the claim with it
        try:
            await app(scope, replay_body, capture)
        finally:
            HELD.reset(held)
            if not completed:
                await run_in_threadpool(lambda: store.release(owner, key, token=claim.token))


def _recorded(command: RecordedCommand, why: str = "its answer was lost") -> JSONResponse:
    return problem_response(
        409, "idempotency_key_recorded", "Command recorded",
        f"the first request with this Idempotency-Key was recorded (record {command.record_id} at version "
        f"{command.version}) but {why}; it is not recorded again",
        record_id=command.record_id, version=command.version, entity_id=command.entity_id,
        position=command.position)


def _withhold(store: IdempotencyStore, owner: str, key: str, token: str) -> None:
    """Keep, as the key's answer, that the command was recorded (ids only) instead of the answer."""
    command = store.recorded_command(owner, key, token=token)
    if command is None:  # nothing recorded (a refusal with no-store): a retry may run it
        store.release(owner, key, token=token)
        return
    answer = _recorded(command, "its answer carried a secret, which is never kept")
    store.complete(owner, key, answer.status_code, {"content-type": PROBLEM_JSON}, bytes(answer.body), token=token)


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _own_limit(scope: Scope) -> int:
    """The body limit of the route the request goes to, if it has one of its own (document uploads:
    ``openapi_extra={"x-body-limit": "<setting>"}``), else the general one.

    Only asked for a body over the general limit, so the route lookup costs nothing on the
    ordinary path. The route itself enforces its limit (with its own error code), on the
    ``Content-Length`` before it reads the body and again while it reads.
    """
    for route in _routes(scope["app"].router.routes):
        setting = (getattr(route, "openapi_extra", None) or {}).get("x-body-limit")
        if setting and route.matches(scope)[0] is Match.FULL:
            return int(getattr(scope["app"].state.ledger.settings, setting))
    return MAX_BODY_BYTES


def _limited(scope: Scope, receive: Receive) -> Receive:
    """``receive`` for a body without ``Content-Length``: it stops a body at the limit of its route
    while it arrives, so no endless chunked body is read into memory (or into a JSON parser).

    Over the general limit it raises ``BodyTooLarge`` (413 ``payload_too_large``); over a route's
    own limit, that route's ``DocumentTooLarge``, as the route itself would.
    """
    seen = 0
    limit: int | None = None

    async def receive_limited() -> Message:
        nonlocal seen, limit
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES or (limit is not None and seen > limit):
            if limit is None:
                limit = _own_limit(scope)
            if seen > limit:
                raise BodyTooLarge(limit) if limit == MAX_BODY_BYTES else DocumentTooLarge(limit)
        return message

    return receive_limited


def _routes(routes: Any) -> Any:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


class _Replay:
    """The stored first answer to an idempotent request, sent again."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        raw.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


async def _still_valid(scope: Scope, authorization: str) -> bool:
    token = tokens.from_authorization(authorization)
    if token is None:
        return False
    return await run_in_threadpool(scope["app"].state.ledger.authenticate, token) is not None


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def install(app: FastAPI) -> None:
    app.add_middleware(RequestPipeline)
