"""The reference of ``benchmarks/api.py``: a bare FastAPI app around a bare eventsourcing save.

One route, ``POST /tickets/{ticket_id}/notes`` (plain ``def``, so FastAPI runs it in its thread
pool, as the project's routes run): parse ``{"subject": ...}``, ``ticket.note(...)`` (one
``Ticket.Noted`` event, the size of the project's ``RequestRaised``), ``app.save(ticket)``, answer
201 with the ticket's id and version. No authentication, no middleware, no permission check, and
no database read: every ticket of the store is loaded into memory once, at start-up. The
``Ticket`` aggregate and the ``BareApp`` application are those of ``benchmarks/append.py``.

The library's settings come as JSON in ``BENCH_BARE_ENV`` (``append.py``'s ``bare_env()``).

    BENCH_BARE_ENV='{...}' python -m uvicorn --app-dir benchmarks bare_api:create_app --factory --port 8001
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `append` sits next to this module

from append import BareApp, Ticket
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

# One fixed actor, as in append.py's bare lines (the project takes it from the token).
ACTOR = uuid.UUID("00000000-0000-4000-8000-00000000be0c")


class NoteCreate(BaseModel):
    subject: str = Field(min_length=1, max_length=2000)


class NoteResult(BaseModel):
    id: str
    version: int


def load_tickets(app: BareApp) -> dict[uuid.UUID, Ticket]:
    """Every aggregate of the store, read once (the requests then never read)."""
    ids: dict[uuid.UUID, None] = {}
    start = 1
    while True:
        batch = app.recorder.select_notifications(start=start, limit=1000)
        for n in batch:
            ids[n.originator_id] = None
        if len(batch) < 1000:
            break
        start = batch[-1].id + 1
    return {i: app.repository.get(i) for i in ids}


def create_app() -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        app = BareApp(env=json.loads(os.environ["BENCH_BARE_ENV"]))
        state["app"] = app
        state["tickets"] = load_tickets(app)
        try:
            yield
        finally:
            app.close()

    api = FastAPI(title="bare eventsourcing save", lifespan=lifespan)
    busy: set[uuid.UUID] = set()
    busy_lock = threading.Lock()

    @api.post("/tickets/{ticket_id}/notes", status_code=201, response_model=NoteResult)
    def add_note(ticket_id: uuid.UUID, body: NoteCreate) -> Any:
        ticket = state["tickets"].get(ticket_id)
        if ticket is None:
            raise HTTPException(404, "no such ticket")
        # The client gives each connection its own tickets; make a broken partition loud (409)
        # rather than letting two threads mutate one in-memory aggregate.
        with busy_lock:
            if ticket_id in busy:
                raise HTTPException(409, "ticket busy")
            busy.add(ticket_id)
        try:
            ticket.note(ACTOR, body.subject)
            state["app"].save(ticket)
        finally:
            with busy_lock:
                busy.discard(ticket_id)
        return {"id": str(ticket.id), "version": ticket.version}

    return api
