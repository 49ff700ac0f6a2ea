"""Stored events must stay readable and their personal data findable.

Every event class has its own explicit, stable ``realty.`` topic (a class rename must not orphan
old records), and ``PERSONAL_FIELDS`` names real fields, so the archive encrypts and crypto-shreds
exactly the personal data (PIPL).
"""

from __future__ import annotations

import dataclasses

import pytest
from eventsourcing.utils import resolve_topic

from domain.access_log import PersonalDataAccessLog
from domain.customer import Customer
from domain.deal import Deal
from domain.listing import Listing
from domain.personal_data import event_classes, personal_field_names
from domain.recording import METADATA_FIELDS, RecordedEvent
from domain.service_file import ServiceFile
from domain.staff import StaffMember

AGGREGATES = (Customer, Listing, Deal, StaffMember, PersonalDataAccessLog, ServiceFile)


def _event_classes() -> list[type[RecordedEvent]]:
    """Each aggregate's concrete event classes once (``Created`` is an alias; ``Event`` is the base)."""
    found: list[type[RecordedEvent]] = []
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if (
                isinstance(value, type)
                and issubclass(value, RecordedEvent)
                and value is not aggregate.Event
                and value not in found
            ):
                assert name == value.__name__ or name == "Created", f"{aggregate.__name__}.{name} is an alias"
                found.append(value)
    return found


EVENT_CLASSES = _event_classes()


def _id(cls: type[RecordedEvent]) -> str:
    return cls.event_name()


def test_every_aggregate_has_its_events_and_its_own_topic() -> None:
    # A new event class changes these counts: give it a topic here and a unit test that records it.
    counts = {
        a.__name__: sum(1 for e in EVENT_CLASSES if e.event_name().startswith(f"{a.__name__}."))
        for a in AGGREGATES
    }
    assert counts == {
        "Customer": 30, "Listing": 7, "Deal": 13, "StaffMember": 8, "PersonalDataAccessLog": 2, "ServiceFile": 13,
    }
    topics = [vars(a)["TOPIC"] for a in AGGREGATES]
    assert topics == [
        "realty.customer", "realty.listing", "realty.deal", "realty.staff", "realty.access_log", "realty.service_file",
    ]
    for aggregate in AGGREGATES:
        assert resolve_topic(vars(aggregate)["TOPIC"]) is aggregate


def test_every_event_base_derives_from_the_recorded_event() -> None:
    for aggregate in AGGREGATES:
        assert issubclass(aggregate.Event, RecordedEvent)
        assert aggregate.Created.__name__ in {"Received", "Listed", "Drafted", "Registered", "Opened"}


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=_id)
def test_every_event_has_its_own_explicit_realty_topic(event_class: type[RecordedEvent]) -> None:
    topic = vars(event_class).get("TOPIC")  # declared on the class itself, not inherited
    assert isinstance(topic, str)
    assert topic.startswith("realty.")
    assert resolve_topic(topic) is event_class


def test_event_topics_are_unique() -> None:
    topics = [vars(e)["TOPIC"] for e in EVENT_CLASSES] + [vars(a)["TOPIC"] for a in AGGREGATES]
    assert len(topics) == len(set(topics))


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=_id)
def test_an_events_topic_names_its_aggregate(event_class: type[RecordedEvent]) -> None:
    aggregate = next(a for a in AGGREGATES if event_class.event_name().startswith(f"{a.__name__}."))
    assert vars(event_class)["TOPIC"].startswith(vars(aggregate)["TOPIC"] + ".")


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=_id)
def test_personal_fields_name_only_real_fields_of_the_event(event_class: type[RecordedEvent]) -> None:
    fields = {f.name for f in dataclasses.fields(event_class)}
    personal = set(event_class.PERSONAL_FIELDS)
    assert isinstance(event_class.PERSONAL_FIELDS, tuple)
    assert personal <= fields
    assert not personal & set(METADATA_FIELDS)


