"""Who acts: roles of the manual (职责划分), their duties, and the acting identity of a command.

The HTTP layer decides which *records* a caller may touch; this module is the domain's backstop
that decides which *kinds of work* a role does at all (a compliance officer never records a
showing, only a sales manager reviews a contract), so a bug at the edge cannot make the record
say something the manual forbids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from domain.errors import NotPermitted


class Role(StrEnum):
    SALES_MANAGER = "sales_manager"  # 销售经理
    PROPERTY_CONSULTANT = "property_consultant"  # 置业顾问
    CUSTOMER_MANAGER = "customer_manager"  # 客户经理
    CUSTOMER_SERVICE = "customer_service"  # 客服专员
    COMPLIANCE_OFFICER = "compliance_officer"
    ARCHIVIST = "archivist"
    ADMINISTRATOR = "administrator"
    SERVICE_ACCOUNT = "service_account"  # an internal service: reads only, personal data masked
    SYSTEM = "system"  # automations and bootstrap; never a staff member's role


STAFF_ROLES = frozenset(Role) - {Role.SYSTEM}

# Roles that can be the assigned holder of a customer relationship.
HOLDS_CUSTOMERS = frozenset({Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER})


class Duty(StrEnum):
    RECEIVE_CUSTOMERS = "receive customers"
    MAINTAIN_CUSTOMERS = "maintain customer records"
    SHOW_LISTINGS = "schedule and conduct showings"
    SERVE_REQUESTS = "handle requests and complaints"
    FOLLOW_UP = "do return visits and surveys"
    REASSIGN = "reassign customers"
    MANAGE_LISTINGS = "manage listings"
    HANDLE_DEALS = "handle deals"
    REVIEW_DEALS = "review contracts"
    MANAGE_STAFF = "manage staff"
    RECORD_SERVICE_LEVELS = "record service-level warnings and breaches"
    RETURN_TO_POOL = "return customers to the public pool"
    CLAIM_FROM_POOL = "claim customers from the public pool"
    COLLECT_DOCUMENTS = "collect documents for service files"
    READ_SERVICE_FILES = "read documents of service files"
    KEEP_SERVICE_FILES = "check, file, seal and reopen service files"
    PLACE_LEGAL_HOLDS = "place and release legal holds"
    PROPOSE_DISPOSITION = "propose the disposition of service files"
    APPROVE_DISPOSITION = "approve or reject the disposition of service files"
    CARRY_OUT_DISPOSITION = "record a carried-out disposition"
    HANDLE_ERASURE = "record customers' erasure requests (PIPL Art. 47)"
    EXPORT_SEALED_PACKAGES = "export sealed packages of service files"


_S, _C, _M, _CS, _AR, _CO = (
    Role.SALES_MANAGER,
    Role.PROPERTY_CONSULTANT,
    Role.CUSTOMER_MANAGER,
    Role.CUSTOMER_SERVICE,
    Role.ARCHIVIST,
    Role.COMPLIANCE_OFFICER,
)

DUTIES: dict[Duty, frozenset[Role]] = {
    Duty.RECEIVE_CUSTOMERS: frozenset({_C, _M, _S}),
    Duty.MAINTAIN_CUSTOMERS: frozenset({_C, _M, _CS, _S}),
    Duty.SHOW_LISTINGS: frozenset({_C, _S}),
    Duty.SERVE_REQUESTS: frozenset({_C, _M, _CS, _S}),
    Duty.FOLLOW_UP: frozenset({_M, _CS, _S}),
    Duty.REASSIGN: frozenset({_S}),
    Duty.MANAGE_LISTINGS: frozenset({_C, _S}),
    Duty.HANDLE_DEALS: frozenset({_C, _S}),
    Duty.REVIEW_DEALS: frozenset({_S}),
    Duty.MANAGE_STAFF: frozenset({_S, Role.ADMINISTRATOR}),
    # The clock's work: no staff role has it, only the system actor (automations) does.
    Duty.RECORD_SERVICE_LEVELS: frozenset(),
    Duty.RETURN_TO_POOL: frozenset(),
    Duty.CLAIM_FROM_POOL: frozenset({_C, _M, _S}),
    # Service files (ch. 7): whoever meets the customer brings in the papers of their own work (the
    # HTTP layer limits them to their records); the archivist checks, files, seals and keeps them.
    Duty.COLLECT_DOCUMENTS: frozenset({_C, _M, _CS, _S, _AR}),
    Duty.READ_SERVICE_FILES: frozenset({_C, _M, _CS, _S, _AR, _CO}),
    Duty.KEEP_SERVICE_FILES: frozenset({_AR}),
    Duty.PLACE_LEGAL_HOLDS: frozenset({_CO}),
    # Disposition is a two-person rule across two roles: the keeper proposes, compliance approves.
    Duty.PROPOSE_DISPOSITION: frozenset({_AR}),
    Duty.APPROVE_DISPOSITION: frozenset({_CO}),
    Duty.CARRY_OUT_DISPOSITION: frozenset({_AR, _CO}),
    # The personal-information protection function receives and decides erasure requests.
    Duty.HANDLE_ERASURE: frozenset({_CO}),
    # Archivists export for courts, regulators and the next system; compliance for its audits.
    Duty.EXPORT_SEALED_PACKAGES: frozenset({_AR, _CO}),
}

SYSTEM_ACTOR_ID = uuid.UUID(int=0)


@dataclass(frozen=True)
class Actor:
    """The acting identity stamped on every event: who, in which role, for whom, and why."""

    id: uuid.UUID
    role: Role
    on_behalf_of: uuid.UUID | None = None
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def require(self, duty: Duty) -> None:
        if self.role is Role.SYSTEM:
            return
        if self.role not in DUTIES[duty]:
            raise NotPermitted(self.role.value, duty.value)

    @classmethod
    def system(cls, correlation_id: str | None = None) -> Actor:
        return cls(
            id=SYSTEM_ACTOR_ID,
            role=Role.SYSTEM,
            correlation_id=correlation_id or uuid.uuid4().hex,
        )
