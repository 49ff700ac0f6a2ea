"""Small builders shared by the unit tests: actors, aggregates in a given state, and checks.

Builders back-date what they set up (about 30 days ago, a minute per step) so that a test can act
afterwards at any recent business time without going back in time on the same record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.customer import Customer
from domain.customer_values import DealMilestone
from domain.deal import Deal
from domain.errors import DomainError
from domain.identity import Actor, Role
from domain.listing import Listing
from domain.recording import RecordedEvent
from domain.staff import StaffMember

# Valid resident ID numbers from GB 11643-1999's own examples (check characters X and 4).
VALID_ID_NUMBER = "11010519491231002X"
OTHER_VALID_ID_NUMBER = "440524188001010014"
VALID_MOBILE = "13812345678"


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def setup_time() -> datetime:
    """When builders start setting a record up: far enough back for a test to act later."""
    return ago(days=30)


def actor(role: Role = Role.PROPERTY_CONSULTANT, **kwargs: Any) -> Actor:
    return Actor(id=uuid.uuid4(), role=role, **kwargs)


def consultant(**kwargs: Any) -> Actor:
    return actor(Role.PROPERTY_CONSULTANT, **kwargs)


def manager(**kwargs: Any) -> Actor:
    return actor(Role.SALES_MANAGER, **kwargs)


# --- aggregates --------------------------------------------------------------------------------


def received_customer(*, by: Actor | None = None, at: datetime | None = None) -> Customer:
    by = by or consultant()
    start = at or setup_time()
    return Customer.receive(
        channel="walk_in",
        assigned_to=by.id,
        assignee_role=Role.PROPERTY_CONSULTANT,
        team="浦东一组",
        reception_started_at=start,
        reception_ended_at=start + timedelta(minutes=20),
        actor=by,
    )


def record_needs(customer: Customer, *, by: Actor | None = None, at: datetime | None = None) -> None:
    customer.record_needs(
        budget_min=3_000_000,
        budget_max=5_000_000,
        area_min=80,
        area_max=120,
        rooms=3,
        districts=["浦东"],
        purpose="home",
        payment_method="commercial_mortgage",
        qualification="qualified",
        actor=by or consultant(),
        occurred_at=at,
    )


def customer_with_needs(*, by: Actor | None = None) -> Customer:
    start = setup_time()
    customer = received_customer(by=by, at=start)
    record_needs(customer, by=by, at=start + timedelta(minutes=30))
    return customer


def customer_with_showing(status: str = "scheduled") -> tuple[Customer, uuid.UUID, Actor]:
    """A customer with one showing in the given status: scheduled, conducted, cancelled, no_show."""
    by = consultant()
    start = setup_time()
    customer = received_customer(by=by, at=start)
    showing_id = customer.schedule_showing(
        listing_id=uuid.uuid4(),
        listing_status="available",
        scheduled_for=start + timedelta(days=1),
        actor=by,
        occurred_at=start + timedelta(minutes=30),
    )
    later = start + timedelta(days=1, minutes=30)
    if status == "conducted":
        customer.conduct_showing(
            showing_id=showing_id, topics_explained=["tenure"], actor=by, occurred_at=later
        )
    elif status == "cancelled":
        customer.cancel_showing(showing_id=showing_id, reason="客户改期", actor=by, occurred_at=later)
    elif status == "no_show":
        customer.record_no_show(showing_id=showing_id, actor=by, occurred_at=later)
    return customer, showing_id, by


def lost_customer() -> Customer:
    customer = received_customer(at=setup_time())
    customer.mark_lost(
        reason="price", note=None, actor=consultant(), occurred_at=setup_time() + timedelta(hours=1)
    )
    return customer


def listed_listing(*, by: Actor | None = None, at: datetime | None = None, price: int = 4_000_000) -> Listing:
    return Listing.list(
        district="浦东",
        address="世纪大道 100 弄 8 号 1201",
        area=98.5,
        rooms=3,
        price=price,
        property_right_status="clear",
        tenure_years=70,
        mortgage_eligible=True,
        actor=by or consultant(),
        occurred_at=at or setup_time(),
    )


def listing_with_open_deal() -> tuple[Listing, uuid.UUID]:
    listing = listed_listing()
    deal_id = uuid.uuid4()
    listing.open_deal(deal_id=deal_id, actor=consultant(), occurred_at=setup_time() + timedelta(minutes=1))
    return listing, deal_id


def reserved_listing() -> tuple[Listing, uuid.UUID]:
    listing, deal_id = listing_with_open_deal()
    listing.reserve(deal_id=deal_id, actor=consultant(), occurred_at=setup_time() + timedelta(minutes=2))
    return listing, deal_id


def sold_listing() -> tuple[Listing, uuid.UUID]:
    listing, deal_id = reserved_listing()
    listing.mark_sold(
        deal_id=deal_id, price=listing.price, actor=consultant(), occurred_at=setup_time() + timedelta(minutes=3)
    )
    return listing, deal_id


def withdrawn_listing() -> Listing:
    listing = listed_listing()
    listing.withdraw(reason="业主撤回", actor=consultant(), occurred_at=setup_time() + timedelta(minutes=1))
    return listing


DEAL_PRICE = 4_000_000
PAYER_ACCOUNT = "6222020200112233445"

# The deal's way through its life, in order; ``deal_in`` walks it up to a status.
_DEAL_PATH = ("drafted", "in_review", "approved", "signed", "settled", "handed_over", "closed")


def deal_in(status: str, *, drafter: Actor | None = None, reviewer: Actor | None = None) -> Deal:
    """A deal walked to ``status``; once signed it required and verified an ID card and was paid."""
    drafter = drafter or consultant()
    reviewer = reviewer or manager()
    start = setup_time()
    steps = iter(start + timedelta(minutes=i) for i in range(1, 100))
    deal = Deal.draft(
        customer_id=uuid.uuid4(),
        listing_id=uuid.uuid4(),
        price=DEAL_PRICE,
        terms="按揭，首付 35%",
        actor=drafter,
        occurred_at=start,
    )
    target = _DEAL_PATH.index(status)
    if target >= 1:
        deal.submit_for_review(actor=drafter, occurred_at=next(steps))
    if target >= 2:
        deal.approve(note=None, actor=reviewer, occurred_at=next(steps))
    if target >= 3:
        deal.sign(contract_number="HT-2024-0001", actor=drafter, occurred_at=next(steps))
    if target >= 4:
        deal.require_documents(kinds=["id_card"], actor=drafter, occurred_at=next(steps))
        deal.receive_document(kind="id_card", actor=drafter, occurred_at=next(steps))
        deal.verify_document(kind="id_card", actor=drafter, occurred_at=next(steps))
        deal.record_payment(
            kind="down_payment",
            amount=DEAL_PRICE,
            payer_account=PAYER_ACCOUNT,
            actor=drafter,
            occurred_at=next(steps),
        )
        deal.settle_funds(actor=drafter, occurred_at=next(steps))
    if target >= 5:
        deal.confirm_handover(note=None, actor=drafter, occurred_at=next(steps))
    if target >= 6:
        deal.close(actor=drafter, occurred_at=next(steps))
    assert deal.status == status
    return deal


def registered_staff(role: str = "property_consultant", *, at: datetime | None = None) -> StaffMember:
    return StaffMember.register(
        name="张伟", role=role, team="浦东一组", actor=Actor.system(), occurred_at=at or setup_time()
    )


def deactivated_staff() -> StaffMember:
    staff = registered_staff()
    staff.deactivate(reason="离职", actor=manager(), occurred_at=setup_time() + timedelta(minutes=1))
    return staff


def with_milestone(customer: Customer, milestone: DealMilestone, deal_id: uuid.UUID | None = None) -> uuid.UUID:
    deal_id = deal_id or uuid.uuid4()
    customer.reach_deal_milestone(deal_id=deal_id, milestone=milestone, actor=consultant())
    return deal_id


# --- checks ------------------------------------------------------------------------------------


def last_event(aggregate: Any, event_class: type[RecordedEvent]) -> Any:
    """The aggregate's newest pending event, which must be of ``event_class``."""
    event = aggregate.pending_events[-1]
    assert type(event) is event_class, f"expected {event_class.__qualname__}, got {type(event).__qualname__}"
    assert event.originator_id == aggregate.id
    assert event.originator_version == aggregate.version
    return event


