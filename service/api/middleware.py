"""What every request goes through: a request id, the body limit, idempotency keys, one log line.

The log line is JSON with the request id, method, route template, status, duration and the acting
staff id — never a URL's query, a body or a header value, so no personal data can reach the logs.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.problems import problem_response
from service.idempotency import IdempotencyStore, fingerprint, scope_of

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_REPLAYED_HEADERS = ("content-type", "etag", "location", "cache-control")

access_log = logging.getLogger("realty.access")

Next = Callable[[Request], Awaitable[Response]]


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def idempotency(request: Request, call_next: Next) -> Response:
        key = request.headers.get("idempotency-key")
        credential = request.headers.get("authorization")
        if request.method != "POST" or key is None or not credential:
            return await call_next(request)
        if not _KEY.match(key):
            return problem_response(400, "invalid_idempotency_key", "Invalid Idempotency-Key",
                                    "an Idempotency-Key is 1-200 printable ASCII characters")
        store: IdempotencyStore = request.app.state.idempotency
        body = await request.body()
        scope, print_ = scope_of(credential), fingerprint(request.method, request.url.path, body)
        claim = await run_in_threadpool(store.claim, scope, key, print_)
        if claim.outcome == "mismatch":
            return problem_response(422, "idempotency_key_reused", "Idempotency-Key reused",
                                    "this Idempotency-Key was used with another request")
        if claim.outcome == "in_progress":
            return problem_response(409, "idempotency_key_in_use", "Request in progress",
                                    "a request with this Idempotency-Key is still being processed; retry later",
                                    )
        if claim.outcome == "replay":
            replay = Response(content=claim.body, status_code=claim.status, headers=claim.headers)
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = await call_next(request)
            content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        except BaseException:
            await run_in_threadpool(store.release, scope, key)
            raise
        if response.status_code >= 500:  # not an answer: let the client retry for real
            await run_in_threadpool(store.release, scope, key)
        else:
            kept = {h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers}
            await run_in_threadpool(store.complete, scope, key, response.status_code, kept, content)
        return Response(content=content, status_code=response.status_code, headers=dict(response.headers))

    @app.middleware("http")
    async def request_id_limit_and_log(request: Request, call_next: Next) -> Response:
        started = time.perf_counter()
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request.state.actor_id = None
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response = problem_response(413, "payload_too_large", "Payload too large",
                                        f"request bodies are limited to {MAX_BODY_BYTES} bytes")
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        route = request.scope.get("route")
        access_log.info(json.dumps({
            "request_id": request.state.request_id,
            "method": request.method,
            "route": getattr(route, "path", None) or "unmatched",
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "actor_id": request.state.actor_id,
        }))
        return response
