"""Service files (服务档案, manual ch. 7) through the application, on SQLite and PostgreSQL: the
archiving flow, updates under a reason, recorded reads, legal holds, the two-person disposition
that destroys documents and keys, and what is refused before anything is recorded.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archive.content_types import DocumentTooLarge, UnsupportedDocumentType
from domain.errors import (
    CustomerRestricted,
    DomainError,
    InvalidServiceFileTransition,
    InvalidValue,
    LegalHoldActive,
    NotFound,
    RetentionNotEnded,
    SamePersonDisposition,
    ServiceFileDisposed,
)
from domain.personal_data import ERASED
from domain.rules import ARCHIVE_TIME_ZONE
from service.application import Acting, RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.integration.scenarios import list_flat, receive, sign
from tests.unit.test_content_types import minimal_pdf, minimal_png

# Distinct, real documents (the trailing comment keeps a PDF a PDF).
CONTRACT = minimal_pdf() + b"% brokerage service contract\n"
CONTRACT_V2 = minimal_pdf() + b"% brokerage service contract, corrected page 3\n"
ID_COPY = minimal_png()
RECEIPT = minimal_pdf() + b"% receipt\n"
NAME, PHONE = "赵雅琴", "13800138000"

# Everything as in the packaged schedule, except a lost customer's file: kept one day.
SHORT_POLICY = """
[classes.deal_file]
period = "5y"
starts_at = "closing"
[classes.customer_file]
period = "1d"
starts_at = "last_contact"
[classes.complaint_record]
period = "3y"
starts_at = "resolution"
"""


def ledger(database_url: str, tmp_path: Path, **settings: Any) -> RealtyLedger:
    return RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys", **settings))


@pytest.fixture
def short_app(database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    policy = tmp_path / "retention.toml"
    policy.write_text(SHORT_POLICY, encoding="utf-8")
    app = ledger(database_url, tmp_path, retention_policy=policy)
    try:
        yield app
    finally:
        app.close()


def expect(code: str, call: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as excinfo:
        call(*args, **kwargs)
    assert excinfo.value.code == code, excinfo.value
    return excinfo.value


def deal_file(app: RealtyLedger, team: Team) -> tuple[str, str]:
    """A signed deal's file, opened by the consultant: (file id, customer id)."""
    customer = receive(app, team)
    deal = sign(app, team, customer, list_flat(app, team.consultant))
    opened = app.open_service_file(team.consultant, owner_kind="deal", owner_id=deal, record_class="deal_file")
    assert opened.id == app.service_file_for("deal", deal, "deal_file")
    return opened.id, customer


def lost_customer_with_a_file(app: RealtyLedger, team: Team) -> tuple[str, str, str]:
    """A customer received 10 days ago and lost 9 days ago, whose file holds their ID copy:
    (customer id, file id, document id)."""
    started = datetime.now(UTC) - timedelta(days=10)
    customer = app.receive_customer(team.consultant, channel="walk_in", reception_started_at=started,
                                    reception_ended_at=started + timedelta(minutes=20)).id
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE,
                                occurred_at=started + timedelta(minutes=25))
    app.mark_customer_lost(team.consultant, customer, reason="price", occurred_at=started + timedelta(days=1))
    file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                    record_class="customer_file").id
    document = app.upload_document(team.consultant, file_id, content=ID_COPY, kind="id_copy").entity_id
    assert document is not None
    return customer, file_id, document


def test_a_deal_file_is_collected_checked_filed_and_sealed(app: RealtyLedger, team: Team) -> None:
    file_id, customer = deal_file(app, team)
    for content, kind in ((CONTRACT, "contract"), (ID_COPY, "id_copy")):
        app.upload_document(team.consultant, file_id, content=content, kind=kind)
    app.file_command(team.archivist, file_id, "check_completeness")
    assert app.state(file_id)["missing"] == ["receipt"]
    expect("service_file_incomplete", app.file_command, team.archivist, file_id, "file")

    app.upload_document(team.consultant, file_id, content=RECEIPT, kind="receipt")
    expect("completeness_not_checked", app.file_command, team.archivist, file_id, "file")
    app.file_command(team.archivist, file_id, "check_completeness")
    number = app.file_command(team.archivist, file_id, "file").entity_id
    app.file_command(team.archivist, file_id, "seal")

    state = app.state(file_id)
    year = datetime.now(UTC).astimezone(ARCHIVE_TIME_ZONE).year
    assert number == state["archive_number"]
    assert re.fullmatch(rf"DF-{year}-{uuid.UUID(file_id).hex[:12].upper()}", number or "")
    assert state["status"] == "sealed" and state["complete"] and state["subject_id"] == customer
    kinds = {versions[0]["kind"]: versions[0]["media_type"] for versions in state["documents"].values()}
    assert kinds == {"contract": "application/pdf", "id_copy": "image/png", "receipt": "application/pdf"}
    # A front-line role cannot do the archivist's work.
    expect("not_permitted", app.file_command, team.consultant, file_id, "seal")


