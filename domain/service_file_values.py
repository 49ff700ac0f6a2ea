"""The vocabulary of service files (服务档案, manual ch. 7): record classes, document kinds, the
checklist each class must meet before it is filed, and how file ids and archive numbers derive.

The record classes here are the vocabulary the retention policy (``archive.retention``) speaks:
a policy may give a period only to a class the domain knows, and only from a clock that class has.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from domain.rules import ARCHIVE_TIME_ZONE


class OwnerKind(StrEnum):
    CUSTOMER = "customer"
    DEAL = "deal"


class RecordClass(StrEnum):
    DEAL_FILE = "deal_file"  # the deal's contract file (房地产经纪服务合同等)
    CUSTOMER_FILE = "customer_file"  # a customer's own papers (ID copy)
    COMPLAINT_RECORD = "complaint_record"  # a customer's complaints and their handling


class DocumentKind(StrEnum):
    CONTRACT = "contract"
    ID_COPY = "id_copy"
    RECEIPT = "receipt"
    SURVEY_FORM = "survey_form"
    COMPLAINT_FORM = "complaint_form"
    OTHER = "other"


# Whose record a file of each class belongs to.
OWNER_OF: dict[RecordClass, OwnerKind] = {
    RecordClass.DEAL_FILE: OwnerKind.DEAL,
    RecordClass.CUSTOMER_FILE: OwnerKind.CUSTOMER,
    RecordClass.COMPLAINT_RECORD: OwnerKind.CUSTOMER,
}

# 归档流程 (7.2): what must be on file before a file of each class is filed.
CHECKLISTS: dict[RecordClass, frozenset[DocumentKind]] = {
    RecordClass.DEAL_FILE: frozenset({DocumentKind.CONTRACT, DocumentKind.ID_COPY, DocumentKind.RECEIPT}),
    RecordClass.CUSTOMER_FILE: frozenset({DocumentKind.ID_COPY}),
    RecordClass.COMPLAINT_RECORD: frozenset({DocumentKind.COMPLAINT_FORM}),
}

# The events that may start each class's retention clock (a policy's ``starts_at``):
# a deal file runs from the deal's closing, a customer's file from the last contact with a
# customer lost to the team, a complaint record from the resolution of the last complaint.
CLOCKS: dict[RecordClass, frozenset[str]] = {
    RecordClass.DEAL_FILE: frozenset({"closing"}),
    RecordClass.CUSTOMER_FILE: frozenset({"last_contact"}),
    RecordClass.COMPLAINT_RECORD: frozenset({"resolution"}),
}
ALL_CLOCKS = frozenset().union(*CLOCKS.values())

# The first letters of an archive number (档案号).
CLASS_CODES: dict[RecordClass, str] = {
    RecordClass.DEAL_FILE: "DF",
    RecordClass.CUSTOMER_FILE: "CF",
    RecordClass.COMPLAINT_RECORD: "CR",
}

_NAMESPACE = uuid.UUID("0b6f2f64-3c1a-4d59-9a57-6f2d8e41c0a7")


def service_file_id(owner_kind: str, owner_id: uuid.UUID, record_class: str) -> uuid.UUID:
    """One file per record and class, found without an index: the id derives from both."""
    return uuid.uuid5(_NAMESPACE, f"{owner_kind}:{owner_id}:{record_class}")


def archive_number(record_class: str, file_id: uuid.UUID, filed_at: datetime) -> str:
    """档案号: class code, year of filing (China Standard Time) and 12 hex digits of the file id.

    Deterministic, so filing again after a reopening never changes it (the first one is kept), and
    unique as far as 48 bits of a random-looking id are (a collision needs millions of files of one
    class in one year).
    """
    year = filed_at.astimezone(ARCHIVE_TIME_ZONE).year
    return f"{CLASS_CODES[RecordClass(record_class)]}-{year}-{file_id.hex[:12].upper()}"


def missing_documents(record_class: str, kinds: set[str]) -> list[str]:
    return sorted(k.value for k in CHECKLISTS[RecordClass(record_class)] if k.value not in kinds)
