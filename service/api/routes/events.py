"""The event feed for internal services: the log page by page (``GET /events``), and as a
server-sent events stream (``GET /events/stream``) that resumes after ``Last-Event-ID``.

Both send the same envelope per event (``service.event_feed``, documented in ``docs/events.md``):
personal data masked for every caller, secrets left out. The cursor is the event's ``position``
(the notification id), which only grows in commit order, so a consumer that resumes after the
last position it handled gets every later event once: no gap, no duplicate.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service import event_feed, tokens
from service.api.deps import AccessDep
from service.api.permissions import allowed_scope
from service.api.problems import Problem
from service.application import RealtyLedger

router = APIRouter(prefix="/events", tags=["events"])
log = logging.getLogger("realty.events")

MAX_CURSOR = 2**62
POLL_SECONDS = 0.5  # how often an idle stream looks for new events
HEARTBEAT_SECONDS = 15.0  # a comment line when nothing was sent for this long (keeps proxies from timing out)
REAUTH_SECONDS = 5.0  # how often a stream proves its token again (a revoked token ends it)
STREAM_BATCH = 200  # events per read; a full batch is followed at once by the next
RETRY_MILLISECONDS = 1000  # how soon an EventSource reconnects after the stream ends

After = Annotated[int, Query(ge=0, le=MAX_CURSOR, description="position of the last event already handled "
                                                          "(0: from the start of the log)")]
Limit = Annotated[int, Query(ge=1, le=event_feed.MAX_LIMIT, description="events per page, at most 1000")]


def _beyond_head(e: event_feed.BeyondHead) -> Problem:
    return Problem(422, "after_beyond_head", "Cursor beyond the log", str(e), context={"after": e.after,
                                                                                        "head": e.head})


@router.get("", name="events.list", summary="The event log in order, after a position (personal data masked)")
def list_events(access: AccessDep, after: After = 0, limit: Limit = event_feed.DEFAULT_LIMIT) -> dict[str, Any]:
    try:
        return event_feed.read_page(access.ledger, after, limit).as_dict()
    except event_feed.BeyondHead as e:
        raise _beyond_head(e) from None


_STREAM_ANSWER = {200: {"description": "`text/event-stream`: one message per event (`id`: its position, `event`: "
                              "its topic, `data`: its JSON envelope), `: keep-alive` comments when idle",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                  400: {"description": "Last-Event-ID is not the id of an event (a whole number)"}}


@router.get("/stream", name="events.stream", response_class=StreamingResponse, responses=_STREAM_ANSWER,
            summary="Server-sent events: every event after a position, then new ones as they are recorded")
def stream(request: Request, access: AccessDep,
           after: Annotated[int | None, Query(ge=0, le=MAX_CURSOR, description="where to start when there is no "
                                              "Last-Event-ID (0: from the start of the log)")] = None,
           last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", description="the id of the last "
                                                       "event received; wins over ?after=")] = None,
           ) -> StreamingResponse:
    # Everything that can refuse the request is checked here, before the first byte of the stream.
    start = _start(last_event_id, after)
    try:
        event_feed.check_cursor(access.ledger, start)
    except event_feed.BeyondHead as e:
        raise _beyond_head(e) from None
    token = tokens.from_authorization(request.headers.get("authorization", "")) or ""
    return StreamingResponse(
        event_stream(request, access.ledger, start, still_allowed=lambda: _still_allowed(access, token)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _start(last_event_id: str | None, after: int | None) -> int:
    """Where the stream starts: after ``Last-Event-ID`` (an EventSource sends it when it reconnects,
    to the URL it first opened, so it wins over ``?after=``), else after ``?after=``.

    There is no default: a consumer that lost its cursor must say whether it wants the whole log
    (``after=0``) or only what comes next (``after=`` the ``head`` of ``GET /events``).
    """
    if last_event_id is not None:
        text = last_event_id.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_CURSOR):
            raise Problem(400, "invalid_last_event_id", "Invalid Last-Event-ID",
                          "Last-Event-ID must be the id of an event of this stream: a whole number, 0 or more")
        return int(text)
    if after is None:
        raise Problem(422, "cursor_required", "Cursor required",
                      "say where the stream starts: ?after=0 for the whole log, ?after=<head> for new events only, "
                      "or Last-Event-ID to resume")
    return after


def _still_allowed(access: Any, token: str) -> bool:
    """The token still valid, its holder still in a role that may stream (a fresh read)."""
    fresh = access.ledger.authenticate(token)
    return fresh is not None and allowed_scope(access.route, fresh) is not None


def server_exiting() -> bool:
    """Whether the uvicorn server of this process has been told to stop (SIGTERM, Ctrl+C).

    uvicorn waits for open responses before it shuts down (for ever, by default) and tells a response
    in progress nothing; a stream that never ends would hold the shutdown. Its signal handler is the
    bound ``handle_exit`` of the running server, whose ``should_exit`` flag is read here (read only:
    nothing is patched). Under another server, or in tests, this is False.
    """
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return getattr(server, "should_exit", False) is True


def message(event: dict[str, Any]) -> str:
    """One server-sent event. JSON escapes line breaks, so the data is always a single line."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event['position']}\nevent: {event['event']}\ndata: {data}\n\n"


async def event_stream(request: Request, ledger: RealtyLedger, after: int, *,
                       still_allowed: Callable[[], bool] | None = None,
                       poll: float = POLL_SECONDS, heartbeat: float = HEARTBEAT_SECONDS,
                       reauth: float = REAUTH_SECONDS, batch: int = STREAM_BATCH) -> AsyncIterator[str]:
    """Every event after ``after``, then each new one as it is recorded, until the client goes, the
    server stops, or the caller's token stops being valid. The store is read in the thread pool."""
    cursor = after
    yield f"retry: {RETRY_MILLISECONDS}\n\n"  # sent at once: the client knows the stream is open
    last_sent = last_auth = time.monotonic()
    while not await request.is_disconnected() and not server_exiting():
        now = time.monotonic()
        try:
            if still_allowed is not None and now - last_auth >= reauth:
                if not await run_in_threadpool(still_allowed):
                    return
                last_auth = now
            events = await run_in_threadpool(event_feed.read_events, ledger, cursor, batch)
        except Exception:  # the response has started: end it; the client resumes after its last id
            log.exception("the event stream could not read the store after position %d; it ends", cursor)
            return
        if events:
            yield "".join(message(e) for e in events)
            cursor, last_sent = events[-1]["position"], time.monotonic()
            if len(events) == batch:
                continue  # more are waiting: no pause
        elif now - last_sent >= heartbeat:
            yield ": keep-alive\n\n"
            last_sent = now
        await anyio.sleep(poll)
