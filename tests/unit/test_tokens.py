"""API tokens: 256 random bits shown once, recorded as a hash, revocable, dead with their holder."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import (
    CallerChanged,
    InvalidValue,
    NotPermitted,
    StaffDeactivated,
    TokenAlreadyRevoked,
    TokenNotFound,
    Unauthenticated,
)
from domain.identity import Role
from domain.staff import StaffMember
from service.tokens import MalformedToken, hash_secret, new_token, parse_token
from tests.unit.builders import actor, assert_stamped, deactivated_staff, last_event, refused, registered_staff


def issued(staff: StaffMember, by=None) -> tuple[uuid.UUID, str]:  # type: ignore[no-untyped-def]
    token, token_id, secret_hash = new_token(staff.id)
    staff.issue_token(token_id=token_id, secret_hash=secret_hash, label="前台电脑",
                      actor=by or actor(Role.ADMINISTRATOR))
    return token_id, token


def test_a_token_carries_its_ids_and_256_random_bits_and_is_recorded_only_as_a_hash() -> None:
    staff = registered_staff()
    by = actor(Role.ADMINISTRATOR)
    token_id, token = issued(staff, by)
    parsed = parse_token(token)
    assert (parsed.staff_id, parsed.token_id) == (staff.id, token_id)
    secret = token.split("_", 3)[3]
    assert len(secret) == 43  # 32 bytes, URL-safe base64 without padding
    event = last_event(staff, StaffMember.TokenIssued)
    assert_stamped(event, by, event.occurred_at)
    assert event.label == "前台电脑"
    assert event.secret_hash == hash_secret(secret)
    assert secret not in repr(event.__dict__)
    assert staff.token_matches(token_id, parsed.secret_hash)


def test_two_tokens_never_share_a_secret() -> None:
    staff = registered_staff()
    secrets = {new_token(staff.id)[0].split("_", 3)[3] for _ in range(200)}
    assert len(secrets) == 200


def test_a_wrong_secret_a_revoked_token_and_a_deactivated_holder_do_not_match() -> None:
    staff = registered_staff()
    token_id, token = issued(staff)
    assert not staff.token_matches(token_id, hash_secret("x" * 43))
    assert not staff.token_matches(uuid.uuid4(), parse_token(token).secret_hash)
    staff.revoke_token(token_id=token_id, reason="电脑丢失", actor=actor(Role.ADMINISTRATOR))
    assert not staff.token_matches(token_id, parse_token(token).secret_hash)

    other = registered_staff()
    other_id, other_token = issued(other)
    other.deactivate(reason="离职", actor=actor(Role.ADMINISTRATOR))
    assert not other.token_matches(other_id, parse_token(other_token).secret_hash)


def test_a_staff_record_vouches_only_for_a_live_token_and_the_role_and_team_it_was_checked_with() -> None:
    staff = registered_staff()
    token_id, token = issued(staff)
    secret_hash = parse_token(token).secret_hash
    staff.vouch_for(token_id, secret_hash, role=staff.role, team=staff.team)  # no error: it vouches
    with pytest.raises(Unauthenticated) as forged:
        staff.vouch_for(token_id, hash_secret("x" * 43), role=staff.role, team=staff.team)
    assert forged.value.code == "unauthenticated" and "x" * 43 not in str(forged.value.context)
    with pytest.raises(CallerChanged) as moved:
        staff.vouch_for(token_id, secret_hash, role=staff.role, team="徐汇二组")
    assert moved.value.code == "caller_changed"
    with pytest.raises(CallerChanged):
        staff.vouch_for(token_id, secret_hash, role="sales_manager", team=staff.team)
    staff.revoke_token(token_id=token_id, reason="电脑丢失", actor=actor(Role.ADMINISTRATOR))
    with pytest.raises(Unauthenticated):
        staff.vouch_for(token_id, secret_hash, role=staff.role, team=staff.team)


def test_a_member_may_issue_and_revoke_their_own_tokens_but_not_a_colleagues() -> None:
    staff = registered_staff()
    myself = staff.acting_as("req")
    token_id, _ = issued(staff, myself)
    staff.revoke_token(token_id=token_id, reason="换电脑", actor=myself)
    colleague = registered_staff()
    with refused(colleague, NotPermitted, "not_permitted"):
        issued(colleague, myself)


def test_revoking_an_unknown_or_revoked_token_is_refused() -> None:
    staff = registered_staff()
    with refused(staff, TokenNotFound, "token_not_found"):
        staff.revoke_token(token_id=uuid.uuid4(), reason="x", actor=actor(Role.ADMINISTRATOR))
    token_id, _ = issued(staff)
    staff.revoke_token(token_id=token_id, reason="x", actor=actor(Role.ADMINISTRATOR))
    with refused(staff, TokenAlreadyRevoked, "token_already_revoked"):
        staff.revoke_token(token_id=token_id, reason="x", actor=actor(Role.ADMINISTRATOR))


def test_no_token_for_a_deactivated_member_and_no_malformed_hash() -> None:
    staff = deactivated_staff()
    with refused(staff, StaffDeactivated, "staff_deactivated"):
        issued(staff)
    live = registered_staff()
    with refused(live, InvalidValue, "invalid_value"):
        live.issue_token(token_id=uuid.uuid4(), secret_hash="not-a-digest", label="x",
                         actor=actor(Role.ADMINISTRATOR))


@pytest.mark.parametrize("text", [
    "", "Bearer x", "rlt_", "rlt_zz_zz_" + "a" * 43, "xyz_" + "0" * 32 + "_" + "0" * 32 + "_" + "a" * 43,
    "rlt_" + "0" * 32 + "_" + "0" * 32 + "_short", "rlt_" + "0" * 32 + "_" + "0" * 32 + "_" + "é" * 43,
])
def test_anything_else_is_a_malformed_token(text: str) -> None:
    with pytest.raises(MalformedToken):
        parse_token(text)
