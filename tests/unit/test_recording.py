"""Who, when and why on every event, and the rules of business time (``occurred_at``)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.customer import Customer
from domain.deal import Deal
from domain.errors import InvalidValue, OccurredBeforePrevious, OccurredInFuture
from domain.identity import SYSTEM_ACTOR_ID, Actor, Role
from domain.listing import Listing
from domain.recording import (
    METADATA_FIELDS,
    RecordedEvent,
    business_time,
    metadata,
    require_choice,
    require_name,
    require_range,
    require_text,
)
from domain.rules import MAX_FUTURE_SKEW
from domain.staff import StaffMember
from tests.unit.builders import (
    actor,
    ago,
    consultant,
    deal_in,
    listed_listing,
    manager,
    received_customer,
    recorded,
    refused,
    refused_creation,
    registered_staff,
)

# --- metadata ----------------------------------------------------------------------------------


def test_every_event_carries_who_acted_in_which_role_for_whom_and_in_which_request() -> None:
    principal = uuid.uuid4()
    by = Actor(id=uuid.uuid4(), role=Role.CUSTOMER_MANAGER, on_behalf_of=principal, correlation_id="req-7")
    customer = received_customer()

    customer.raise_request(subject="资料", actor=by)

    event = customer.pending_events[-1]
    assert (event.actor_id, event.actor_role, event.on_behalf_of, event.correlation_id) == (
        by.id,
        "customer_manager",
        principal,
        "req-7",
    )


def test_an_actor_gets_a_fresh_correlation_id_unless_given_one() -> None:
    first, second = consultant(), consultant()
    assert first.correlation_id and second.correlation_id
    assert first.correlation_id != second.correlation_id
    assert Actor.system("req-9").correlation_id == "req-9"


def test_the_system_actor_is_stamped_with_the_nil_id_and_the_system_role() -> None:
    system = Actor.system()
    staff = StaffMember.register(name="王建国", role="sales_manager", team="浦东一组", actor=system)
    event = staff.pending_events[-1]
    assert event.actor_id == SYSTEM_ACTOR_ID == uuid.UUID(int=0)
    assert event.actor_role == "system"
    assert event.on_behalf_of is None


def test_metadata_is_part_of_the_event_state_so_the_chain_and_encryption_cover_it() -> None:
    for aggregate in (received_customer(), listed_listing(), deal_in("drafted"), registered_staff()):
        event = aggregate.pending_events[0]
        fields = {f.name for f in dataclasses.fields(event)}
        assert set(METADATA_FIELDS) <= fields
        assert isinstance(event, RecordedEvent)


def test_an_events_payload_leaves_out_the_library_fields_and_the_metadata() -> None:
    deal = deal_in("signed")
    deal.cancel(reason="客户放弃", actor=consultant())
    event = deal.pending_events[-1]
    assert event.payload() == {"reason": "客户放弃"}


def test_an_events_name_is_its_class_path_inside_the_aggregate() -> None:
    assert Customer.ShowingScheduled.event_name() == "Customer.ShowingScheduled"
    assert Deal.FundsSettled.event_name() == "Deal.FundsSettled"


def test_the_metadata_helper_uses_the_role_value_and_the_given_time() -> None:
    by = manager(on_behalf_of=uuid.uuid4(), correlation_id="c-1")
    when = ago(minutes=3)
    assert metadata(by, when) == {
        "actor_id": by.id,
        "actor_role": "sales_manager",
        "on_behalf_of": by.on_behalf_of,
        "correlation_id": "c-1",
        "occurred_at": when,
    }


# --- business time ------------------------------------------------------------------------------


def test_business_time_defaults_to_now() -> None:
    before = datetime.now(UTC)
    staff = StaffMember.register(name="王建国", role="archivist", team="浦东一组", actor=Actor.system())
    after = datetime.now(UTC)

    assert before <= staff.pending_events[-1].occurred_at <= after
    assert staff.last_occurred_at == staff.pending_events[-1].occurred_at


def test_a_later_event_defaults_to_now_too() -> None:
    listing = listed_listing()
    before = datetime.now(UTC)
    listing.change_price(new_price=3_000_000, reason="调整", actor=consultant())
    after = datetime.now(UTC)
    assert before <= listing.pending_events[-1].occurred_at <= after


def test_an_interaction_can_be_logged_after_the_fact() -> None:
    last_week = ago(days=7)
    listing = listed_listing(at=last_week)
    by = consultant()

    listing.change_price(new_price=3_000_000, reason="上周谈妥", actor=by, occurred_at=last_week + timedelta(days=1))

    recorded(listing, Listing.PriceChanged, by, last_week + timedelta(days=1))
    assert listing.price_history[0]["at"] == last_week
    assert listing.last_occurred_at == last_week + timedelta(days=1)
    # The library's own recorded time stays the real time of recording.
    assert listing.pending_events[-1].timestamp > last_week + timedelta(days=6)


def test_business_time_may_run_a_little_ahead_of_the_clock() -> None:
    soon = ago(minutes=-4)
    staff = StaffMember.register(
        name="王建国", role="archivist", team="浦东一组", actor=Actor.system(), occurred_at=soon
    )
    assert staff.pending_events[-1].occurred_at == soon


def test_an_event_more_than_five_minutes_in_the_future_is_refused() -> None:
    listing = listed_listing()
    with refused(listing, OccurredInFuture, "occurred_in_future") as excinfo:
        listing.change_price(new_price=3_000_000, reason="调整", actor=consultant(), occurred_at=ago(minutes=-6))
    assert excinfo.value.context == {"limit_minutes": 5}
    assert MAX_FUTURE_SKEW == timedelta(minutes=5)


def test_a_new_record_cannot_start_in_the_future_either() -> None:
    with refused_creation(OccurredInFuture, "occurred_in_future"):
        StaffMember.register(
            name="王建国", role="archivist", team="浦东一组", actor=Actor.system(), occurred_at=ago(days=-1)
        )


def test_an_event_earlier_than_the_records_previous_event_is_refused() -> None:
    listing = listed_listing(at=ago(days=2))
    listing.change_price(new_price=3_000_000, reason="调整", actor=consultant(), occurred_at=ago(days=1))
    previous = listing.last_occurred_at

    with refused(listing, OccurredBeforePrevious, "occurred_before_previous_event") as excinfo:
        listing.withdraw(reason="撤回", actor=consultant(), occurred_at=previous - timedelta(seconds=1))

    assert excinfo.value.context == {"previous": previous.isoformat()}
    assert listing.status == "available"


def test_an_event_at_the_same_instant_as_the_previous_one_is_accepted() -> None:
    listing = listed_listing(at=ago(days=2))
    same = listing.last_occurred_at
    listing.withdraw(reason="撤回", actor=consultant(), occurred_at=same)
    assert listing.pending_events[-1].occurred_at == same


def test_a_default_time_never_falls_before_an_event_stamped_slightly_ahead() -> None:
    listing = listed_listing(at=ago(minutes=-4))  # four minutes ahead of the clock: tolerated
    ahead = listing.last_occurred_at

    listing.change_price(new_price=3_000_000, reason="调整", actor=consultant())

    assert listing.pending_events[-1].occurred_at == ahead


@pytest.mark.parametrize("on_create", [True, False], ids=["creating", "updating"])
def test_a_business_time_without_a_time_zone_is_refused(on_create: bool) -> None:
    naive = datetime.now()  # noqa: DTZ005 - the point of the test
    if on_create:
        with refused_creation(InvalidValue, "invalid_value") as excinfo:
            StaffMember.register(
                name="王建国", role="archivist", team="浦东一组", actor=Actor.system(), occurred_at=naive
            )
    else:
        staff = registered_staff()
        with refused(staff, InvalidValue, "invalid_value") as excinfo:
            staff.complete_training(course="课程", score=80, actor=manager(), occurred_at=naive)
    assert excinfo.value.context == {"field": "occurred_at"}


def test_a_business_time_in_another_zone_is_stored_as_the_same_instant_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    local = ago(hours=1).astimezone(shanghai)
    staff = StaffMember.register(
        name="王建国", role="archivist", team="浦东一组", actor=Actor.system(), occurred_at=local
    )
    stored = staff.pending_events[-1].occurred_at
    assert stored == local
    assert stored.utcoffset() == timedelta(0)


def test_refused_times_leave_the_record_untouched_and_usable() -> None:
    customer = received_customer()
    by = actor(Role.CUSTOMER_SERVICE)
    with refused(customer, OccurredInFuture, "occurred_in_future"):
        customer.raise_request(subject="资料", actor=by, occurred_at=ago(hours=-1))
    with refused(customer, OccurredBeforePrevious, "occurred_before_previous_event"):
        customer.raise_request(subject="资料", actor=by, occurred_at=ago(days=365))
    customer.raise_request(subject="资料", actor=by)
    assert len(customer.requests) == 1


# --- the time rule in isolation -------------------------------------------------------------------


def test_business_time_checks_against_the_given_previous_time() -> None:
    previous = ago(hours=1)
    assert business_time(previous + timedelta(minutes=1), previous) == previous + timedelta(minutes=1)
    with pytest.raises(OccurredBeforePrevious):
        business_time(previous - timedelta(microseconds=1), previous)
    with pytest.raises(OccurredInFuture):
        business_time(ago(minutes=-10), None)
    with pytest.raises(InvalidValue):
        business_time(datetime(2024, 1, 1), None)  # noqa: DTZ001 - naive on purpose


def test_business_time_without_a_given_time_is_now_or_the_previous_time_if_later() -> None:
    before = datetime.now(UTC)
    assert before <= business_time(None, None) <= datetime.now(UTC)
    ahead = ago(minutes=-3)
    assert business_time(None, ahead) == ahead
    assert business_time(None, ago(days=1)) >= before


# --- small validation helpers ---------------------------------------------------------------------


def test_text_is_stripped_and_must_be_neither_blank_nor_too_long() -> None:
    assert require_text("note", "  ok  ") == "ok"
    assert require_text("note", "x" * 10, max_length=10) == "x" * 10
    for bad in ("", "   ", "x" * 11, None, 5):
        with pytest.raises(InvalidValue) as excinfo:
            require_text("note", bad, max_length=10)  # type: ignore[arg-type]
        assert excinfo.value.code == "invalid_value"
        assert excinfo.value.context == {"field": "note"}


def test_a_choice_must_be_one_of_the_allowed_values() -> None:
    assert require_choice("role", "archivist", Role) == "archivist"
    assert require_choice("dim", "a", frozenset({"a", "b"})) == "a"
    with pytest.raises(InvalidValue, match="must be one of a, b"):
        require_choice("dim", "c", frozenset({"b", "a"}))


@pytest.mark.parametrize("value", [True, "3", None, 0.5, 11, float("nan")])
def test_a_range_accepts_only_numbers_within_it(value: object) -> None:
    require_range("x", 1, 1, 10)
    require_range("x", 10.0, 1, 10)
    with pytest.raises(InvalidValue) as excinfo:
        require_range("x", value, 1, 10)  # type: ignore[arg-type]
    assert excinfo.value.code == "invalid_value"


def test_error_messages_carry_ids_and_fields_but_never_the_refused_value() -> None:
    customer = received_customer()
    with pytest.raises(InvalidValue) as excinfo:
        customer.record_personal_details(name="李明", phone="99999999999", id_number=None, actor=consultant())
    assert "99999999999" not in str(excinfo.value)
    assert "99999999999" not in repr(excinfo.value.context)
    assert str(excinfo.value) == excinfo.value.message


@pytest.mark.parametrize("text", ["张\x00三", "line\x1bbreak", "del\x7f"])
def test_text_with_control_characters_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        require_text("subject", text)
    assert "control characters" in str(refused.value)


def test_text_keeps_newlines_and_tabs_and_sql_looking_words_as_plain_data() -> None:
    assert require_text("description", "第一行\n第二行\t'; DROP TABLE realty_events; --") .startswith("第一行")


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "张{三}", "王>五"])
def test_a_name_with_markup_characters_is_refused(name: str) -> None:
    with pytest.raises(InvalidValue):
        require_name("name", name)
    assert require_name("name", " 欧阳 娜娜 ") == "欧阳 娜娜"
