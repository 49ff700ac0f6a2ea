"""Who may call which route on which records: one table, deny by default.

Each route has an entry: for every role that may call it, the records it may touch —
``ANY`` record, records of the caller's ``TEAM``, or records ``ASSIGNED`` to the caller (customers
they hold, deals they drafted). A role missing from a route's entry is refused with 403; a record
outside the caller's scope is reported as 404, so a caller cannot learn that it exists.
``docs/api.md`` mirrors this table; a test walks every route of the app against it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from domain.identity import Role
from service.api.problems import Problem
from service.application import Principal


class Scope(StrEnum):
    ANY = "any"
    TEAM = "team"
    ASSIGNED = "assigned"
    SELF = "self"  # staff routes: the caller's own staff record


C, M, CS, S = Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE, Role.SALES_MANAGER
CO, AR, AD = Role.COMPLIANCE_OFFICER, Role.ARCHIVIST, Role.ADMINISTRATOR
SA = Role.SERVICE_ACCOUNT  # internal services: read-only, personal data masked

PUBLIC = "public"  # health checks: no token needed

_READ_CUSTOMER = {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY}
_CUSTOMER_WORK = {C: Scope.ASSIGNED, M: Scope.ASSIGNED, S: Scope.TEAM}
_SERVICE_DESK = {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM}
_FOLLOW_UP = {M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM}

# A consultant on the customers and deals they hold; a sales manager on their team's.
_HOLDER_WORK = {C: Scope.ASSIGNED, S: Scope.TEAM}
_TEAM_MANAGER = {S: Scope.TEAM}
# Listings hold no personal data and belong to no team: whoever has a listings route sees all.
_READ_LISTING = {C: Scope.ANY, M: Scope.ANY, CS: Scope.ANY, S: Scope.ANY, CO: Scope.ANY, SA: Scope.ANY}
_LISTING_WORK = {C: Scope.ANY, S: Scope.ANY}
# A deal's scope is its customer's (team, assigned holder); ASSIGNED also admits its drafter.
_READ_DEAL = {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY}

# Audit routes: the compliance officer's, and administrators' (who see personal data masked).
_AUDIT = {CO: Scope.ANY, AD: Scope.ANY}
# The event feed: internal services, and the compliance officer and administrators who oversee them.
_EVENT_FEED = {SA: Scope.ANY, CO: Scope.ANY, AD: Scope.ANY}

# Service files (ch. 7): scoped on the customer or deal a file belongs to (``Access.load_service_file``).
_FILE_WORK = {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM, AR: Scope.ANY}
_READ_FILE = {**_FILE_WORK, CO: Scope.ANY}
_KEEP_FILES = {AR: Scope.ANY}
_LEGAL_HOLDS = {CO: Scope.ANY}

PERMISSIONS: dict[str, dict[Role, Scope] | str] = {
    # --- health ---
    "health.live": PUBLIC,
    "health.ready": PUBLIC,
    # --- customers ---
    "customers.receive": {C: Scope.ANY, M: Scope.ANY, S: Scope.ANY},
    "customers.read": _READ_CUSTOMER,
    "customers.history": _READ_CUSTOMER,
    "customers.record_personal_details": {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM},
    "customers.record_needs": _CUSTOMER_WORK,
    "customers.raise_request": _SERVICE_DESK,
    "customers.respond_to_request": _SERVICE_DESK,
    "customers.file_complaint": _SERVICE_DESK,
    "customers.resolve_complaint": _SERVICE_DESK,
    "customers.answer_survey": _FOLLOW_UP,
    "customers.mark_lost": _CUSTOMER_WORK,
    "customers.reassign": _TEAM_MANAGER,
    # Nobody holds a customer in the public pool: any consultant or customer manager of the team
    # may claim them (for themselves), a sales manager for a member of the team.
    "customers.claim": {C: Scope.TEAM, M: Scope.TEAM, S: Scope.TEAM},
    # The personal-information protection function (compliance) records erasure requests.
    "customers.request_erasure": {CO: Scope.ANY},
    "customers.correct_contact_details": {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM},
    "customers.shortlist_listings": _HOLDER_WORK,
    "customers.schedule_showing": _HOLDER_WORK,
    "customers.reschedule_showing": _HOLDER_WORK,
    "customers.conduct_showing": _HOLDER_WORK,
    "customers.cancel_showing": _HOLDER_WORK,
    "customers.record_no_show": _HOLDER_WORK,
    "customers.record_feedback": _HOLDER_WORK,
    "customers.acknowledge_complaint": _SERVICE_DESK,
    "customers.escalate_complaint": _SERVICE_DESK,
    "customers.schedule_return_visit": _FOLLOW_UP,
    "customers.complete_return_visit": _FOLLOW_UP,
    "customers.reactivate": _CUSTOMER_WORK,
    # --- end of customers ---
    # --- listings and deals ---
    "listings.list": _LISTING_WORK,
    "listings.read": _READ_LISTING,
    "listings.history": _READ_LISTING,
    "listings.change_price": _LISTING_WORK,
    "listings.withdraw": _LISTING_WORK,
    "deals.draft": _HOLDER_WORK,
    "deals.read": _READ_DEAL,
    "deals.history": _READ_DEAL,
    "deals.submit": _HOLDER_WORK,
    "deals.approve": _TEAM_MANAGER,
    "deals.reject": _TEAM_MANAGER,
    "deals.sign": _HOLDER_WORK,
    "deals.require_documents": _HOLDER_WORK,
    "deals.receive_document": _HOLDER_WORK,
    "deals.verify_document": _HOLDER_WORK,
    "deals.record_payment": _HOLDER_WORK,
    "deals.settle": _HOLDER_WORK,
    "deals.confirm_handover": _HOLDER_WORK,
    "deals.close": _HOLDER_WORK,
    "deals.cancel": _HOLDER_WORK,
    # --- end of listings and deals ---
    # --- staff ---
    "staff.register": {AD: Scope.ANY, S: Scope.TEAM},
    "staff.read": {AD: Scope.ANY, S: Scope.TEAM, CO: Scope.ANY, C: Scope.SELF, M: Scope.SELF, CS: Scope.SELF,
                   AR: Scope.SELF},
    # A token lets its bearer act as its holder: only the holder, or an administrator enrolling
    # them, may be given one (a sales manager must not be able to act in a consultant's name).
    "staff.issue_token": {AD: Scope.ANY, S: Scope.SELF, C: Scope.SELF, M: Scope.SELF, CS: Scope.SELF,
                          CO: Scope.SELF, AR: Scope.SELF},
    "staff.history": {AD: Scope.ANY, S: Scope.TEAM, CO: Scope.ANY, C: Scope.SELF, M: Scope.SELF, CS: Scope.SELF,
                      AR: Scope.SELF},
    "staff.change_role": {AD: Scope.ANY, S: Scope.TEAM},
    "staff.record_training": {AD: Scope.ANY, S: Scope.TEAM},
    "staff.record_assessment": {AD: Scope.ANY, S: Scope.TEAM},
    "staff.award_incentive": {AD: Scope.ANY, S: Scope.TEAM},
    "staff.deactivate": {AD: Scope.ANY, S: Scope.TEAM},
    "staff.revoke_token": {AD: Scope.ANY, S: Scope.TEAM, C: Scope.SELF, M: Scope.SELF, CS: Scope.SELF,
                           CO: Scope.SELF, AR: Scope.SELF},
    # --- end of staff ---
    # --- service files ---
    # A file is scoped as the customer or deal it belongs to: front-line staff open files and bring
    # in papers on their own records; the archivist keeps every file (checks, files, seals, reopens,
    # proposes disposition); compliance reads any file, holds it, and approves or rejects disposition.
    "service_files.open": _FILE_WORK,
    "service_files.read": _READ_FILE,
    "service_files.collect_document": _FILE_WORK,
    "service_files.add_version": _FILE_WORK,
    "service_files.read_document": _READ_FILE,
    "service_files.check_completeness": _KEEP_FILES,
    "service_files.file": _KEEP_FILES,
    "service_files.seal": _KEEP_FILES,
    "service_files.reopen": _KEEP_FILES,
    "service_files.place_hold": _LEGAL_HOLDS,
    "service_files.release_hold": _LEGAL_HOLDS,
    "service_files.propose_disposition": _KEEP_FILES,
    "service_files.approve_disposition": _LEGAL_HOLDS,
    "service_files.reject_disposition": _LEGAL_HOLDS,
    "service_files.retention_due": {AR: Scope.ANY, CO: Scope.ANY},
    "service_files.list": {AR: Scope.ANY, CO: Scope.ANY},
    # --- end of service files ---
    # --- views ---
    "views.pipeline": _READ_CUSTOMER,
    "views.funnel": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    # Whoever may claim from the pool sees their team's pool.
    "views.pool": {C: Scope.TEAM, M: Scope.TEAM, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.service_desk": {C: Scope.ASSIGNED, M: Scope.ASSIGNED, CS: Scope.TEAM, S: Scope.TEAM, CO: Scope.ANY,
                           SA: Scope.ANY},
    "views.satisfaction": {M: Scope.TEAM, CS: Scope.TEAM, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.satisfaction_summary": {M: Scope.TEAM, CS: Scope.TEAM, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.reception": {C: Scope.ASSIGNED, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.reception_summary": {C: Scope.ASSIGNED, S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.staff_performance": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY, AD: Scope.ANY},
    "views.staff_performance_summary": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY, AD: Scope.ANY},
    "views.staff_records": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY, AD: Scope.ANY},
    "views.process_analytics": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.stage_times": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.stage_visits": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.losses": {S: Scope.TEAM, CO: Scope.ANY, SA: Scope.ANY},
    "views.listings": _READ_LISTING,
    "views.listing_prices": _READ_LISTING,
    "projections.status": {AD: Scope.ANY, CO: Scope.ANY, SA: Scope.ANY, S: Scope.ANY},
    # --- end of views ---
    # --- audit ---
    "audit.verify": _AUDIT,
    "audit.latest_checkpoint": _AUDIT,
    "audit.public_keys": _AUDIT,
    "audit.checkpoints": _AUDIT,
    "audit.checkpoint": _AUDIT,
    "audit.inclusion_proof": _AUDIT,
    "audit.consistency_proof": _AUDIT,
    "audit.history": _AUDIT,
    "audit.as_of": _AUDIT,
    "audit.diff": _AUDIT,
    "audit.access_log": _AUDIT,
    # --- end of audit ---
    # --- archive (sealed exports: archivists for courts and regulators, compliance for audits) ---
    "archive.export": {AR: Scope.ANY, CO: Scope.ANY},
    "archive.download_export": {AR: Scope.ANY, CO: Scope.ANY},
    # --- end of archive ---
    # --- events (the feed for internal services; personal data masked for every caller) ---
    "events.list": _EVENT_FEED,
    "events.stream": _EVENT_FEED,
    # --- end of events ---
    # --- metrics (Prometheus scrapes with a service account's token; no personal data in them) ---
    "metrics.read": {AD: Scope.ANY, SA: Scope.ANY},
    # --- end of metrics ---
}


def allowed_scope(route: str, caller: Principal) -> Scope | None:
    """The caller's scope on this route, or None if their role may not call it."""
    entry = PERMISSIONS.get(route)  # a route without an entry is nobody's: deny by default
    if entry == PUBLIC:
        return Scope.ANY
    return entry.get(caller.role) if isinstance(entry, dict) else None


def scope_for(route: str, caller: Principal) -> Scope:
    """The caller's scope on this route, or 403 if their role may not call it at all."""
    scope = allowed_scope(route, caller)
    if scope is None:
        who = "no role" if route not in PERMISSIONS else f"role {caller.role.value}"
        raise Problem(403, "forbidden", "Forbidden", f"{who} may not call {route}")
    return scope


def within(scope: Scope, caller: Principal, record: dict[str, Any]) -> bool:
    """Whether a record (as returned by ``RealtyLedger.state``) is inside the caller's scope."""
    if scope is Scope.ANY:
        return True
    if scope is Scope.SELF:
        return record.get("id") == str(caller.staff_id)
    if scope is Scope.TEAM:
        return record.get("team") == caller.team
    holder = record.get("assigned_to") or record.get("drafted_by")
    return holder == str(caller.staff_id)


def not_found(record_id: str) -> Problem:
    return Problem(404, "not_found", "Not found", f"no record {record_id} for this caller")
