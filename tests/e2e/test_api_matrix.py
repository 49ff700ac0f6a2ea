"""The whole permission matrix over HTTP, on both backends: every route of the app (discovered from
the app, so a new route cannot escape) × every staff role × records inside and outside the
caller's scope.

The expectations come from ``PERMISSIONS`` (route -> role -> scope) and from ``in_scope`` below,
this test's own reading of the scopes of ``docs/api.md`` — so changing the table changes what is
expected, and a route added without an entry fails:

- a role missing from the route's entry is 403 ``forbidden``, whatever the record;
- a role in the entry gets past authorisation on a record in its scope: the answer is neither
  401/403 nor the authorisation 404 ``not_found`` (a domain answer — 2xx, 409, 422
  ``invalid_value``, a sub-entity's ``request_not_found`` … — shows the request got through);
- a role in the entry is told 404 ``not_found`` for an existing record outside its scope (unless
  the scope is ``any``), and 403 ``forbidden`` for a record it would create outside it (a staff
  member of another team: nothing exists yet that a 404 could hide).

Every request carries a valid body: the scope check runs inside the route, after the body is
validated, so ``{}`` would stop an out-of-scope call at 422 before it could be told 404, and prove
nothing about the scope of an in-scope one. The records are prepared once; the cases run in route
order, and each command either leaves the records' team and holder alone or is refused by a rule
of the process (409, 422) — which still counts as "got past authorisation".
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from domain.identity import STAFF_ROLES, Role
from service.api.app import route_names
from service.api.permissions import PERMISSIONS, PUBLIC, Scope
from service.application import Acting, RealtyLedger
from service.archive_exports import run_export
from tests.conftest import Team, register_team
from tests.e2e.test_api import FIELDS_BY_ROLE, api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures
from tests.unit.test_content_types import minimal_pdf

LISTING = {"district": "浦东", "address": "锦绣路1888弄3号1201室", "area": 89.5, "rooms": 2, "price": 5_000_000,
           "property_right_status": "clear", "tenure_years": 70, "mortgage_eligible": True}
ACCOUNT = "6222020200112233445"

# The path parameter that names the record a route is scoped on, and the kind of that record.
PATH_RECORDS = {"customer_id": "customer", "deal_id": "deal", "listing_id": "listing", "staff_id": "staff",
                "file_id": "service_file", "record_id": "customer"}  # the audit routes' record, with FIXED_PARAMS' aggregate
# Creation routes scoped on a record their body names (the customer of a new deal, the team of a
# new staff member). Every other route without a record in its path creates one out of nothing.
BODY_RECORDS = {"deals.draft": "customer", "staff.register": "team", "service_files.open": "customer"}
# Path parameters that are not records: a fixed valid value.
FIXED_PARAMS = {"kind": "id_card", "aggregate": "customers"}
# Query parameters a route needs (valid on every prepared record: each has a version 1).
QUERIES = {"audit.inclusion_proof": "?position=0&tree_size=1", "audit.consistency_proof": "?first=1&second=1",
           "audit.as_of": "?version=1", "audit.diff": "?from=1&to=1",
           # The event stream is asked to start beyond the head of the log: past authorisation it
           # answers 422 after_beyond_head at once, where a real cursor would stream for ever.
           "events.list": "?limit=1", "events.stream": f"?after={2**62}",
           "service_files.collect_document": "?kind=contract"}
# Routes whose body is a document, not JSON: a real PDF (and the headers the route needs).
# Routes that take what they need in a header (text that may name a person stays out of URLs).
HEADERS = {"service_files.read_document": {"X-Read-Purpose": "matrix"}}
RAW_BODIES = {"service_files.collect_document": {}, "service_files.add_version": {"X-Change-Reason": "matrix"}}
PDF = minimal_pdf()


def at(minutes: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def now(minutes: float = 0) -> str:
    return at(minutes).isoformat()


@dataclass(frozen=True)
class Caller:
    role: Role
    staff_id: str
    team: str
    token: str


@dataclass(frozen=True)
class Record:
    """A prepared record, as this test sees it: its team, who holds it, and the values a request needs."""

    label: str
    kind: str  # customer, deal, listing, staff, team (a team to create in), none (nothing to scope)
    team: str | None = None
    holders: frozenset[str] = frozenset()  # staff ids it is assigned to (a deal: its customer's holder, its drafter)
    staff_id: str | None = None  # a staff record's own id (the SELF scope)
    exists: bool = True
    values: dict[str, str] = field(default_factory=dict)  # path parameters and ids the bodies refer to


def in_scope(scope: Scope, caller: Caller, record: Record) -> bool:
    """Whether the record is within the scope for this caller, as docs/api.md defines the scopes."""
    if record.kind == "none" or scope is Scope.ANY:
        return True
    if scope is Scope.TEAM:
        return record.team is not None and record.team == caller.team
    if scope is Scope.ASSIGNED:
        return caller.staff_id in record.holders
    if scope is Scope.SELF:
        return record.staff_id == caller.staff_id
    raise AssertionError(f"this test does not know the scope {scope!r}: teach in_scope about it")


def body_for(route: str, record: Record, shared: dict[str, str]) -> dict[str, Any]:
    """A valid body for the route on this record (``{}`` for routes whose body is optional)."""
    v = record.values
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "customers.receive": lambda: {"channel": "walk_in", "reception_started_at": now(-25),
                                      "reception_ended_at": now(-5)},
        "customers.record_personal_details": lambda: {"name": "赵雅琴", "phone": "13800138000"},
        "customers.record_needs": lambda: {
            "budget_min": 4_000_000, "budget_max": 6_000_000, "area_min": 70, "area_max": 100, "rooms": 2,
            "districts": ["浦东"], "purpose": "home", "payment_method": "provident_fund",
            "qualification": "qualified"},
        "customers.raise_request": lambda: {"subject": "学区政策"},
        "customers.respond_to_request": lambda: {"response": "已发送政策解读"},
        "customers.file_complaint": lambda: {"category": "服务", "severity": "low", "description": "迟到"},
        "customers.resolve_complaint": lambda: {"resolution": "已致歉"},
        "customers.answer_survey": lambda: {"scores": {"overall": 5}},
        "customers.mark_lost": lambda: {"reason": "price"},
        # to the current holder: refused as already assigned, so the record keeps its holder
        "customers.reassign": lambda: {"to_staff": v["holder"], "reason": "hand_over"},
        # for the caller: no prepared customer is in the public pool, so it is refused (409
        # customer_not_in_pool) and the record keeps its holder; the scope is the team's
        "customers.claim": lambda: {},
        "customers.correct_contact_details": lambda: {"reason": "录入错误", "phone": "13900139000"},
        "customers.shortlist_listings": lambda: {"matches": [{"listing_id": shared["shown"], "score": 80}]},
        "customers.schedule_showing": lambda: {"listing_id": shared["shown"], "scheduled_for": now(60 * 24)},
        "customers.reschedule_showing": lambda: {"scheduled_for": now(60 * 48), "reason": "客户出差"},
        "customers.conduct_showing": lambda: {"topics_explained": ["property_rights"]},
        "customers.cancel_showing": lambda: {"reason": "客户取消"},
        "customers.record_feedback": lambda: {"interest": 4, "objections": ["价格偏高"]},
        "customers.escalate_complaint": lambda: {"escalated_to": v["teammate"], "reason": "需要经理处理"},
        "customers.schedule_return_visit": lambda: {"due_at": now(60 * 24 * 7), "purpose": "交房回访"},
        "customers.complete_return_visit": lambda: {"summary": "客户满意"},
        "customers.reactivate": lambda: {"reason": "重新有购房意向"},
        "listings.list": lambda: dict(LISTING),
        "listings.change_price": lambda: {"new_price": 4_900_000, "reason": "业主让价"},
        "listings.withdraw": lambda: {"reason": "业主撤回"},
        "deals.draft": lambda: {"customer_id": v["customer_id"], "listing_id": shared["drafted"],
                                "price": 5_000_000, "terms": "首付三成"},
        "deals.reject": lambda: {"reason": "条款不全"},
        "deals.sign": lambda: {"contract_number": "HT-2025-0001"},
        "deals.require_documents": lambda: {"kinds": ["id_card"]},
        "deals.record_payment": lambda: {"kind": "deposit", "amount": 50_000, "payer_account": ACCOUNT},
        "deals.cancel": lambda: {"reason": "客户放弃"},
        "staff.register": lambda: {"name": "新同事", "role": "property_consultant", "team": v["team"]},
        # the role it has: refused as unchanged (422 invalid_value), so no one changes role or team
        "staff.change_role": lambda: {"role": v["role"]},
        "staff.record_training": lambda: {"course": "合规培训", "score": 90},
        "staff.record_assessment": lambda: {"period": "2025-Q1", "score": 85},
        "staff.award_incentive": lambda: {"kind": "bonus", "amount": 1000, "reason": "季度业绩"},
        "staff.deactivate": lambda: {"reason": "离职"},
        "staff.issue_token": lambda: {"label": "矩阵测试"},
        "staff.revoke_token": lambda: {"reason": "不再使用"},
        # an unresolved complaint holds the erasure back: the customer is restricted, keeps team and holder
        "customers.request_erasure": lambda: {"legal_basis": "consent_withdrawn"},
        # the customer's prepared customer file exists already: refused (409), nothing is recorded
        "service_files.open": lambda: {"owner_kind": "customer", "owner_id": v["customer_id"],
                                       "record_class": "customer_file"},
        "service_files.reopen": lambda: {"reason": "补充材料"},
        "service_files.place_hold": lambda: {"reason": "法院调查令"},
        "service_files.release_hold": lambda: {"reason": "调查结束"},
        "service_files.reject_disposition": lambda: {"reason": "暂缓销毁"},
        # a real sealed export of the prepared customer (a `realty archive export` child process)
        "archive.export": lambda: {"customer_id": shared["exported"], "format": "tar"},
    }
    make = bodies.get(route)
    return make() if make else {}


@dataclass
class Prepared:
    """The records of the walk: two teams, and customers, deals, listings and staff in and out of scope."""

    shared: dict[str, str]
    records: dict[str, list[Record]]  # by kind
    own_staff_record: dict[str, Record]  # by caller staff id: the caller's own staff record


def prepare(app: RealtyLedger, team: Team, other: Team) -> Prepared:
    def listing(by: Acting) -> str:
        return app.list_property(by, **LISTING).id  # type: ignore[arg-type]

    def received(by: Acting) -> str:
        return app.receive_customer(by, channel="walk_in", reception_started_at=at(-25),
                                    reception_ended_at=at(-5)).id

    def deal(by: Acting, customer: str) -> str:
        return app.draft_deal(by, customer_id=customer, listing_id=listing(by), price=5_000_000, terms="首付三成").id

    shared = {"shown": listing(team.consultant), "drafted": listing(team.consultant),
              "exported": received(team.consultant)}  # a customer to seal: the export names it in its body

    def customer(label: str, of: Team, customer_id: str, holder: Acting) -> Record:
        """The customer, with a request, a complaint, a showing and a return visit of its own."""
        entities = {
            "request_id": app.raise_request(of.service, customer_id, subject="学区政策").entity_id,
            "complaint_id": app.file_complaint(of.service, customer_id, category="服务", severity="low",
                                               description="迟到").entity_id,
            "showing_id": app.schedule_showing(of.manager, customer_id, listing_id=shared["shown"],
                                               scheduled_for=at(60 * 24)).entity_id,
            "visit_id": app.schedule_return_visit(of.service, customer_id, due_at=at(60 * 24 * 7),
                                                  purpose="回访").entity_id,
        }
        return Record(label, "customer", of.name, frozenset({of.id(holder)}), values={
            "customer_id": customer_id, **{k: str(e) for k, e in entities.items()},
            "holder": of.id(holder), "teammate": of.id(of.manager)})

    def deal_record(label: str, of: Team, deal_id: str, holders: set[Acting]) -> Record:
        return Record(label, "deal", of.name, frozenset(of.id(h) for h in holders), values={"deal_id": deal_id})

    # The consultant's customer; the customer manager's (drafted on by the consultant, then handed
    # over); a customer of the other team. Deals: the consultant's own, the one the consultant
    # drafted before the hand-over, one another sales manager drafted for the customer manager's
    # customer, and one of the other team.
    consultants = received(team.consultant)
    consultants_deal = deal(team.consultant, consultants)
    handed_over = received(team.consultant)
    drafted_before_hand_over = deal(team.consultant, handed_over)
    app.reassign_customer(team.manager, handed_over, to_staff=team.id(team.customer_manager), reason="hand_over")
    managers_deal = deal(team.second_manager, handed_over)
    theirs = received(other.consultant)
    their_deal = deal(other.consultant, theirs)

    def spare_token(staff_id: str) -> str:
        """A token of theirs that revoking locks no one out (callers keep the tokens they call with)."""
        return app.issue_token(Acting.system(), staff_id, label="spare")[1].entity_id or ""

    def staff(label: str, of: Team, member: Acting, role: str) -> Record:
        staff_id = of.id(member)
        return Record(label, "staff", of.name, staff_id=staff_id,
                      values={"staff_id": staff_id, "token_id": spare_token(staff_id), "role": role})

    own_staff_record = {
        team.id(getattr(team, name)): staff("the caller's own staff record", team, getattr(team, name), role.value)
        for role, name in FIELDS_BY_ROLE.items()
    }
    def service_file(label: str, of: Team, owner_kind: str, owner: str, holders: frozenset[str]) -> Record:
        """The owner's file, with a document and a legal hold of its own; scoped as its owner."""
        record_class = "customer_file" if owner_kind == "customer" else "deal_file"
        file_id = app.open_service_file(of.archivist, owner_kind=owner_kind, owner_id=owner,
                                        record_class=record_class).id
        document = app.upload_document(of.archivist, file_id, content=minimal_pdf(), kind="id_copy").entity_id
        hold = app.file_command(of.compliance, file_id, "place_hold", reason="矩阵测试").entity_id
        return Record(label, "service_file", of.name, holders,
                      values={"file_id": file_id, "document_id": str(document), "hold_id": str(hold)})

    records = {
        "customer": [
            customer("the consultant's customer", team, consultants, team.consultant),
            customer("the customer manager's customer", team, handed_over, team.customer_manager),
            customer("a customer of the other team", other, theirs, other.consultant),
        ],
        "deal": [
            deal_record("the consultant's deal", team, consultants_deal, {team.consultant}),
            deal_record("a deal the consultant drafted for a customer since handed over", team,
                        drafted_before_hand_over, {team.consultant, team.customer_manager}),
            deal_record("a deal another manager drafted for the customer manager's customer", team,
                        managers_deal, {team.second_manager, team.customer_manager}),
            deal_record("a deal of the other team", other, their_deal, {other.consultant}),
        ],
        "listing": [
            Record("a listing a member of the caller's team listed", "listing", values={"listing_id": listing(team.consultant)}),
            Record("a listing a member of the other team listed", "listing", values={"listing_id": listing(other.consultant)}),
        ],
        # A consultant colleague (a role a sales manager manages), and a member of the other team.
        "staff": [
            staff("a colleague in the caller's team", team, team.second_consultant, "property_consultant"),
            staff("a member of the other team", other, other.second_consultant, "property_consultant"),
        ],
        "team": [
            Record("a new member of the caller's team", "team", team.name, exists=False, values={"team": team.name}),
            Record("a new member of the other team", "team", other.name, exists=False, values={"team": other.name}),
        ],
        # ... and a sealed package made beforehand, for the download route (a real `realty archive export`).
        "none": [Record("a new record", "none", exists=False, values={"export_id": run_export(
            app.settings, by=team.id(team.archivist), customer_id=shared["exported"], deal_id=None, archive_no=None,
            fmt="tar", recipient=None)["export_id"]})],
    }
    records["service_file"] = [
        *(service_file(f"the file of {r.label}", team if r.team == team.name else other, "customer",
                       r.values["customer_id"], r.holders) for r in records["customer"]),
        *(service_file(f"the file of {r.label}", team if r.team == team.name else other, "deal",
                       r.values["deal_id"], r.holders) for r in records["deal"]),
    ]
    return Prepared(shared, records, own_staff_record)


