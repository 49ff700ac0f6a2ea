"""Bearer tokens against the store: they work until revoked or their holder is deactivated,
everywhere at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team


@pytest.fixture
def other(database_url: str) -> Iterator[RealtyLedger]:
    app = RealtyLedger(load_settings(database_url=database_url))
    try:
        yield app
    finally:
        app.close()


def test_a_token_identifies_its_holder_until_it_is_revoked_elsewhere(
    app: RealtyLedger, other: RealtyLedger, team: Team
) -> None:
    token, issued = app.issue_token(team.admin, team.id(team.consultant), label="前台电脑")
    principal = app.authenticate(token, correlation_id="req-1")
    assert principal is not None
    assert str(principal.staff_id) == team.id(team.consultant)
    assert (principal.role, principal.team) == ("property_consultant", team.name)
    assert principal.acting.correlation_id == "req-1"
    history = app.history(team.id(team.consultant))
    assert history[-1]["name"] == "StaffMember.TokenIssued"
    assert token.split("_", 3)[3] not in str(history)  # only the hash is on the record

    other.revoke_token(team.admin, team.id(team.consultant), token_id=issued.entity_id, reason="电脑丢失")
    assert app.authenticate(token) is None


def test_deactivating_a_member_kills_all_their_tokens_at_once(
    app: RealtyLedger, other: RealtyLedger, team: Team
) -> None:
    first, _ = app.issue_token(team.admin, team.id(team.service), label="a")
    second, _ = app.issue_token(team.service, team.id(team.service), label="b")  # their own
    assert app.authenticate(first) is not None and app.authenticate(second) is not None
    other.deactivate_staff(team.admin, team.id(team.service), reason="离职")
    assert app.authenticate(first) is None
    assert app.authenticate(second) is None


def test_forged_and_foreign_tokens_identify_nobody(app: RealtyLedger, team: Team) -> None:
    token, _ = app.issue_token(team.admin, team.id(team.consultant), label="x")
    prefix, staff_hex, token_hex, secret = token.split("_", 3)  # the secret may contain "_"
    forged_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    other_staff = team.id(team.manager).replace("-", "")
    assert app.authenticate(f"{prefix}_{staff_hex}_{token_hex}_{forged_secret}") is None
    assert app.authenticate(f"{prefix}_{other_staff}_{token_hex}_{secret}") is None  # not their token
    assert app.authenticate("rlt_" + "0" * 32 + "_" + token_hex + "_" + secret) is None  # no such member
    assert app.authenticate("garbage") is None
