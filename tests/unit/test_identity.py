"""The roles of the manual (职责划分) and the kinds of work each one does at all."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.customer import Customer
from domain.deal import Deal
from domain.errors import NotPermitted, SelfApproval
from domain.identity import DUTIES, HOLDS_CUSTOMERS, STAFF_ROLES, SYSTEM_ACTOR_ID, Actor, Duty, Role
from domain.listing import Listing
from domain.staff import StaffMember
from tests.unit.builders import actor, ago, deal_in, received_customer, refused, refused_creation

M, C, CM, CS = Role.SALES_MANAGER, Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE
CO, AR, AD = Role.COMPLIANCE_OFFICER, Role.ARCHIVIST, Role.ADMINISTRATOR

# The duty table as the manual reads, written out independently of domain.identity.DUTIES.
EXPECTED: dict[Duty, set[Role]] = {
    Duty.RECEIVE_CUSTOMERS: {M, C, CM},
    Duty.MAINTAIN_CUSTOMERS: {M, C, CM, CS},
    Duty.SHOW_LISTINGS: {M, C},
    Duty.SERVE_REQUESTS: {M, C, CM, CS},
    Duty.FOLLOW_UP: {M, CM, CS},
    Duty.REASSIGN: {M},
    Duty.MANAGE_LISTINGS: {M, C},
    Duty.HANDLE_DEALS: {M, C},
    Duty.REVIEW_DEALS: {M},
    Duty.MANAGE_STAFF: {M, AD},
    # The clock's work: the system actor only.
    Duty.RECORD_SERVICE_LEVELS: set(),
    Duty.RETURN_TO_POOL: set(),
    Duty.CLAIM_FROM_POOL: {M, C, CM},
    # Service files (ch. 7): front-line staff bring in papers; the archivist keeps the files;
    # compliance holds them and approves what the archivist proposes to destroy.
    Duty.COLLECT_DOCUMENTS: {M, C, CM, CS, AR},
    Duty.READ_SERVICE_FILES: {M, C, CM, CS, AR, CO},
    Duty.KEEP_SERVICE_FILES: {AR},
    Duty.PLACE_LEGAL_HOLDS: {CO},
    Duty.PROPOSE_DISPOSITION: {AR},
    Duty.APPROVE_DISPOSITION: {CO},
    Duty.CARRY_OUT_DISPOSITION: {AR, CO},
    # PIPL Art. 47: the personal-information protection function (compliance) records erasure requests.
    Duty.HANDLE_ERASURE: {CO},
    # Sealed packages leave the system for courts, regulators, audits: the keeper and compliance.
    Duty.EXPORT_SEALED_PACKAGES: {AR, CO},
}

_CASES = [(duty, role) for duty in Duty for role in sorted(STAFF_ROLES)]


def test_every_duty_has_an_entry_in_the_table() -> None:
    assert set(DUTIES) == set(Duty) == set(EXPECTED)


@pytest.mark.parametrize(("duty", "role"), _CASES, ids=[f"{r.value}-{d.name.lower()}" for d, r in _CASES])
def test_each_role_does_exactly_the_work_the_manual_gives_it(duty: Duty, role: Role) -> None:
    someone = actor(role)
    if role in EXPECTED[duty]:
        someone.require(duty)  # does not raise
        assert role in DUTIES[duty]
    else:
        with pytest.raises(NotPermitted) as excinfo:
            someone.require(duty)
        assert excinfo.value.code == "not_permitted"
        assert excinfo.value.context == {"role": role.value, "duty": duty.value}


@pytest.mark.parametrize("duty", list(Duty), ids=lambda d: d.name.lower())
def test_the_system_actor_may_do_anything(duty: Duty) -> None:
    Actor.system().require(duty)
    assert all(Role.SYSTEM not in roles for roles in DUTIES.values())


def test_the_system_actor_is_not_a_staff_role_and_has_the_nil_id() -> None:
    system = Actor.system()
    assert Role.SYSTEM not in STAFF_ROLES
    assert STAFF_ROLES == frozenset(Role) - {Role.SYSTEM}
    assert system.id == SYSTEM_ACTOR_ID == uuid.UUID(int=0)
    assert system.role is Role.SYSTEM
    assert system.on_behalf_of is None


def test_only_consultants_and_customer_managers_hold_customers() -> None:
    assert HOLDS_CUSTOMERS == {C, CM}


def test_an_actor_is_immutable() -> None:
    someone = actor(C)
    with pytest.raises(AttributeError):
        someone.role = M  # type: ignore[misc]
    assert someone.role is C


# --- the backstop at the aggregates --------------------------------------------------------------


@pytest.mark.parametrize("role", [CO, AR])
def test_a_compliance_officer_or_archivist_cannot_receive_a_customer(role: Role) -> None:
    start = ago(hours=1)
    with refused_creation(NotPermitted, "not_permitted"):
        Customer.receive(
            channel="walk_in",
            assigned_to=uuid.uuid4(),
            assignee_role=C,
            team="浦东一组",
            reception_started_at=start,
            reception_ended_at=start + timedelta(minutes=20),
            actor=actor(role),
        )


@pytest.mark.parametrize("role", [CO, AR, CM, CS, AD])
def test_only_consultants_and_sales_managers_record_a_showing(role: Role) -> None:
    customer = received_customer()
    with refused(customer, NotPermitted, "not_permitted") as excinfo:
        customer.schedule_showing(
            listing_id=uuid.uuid4(), listing_status="available", scheduled_for=ago(hours=-2), actor=actor(role)
        )
    assert excinfo.value.context["duty"] == Duty.SHOW_LISTINGS.value


@pytest.mark.parametrize("role", sorted(STAFF_ROLES - {M}))
def test_only_a_sales_manager_may_review_a_contract(role: Role) -> None:
    deal = deal_in("in_review")
    with refused(deal, NotPermitted, "not_permitted"):
        deal.approve(note=None, actor=actor(role))
    deal.approve(note=None, actor=actor(M))
    assert deal.status == "approved"


def test_the_system_actor_can_work_every_aggregate() -> None:
    system = Actor.system()
    start = ago(hours=1)
    customer = Customer.receive(
        channel="online",
        assigned_to=uuid.uuid4(),
        assignee_role=CM,
        team="浦东一组",
        reception_started_at=start,
        reception_ended_at=start + timedelta(minutes=15),
        actor=system,
    )
    customer.reassign(
        to_staff=uuid.uuid4(), to_role=C, to_active=True, to_team="浦东一组", reason="workload", actor=system
    )
    listing = Listing.list(
        district="浦东",
        address="世纪大道 1 号",
        area=60,
        rooms=1,
        price=2_000_000,
        property_right_status="shared",
        tenure_years=50,
        mortgage_eligible=True,
        actor=system,
    )
    deal = Deal.draft(
        customer_id=customer.id, listing_id=listing.id, price=2_000_000, terms="全款", actor=system
    )
    deal.submit_for_review(actor=system)
    staff = StaffMember.register(name="王建国", role="administrator", team="总部", actor=system)

    assert customer.version == 2 and listing.version == 1 and deal.version == 2 and staff.version == 1
    assert {e.actor_role for a in (customer, listing, deal, staff) for e in a.pending_events} == {"system"}


def test_the_system_actor_cannot_review_a_deal_it_drafted_itself() -> None:
    system = Actor.system()
    deal = deal_in("in_review", drafter=system)
    with refused(deal, SelfApproval, "self_approval"):
        deal.approve(note=None, actor=Actor.system())