def payload(route: str, method: str, record: Record, shared: dict[str, str]) -> dict[str, Any]:
    """What a request carries: a JSON body, or a document (with its headers) for an upload route."""
    if route in RAW_BODIES:
        return {"content": PDF, "headers": {"Content-Type": "application/pdf", **RAW_BODIES[route]}}
    if route in HEADERS:
        return {"headers": HEADERS[route]}
    return {"json": body_for(route, record, shared) if method == "POST" else None}


def candidates(prepared: Prepared, kind: str, caller: Caller, scope: Scope | None) -> list[Record]:
    """The records to try for this caller. A caller's own staff record is tried where the scope is
    SELF (and where the role is refused anyway); a manager or administrator acting on their own
    record meets rules of their own (no self-management), and would lock themselves out."""
    if kind == "staff" and scope in (None, Scope.SELF):
        return [prepared.own_staff_record[caller.staff_id], *prepared.records["staff"]]
    return prepared.records[kind]


def path_params(path: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(path) if name]


def record_kind(route: str, path: str) -> str:
    for name in path_params(path):
        if name in PATH_RECORDS:
            return PATH_RECORDS[name]
    return BODY_RECORDS.get(route, "none")


def url_for(path: str, record: Record) -> str:
    params = {**FIXED_PARAMS, **record.values}
    if "customer_id" in params:  # the audit routes name the same customer as a record of any kind
        params.setdefault("record_id", params["customer_id"])
    missing = [name for name in path_params(path) if name not in params]
    assert not missing, f"{path}: this test does not know the path parameters {missing}: teach it"
    return path.format(**params)


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every API route, however deep: included routers are flattened in some FastAPI versions and
    kept as nodes holding their router (``original_router``) in others; mounts hold ``routes``."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        inner = getattr(route, "original_router", route)
        yield from api_routes(getattr(inner, "routes", None) or ())