def assert_stamped(event: RecordedEvent, by: Actor, occurred_at: datetime) -> None:
    """The event says who acted, in which role, for whom, in which request, and when."""
    assert event.actor_id == by.id
    assert event.actor_role == by.role.value
    assert event.on_behalf_of == by.on_behalf_of
    assert event.correlation_id == by.correlation_id
    assert event.occurred_at == occurred_at


def recorded(aggregate: Any, event_class: type[RecordedEvent], by: Actor, occurred_at: datetime) -> Any:
    event = last_event(aggregate, event_class)
    assert_stamped(event, by, occurred_at)
    return event


@contextmanager
def refused(aggregate: Any, error: type[DomainError], code: str) -> Iterator[pytest.ExceptionInfo[Any]]:
    """The block raises ``error`` with the stable ``code`` and leaves the aggregate as it was."""
    version = aggregate.version
    pending = len(aggregate.pending_events)
    last_occurred_at = aggregate.last_occurred_at
    with pytest.raises(error) as excinfo:
        yield excinfo
    assert excinfo.value.code == code
    assert aggregate.version == version
    assert len(aggregate.pending_events) == pending
    assert aggregate.last_occurred_at == last_occurred_at


@contextmanager
def refused_creation(error: type[DomainError], code: str) -> Iterator[pytest.ExceptionInfo[Any]]:
    """The block raises ``error`` with the stable ``code`` (no aggregate comes into being)."""
    with pytest.raises(error) as excinfo:
        yield excinfo
    assert excinfo.value.code == code
