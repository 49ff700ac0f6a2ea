"""Staff routes: registration, reads, and API tokens (shown once)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from domain.identity import Role
from service.api.deps import AccessDep, LedgerDep
from service.api.permissions import Scope
from service.api.problems import Problem
from service.api.schemas import common as c
from service.api.schemas import staff as s
from service.redaction import redact_state

router = APIRouter(prefix="/staff", tags=["staff"])


@router.post("", name="staff.register", status_code=201, response_model=c.CommandResultPublic,
             summary="Register a staff member")
def register(body: s.StaffCreate, ledger: LedgerDep, access: AccessDep, response: Response) -> Any:
    if access.scope is Scope.TEAM and body.team != access.caller.team:
        raise Problem(403, "forbidden", "Forbidden", "a sales manager registers staff of their own team")
    result = ledger.register_staff(access.caller.acting, name=body.name, role=body.role, team=body.team,
                                   occurred_at=body.occurred_at)
    response.headers["Location"] = f"/staff/{result.id}"
    response.headers["ETag"] = f'"{result.version}"'
    return c.CommandResultPublic(**result.as_dict())


@router.get("/{staff_id}", name="staff.read", summary="A staff member (token hashes are never shown)")
def read(staff_id: str, ledger: LedgerDep, access: AccessDep, response: Response) -> dict[str, Any]:
    state = access.load(ledger, staff_id, "staff")
    response.headers["ETag"] = f'"{state["version"]}"'
    tokens = state.pop("tokens", {})
    state["tokens"] = {tid: {k: v for k, v in t.items() if k != "secret_hash"} for tid, t in tokens.items()}
    return state if access.caller.role in (Role.ADMINISTRATOR, Role.SALES_MANAGER) else redact_state(state)


@router.post("/{staff_id}/tokens", name="staff.issue_token", status_code=201,
             response_model=s.TokenIssuedPublic, summary="Issue an API token (shown once)")
def issue_token(staff_id: str, body: s.TokenCreate, ledger: LedgerDep, access: AccessDep,
                response: Response) -> Any:
    access.load(ledger, staff_id, "staff")
    token, result = ledger.issue_token(access.caller.acting, staff_id, label=body.label)
    response.headers["Cache-Control"] = "no-store"
    return s.TokenIssuedPublic(token=token, token_id=result.entity_id or "", staff_id=result.id)