def outcome(response: Any, expected: str) -> str | None:
    """None if the response is what the expectation says, else what went wrong."""
    try:
        if expected == "refused":
            assert_problem(response, 403, "forbidden")
        elif expected == "hidden":
            assert_problem(response, 404, "not_found")
        else:
            status = response.status_code
            code = response.json().get("code") if status >= 400 else None
            assert status < 500, "a server error"
            assert status not in (401, 403), "refused"
            assert not (status == 404 and code == "not_found"), "not found (the authorisation 404)"
            assert code != "invalid_request", "the body of this test does not match the schema: fix it"
    except AssertionError as e:
        why = str(e).splitlines()[0][:100] if expected == "allowed" else "the wrong answer"
        return f"expected {expected}, got {response.status_code} ({why}): {response.text[:200]}"
    return None


def test_every_route_every_role_on_records_inside_and_outside_their_scope(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    routes = route_names(api.app)  # type: ignore[arg-type]
    # Discovered from the app itself: a route left out of the OpenAPI description cannot escape.
    # The console's pages are not API operations: they call these routes (tests/e2e/console).
    registered = {r.name for r in api_routes(api.app.routes)  # type: ignore[attr-defined]
                  if not r.name.startswith("console.")}
    assert registered == set(routes), registered ^ set(routes)
    unlisted = sorted(set(routes) - set(PERMISSIONS))
    assert not unlisted, f"routes without an entry in the permission table: {unlisted}"

    other = register_team(app, name="徐汇二组")
    prepared = prepare(app, team, other)
    callers = [Caller(role, team.id(getattr(team, FIELDS_BY_ROLE[role])), team.name, tokens[FIELDS_BY_ROLE[role]])
               for role in sorted(STAFF_ROLES)]
    assert {c.role for c in callers} == set(STAFF_ROLES)

    failures: list[str] = []
    cases = 0
    for route, (method, path) in routes.items():
        entry = PERMISSIONS[route]
        kind = record_kind(route, path)
        if entry == PUBLIC:
            for token in (None, *(c.token for c in callers)):
                response = api.request(method, path, headers=auth(token) if token else None)
                cases += 1
                if response.status_code != 200:
                    failures.append(f"{route} (public): {response.status_code} {response.text[:200]}")
            continue
        assert isinstance(entry, dict)
        first = prepared.records[kind][0]
        anonymous = api.request(method, url_for(path, first) + QUERIES.get(route, ""),
                                **payload(route, method, first, prepared.shared))
        cases += 1
        if anonymous.status_code != 401:
            failures.append(f"{route} without a token: {anonymous.status_code} {anonymous.text[:200]}")
        for caller in callers:
            scope = entry.get(caller.role)
            records = candidates(prepared, kind, caller, scope)
            if scope is not None:
                assert any(in_scope(scope, caller, r) for r in records), (
                    f"{route}: no prepared record is within {caller.role.value}'s scope {scope.value}: "
                    "prepare one, or the walk proves nothing for this role")
            for record in records:
                if scope is None:
                    expected = "refused"
                elif in_scope(scope, caller, record):
                    expected = "allowed"
                else:
                    expected = "hidden" if record.exists else "refused"
                sent = payload(route, method, record, prepared.shared)
                response = api.request(method, url_for(path, record) + QUERIES.get(route, ""),
                                       headers=auth(caller.token, **sent.pop("headers", {})), **sent)
                cases += 1
                wrong = outcome(response, expected)
                if wrong:
                    failures.append(f"{route} as {caller.role.value} ({scope.value if scope else '—'}) on "
                                    f"{record.label}: {wrong}")
    print(f"permission matrix: {len(routes)} routes, {cases} cases")
    assert not failures, f"{len(failures)} of {cases} cases broke the permission table:\n" + "\n".join(failures)


def test_a_sales_manager_cannot_move_a_customer_into_another_team(
    app: RealtyLedger, api: TestClient, tokens: dict[str, str]  # noqa: F811 - fixtures
) -> None:
    other_team = register_team(app, name="长宁五组")
    customer = receive(api, tokens["consultant"])
    moved = api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["manager"]),
                     json={"to_staff": other_team.id(other_team.consultant), "reason": "workload"})
    missing = api.post(f"/customers/{customer}/reassignment", headers=auth(tokens["manager"]),
                       json={"to_staff": "0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10", "reason": "workload"})
    assert_problem(moved, 422, "invalid_value")
    assert moved.json()["detail"] == missing.json()["detail"]  # no probing of other teams' ids
    assert app.state(customer)["version"] == 1
