"""Token expiry: a token lives a number of days from its issue, judged against the clock on every
check; lifetimes of nothing, of the past or of centuries are refused; tokens issued before expiry
existed (``TokenIssued`` version 1) read back as never expiring."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent, UUIDAsHex

from domain.errors import InvalidValue
from domain.identity import Role
from domain.staff import MAX_TOKEN_LIFETIME, StaffMember
from service.tokens import lifetime_of, new_token, parse_token
from tests.unit.builders import actor, ago, last_event, refused, registered_staff


def issue(staff: StaffMember, lifetime: timedelta | None, at: datetime | None = None) -> tuple[uuid.UUID, str]:
    token, token_id, secret_hash = new_token(staff.id)
    staff.issue_token(token_id=token_id, secret_hash=secret_hash, label="前台电脑", lifetime=lifetime,
                      actor=actor(Role.ADMINISTRATOR), occurred_at=at)
    return token_id, parse_token(token).secret_hash


def test_a_token_expires_its_lifetime_after_it_was_issued() -> None:
    staff = registered_staff()
    issued_at = ago(days=2)
    token_id, secret_hash = issue(staff, timedelta(days=3), issued_at)
    event = last_event(staff, StaffMember.TokenIssued)
    assert event.expires_at == issued_at + timedelta(days=3)
    assert staff.token_matches(token_id, secret_hash)
    assert staff.token_matches(token_id, secret_hash, at=event.expires_at - timedelta(microseconds=1))
    assert not staff.token_matches(token_id, secret_hash, at=event.expires_at)
    assert not staff.token_matches(token_id, secret_hash, at=event.expires_at + timedelta(days=400))


def test_a_token_without_a_lifetime_never_expires() -> None:
    staff = registered_staff()
    token_id, secret_hash = issue(staff, None)
    assert last_event(staff, StaffMember.TokenIssued).expires_at is None
    assert staff.token_matches(token_id, secret_hash, at=datetime(9999, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("lifetime", [
    pytest.param(timedelta(0), id="nothing"),
    pytest.param(timedelta(days=-1), id="negative"),
    pytest.param(MAX_TOKEN_LIFETIME + timedelta(seconds=1), id="over-ten-years"),
    pytest.param(timedelta.max, id="the-largest-timedelta"),
])
def test_a_lifetime_of_nothing_or_of_centuries_is_refused(lifetime: timedelta) -> None:
    staff = registered_staff()
    with refused(staff, InvalidValue, "invalid_value") as error:
        issue(staff, lifetime)
    assert error.value.context == {"field": "lifetime"}


def test_a_token_back_dated_past_its_own_expiry_is_refused() -> None:
    staff = registered_staff()
    with refused(staff, InvalidValue, "invalid_value"):
        issue(staff, timedelta(days=1), ago(days=2))


def test_the_longest_lifetime_is_accepted() -> None:
    staff = registered_staff()
    issue(staff, MAX_TOKEN_LIFETIME)
    event = last_event(staff, StaffMember.TokenIssued)
    assert event.expires_at == event.occurred_at + MAX_TOKEN_LIFETIME


def test_days_become_a_lifetime_and_zero_means_never() -> None:
    assert lifetime_of(0) is None
    assert lifetime_of(90) == timedelta(days=90)
    assert lifetime_of(-3) == timedelta(days=-3)  # passed on: the domain refuses it
    assert lifetime_of(10**100) == timedelta(days=timedelta.max.days)  # no OverflowError
    assert lifetime_of(-(10**100)) == timedelta(days=-timedelta.max.days)


def test_a_token_issued_before_tokens_expired_reads_back_as_never_expiring() -> None:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    mapper: Mapper[uuid.UUID] = Mapper(transcoder=transcoder)
    staff_id, token_id, issued_at = uuid.uuid4(), uuid.uuid4(), datetime(2026, 3, 1, 9, tzinfo=UTC)
    # A row as version-1 code wrote it: no class_version, no expires_at.
    old_state = transcoder.encode({
        "timestamp": issued_at, "originator_topic": StaffMember.TOPIC,
        "actor_id": uuid.uuid4(), "actor_role": "administrator", "on_behalf_of": None, "correlation_id": "c-1",
        "occurred_at": issued_at, "token_id": token_id, "secret_hash": "ab" * 32, "label": "前台电脑",
    })
    stored = StoredEvent(originator_id=staff_id, originator_version=2, topic=StaffMember.TokenIssued.TOPIC,
                         state=old_state)
    event = mapper.to_domain_event(stored)
    assert type(event) is StaffMember.TokenIssued
    assert event.expires_at is None
    staff = registered_staff()
    event.apply(staff)
    assert staff.token_matches(token_id, "ab" * 32, at=datetime(9999, 1, 1, tzinfo=UTC))


def test_new_token_events_are_stored_at_version_2() -> None:
    staff = registered_staff()
    issue(staff, timedelta(days=30))
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    stored = Mapper(transcoder=transcoder).to_stored_event(last_event(staff, StaffMember.TokenIssued))
    state = transcoder.decode(stored.state)
    assert state["class_version"] == 2 and state["expires_at"] is not None
