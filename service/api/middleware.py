"""What every request goes through: a request id, the body limit, idempotency keys, one log line.

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
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import tokens
from service.api.problems import invalid_token, problem_response
from service.idempotency import IdempotencyStore, fingerprint, scope_of

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
        try:
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES) and (
                    not length.isdigit() or int(length) > _own_limit(scope)):
                response = problem_response(413, "payload_too_large", "Payload too large",
                                            f"request bodies are limited to {MAX_BODY_BYTES} bytes")
                await response(scope, receive, send_with_id)
            elif scope["method"] == "POST" and "idempotency-key" in headers and "authorization" in headers:
                await self._idempotent(scope, receive, send_with_id, headers)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            access_log.info(json.dumps({
                "request_id": request_id,
                "method": scope["method"],
                "route": getattr(route, "path", None) or "unmatched",
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "actor_id": state.get("actor_id"),
            }))

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        key = headers["idempotency-key"]
        if not _KEY.match(key):
            await problem_response(400, "invalid_idempotency_key", "Invalid Idempotency-Key",
                                   "an Idempotency-Key is 1-200 printable ASCII characters")(scope, receive, send)
            return
        body = await _read_body(receive)
        store: IdempotencyStore = scope["app"].state.idempotency
        owner, print_ = scope_of(headers["authorization"]), fingerprint(scope["method"], scope["path"], body)
        claim = await run_in_threadpool(store.claim, owner, key, print_)
        if claim.outcome != "new" and not await _still_valid(scope, headers["authorization"]):
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

        start: Message = {}
        chunks: list[bytes] = []

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await run_in_threadpool(store.release, owner, key)
            raise
        status = start.get("status", 500)
        if status >= 500:  # not an answer: let the client retry for real
            await run_in_threadpool(store.release, owner, key)
            return
        kept = {h: v for h, v in Headers(raw=start.get("headers", [])).items() if h in _REPLAYED_HEADERS}
        await run_in_threadpool(store.complete, owner, key, status, kept, b"".join(chunks))


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
