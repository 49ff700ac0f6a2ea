"""Erasure requests (PIPL Art. 47) on SQLite and PostgreSQL: shredded at once when no retention
period runs; restricted (commands refused, personal data hidden from everyone) while one runs, and
shredded by the automations when it ends; after shredding every personal field reads as erased, the
log still verifies, and the database holds nothing that could bring the plaintext back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive.aead import CiphertextInvalid, open_sealed
from archive.sql import Database
from domain.errors import CustomerRestricted, ErasureAlreadyRequested, InvalidValue, NotFound, NotPermitted
from domain.personal_data import ERASED, RESTRICTED
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.integration.scenarios import ACCOUNT, execute, list_flat, match, receive, sign

NAME, PHONE, ID_NUMBER = "赵雅琴", "13800138000", "11010519491231002X"  # as scenarios.match records them


@pytest.fixture
def own(own_database_url: str, tmp_path: Path) -> Iterator[tuple[RealtyLedger, Team]]:
    """A ledger on a database of its own: these tests verify the whole log and its checkpoints."""
    ledger = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys"))
    try:
        yield ledger, register_team(ledger)
    finally:
        ledger.close()


def personal(app: RealtyLedger, customer_id: str) -> dict[str, object]:
    state = app.state(customer_id)
    return {k: state.get(k) for k in ("name", "phone", "id_number")}


def key_rows(app: RealtyLedger, subject: str) -> list[tuple[str, str, object]]:
    db = Database(app.recorder.datastore)
    return [(k, p, w) for k, p, w in db.query(
        f"SELECT key_id, purpose, wrapped FROM {db.table('realty_data_keys')} WHERE subject_id = ?", (subject,))]


def test_a_customer_with_no_retention_running_is_shredded_at_once(own: tuple[RealtyLedger, Team]) -> None:
    app, team = own
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=ID_NUMBER)
    app.raise_request(team.consultant, customer, subject="请把户型图发给赵雅琴 13800138000")
    other = receive(app, team)
    app.record_personal_details(team.consultant, other, name="钱多多", phone="13900139000")
    before = app.audit.verify()
    assert before.clean

    answer = app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

    assert answer["status"] == "erased" and answer["retention_until"] is None
    assert len(answer["destroyed_keys"]) == 1  # the customer's record key
    assert personal(app, customer) == {"name": ERASED, "phone": ERASED, "id_number": ERASED}
    history = app.history(customer)
    assert any(e["data"].get("subject") == ERASED for e in history)
    assert NAME not in repr(history) and PHONE not in repr(history)
    assert personal(app, other) == {"name": "钱多多", "phone": "13900139000", "id_number": None}
    assert all(w is None for _, _, w in key_rows(app, customer))
    assert app.audit.verify().clean  # nothing in the log changed
    topics = [e["event"] for e in history][-2:]
    assert topics == ["realty.customer.erasure_requested", "realty.customer.personal_data_erased"]


def test_after_shredding_even_the_master_key_cannot_open_the_personal_fields(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=ID_NUMBER)
    db = Database(app.recorder.datastore)
    table = db.table("realty_data_keys")
    (wrapped_before,) = db.query(f"SELECT wrapped FROM {table} WHERE subject_id = ?", (customer,))[0]
    app.request_erasure(team.compliance, customer, legal_basis="purpose_achieved")
    (wrapped_after,) = db.query(f"SELECT wrapped FROM {table} WHERE subject_id = ?", (customer,))[0]
    assert wrapped_before is not None and wrapped_after is None
    # Every live wrapped key in the store, opened with the master key, fails on the customer's fields.
    masters = app.data_keys.masters
    live = db.query(f"SELECT key_id, master_version, wrapped FROM {table} WHERE wrapped IS NOT NULL")
    assert live and all(bytes(w) != bytes(wrapped_before) for _, _, w in live)
    with pytest.raises(CiphertextInvalid):
        open_sealed(masters.key(1), bytes(wrapped_before)[:-1] + b"\x00", b"")


def test_an_open_deal_restricts_the_customer_until_it_closes_and_its_period_ends(app: RealtyLedger,
                                                                                    team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    match(app, team, customer, listing)
    deal = sign(app, team, customer, listing)

    answer = app.request_erasure(team.compliance, customer, legal_basis="service_ended")

    assert answer["status"] == "restricted" and answer["retention_until"] is None
    assert personal(app, customer) == {"name": RESTRICTED, "phone": RESTRICTED, "id_number": RESTRICTED}
    with pytest.raises(CustomerRestricted):
        app.raise_request(team.consultant, customer, subject="还想再看一套")
    with pytest.raises(CustomerRestricted):  # the deal cannot move the customer on either
        execute(app, team, deal)
    # (Other tests' customers in the shared store may fall due by then: only this one is judged.)
    assert customer not in app.carry_out_due_erasures(team.compliance, datetime.now(UTC) + timedelta(days=365 * 50))
    assert all(w is not None for _, _, w in key_rows(app, customer))  # kept: storage goes on


def test_a_closed_deal_keeps_the_customer_restricted_for_five_years_then_the_automations_shred(
        own: tuple[RealtyLedger, Team]) -> None:
    app, team = own
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    match(app, team, customer, listing)
    deal = sign(app, team, customer, listing)
    closed = execute(app, team, deal)
    assert app.state(deal)["payments"][0]["payer_account"] == ACCOUNT

    answer = app.request_erasure(team.compliance, customer, legal_basis="purpose_achieved")

    until = answer["retention_until"]
    assert answer["status"] == "restricted" and until is not None
    closed_at = datetime.fromisoformat(app.state(deal)["last_occurred_at"])
    assert closed_at.replace(year=closed_at.year + 5) == until and closed.position
    assert app.state(deal)["payments"][0]["payer_account"] == RESTRICTED
    assert app.carry_out_due_erasures(team.compliance, until - timedelta(seconds=1)) == []
    assert personal(app, customer)["name"] == RESTRICTED

    report = app.automations.run_once(until)

    assert report.erasures == 1
    assert personal(app, customer) == {"name": ERASED, "phone": ERASED, "id_number": ERASED}
    assert app.state(deal)["payments"][0]["payer_account"] == ERASED
    assert app.automations.run_once(until + timedelta(days=1)).erasures == 0  # once
    assert app.audit.verify().clean


def test_erasure_is_recorded_only_by_compliance_and_only_once(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    with pytest.raises(NotPermitted):
        app.request_erasure(team.manager, customer, legal_basis="consent_withdrawn")
    assert personal(app, customer)["name"] is None and app.state(customer).get("erasure_requested_at") is None
    listing = list_flat(app, team.consultant)
    match(app, team, customer, listing)
    sign(app, team, customer, listing)
    app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")
    with pytest.raises(ErasureAlreadyRequested):
        app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")


def test_bad_erasure_requests_change_nothing(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE)
    version = app.state(customer)["version"]
    with pytest.raises(NotFound):
        app.request_erasure(team.compliance, str(uuid.uuid4()), legal_basis="consent_withdrawn")
    with pytest.raises(InvalidValue):
        app.request_erasure(team.compliance, customer, legal_basis="because")
    state = app.state(customer)
    assert state["version"] == version and state["name"] == NAME  # not restricted, not erased


def test_an_erased_customer_reads_as_erased_in_the_feed_and_in_a_sealed_export(app: RealtyLedger, team: Team,
                                                                                tmp_path: object) -> None:
    from pathlib import Path

    from service.event_feed import read_events

    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=ID_NUMBER)
    app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

    feed, after = [], 0
    while page := read_events(app, after, 1000):
        feed += [e for e in page if e["record_id"] == customer]
        after = page[-1]["position"]
    details = [e for e in feed if e["event"] == "realty.customer.personal_details_recorded"]
    assert details and details[0]["data"]["name"] == ERASED and details[0]["data"]["phone"] == ERASED
    out = Path(str(tmp_path)) / "erased"
    app.export_package(team.archivist, customer_id=customer, out=out, fmt="dir")
    events = (out / "data" / "events.jsonl").read_text(encoding="utf-8")
    assert ERASED in events and NAME not in events and PHONE not in events and ID_NUMBER not in events


def test_a_legal_hold_on_a_customers_file_turns_an_erasure_into_a_restriction(app: RealtyLedger, team: Team) -> None:
    from tests.unit.test_content_types import minimal_png

    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE)
    file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                    record_class="customer_file").id
    app.upload_document(team.consultant, file_id, content=minimal_png(), kind="id_copy")
    hold = app.file_command(team.compliance, file_id, "place_hold", reason="法院调查令").entity_id

    answer = app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

    assert answer["status"] == "restricted" and answer["retention_until"] is None
    assert all(w is not None for _, _, w in key_rows(app, customer))  # nothing destroyed under a hold
    assert app.carry_out_due_erasures(team.compliance, datetime.now(UTC) + timedelta(days=1)) == []
    app.file_command(team.compliance, file_id, "release_hold", hold_id=hold, reason="调查结束")
    assert app.carry_out_due_erasures(team.compliance, datetime.now(UTC)) == [customer]
    assert personal(app, customer)["name"] == ERASED


def test_a_restricted_customers_deal_records_nothing_more(app: RealtyLedger, team: Team) -> None:
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    match(app, team, customer, listing)
    deal = sign(app, team, customer, listing)
    app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")
    version = app.state(deal)["version"]
    with pytest.raises(CustomerRestricted):
        app.record_payment(team.consultant, deal, kind="deposit", amount=50_000, payer_account=ACCOUNT)
    assert app.state(deal)["version"] == version


def test_a_retention_schedule_that_cannot_be_read_stops_the_start(database_url: str, tmp_path: Path) -> None:
    from service.settings import SettingsError

    bad = tmp_path / "retention.toml"
    bad.write_text('[classes.deal_file]\nperiod = "-5y"\nstarts_at = "closing"\n', encoding="utf-8")
    for policy, says in ((tmp_path / "missing.toml", "cannot be read"), (bad, "deal_file")):
        with pytest.raises(SettingsError) as caught:
            RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys",
                                       retention_policy=policy))
        assert str(caught.value).startswith("REALTY_RETENTION_POLICY: ") and says in str(caught.value)
