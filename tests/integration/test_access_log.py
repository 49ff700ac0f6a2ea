"""Full reads of personal data are on the record: who read whose, when, for what."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from domain.access_log import access_log_id
from service.application import RealtyLedger
from service.settings import load_settings
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


def test_one_readers_parallel_full_reads_through_two_processes_are_all_recorded(
        app: RealtyLedger, team: Team, database_url: str, tmp_path: Path) -> None:
    """A reader's reads all append to one log of the day: sixteen at once, half through another
    process (its own ledger on the same store), all land — none is refused as a lost race."""
    customer = receive(app, team)
    other = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys"))
    try:
        start = threading.Barrier(16)

        def read(n: int) -> str:
            start.wait()
            ledger = app if n % 2 else other
            return ledger.record_personal_data_read(team.manager, customer, subject_kind="customer",
                                                    purpose=f"read {n}").id

        with ThreadPoolExecutor(16) as pool:
            logs = set(pool.map(read, range(16)))
    finally:
        other.close()
    log_id = access_log_id(uuid.UUID(team.id(team.manager)), datetime.now(UTC).date())
    assert logs == {str(log_id)}
    assert sorted(r["purpose"] for r in app.state(log_id)["reads"]) == sorted(f"read {n}" for n in range(16))