def test_an_update_needs_a_reopening_and_a_reason_and_keeps_the_earlier_version(app: RealtyLedger,
                                                                                team: Team) -> None:
    file_id, _ = deal_file(app, team)
    contract = app.upload_document(team.consultant, file_id, content=CONTRACT, kind="contract").entity_id
    app.upload_document(team.consultant, file_id, content=ID_COPY, kind="id_copy")
    app.upload_document(team.consultant, file_id, content=RECEIPT, kind="receipt")
    for action in ("check_completeness", "file", "seal"):
        app.file_command(team.archivist, file_id, action)
    version = app.state(file_id)["version"]

    with pytest.raises(InvalidServiceFileTransition):
        app.upload_document(team.consultant, file_id, content=CONTRACT_V2, document_id=contract, reason="第三页更正")
    assert app.state(file_id)["version"] == version
    with pytest.raises(InvalidValue):
        app.file_command(team.archivist, file_id, "reopen", reason=" ")

    app.file_command(team.archivist, file_id, "reopen", reason="客户补签第三页")
    with pytest.raises(InvalidValue):  # a new version says why
        app.upload_document(team.consultant, file_id, content=CONTRACT_V2, document_id=contract, reason="")
    app.upload_document(team.consultant, file_id, content=CONTRACT_V2, document_id=contract, reason="第三页更正")

    latest, content = app.read_document(team.archivist, file_id, contract or "", purpose="归档复核")
    first, old = app.read_document(team.archivist, file_id, contract or "", purpose="比对旧版", version=1)
    assert (latest["version"], content) == (2, CONTRACT_V2)
    assert (first["version"], old) == (1, CONTRACT)
    assert latest["change_reason"] == "第三页更正" and first["change_reason"] is None
    # Reopened, the file is checked, filed under its first number, and sealed again.
    number = app.state(file_id)["archive_number"]
    for action in ("check_completeness", "file", "seal"):
        app.file_command(team.archivist, file_id, action)
    assert app.state(file_id)["archive_number"] == number


def test_every_read_is_recorded_with_who_and_why_before_the_bytes_go_out(app: RealtyLedger, team: Team) -> None:
    file_id, _ = deal_file(app, team)
    contract = app.upload_document(team.consultant, file_id, content=CONTRACT, kind="contract").entity_id or ""
    facts, content = app.read_document(team.compliance, file_id, contract, purpose="合规抽查")
    assert content == CONTRACT and facts["sha256"] == hashlib.sha256(CONTRACT).hexdigest()
    read = app.history(file_id)[-1]
    assert read["event"] == "realty.service_file.document_read"
    assert (read["actor_id"], read["actor_role"]) == (team.id(team.compliance), "compliance_officer")
    assert read["data"] == {"document_id": contract, "version": 1, "read_purpose": "合规抽查"}
    version = app.state(file_id)["version"]
    with pytest.raises(InvalidValue):  # no purpose, no read
        app.read_document(team.compliance, file_id, contract, purpose="")
    with pytest.raises(NotFound):
        app.read_document(team.compliance, file_id, contract, purpose="合规抽查", version=2)
    assert app.state(file_id)["version"] == version


def test_a_disposition_before_the_retention_end_is_refused(app: RealtyLedger, team: Team) -> None:
    # The packaged schedule keeps a lost customer's file three years from the last contact.
    customer = receive(app, team)
    app.mark_customer_lost(team.consultant, customer, reason="price")
    file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                    record_class="customer_file").id
    error = expect("retention_not_ended", app.propose_disposition, team.archivist, file_id)
    assert isinstance(error, RetentionNotEnded)
    assert app.state(file_id)["disposition"] is None
    # A deal still open has not started its clock at all.
    deal_file_id, _ = deal_file(app, team)
    expect("invalid_value", app.propose_disposition, team.archivist, deal_file_id)


def test_a_legal_hold_blocks_the_proposal_and_the_approval(short_app: RealtyLedger) -> None:
    app = short_app
    team = register_team(app)
    _, file_id, _ = lost_customer_with_a_file(app, team)
    hold = app.file_command(team.compliance, file_id, "place_hold", reason="法院调查令").entity_id
    with pytest.raises(LegalHoldActive):
        app.propose_disposition(team.archivist, file_id)
    app.file_command(team.compliance, file_id, "release_hold", hold_id=hold, reason="调查结束")
    app.propose_disposition(team.archivist, file_id)
    second = app.file_command(team.compliance, file_id, "place_hold", reason="监管问询").entity_id
    with pytest.raises(LegalHoldActive):
        app.approve_disposition(team.compliance, file_id)
    assert app.state(file_id)["status"] != "disposed"
    due = {d["file_id"]: d for d in app.retention_due()}
    assert due[file_id]["disposition"] == "proposed" and due[file_id]["holds"][0]["hold_id"] == second


