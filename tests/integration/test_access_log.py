"""Full reads of personal data are on the record: who read whose, when, for what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain.access_log import access_log_id
from service.application import RealtyLedger
from tests.conftest import Team
from tests.integration.scenarios import receive


def test_each_full_read_goes_on_the_readers_log_for_the_day(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    for purpose in ("customers.read", "customers.history"):
        app.record_personal_data_read(team.manager, customer, subject_kind="customer", purpose=purpose)
    log_id = access_log_id(uuid.UUID(team.id(team.manager)), datetime.now(UTC).date())
    log = app.state(log_id)
    assert log["kind"] == "access_log"
    assert log["reader"] == team.id(team.manager)
    assert [(r["subject_id"], r["purpose"]) for r in log["reads"]] == [
        (customer, "customers.read"), (customer, "customers.history")]
    history = app.history(log_id)
    assert [e["name"] for e in history] == ["PersonalDataAccessLog.Opened", "PersonalDataAccessLog.PersonalDataRead",
                                            "PersonalDataAccessLog.PersonalDataRead"]
    assert {e["actor_id"] for e in history} == {team.id(team.manager)}


def test_readers_do_not_share_a_log(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    first = app.record_personal_data_read(team.manager, customer, subject_kind="customer", purpose="x")
    second = app.record_personal_data_read(team.service, customer, subject_kind="customer", purpose="x")
    assert first.id != second.id
