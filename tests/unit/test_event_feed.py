"""The feed's envelope, its server-sent message and its cursor rules, on events built in memory."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from domain.identity import Role
from domain.staff import StaffMember
from service.api.problems import Problem
from service.api.routes.events import _start, message
from service.event_feed import SECRET_FIELDS, envelope, record_kind
from service.redaction import mask
from tests.unit.builders import VALID_ID_NUMBER, actor, ago, received_customer, registered_staff

ENVELOPE_KEYS = ["position", "leaf_index", "record_id", "record_kind", "version", "event", "name", "recorded_at",
                 "occurred_at", "actor_id", "actor_role", "on_behalf_of", "correlation_id", "data"]


def test_an_envelope_says_where_the_event_is_whose_it_is_and_masks_personal_data() -> None:
    customer = received_customer()
    customer.record_personal_details(name="欧阳娜娜", phone="13912345678", id_number=VALID_ID_NUMBER,
                                     actor=actor(Role.PROPERTY_CONSULTANT), occurred_at=ago(days=1))
    received, details = customer.collect_events()
    sent = envelope(details, 42, 40)
    assert list(sent) == ENVELOPE_KEYS
    assert (sent["position"], sent["leaf_index"], sent["record_id"], sent["record_kind"], sent["version"]) == (
        42, 40, str(customer.id), "customer", 2)
    assert sent["event"] == "realty.customer.personal_details_recorded"
    assert sent["name"] == "Customer.PersonalDetailsRecorded"
    assert sent["data"] == {"name": mask("欧阳娜娜"), "phone": "1******5678", "id_number": mask(VALID_ID_NUMBER)}
    text = json.dumps(sent, ensure_ascii=False)
    assert "欧阳娜娜" not in text and "13912345678" not in text and VALID_ID_NUMBER not in text
    assert envelope(received, 41, 39)["data"]["channel"] == "walk_in"  # nothing personal: as recorded


def test_a_tokens_secret_hash_is_never_in_the_feed() -> None:
    staff = registered_staff()
    secret_hash = "ab" * 32
    staff.issue_token(token_id=uuid.uuid4(), secret_hash=secret_hash, label="报表服务",
                      actor=actor(Role.ADMINISTRATOR))
    issued = staff.collect_events()[-1]
    assert isinstance(issued, StaffMember.TokenIssued)
    sent = envelope(issued, 7, 6)
    assert set(sent["data"]) == {"token_id", "label", "expires_at"}
    assert secret_hash not in json.dumps(sent)
    assert sent["record_kind"] == "staff"


def test_secret_fields_name_real_fields() -> None:
    import dataclasses

    from domain.personal_data import event_classes

    by_topic = {cls.TOPIC: cls for cls in event_classes()}  # type: ignore[attr-defined]
    for topic, fields in SECRET_FIELDS.items():
        assert fields <= {f.name for f in dataclasses.fields(by_topic[topic])}


def test_the_record_kind_is_the_middle_of_the_topic() -> None:
    assert record_kind("realty.customer.received") == "customer"
    assert record_kind("realty.access_log.personal_data_read") == "access_log"
    assert record_kind("realty.staff.token_issued") == "staff"


def test_a_message_is_id_event_and_one_line_of_data() -> None:
    event = {"position": 1043, "event": "realty.customer.complaint_filed",
             "data": {"description": "第一行\n第二行\r\n: 不是注释"}}
    text = message(event)
    assert text.endswith("\n\n")
    lines = text[:-2].split("\n")
    assert lines[:2] == ["id: 1043", "event: realty.customer.complaint_filed"]
    assert len(lines) == 3 and lines[2].startswith("data: ")
    assert json.loads(lines[2].removeprefix("data: ")) == event
    assert not re.search(r"\r", text)


def test_last_event_id_wins_over_after_and_one_of_them_is_needed() -> None:
    assert _start("17", 3) == 17
    assert _start(" 17 ", None) == 17
    assert _start("0", None) == 0
    assert _start(None, 3) == 3
    with pytest.raises(Problem) as refused:
        _start(None, None)
    assert (refused.value.status, refused.value.code) == (422, "cursor_required")


@pytest.mark.parametrize("header", ["", "abc", "-1", "1.5", "١٢", "²", "+3", str(2**62 + 1), "9" * 40])
def test_a_last_event_id_that_is_not_a_position_is_a_400(header: str) -> None:
    with pytest.raises(Problem) as refused:
        _start(header, 3)
    assert (refused.value.status, refused.value.code) == (400, "invalid_last_event_id")
