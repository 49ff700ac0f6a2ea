"""The dependencies routes declare: the ledger, the authenticated caller, and their access."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from domain.errors import CallerChanged, NotFound
from domain.identity import Role
from service import tokens
from service.api.permissions import Scope, allowed_scope, not_found, scope_for, within
from service.api.problems import Problem, invalid_token
from service.application import Acting, Principal, RealtyLedger

T = TypeVar("T")


async def get_ledger(request: Request) -> RealtyLedger:  # no I/O: skip the thread pool
    ledger: RealtyLedger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[RealtyLedger, Depends(get_ledger)]


# A read has no write at which to prove the token again, so it is authenticated on a fresh read
# of the staff record; a command proves it on the record it reads and guards (``Credential``).
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Problem(401, "unauthenticated", "Unauthenticated", "send Authorization: Bearer <token>")
    token = tokens.from_authorization(authorization)
    if token is None:
        raise invalid_token()
    return token


@dataclass(frozen=True)
class Access:
    route: str
    caller: Principal
    scope: Scope
    ledger: RealtyLedger = dataclasses.field(compare=False, repr=False)

    def require(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record, if inside the caller's scope; else 404 (never say it exists)."""
        if not within(self.scope, self.caller, record):
            raise not_found(record["id"])
        return record

    def load(self, record_id: str, kind: str) -> dict[str, Any]:
        return self.require(_fetch(self.ledger, record_id, kind))

    def load_deal(self, deal_id: str) -> dict[str, Any]:
        """The deal, if inside the caller's scope; else 404.

        A deal carries no team or holder of its own: the scope is judged on the deal's customer
        (its team, its assigned staff member), and ``ASSIGNED`` also admits the deal's drafter.
        """
        deal = _fetch(self.ledger, deal_id, "deal")
        if self.scope is Scope.ANY:
            return deal
        if self.scope is Scope.ASSIGNED and deal.get("drafted_by") == str(self.caller.staff_id):
            return deal
        if self.scope is Scope.SELF or not within(self.scope, self.caller, self.ledger.state(deal["customer_id"])):
            raise not_found(deal_id)
        return deal

    def load_service_file(self, file_id: str) -> dict[str, Any]:
        """The service file, if inside the caller's scope; else 404.

        A file has no team or holder of its own: it is judged on the record it belongs to, as that
        record would be — a customer's file on the customer (team, assigned holder), a deal's file on
        the deal (``load_deal``: its customer, and its drafter). An archivist or compliance officer
        (scope ``ANY``) keeps every file.
        """
        file = _fetch(self.ledger, file_id, "service_file")
        if self.scope is Scope.ANY:
            return file
        if self.scope is Scope.SELF:
            raise not_found(file_id)
        try:
            if file["owner_kind"] == "deal":
                self.load_deal(file["owner_id"])
            else:
                self.load(file["owner_id"], "customer")
        except Problem:
            raise not_found(file_id) from None  # the file's own id: nothing said about its owner
        return file

    def on_record(self) -> Acting:
        """The caller's identity for a command, carrying this route's scope check.

        The ledger runs the check on the very record the command reads, in every attempt (so a
        retry after a lost race re-checks on fresh data): no separate read, no extra replay. A
        record outside the scope is reported as missing, like ``load``.
        """
        return dataclasses.replace(self.caller.acting, check=self._check_record)

    def _check_record(self, aggregate: Any) -> None:
        record = {
            "id": str(aggregate.id),
            "team": getattr(aggregate, "team", None),
            "assigned_to": str(getattr(aggregate, "assigned_to", None) or "") or None,
        }
        if not within(self.scope, self.caller, record):
            raise NotFound("record", aggregate.id)

    def disclose(self, record_id: str, kind: str, full_view: frozenset[Role],
                 data: T, redact: Callable[[T], T]) -> T:
        """Personal data in full for roles that need it — on the record, as a read on the
        caller's access log — and masked for everyone else."""
        if self.caller.role not in full_view:
            return redact(data)
        self.ledger.record_personal_data_read(self.caller.acting, record_id, subject_kind=kind, purpose=self.route)
        return data


def _fetch(ledger: RealtyLedger, record_id: str, kind: str) -> dict[str, Any]:
    """A record of this kind as stored now; a missing one or one of another kind is 404 alike."""
    try:
        record = ledger.state(record_id)
    except NotFound:
        raise not_found(record_id) from None
    if record["kind"] != kind:
        raise not_found(record_id)
    return record


async def get_access(request: Request) -> Access:
    """Who calls, and their scope on this route: 401 without a valid token, 403 for a role the
    route's entry does not name.

    The ``Authorization`` header is read here rather than declared as a parameter (FastAPI's
    parameter machinery cost more per request than this whole function); the OpenAPI description
    states the bearer scheme instead (``service.api.app.document_problems``).

    For a command the cached staff record is enough to let the request in (no store round trip);
    the command proves the token, role and team again on the record it guards. A refusal is never
    made on the cache alone: the fresh record is read first (see ``_confirm_refusal``).
    """
    ledger: RealtyLedger = request.app.state.ledger
    token = _bearer_token(request.headers.get("authorization"))
    route = request.scope["route"].name
    request_id = request.state.request_id
    caller = None
    if request.method not in _READ_METHODS:
        caller = ledger.authenticate_cached(token, request_id)
        if caller is not None and allowed_scope(route, caller) is None:
            caller = None
    if caller is None:
        caller = await run_in_threadpool(ledger.authenticate, token, request_id)
    if caller is None:
        raise invalid_token()
    request.state.actor_id = str(caller.staff_id)
    if caller.cached:
        request.state.confirm_refusal = functools.partial(_confirm_refusal, ledger, token, caller)
    return Access(route, caller, scope_for(route, caller), ledger)


async def _confirm_refusal(ledger: RealtyLedger, token: str, caller: Principal) -> Problem | None:
    """Before a request let in on the cache is refused: is the caller still who the cache said?

    A problem to answer instead (401 for a token no longer valid, 409 when the role or team the
    refusal was judged by has changed), or None when the refusal stands.
    """
    fresh = await run_in_threadpool(ledger.authenticate, token)
    if fresh is None:
        return invalid_token()
    if (fresh.role, fresh.team) != (caller.role, caller.team):
        error = CallerChanged(caller.staff_id)
        return Problem(409, error.code, "Caller changed", error.message)
    return None


AccessDep = Annotated[Access, Depends(get_access)]


IF_MATCH = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')  # the ETag of a GET ("7"), weak or bare alike


async def expected_version(request: Request) -> int | None:
    """``If-Match: "7"`` (the ETag of a GET) makes a command conditional on version 7.

    Read from the request like ``Authorization``; ``document_problems`` documents the header on
    every route that depends on this.
    """
    if_match = request.headers.get("if-match")
    if if_match is None:
        return None
    # ASCII digits only, and few enough for a version: str.isdigit() also passes "²", which int()
    # refuses (a 500), and a 100-digit number overflows the store's integer.
    etag = IF_MATCH.fullmatch(if_match.strip(" \t"))
    if etag is None:
        raise Problem(400, "invalid_if_match", "Invalid If-Match", 'If-Match must be an ETag like "7"')
    return int(etag.group(1))


ExpectedVersionDep = Annotated[int | None, Depends(expected_version)]
