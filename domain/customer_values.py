"""Value vocabulary of the customer record: channels, stages, reasons, and checked personal data."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from domain.errors import InvalidValue
from domain.recording import require_whole
from domain.rules import SCORE_MAX, SCORE_MIN


class Channel(StrEnum):
    WALK_IN = "walk_in"
    PHONE = "phone"
    ONLINE = "online"
    REFERRAL = "referral"


class Stage(StrEnum):
    """The manual's five stages (五个阶段), plus lost (流失)."""

    RECEPTION = "reception"
    MATCHING = "matching"
    SIGNING = "signing"
    TRANSACTION = "transaction"
    AFTER_SALES = "after_sales"
    LOST = "lost"


class Purpose(StrEnum):
    HOME = "home"
    UPGRADE = "upgrade"
    INVESTMENT = "investment"
    EDUCATION = "education"  # 学区房
    RETIREMENT = "retirement"


class PaymentMethod(StrEnum):
    FULL = "full"
    COMMERCIAL_MORTGAGE = "commercial_mortgage"
    PROVIDENT_FUND = "provident_fund"  # 公积金贷款
    COMBINED_LOAN = "combined_loan"  # 组合贷


class Qualification(StrEnum):
    """购房资格: whether the customer may buy under local purchase restrictions."""

    QUALIFIED = "qualified"
    NOT_QUALIFIED = "not_qualified"
    PENDING = "pending"


class TopicExplained(StrEnum):
    PROPERTY_RIGHTS = "property_rights"  # 产权清晰
    TENURE = "tenure"  # 产权年限
    MORTGAGE_POLICY = "mortgage_policy"  # 按揭政策


class ShowingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONDUCTED = "conducted"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class ReassignmentReason(StrEnum):
    HAND_OVER = "hand_over"
    LEAVE = "leave"
    WORKLOAD = "workload"


class LossReason(StrEnum):
    PRICE = "price"
    LOCATION = "location"
    COMPETITOR = "competitor"
    FINANCING = "financing"
    NO_RESPONSE = "no_response"
    SERVICE = "service"
    OTHER = "other"


class ComplaintSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DealMilestone(StrEnum):
    """Deal progress as the customer's record sees it; drives the customer's stage."""

    DRAFTED = "drafted"
    SIGNED = "signed"
    HANDED_OVER = "handed_over"
    CLOSED = "closed"
    CANCELLED = "cancelled"


def derive_stage(*, lost: bool, milestones: Iterable[str], matching: bool) -> Stage:
    """The customer's stage from what happened to them: the aggregate and the views share this.

    ``milestones`` are the latest milestone of each of the customer's deals; ``matching`` says the
    customer has needs, a shortlist, showings or any deal on record.
    """
    if lost:
        return Stage.LOST
    reached = set(milestones)
    if reached & {DealMilestone.HANDED_OVER, DealMilestone.CLOSED}:
        return Stage.AFTER_SALES
    if DealMilestone.SIGNED in reached:
        return Stage.TRANSACTION
    if DealMilestone.DRAFTED in reached:
        return Stage.SIGNING
    # A cancelled deal leaves the customer matching again, never back at reception.
    return Stage.MATCHING if matching else Stage.RECEPTION


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def check_phone(phone: str) -> str:
    """A mainland mobile (11 digits) or a landline with area code; spaces and +86 tolerated."""
    if not isinstance(phone, str):
        raise InvalidValue("phone", "must be text")
    digits = phone.replace(" ", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise InvalidValue("phone", "is not a valid mainland mobile or landline number")
    return digits


def check_id_number(id_number: str) -> str:
    """Resident identity card number (GB 11643-1999): 18 characters with a mod-11 check."""
    if not isinstance(id_number, str):
        raise InvalidValue("id_number", "must be text")
    value = id_number.strip().upper()
    if len(value) != 18 or not value[:17].isdigit():
        raise InvalidValue("id_number", "must be 17 digits and a check character")
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        raise InvalidValue("id_number", "check character does not match")
    return value


def id_check_character(first17: str) -> str:
    """The check character for 17 digits; the demo uses it to make valid numbers."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_score(field: str, score: int) -> int:
    """A 1-5 score: feedback interest and every survey dimension."""
    return require_whole(field, score, SCORE_MIN, SCORE_MAX)