# Field names that hold personal information wherever they appear.
ALWAYS_PERSONAL = {"name", "phone", "id_number", "payer_account"}
# Free text written about the customer is personal information too (PIPL art. 4).
FREE_TEXT_ABOUT_THE_CUSTOMER = {
    "Customer.FeedbackRecorded": ("objections",),
    "Customer.RequestRaised": ("subject",),
    "Customer.RequestResponded": ("response",),
    "Customer.ComplaintFiled": ("description",),
    "Customer.ComplaintResolved": ("resolution",),
    "Customer.ReturnVisitCompleted": ("summary",),
    "Customer.SurveyAnswered": ("comment",),
    "Customer.MarkedLost": ("note",),
    # On a customer's or a deal's service file: reasons and purposes, under names of their own.
    "ServiceFile.DocumentCollected": ("change_reason",),
    "ServiceFile.Reopened": ("reopen_reason",),
    "ServiceFile.DocumentRead": ("read_purpose",),
    "ServiceFile.HoldPlaced": ("hold_reason",),
    "ServiceFile.HoldReleased": ("release_reason",),
    "ServiceFile.DispositionRejected": ("refusal_reason",),
}


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=_id)
def test_a_field_that_holds_personal_data_is_always_declared_personal(event_class: type[RecordedEvent]) -> None:
    fields = {f.name for f in dataclasses.fields(event_class)}
    assert fields & ALWAYS_PERSONAL <= set(event_class.PERSONAL_FIELDS)


def test_the_customers_name_phone_and_id_number_and_the_payers_account_are_personal() -> None:
    assert set(Customer.PersonalDetailsRecorded.PERSONAL_FIELDS) == {"name", "phone", "id_number"}
    assert set(Customer.ContactDetailsCorrected.PERSONAL_FIELDS) == {"name", "phone", "id_number"}
    assert Deal.PaymentRecorded.PERSONAL_FIELDS == ("payer_account",)
    assert StaffMember.Registered.PERSONAL_FIELDS == ("name",)
    declaring = {e.event_name() for e in EVENT_CLASSES if e.PERSONAL_FIELDS}
    assert declaring == {
        "Customer.PersonalDetailsRecorded",
        "Customer.ContactDetailsCorrected",
        "Deal.PaymentRecorded",
        "StaffMember.Registered",
        *FREE_TEXT_ABOUT_THE_CUSTOMER,
    }
    for name, fields in FREE_TEXT_ABOUT_THE_CUSTOMER.items():
        cls = next(e for e in EVENT_CLASSES if e.event_name() == name)
        assert cls.PERSONAL_FIELDS == fields


def test_the_models_personal_data_register_sees_the_same_events_and_fields() -> None:
    assert set(event_classes()) == set(EVENT_CLASSES)
    assert len(event_classes()) == len(EVENT_CLASSES)
    free_text = {f for fields in FREE_TEXT_ABOUT_THE_CUSTOMER.values() for f in fields}
    assert personal_field_names() == ALWAYS_PERSONAL | free_text


_LIBRARY_FIELDS = {"originator_id", "originator_version", "timestamp"}


def test_a_customers_erasure_is_recorded_by_two_events_of_their_own() -> None:
    # The shredding record outlives the shredding: it holds the basis, dates and key ids only.
    fields = {
        e.event_name(): ({f.name for f in dataclasses.fields(e)} - set(METADATA_FIELDS) - _LIBRARY_FIELDS, vars(e)["TOPIC"])
        for e in (Customer.ErasureRequested, Customer.PersonalDataErased)
    }
    assert fields == {
        "Customer.ErasureRequested": ({"legal_basis", "retention_until"}, "realty.customer.erasure_requested"),
        "Customer.PersonalDataErased": ({"destroyed_keys", "cause"}, "realty.customer.personal_data_erased"),
    }
    assert Customer.ErasureRequested.PERSONAL_FIELDS == Customer.PersonalDataErased.PERSONAL_FIELDS == ()
