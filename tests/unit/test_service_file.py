"""Service files (服务档案, ch. 7): collecting, checking, filing and sealing (7.2), reads with a purpose
(7.3), updates that keep every version (7.4), legal holds, and two-person disposition."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from domain.errors import (
    CompletenessNotChecked,
    DispositionAlreadyApproved,
    DispositionAlreadyProposed,
    DispositionIncomplete,
    DispositionNotApproved,
    DocumentAlreadyCollected,
    DocumentNotFound,
    HoldAlreadyReleased,
    HoldNotFound,
    InvalidServiceFileTransition,
    InvalidValue,
    LegalHoldActive,
    NoPendingDisposition,
    NotFound,
    NotPermitted,
    RetentionNotEnded,
    SamePersonDisposition,
    ServiceFileDisposed,
    ServiceFileIncomplete,
)
from domain.identity import Actor, Role
from domain.service_file import ServiceFile
from domain.service_file_values import CHECKLISTS, RecordClass, archive_number, service_file_id
from tests.unit.builders import actor, ago, consultant, manager, recorded, refused, refused_creation

SHA = "ab" * 32
STORED: dict[str, Any] = {
    "sha256": SHA,
    "size": 245_760,
    "media_type": "application/pdf",
    "storage_key": "documents/2026/contract-1",
    "key_id": "dek-1",
}
RULE = "deal_file: 5y from closing (房地产经纪管理办法 第二十六条)"
DEAL_CHECKLIST = ("contract", "id_copy", "receipt")


def archivist(**kwargs: Any) -> Actor:
    return actor(Role.ARCHIVIST, **kwargs)


def officer(**kwargs: Any) -> Actor:
    return actor(Role.COMPLIANCE_OFFICER, **kwargs)


# --- builders ------------------------------------------------------------------------------------


def deal_file(*, at: datetime | None = None) -> ServiceFile:
    return ServiceFile.open(
        owner_kind="deal",
        owner_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        record_class="deal_file",
        actor=consultant(),
        occurred_at=at,
    )


def collect(file: ServiceFile, kind: str, *, by: Actor | None = None, at: datetime | None = None,
            **overrides: Any) -> uuid.UUID:
    return file.collect_document(kind=kind, actor=by or consultant(), occurred_at=at, **{**STORED, **overrides})


def update(file: ServiceFile, document_id: uuid.UUID, *, reason: str = "客户补签页", **overrides: Any) -> int:
    return file.update_document(
        document_id=document_id, reason=reason, actor=consultant(), **{**STORED, "sha256": "cd" * 32, **overrides}
    )


def checked_file() -> ServiceFile:
    file = deal_file()
    for kind in DEAL_CHECKLIST:
        collect(file, kind)
    assert file.check_completeness(actor=archivist()) == []
    return file


def filed_file() -> ServiceFile:
    file = checked_file()
    file.file(actor=archivist())
    return file


def sealed_file() -> ServiceFile:
    file = filed_file()
    file.seal(actor=archivist())
    return file


def proposed_file(*, proposer: Actor | None = None) -> ServiceFile:
    file = sealed_file()
    file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=proposer or archivist())
    return file


def approved_file() -> ServiceFile:
    file = proposed_file()
    file.approve_disposition(actor=officer())
    return file


def certificate_of(file: ServiceFile) -> list[dict[str, Any]]:
    return [{"document_id": v["document_id"], "version": v["version"]} for v in file.versions()]


def disposed_file() -> ServiceFile:
    file = approved_file()
    file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=["dek-1"], actor=archivist())
    return file


# --- opening ---------------------------------------------------------------------------------------


def test_opening_a_deal_file_records_its_deal_its_customer_and_its_class() -> None:
    deal_id, customer_id = uuid.uuid4(), uuid.uuid4()
    by, at = consultant(on_behalf_of=uuid.uuid4()), ago(hours=2)

    file = ServiceFile.open(
        owner_kind="deal", owner_id=deal_id, subject_id=customer_id, record_class="deal_file", actor=by, occurred_at=at
    )

    event = recorded(file, ServiceFile.Opened, by, at)
    assert (event.owner_kind, event.owner_id, event.subject_id, event.record_class) == (
        "deal", deal_id, customer_id, "deal_file")
    assert file.id == service_file_id("deal", deal_id, "deal_file")
    assert file.status == "open" and file.archive_number is None
    assert file.current_documents == [] and file.versions() == []
    assert file.active_holds == [] and file.pending_disposition is None
    assert not file.complete and not file.is_disposed


def test_one_file_per_record_and_class_its_id_derives_from_both() -> None:
    customer_id = uuid.uuid4()
    ids = {service_file_id("customer", customer_id, c) for c in ("customer_file", "complaint_record")}
    assert len(ids) == 2
    assert service_file_id("customer", customer_id, "customer_file") in ids


def test_a_customers_file_is_about_that_customer() -> None:
    customer_id = uuid.uuid4()
    file = ServiceFile.open(owner_kind="customer", owner_id=customer_id, subject_id=customer_id,
                            record_class="complaint_record", actor=actor(Role.CUSTOMER_SERVICE))
    assert file.subject_id == customer_id
    with refused_creation(InvalidValue, "invalid_value") as excinfo:
        ServiceFile.open(owner_kind="customer", owner_id=customer_id, subject_id=uuid.uuid4(),
                         record_class="customer_file", actor=consultant())
    assert excinfo.value.context["field"] == "subject_id"


@pytest.mark.parametrize(
    ("field", "owner_kind", "record_class"),
    [("record_class", "deal", "tax_file"), ("owner_kind", "listing", "deal_file"),
     ("owner_kind", "customer", "deal_file"), ("owner_kind", "deal", "customer_file")],
    ids=["unknown-class", "unknown-owner", "deal-file-of-a-customer", "customer-file-of-a-deal"],
)
def test_a_file_of_an_unknown_class_or_of_the_wrong_record_is_refused(
    field: str, owner_kind: str, record_class: str
) -> None:
    owner = uuid.uuid4()
    with refused_creation(InvalidValue, "invalid_value") as excinfo:
        ServiceFile.open(owner_kind=owner_kind, owner_id=owner, subject_id=owner, record_class=record_class,
                         actor=consultant())
    assert excinfo.value.context["field"] == field


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR, Role.SERVICE_ACCOUNT])
def test_only_those_who_collect_documents_open_files(role: Role) -> None:
    with refused_creation(NotPermitted, "not_permitted"):
        ServiceFile.open(owner_kind="deal", owner_id=uuid.uuid4(), subject_id=uuid.uuid4(),
                         record_class="deal_file", actor=actor(role))


# --- collecting and updating (7.2, 7.4) ------------------------------------------------------------


def test_collecting_a_document_records_version_one_and_where_its_encrypted_copy_is() -> None:
    file = deal_file(at=ago(hours=2))
    by, at = consultant(), ago(hours=1)

    document_id = file.collect_document(kind="contract", actor=by, occurred_at=at, **{**STORED, "sha256": SHA.upper(),
                                                                                     "media_type": "Application/PDF"})

    event = recorded(file, ServiceFile.DocumentCollected, by, at)
    assert event.document_id == document_id and event.version == 1 and event.change_reason is None
    assert (event.kind, event.sha256, event.size, event.media_type) == ("contract", SHA, 245_760, "application/pdf")
    assert (event.storage_key, event.key_id) == ("documents/2026/contract-1", "dek-1")
    [current] = file.current_documents
    assert current["document_id"] == document_id and current["collected_by"] == by.id


def test_the_caller_may_name_a_new_documents_id_but_not_collect_it_twice() -> None:
    file = deal_file()
    chosen = uuid.uuid4()
    assert collect(file, "receipt", document_id=chosen) == chosen
    with refused(file, DocumentAlreadyCollected, "document_already_collected"):
        collect(file, "receipt", document_id=chosen)


@pytest.mark.parametrize(
    ("field", "overrides"),
    [("kind", {"kind": "passport"}), ("sha256", {"sha256": "ab" * 31}), ("sha256", {"sha256": "zz" * 32}),
     ("size", {"size": 0}), ("size", {"size": 10.5}), ("size", {"size": 2**40}),
     ("media_type", {"media_type": "pdf"}), ("media_type", {"media_type": "application/pdf; charset=x"}),
     ("storage_key", {"storage_key": " "}), ("key_id", {"key_id": ""})],
    ids=["kind", "short-digest", "not-hex", "empty", "fraction", "too-big", "no-subtype", "parameters",
         "no-storage-key", "no-key"],
)
def test_a_malformed_document_is_refused(field: str, overrides: dict[str, Any]) -> None:
    file = deal_file()
    arguments = {**STORED, "kind": "contract", **overrides}
    with refused(file, InvalidValue, "invalid_value") as excinfo:
        file.collect_document(actor=consultant(), **arguments)
    assert excinfo.value.context["field"] == field


def test_an_update_adds_a_version_with_its_reason_and_keeps_every_earlier_one() -> None:
    file = deal_file()
    contract = collect(file, "contract")
    receipt = collect(file, "receipt")

    assert update(file, contract, reason="补充协议替换第 3 页") == 2
    assert update(file, contract, reason="盖章版") == 3

    event = file.pending_events[-1]
    assert (event.version, event.kind, event.change_reason) == (3, "contract", "盖章版")
    assert [v["version"] for v in file.versions(contract)] == [1, 2, 3]
    assert [(d["document_id"], d["version"]) for d in file.current_documents] == [(contract, 3), (receipt, 1)]
    assert len(file.versions()) == 4


def test_an_update_needs_a_reason() -> None:
    file = deal_file()
    contract = collect(file, "contract")
    with refused(file, InvalidValue, "invalid_value") as excinfo:
        update(file, contract, reason="  ")
    assert excinfo.value.context["field"] == "reason"


def test_updating_a_document_that_is_not_on_file_is_refused() -> None:
    file = deal_file()
    with refused(file, DocumentNotFound, "document_not_found"):
        update(file, uuid.uuid4())


@pytest.mark.parametrize("role", [Role.PROPERTY_CONSULTANT, Role.CUSTOMER_MANAGER, Role.CUSTOMER_SERVICE,
                                  Role.SALES_MANAGER, Role.ARCHIVIST])
def test_front_line_staff_and_archivists_collect_documents(role: Role) -> None:
    file = deal_file()
    collect(file, "other", by=actor(role))
    assert len(file.versions()) == 1


def test_a_compliance_officer_does_not_collect_documents() -> None:
    file = deal_file()
    with refused(file, NotPermitted, "not_permitted"):
        collect(file, "contract", by=officer())


# --- completeness, filing and sealing (7.2) ---------------------------------------------------------


def test_the_checklist_of_each_record_class() -> None:
    assert {c.value: sorted(k.value for k in kinds) for c, kinds in CHECKLISTS.items()} == {
        "deal_file": ["contract", "id_copy", "receipt"],
        "customer_file": ["id_copy"],
        "complaint_record": ["complaint_form"],
    }
    assert set(CHECKLISTS) == set(RecordClass)


def test_a_completeness_check_records_what_the_checklist_still_misses() -> None:
    file = deal_file()
    collect(file, "contract")
    collect(file, "other")
    by = archivist()

    assert file.check_completeness(actor=by) == ["id_copy", "receipt"]

    event = file.pending_events[-1]
    assert isinstance(event, ServiceFile.CompletenessChecked)
    assert (event.missing, event.complete) == (["id_copy", "receipt"], False)
    assert not file.complete


def test_a_complete_file_is_filed_under_its_archive_number() -> None:
    file = checked_file()
    by, at = archivist(), datetime.now(UTC)
    assert file.complete

    number = file.file(actor=by, occurred_at=at)

    event = recorded(file, ServiceFile.Filed, by, at)
    assert event.archive_number == number == file.archive_number
    assert number == archive_number("deal_file", file.id, at) and number.startswith("DF-")
    assert file.status == "filed"


def test_the_archive_number_is_the_class_the_year_of_filing_in_china_and_the_file_id() -> None:
    file_id = uuid.UUID("0123abcd-ef45-4678-9abc-def012345678")
    # 2025-12-31 16:30 UTC is already 2026 in Shanghai.
    assert archive_number("deal_file", file_id, datetime(2025, 12, 31, 16, 30, tzinfo=UTC)) == "DF-2026-0123ABCDEF45"
    assert archive_number("customer_file", file_id, datetime(2025, 12, 31, 15, 30, tzinfo=UTC)) == "CF-2025-0123ABCDEF45"
    assert archive_number("complaint_record", file_id, datetime(2026, 6, 1, tzinfo=UTC)).startswith("CR-2026-")


def test_filing_without_a_completeness_check_is_refused() -> None:
    file = deal_file()
    for kind in DEAL_CHECKLIST:
        collect(file, kind)
    with refused(file, CompletenessNotChecked, "completeness_not_checked"):
        file.file(actor=archivist())


def test_filing_an_incomplete_file_is_refused() -> None:
    file = deal_file()
    collect(file, "contract")
    file.check_completeness(actor=archivist())
    with refused(file, ServiceFileIncomplete, "service_file_incomplete") as excinfo:
        file.file(actor=archivist())
    assert excinfo.value.context["missing"] == ["id_copy", "receipt"]


def test_a_document_collected_after_the_check_needs_a_new_check_before_filing() -> None:
    file = checked_file()
    collect(file, "other")
    assert not file.complete
    with refused(file, CompletenessNotChecked, "completeness_not_checked"):
        file.file(actor=archivist())
    file.check_completeness(actor=archivist())
    assert file.file(actor=archivist())


@pytest.mark.parametrize("role", [Role.PROPERTY_CONSULTANT, Role.SALES_MANAGER, Role.COMPLIANCE_OFFICER])
def test_only_an_archivist_checks_files_files_and_seals_them(role: Role) -> None:
    file = checked_file()
    for command in (file.check_completeness, file.file):
        with refused(file, NotPermitted, "not_permitted"):
            command(actor=actor(role))
    file.file(actor=archivist())
    with refused(file, NotPermitted, "not_permitted"):
        file.seal(actor=actor(role))


def test_sealing_needs_a_filed_file_and_happens_once() -> None:
    file = checked_file()
    with refused(file, InvalidServiceFileTransition, "invalid_service_file_transition"):
        file.seal(actor=archivist())
    file.file(actor=archivist())
    by = archivist()
    file.seal(actor=by)
    assert isinstance(file.pending_events[-1], ServiceFile.Sealed) and file.status == "sealed"
    with refused(file, InvalidServiceFileTransition, "invalid_service_file_transition"):
        file.seal(actor=by)


@pytest.mark.parametrize("build", [filed_file, sealed_file], ids=["filed", "sealed"])
def test_a_filed_or_sealed_file_takes_no_document_and_no_new_version_until_reopened(
    build: Callable[[], ServiceFile],
) -> None:
    file = build()
    contract = file.current_documents[0]["document_id"]
    with refused(file, InvalidServiceFileTransition, "invalid_service_file_transition") as excinfo:
        update(file, contract)
    assert excinfo.value.context["status"] == file.status
    with refused(file, InvalidServiceFileTransition, "invalid_service_file_transition"):
        collect(file, "other")
    with refused(file, InvalidServiceFileTransition, "invalid_service_file_transition"):
        file.check_completeness(actor=archivist())
    with refused(file, InvalidServiceFileTransition, "invalid_service_file_transition"):
        file.file(actor=archivist())


def test_a_reopened_file_takes_a_new_version_and_is_filed_again_under_the_same_number() -> None:
    file = sealed_file()
    number = file.archive_number
    contract = file.current_documents[0]["document_id"]
    by = archivist()

    file.reopen(reason="客户换发身份证，补充新版复印件", actor=by)

    event = recorded(file, ServiceFile.Reopened, by, file.pending_events[-1].occurred_at)
    assert event.reopen_reason == "客户换发身份证，补充新版复印件"
    assert file.status == "open" and not file.complete
    assert update(file, contract) == 2
    file.check_completeness(actor=archivist())
    assert file.file(actor=archivist()) == number
    file.seal(actor=archivist())
    assert [v["version"] for v in file.versions(contract)] == [1, 2]


def test_reopening_needs_a_reason_and_a_filed_or_sealed_file() -> None:
    file = sealed_file()
    with refused(file, InvalidValue, "invalid_value"):
        file.reopen(reason="", actor=archivist())
    with refused(file, NotPermitted, "not_permitted"):
        file.reopen(reason="更正", actor=consultant())
    open_file = deal_file()
    with refused(open_file, InvalidServiceFileTransition, "invalid_service_file_transition"):
        open_file.reopen(reason="更正", actor=archivist())


# --- reads (7.3) -------------------------------------------------------------------------------------


def test_every_read_records_which_version_was_read_and_why() -> None:
    file = deal_file()
    contract = collect(file, "contract")
    update(file, contract)
    by, at = manager(), datetime.now(UTC)

    read = file.record_read(document_id=contract, purpose="核对合同条款以答复客户投诉", actor=by, occurred_at=at)

    event = recorded(file, ServiceFile.DocumentRead, by, at)
    assert (event.document_id, event.version, event.read_purpose) == (contract, 2, "核对合同条款以答复客户投诉")
    assert read["version"] == 2 and read["storage_key"] == STORED["storage_key"]
    assert file.reads[-1] == {"document_id": contract, "version": 2, "by": by.id, "at": at}


def test_an_earlier_version_can_be_read() -> None:
    file = deal_file()
    contract = collect(file, "contract")
    update(file, contract)
    assert file.record_read(document_id=contract, version=1, purpose="审计", actor=archivist())["version"] == 1
    assert file.pending_events[-1].version == 1


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 201, "a\x00b"], ids=["empty", "blank", "too-long", "control"])
def test_a_read_needs_a_short_purpose(purpose: str) -> None:
    file = deal_file()
    contract = collect(file, "contract")
    with refused(file, InvalidValue, "invalid_value") as excinfo:
        file.record_read(document_id=contract, purpose=purpose, actor=archivist())
    assert excinfo.value.context["field"] == "purpose"


@pytest.mark.parametrize("version", [0, 2, True, "1"], ids=["zero", "not-yet", "bool", "text"])
def test_reading_a_document_or_version_not_on_file_is_refused(version: Any) -> None:
    file = deal_file()
    contract = collect(file, "contract")
    with refused(file, DocumentNotFound, "document_not_found") as excinfo:
        file.record_read(document_id=contract, version=version, purpose="审计", actor=archivist())
    assert isinstance(excinfo.value, NotFound)
    with refused(file, DocumentNotFound, "document_not_found"):
        file.record_read(document_id=uuid.uuid4(), purpose="审计", actor=archivist())


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.SERVICE_ACCOUNT])
def test_administrators_and_services_do_not_read_documents(role: Role) -> None:
    file = deal_file()
    contract = collect(file, "contract")
    with refused(file, NotPermitted, "not_permitted"):
        file.record_read(document_id=contract, purpose="审计", actor=actor(role))


# --- legal holds ------------------------------------------------------------------------------------


def test_a_compliance_officer_places_and_releases_a_hold() -> None:
    file = sealed_file()
    by = officer()

    hold_id = file.place_hold(reason="(2026)沪0115民初1234号 诉讼保全", actor=by)

    placed = file.pending_events[-1]
    assert isinstance(placed, ServiceFile.HoldPlaced) and placed.actor_id == by.id
    assert (placed.hold_id, placed.hold_reason) == (hold_id, "(2026)沪0115民初1234号 诉讼保全")
    assert [h["hold_id"] for h in file.active_holds] == [hold_id]

    file.release_hold(hold_id=hold_id, reason="判决生效", actor=officer())

    released = file.pending_events[-1]
    assert isinstance(released, ServiceFile.HoldReleased) and released.hold_id == hold_id
    assert file.active_holds == [] and file.holds[hold_id]["release_reason"] == "判决生效"


@pytest.mark.parametrize("role", [Role.PROPERTY_CONSULTANT, Role.SALES_MANAGER, Role.ARCHIVIST])
def test_only_a_compliance_officer_places_or_releases_a_hold(role: Role) -> None:
    file = sealed_file()
    with refused(file, NotPermitted, "not_permitted"):
        file.place_hold(reason="诉讼", actor=actor(role))
    hold_id = file.place_hold(reason="诉讼", actor=officer())
    with refused(file, NotPermitted, "not_permitted"):
        file.release_hold(hold_id=hold_id, reason="结案", actor=actor(role))


def test_a_hold_and_its_release_need_a_reason() -> None:
    file = sealed_file()
    with refused(file, InvalidValue, "invalid_value"):
        file.place_hold(reason=" ", actor=officer())
    hold_id = file.place_hold(reason="监管调查", actor=officer())
    with refused(file, InvalidValue, "invalid_value"):
        file.release_hold(hold_id=hold_id, reason="", actor=officer())


def test_releasing_an_unknown_hold_is_refused() -> None:
    file = sealed_file()
    with refused(file, HoldNotFound, "hold_not_found"):
        file.release_hold(hold_id=uuid.uuid4(), reason="结案", actor=officer())


def test_releasing_a_released_hold_is_refused() -> None:
    file = sealed_file()
    hold_id = file.place_hold(reason="诉讼", actor=officer())
    file.release_hold(hold_id=hold_id, reason="结案", actor=officer())
    with refused(file, HoldAlreadyReleased, "hold_already_released"):
        file.release_hold(hold_id=hold_id, reason="结案", actor=officer())


# --- disposition ---------------------------------------------------------------------------------------


def test_an_archivist_proposes_disposition_once_the_retention_has_ended() -> None:
    file = sealed_file()
    by, end = archivist(), ago(days=3)

    file.propose_disposition(rule=RULE, retention_end=end, actor=by)

    event = file.pending_events[-1]
    assert isinstance(event, ServiceFile.DispositionProposed)
    assert (event.rule, event.retention_end, event.proposed_by, event.actor_id) == (RULE, end, by.id, by.id)
    assert file.pending_disposition is not None and file.pending_disposition["approved_by"] is None


def test_a_file_never_filed_may_be_disposed_of_too() -> None:
    file = deal_file()
    collect(file, "id_copy")
    file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())
    file.approve_disposition(actor=officer())
    file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=[], actor=archivist())
    assert file.is_disposed


def test_disposition_cannot_be_proposed_before_the_retention_end() -> None:
    file = sealed_file()
    end = datetime.now(UTC) + timedelta(days=1)
    with refused(file, RetentionNotEnded, "retention_not_ended") as excinfo:
        file.propose_disposition(rule=RULE, retention_end=end, actor=archivist())
    assert excinfo.value.context["retention_end"] == end.isoformat()


def test_the_retention_end_is_compared_with_the_business_time_of_the_proposal() -> None:
    file = deal_file(at=ago(days=10))
    with refused(file, RetentionNotEnded, "retention_not_ended"):
        file.propose_disposition(rule=RULE, retention_end=ago(days=3), actor=archivist(), occurred_at=ago(days=5))
    file.propose_disposition(rule=RULE, retention_end=ago(days=3), actor=archivist(), occurred_at=ago(days=2))


def test_a_retention_end_without_a_time_zone_is_refused() -> None:
    file = sealed_file()
    with refused(file, InvalidValue, "invalid_value"):
        file.propose_disposition(rule=RULE, retention_end=datetime(2020, 1, 1), actor=archivist())


def test_a_hold_blocks_disposition() -> None:
    file = sealed_file()
    hold_id = file.place_hold(reason="诉讼", actor=officer())
    with refused(file, LegalHoldActive, "legal_hold_active") as excinfo:
        file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())
    assert excinfo.value.context["hold_ids"] == [str(hold_id)]
    file.release_hold(hold_id=hold_id, reason="结案", actor=officer())
    file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())


def test_a_hold_placed_after_the_proposal_blocks_the_approval() -> None:
    file = proposed_file()
    hold_id = file.place_hold(reason="监管调查", actor=officer())
    with refused(file, LegalHoldActive, "legal_hold_active"):
        file.approve_disposition(actor=officer())
    file.release_hold(hold_id=hold_id, reason="调查结束", actor=officer())
    file.approve_disposition(actor=officer())


def test_a_hold_placed_after_the_approval_blocks_carrying_it_out() -> None:
    file = approved_file()
    file.place_hold(reason="诉讼", actor=officer())
    with refused(file, LegalHoldActive, "legal_hold_active"):
        file.require_disposable()
    with refused(file, LegalHoldActive, "legal_hold_active"):
        file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=["dek-1"], actor=archivist())


def test_disposition_cannot_be_proposed_twice() -> None:
    file = proposed_file()
    with refused(file, DispositionAlreadyProposed, "disposition_already_proposed"):
        file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.SALES_MANAGER, Role.PROPERTY_CONSULTANT])
def test_only_an_archivist_proposes_disposition(role: Role) -> None:
    file = sealed_file()
    with refused(file, NotPermitted, "not_permitted"):
        file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=actor(role))


def test_a_compliance_officer_who_did_not_propose_approves() -> None:
    file = proposed_file()
    by = officer()

    file.approve_disposition(actor=by)

    event = file.pending_events[-1]
    assert isinstance(event, ServiceFile.DispositionApproved) and event.approved_by == by.id
    assert file.pending_disposition["approved_by"] == by.id


def test_the_proposer_cannot_approve_their_own_disposition() -> None:
    # The same person, now in the compliance officer's role, is still the proposer.
    proposer = archivist()
    file = proposed_file(proposer=proposer)
    with refused(file, SamePersonDisposition, "same_person_disposition"):
        file.approve_disposition(actor=Actor(id=proposer.id, role=Role.COMPLIANCE_OFFICER))


@pytest.mark.parametrize("role", [Role.ARCHIVIST, Role.SALES_MANAGER])
def test_only_a_compliance_officer_approves_or_rejects_disposition(role: Role) -> None:
    file = proposed_file()
    with refused(file, NotPermitted, "not_permitted"):
        file.approve_disposition(actor=actor(role))
    with refused(file, NotPermitted, "not_permitted"):
        file.reject_disposition(reason="仍有纠纷", actor=actor(role))


def test_approval_needs_a_pending_proposal() -> None:
    file = sealed_file()
    with refused(file, NoPendingDisposition, "no_pending_disposition"):
        file.approve_disposition(actor=officer())


def test_a_disposition_is_approved_once() -> None:
    file = approved_file()
    with refused(file, DispositionAlreadyApproved, "disposition_already_approved"):
        file.approve_disposition(actor=officer())


@pytest.mark.parametrize("build", [proposed_file, approved_file], ids=["proposed", "approved"])
def test_a_rejected_disposition_keeps_the_file_and_may_be_proposed_again(build: Callable[[], ServiceFile]) -> None:
    file = build()
    file.reject_disposition(reason="客户仍在诉讼中", actor=officer())
    event = file.pending_events[-1]
    assert isinstance(event, ServiceFile.DispositionRejected) and event.refusal_reason == "客户仍在诉讼中"
    assert file.pending_disposition is None
    with refused(file, NoPendingDisposition, "no_pending_disposition"):
        file.require_disposable()
    file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())


def test_rejecting_needs_a_pending_proposal_and_a_reason() -> None:
    file = sealed_file()
    with refused(file, NoPendingDisposition, "no_pending_disposition"):
        file.reject_disposition(reason="无", actor=officer())
    file = proposed_file()
    with refused(file, InvalidValue, "invalid_value"):
        file.reject_disposition(reason="", actor=officer())


def test_carrying_out_records_the_disposition_certificate() -> None:
    proposer, approver = archivist(), officer()
    file = proposed_file(proposer=proposer)
    file.approve_disposition(actor=approver)
    contract = file.current_documents[0]["document_id"]
    by = archivist()
    destroyed = [{"document_id": str(v["document_id"]), "version": v["version"]} for v in reversed(file.versions())]

    assert file.require_disposable()["approved_by"] == approver.id
    file.record_disposition(destroyed_documents=destroyed, destroyed_keys=["dek-3", "dek-1"], actor=by)

    event = file.pending_events[-1]
    assert isinstance(event, ServiceFile.DispositionCarriedOut) and event.actor_id == by.id
    assert {"document_id": str(contract), "version": 1} in event.destroyed_documents
    assert event.destroyed_documents == sorted(destroyed, key=lambda d: (d["document_id"], d["version"]))
    assert event.destroyed_keys == ["dek-1", "dek-3"]
    assert (event.rule, event.proposed_by, event.approved_by) == (RULE, proposer.id, approver.id)
    assert event.retention_end <= event.occurred_at
    assert file.is_disposed and file.certificate["carried_out_by"] == by.id
    assert file.pending_disposition is None


def test_carrying_out_needs_an_approval() -> None:
    file = proposed_file()
    with refused(file, DispositionNotApproved, "disposition_not_approved"):
        file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=[], actor=archivist())
    file = sealed_file()
    with refused(file, NoPendingDisposition, "no_pending_disposition"):
        file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=[], actor=archivist())


@pytest.mark.parametrize("change", ["drop", "add", "repeat", "wrong-version"])
def test_the_certificate_names_every_version_on_file_and_nothing_else(change: str) -> None:
    file = approved_file()
    destroyed = certificate_of(file)
    if change == "drop":
        destroyed = destroyed[1:]
    elif change == "add":
        destroyed.append({"document_id": uuid.uuid4(), "version": 1})
    elif change == "repeat":
        destroyed.append(destroyed[0])
    else:
        destroyed[0] = {**destroyed[0], "version": 2}
    with refused(file, DispositionIncomplete, "disposition_incomplete"):
        file.record_disposition(destroyed_documents=destroyed, destroyed_keys=["dek-1"], actor=archivist())


@pytest.mark.parametrize(
    ("destroyed", "keys"),
    [([{"version": 1}], []), ([{"document_id": "nope", "version": 1}], []), (None, ["", "k"]), (None, ["k", "k"])],
    ids=["no-id", "bad-id", "empty-key", "repeated-key"],
)
def test_a_malformed_certificate_is_refused(destroyed: Any, keys: list[str]) -> None:
    file = approved_file()
    with refused(file, InvalidValue, "invalid_value"):
        file.record_disposition(destroyed_documents=destroyed or certificate_of(file), destroyed_keys=keys,
                                actor=archivist())


@pytest.mark.parametrize("role", [Role.PROPERTY_CONSULTANT, Role.SALES_MANAGER])
def test_only_archivists_and_compliance_officers_record_a_disposition(role: Role) -> None:
    file = approved_file()
    with refused(file, NotPermitted, "not_permitted"):
        file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=[], actor=actor(role))
    file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=[], actor=officer())


def _after_disposal(file: ServiceFile) -> dict[str, Callable[[], Any]]:
    document_id = uuid.UUID(file.certificate["destroyed_documents"][0]["document_id"])
    hold_id = uuid.uuid4()
    return {
        "read": lambda: file.record_read(document_id=document_id, purpose="审计", actor=archivist()),
        "collect": lambda: collect(file, "other"),
        "update": lambda: update(file, document_id),
        "check": lambda: file.check_completeness(actor=archivist()),
        "file": lambda: file.file(actor=archivist()),
        "seal": lambda: file.seal(actor=archivist()),
        "reopen": lambda: file.reopen(reason="恢复", actor=archivist()),
        "hold": lambda: file.place_hold(reason="诉讼", actor=officer()),
        "release": lambda: file.release_hold(hold_id=hold_id, reason="结案", actor=officer()),
        "propose": lambda: file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist()),
        "approve": lambda: file.approve_disposition(actor=officer()),
        "reject": lambda: file.reject_disposition(reason="无", actor=officer()),
        "carry-out": lambda: file.record_disposition(destroyed_documents=[], destroyed_keys=[], actor=archivist()),
    }


@pytest.mark.parametrize("command", list(_after_disposal(disposed_file())))
def test_a_disposed_file_records_nothing_more_and_its_documents_cannot_be_read(command: str) -> None:
    file = disposed_file()
    with refused(file, ServiceFileDisposed, "service_file_disposed"):
        _after_disposal(file)[command]()


# --- the events are stored and read back ----------------------------------------------------------------


def test_every_event_of_a_files_life_survives_the_round_trip_through_the_stored_form() -> None:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    mapper = Mapper(transcoder=transcoder)
    file = deal_file()
    contract = collect(file, "contract")
    update(file, contract)
    file.record_read(document_id=contract, purpose="审计", actor=archivist())
    hold_id = file.place_hold(reason="诉讼", actor=officer())
    file.release_hold(hold_id=hold_id, reason="结案", actor=officer())
    file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())
    file.reject_disposition(reason="暂缓", actor=officer())
    file.propose_disposition(rule=RULE, retention_end=ago(days=1), actor=archivist())
    file.approve_disposition(actor=officer())
    file.record_disposition(destroyed_documents=certificate_of(file), destroyed_keys=["dek-1"], actor=archivist())
    events = file.collect_events()

    copies = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]

    assert copies == events
    replayed = None
    for copy in copies:
        replayed = copy.mutate(replayed)
    assert replayed.is_disposed and replayed.certificate == file.certificate
    assert replayed.versions() == file.versions()


def test_free_text_on_a_file_is_declared_personal_and_the_certificate_holds_none() -> None:
    assert ServiceFile.DocumentCollected.PERSONAL_FIELDS == ("change_reason",)
    assert ServiceFile.Reopened.PERSONAL_FIELDS == ("reopen_reason",)
    assert ServiceFile.DocumentRead.PERSONAL_FIELDS == ("read_purpose",)
    assert ServiceFile.HoldPlaced.PERSONAL_FIELDS == ("hold_reason",)
    assert ServiceFile.HoldReleased.PERSONAL_FIELDS == ("release_reason",)
    assert ServiceFile.DispositionRejected.PERSONAL_FIELDS == ("refusal_reason",)
    assert ServiceFile.DispositionCarriedOut.PERSONAL_FIELDS == ()
    # Redaction of states goes by field name across records: these names are the file's own.
    assert ServiceFile.Opened.SUBJECT_FIELD == "subject_id"


def test_a_files_state_keeps_its_free_text_under_the_personal_field_names() -> None:
    file = deal_file()
    contract = collect(file, "contract")
    update(file, contract, reason="换页")
    hold_id = file.place_hold(reason="诉讼", actor=officer())
    file.release_hold(hold_id=hold_id, reason="结案", actor=officer())
    assert file.versions(contract)[-1]["change_reason"] == "换页"
    assert (file.holds[hold_id]["hold_reason"], file.holds[hold_id]["release_reason"]) == ("诉讼", "结案")