def test_the_proposer_cannot_approve_their_own_disposition(short_app: RealtyLedger) -> None:
    app = short_app
    team = register_team(app)
    _, file_id, _ = lost_customer_with_a_file(app, team)
    keeper = app.register_staff(Acting.system(), name="郑敏", role="archivist", team=team.name).id
    app.propose_disposition(Acting(keeper), file_id)
    app.change_staff_role(team.admin, keeper, role="compliance_officer")  # now able to approve, but not this
    error = expect("same_person_disposition", app.approve_disposition, Acting(keeper), file_id)
    assert isinstance(error, SamePersonDisposition)
    assert app.state(file_id)["disposition"]["approved_by"] is None


def test_a_lost_customers_file_is_disposed_of_with_their_keys(short_app: RealtyLedger) -> None:
    app = short_app
    team = register_team(app)
    customer, file_id, id_copy = lost_customer_with_a_file(app, team)
    app.file_command(team.archivist, file_id, "check_completeness")
    app.file_command(team.archivist, file_id, "file")
    app.file_command(team.archivist, file_id, "reopen", reason="补充新版身份证")
    app.upload_document(team.consultant, file_id, content=minimal_png() + b"\x00", document_id=id_copy,
                        reason="新版身份证")
    state = app.state(file_id)
    stored = [v["storage_key"] for versions in state["documents"].values() for v in versions]
    version_keys = {v["key_id"] for versions in state["documents"].values() for v in versions}
    root = app.settings.documents_path
    blobs = [root / key[:2] / key[2:] for key in stored]  # LocalDocumentStore's layout: root/ab/cdef…
    assert len(blobs) == 2 and all(blob.is_file() for blob in blobs)
    assert app.state(customer)["name"] == NAME
    assert file_id in {d["file_id"] for d in app.retention_due()}

    app.propose_disposition(team.archivist, file_id)
    app.approve_disposition(team.compliance, file_id)

    certificate = app.state(file_id)["certificate"]
    assert sorted((d["document_id"], d["version"]) for d in certificate["destroyed_documents"]) == [
        (id_copy, 1), (id_copy, 2)]
    assert version_keys <= set(certificate["destroyed_keys"])
    assert len(certificate["destroyed_keys"]) > len(version_keys)  # the customer's own keys too
    assert (certificate["proposed_by"], certificate["approved_by"]) == (team.id(team.archivist),
                                                                        team.id(team.compliance))
    assert app.history(file_id)[-1]["event"] == "realty.service_file.disposition_carried_out"
    assert not [blob for blob in blobs if blob.exists()]
    with pytest.raises(ServiceFileDisposed):
        app.read_document(team.compliance, file_id, id_copy, purpose="核查")
    assert app.state(customer)["name"] == ERASED and app.state(customer)["phone"] == ERASED
    assert app.history(customer)[-1]["data"]["cause"] == "disposition"
    assert file_id not in {d["file_id"] for d in app.retention_due()}


def test_a_text_file_named_pdf_and_an_oversized_one_are_refused_and_nothing_is_recorded(
    database_url: str, tmp_path: Path
) -> None:
    app = ledger(database_url, tmp_path, max_document_bytes=1024)
    try:
        team = register_team(app)
        customer = receive(app, team)
        file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                        record_class="customer_file").id
        version = app.state(file_id)["version"]
        fake = tmp_path / "合同.pdf"
        fake.write_text("这不是PDF，只是改了扩展名的文本文件。\n", encoding="utf-8")
        with pytest.raises(UnsupportedDocumentType) as excinfo:
            app.upload_document(team.consultant, file_id, content=fake.read_bytes(), kind="id_copy")
        assert excinfo.value.code == "unsupported_document_type"
        with pytest.raises(DocumentTooLarge) as too_large:
            app.upload_document(team.consultant, file_id, content=minimal_pdf() + b"%" * 1024, kind="id_copy")
        assert too_large.value.code == "document_too_large"
        assert app.state(file_id)["version"] == version
        assert not [p for p in app.settings.documents_path.rglob("*") if p.is_file()]  # no blob left behind
    finally:
        app.close()


def test_an_unknown_record_class_is_refused_and_nothing_is_recorded(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    error = expect("invalid_value", app.open_service_file, team.consultant, owner_kind="customer",
                   owner_id=customer, record_class="tax_file")
    assert "customer_file" in error.message  # it names the policy's classes
    with pytest.raises(NotFound):
        app.state(app.service_file_for("customer", customer, "tax_file"))


def test_a_restricted_customers_file_refuses_uploads_and_reads(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                    record_class="customer_file").id
    document = app.upload_document(team.consultant, file_id, content=ID_COPY, kind="id_copy").entity_id or ""
    # An unresolved complaint: a retention clock that has not started, so the erasure restricts.
    app.file_complaint(team.service, customer, category="服务", severity="low", description="迟到")
    assert app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")["status"] == "restricted"
    version = app.state(file_id)["version"]
    with pytest.raises(CustomerRestricted):
        app.upload_document(team.consultant, file_id, content=RECEIPT, kind="other")
    with pytest.raises(CustomerRestricted):
        app.read_document(team.compliance, file_id, document, purpose="核查")
    assert app.state(file_id)["version"] == version

