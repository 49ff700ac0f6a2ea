"""Staff routes: registration, reads and history, role changes, training, assessment, incentives,
deactivation, and API tokens (shown once, revocable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from domain.identity import Role
from service.api.answers import answer
from service.api.deps import Access, AccessDep, ExpectedVersionDep
from service.api.permissions import Scope
from service.api.problems import Problem
from service.api.schemas import common as c
from service.api.schemas import staff as s
from service.redaction import redact_events, redact_state

router = APIRouter(prefix="/staff", tags=["staff"])

# Roles that see staff records in full (names); others see their own record masked.
FULL_VIEW = frozenset({Role.ADMINISTRATOR, Role.SALES_MANAGER})

# The roles a sales manager manages and may give. Oversight and administration roles are the
# administrator's to give and manage: a sales manager who could make someone an administrator,
# or issue a token for one, could act with more rights than their own.
TEAM_ROLES = frozenset({Role.SALES_MANAGER, Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE})


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def managed(access: Access, staff_id: str, *, self_allowed: bool = False) -> dict[str, Any]:
    """The staff record, if the caller may manage it: a sales manager manages the sales roles of
    their team, and not their own record (no self-promotion, self-reward or self-deactivation)."""
    record = access.load(staff_id, "staff")
    if access.scope is Scope.TEAM:
        is_self = record["id"] == str(access.caller.staff_id)
        if is_self and not self_allowed:
            raise forbidden("a sales manager does not manage their own staff record")
        if not is_self and record["role"] not in TEAM_ROLES:
            raise forbidden(f"a sales manager does not manage a {record['role']}")
    return record


def _require_team_role(access: Access, role: str, team: str | None) -> None:
    if access.scope is not Scope.TEAM:
        return
    if team is not None and team != access.caller.team:
        raise forbidden("a sales manager manages staff of their own team")
    if role not in TEAM_ROLES:
        raise forbidden(f"a sales manager does not give the role {role}")


@router.post("", name="staff.register", status_code=201, response_model=c.CommandResultPublic,
             summary="Register a staff member")
def register(body: s.StaffCreate, access: AccessDep) -> Any:
    _require_team_role(access, body.role, body.team)
    result = access.ledger.register_staff(access.caller.acting, name=body.name, role=body.role, team=body.team,
                                          occurred_at=body.occurred_at)
    return answer(result, 201, location=f"/staff/{result.id}")


@router.get("/{staff_id}", name="staff.read", summary="A staff member (token hashes are never shown)")
def read(staff_id: str, access: AccessDep, response: Response) -> dict[str, Any]:
    state = access.load(staff_id, "staff")
    response.headers["ETag"] = f'"{state["version"]}"'
    tokens = state.pop("tokens", {})
    state["tokens"] = {tid: {k: v for k, v in t.items() if k != "secret_hash"} for tid, t in tokens.items()}
    return access.disclose(staff_id, "staff", FULL_VIEW, state, redact_state)


@router.get("/{staff_id}/history", name="staff.history",
            summary="Every event of a staff member, with who, when and why (token hashes are never shown)")
def history(staff_id: str, access: AccessDep) -> list[dict[str, Any]]:
    access.load(staff_id, "staff")
    events = [{**e, "data": {k: v for k, v in e["data"].items() if k != "secret_hash"}}
              for e in access.ledger.history(staff_id)]
    return access.disclose(staff_id, "staff", FULL_VIEW, events, redact_events)


@router.post("/{staff_id}/role", name="staff.change_role", response_model=c.CommandResultPublic,
             summary="Change a staff member's role (and team)")
def change_role(staff_id: str, body: s.RoleChange, access: AccessDep,
                version: ExpectedVersionDep) -> Any:
    managed(access, staff_id)
    _require_team_role(access, body.role, body.team)
    return answer(access.ledger.change_staff_role(access.caller.acting, staff_id, role=body.role, team=body.team,
                                                  expected_version=version, occurred_at=body.occurred_at))


@router.post("/{staff_id}/trainings", name="staff.record_training",
             response_model=c.CommandResultPublic, summary="Record a completed training course and its score")
def record_training(staff_id: str, body: s.TrainingRecord, access: AccessDep,
                    version: ExpectedVersionDep) -> Any:
    managed(access, staff_id)
    return answer(access.ledger.record_training(access.caller.acting, staff_id, course=body.course, score=body.score,
                                                expected_version=version, occurred_at=body.occurred_at))


@router.post("/{staff_id}/assessments", name="staff.record_assessment",
             response_model=c.CommandResultPublic, summary="Record a performance assessment (never one's own)")
def record_assessment(staff_id: str, body: s.AssessmentRecord, access: AccessDep,
                      version: ExpectedVersionDep) -> Any:
    managed(access, staff_id)
    return answer(access.ledger.record_assessment(access.caller.acting, staff_id, period=body.period, score=body.score,
                                                  expected_version=version, occurred_at=body.occurred_at))


@router.post("/{staff_id}/incentives", name="staff.award_incentive",
             response_model=c.CommandResultPublic, summary="Award an incentive")
def award_incentive(staff_id: str, body: s.IncentiveAward, access: AccessDep,
                    version: ExpectedVersionDep) -> Any:
    managed(access, staff_id)
    return answer(access.ledger.award_incentive(access.caller.acting, staff_id, kind=body.kind, amount=body.amount,
                                                reason=body.reason, expected_version=version,
                                                occurred_at=body.occurred_at))


@router.post("/{staff_id}/deactivation", name="staff.deactivate", response_model=c.CommandResultPublic,
             summary="Deactivate a staff member: their tokens stop working at once")
def deactivate(staff_id: str, body: s.Deactivation, access: AccessDep,
               version: ExpectedVersionDep) -> Any:
    managed(access, staff_id)
    return answer(access.ledger.deactivate_staff(access.caller.acting, staff_id, reason=body.reason,
                                                 expected_version=version, occurred_at=body.occurred_at))


@router.post("/{staff_id}/tokens", name="staff.issue_token", status_code=201,
             response_model=s.TokenIssuedPublic,
             summary="Issue an API token (shown once), living expires_in_days (default: the server's setting)")
def issue_token(staff_id: str, body: s.TokenCreate, access: AccessDep,
                response: Response) -> Any:
    managed(access, staff_id, self_allowed=True)
    token, result = access.ledger.issue_token(access.caller.acting, staff_id, label=body.label,
                                              expires_in_days=body.expires_in_days)
    token_id = result.entity_id or ""
    response.headers["Cache-Control"] = "no-store"
    # Read back rather than worked out here: the expiry is the one the record holds.
    expires_at = access.ledger.state(result.id)["tokens"][token_id]["expires_at"]
    return s.TokenIssuedPublic(token=token, token_id=token_id, staff_id=result.id, expires_at=expires_at,
                               position=result.position)


@router.post("/{staff_id}/tokens/{token_id}/revocation", name="staff.revoke_token",
             response_model=c.CommandResultPublic, summary="Revoke an API token: it stops working at once")
def revoke_token(staff_id: str, token_id: str, body: s.TokenRevocation, access: AccessDep) -> Any:
    managed(access, staff_id, self_allowed=True)
    return answer(access.ledger.revoke_token(access.caller.acting, staff_id, token_id=token_id, reason=body.reason))
