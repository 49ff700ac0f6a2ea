"""Checked personal data: mainland phone numbers and resident ID numbers (GB 11643-1999)."""

from __future__ import annotations

import random

import pytest

from domain.customer_values import check_id_number, check_phone, id_check_character
from domain.errors import InvalidValue
from tests.unit.builders import OTHER_VALID_ID_NUMBER, VALID_ID_NUMBER


def _iso7064_mod_11_2(first17: str) -> str:
    """The check character as ISO 7064 MOD 11-2 defines it, written independently of the domain."""
    total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


# --- phone numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("13812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("02112345678", "02112345678"),
        ("0755-1234567", "0755-1234567"),
    ],
)
def test_a_mainland_mobile_or_landline_number_is_accepted_without_spaces_or_country_code(
    given: str, stored: str
) -> None:
    assert check_phone(given) == stored


@pytest.mark.parametrize(
    "phone",
    [
        "12812345678",  # mobile numbers start 13-19
        "1381234567",  # ten digits
        "138123456789",  # twelve digits
        "+1 415 555 0100",
        "010-123456",  # landline too short
        "10-12345678",  # area code must start with 0
        "1381234567a",
        "",
        "+86",
    ],
)
def test_a_number_that_is_not_a_mainland_phone_is_refused(phone: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        check_phone(phone)
    assert excinfo.value.code == "invalid_value"
    assert excinfo.value.context == {"field": "phone"}


@pytest.mark.parametrize("phone", [13812345678, None])
def test_a_phone_number_must_be_text(phone: object) -> None:
    with pytest.raises(InvalidValue, match="must be text") as excinfo:
        check_phone(phone)  # type: ignore[arg-type]
    assert excinfo.value.code == "invalid_value"


# --- resident ID numbers ----------------------------------------------------------------------------


def test_the_standards_example_numbers_are_valid() -> None:
    assert check_id_number(VALID_ID_NUMBER) == VALID_ID_NUMBER
    assert check_id_number(OTHER_VALID_ID_NUMBER) == OTHER_VALID_ID_NUMBER


def test_an_id_number_is_stored_upper_case_and_trimmed() -> None:
    assert check_id_number("  11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("id_number", "problem"),
    [
        ("110105194912310021", "check character does not match"),  # should end in X
        ("440524188001010015", "check character does not match"),  # should end in 4
        ("11010519491231002", "17 digits and a check character"),
        ("11010519491231002X1", "17 digits and a check character"),
        ("1101051949123100AX", "17 digits and a check character"),
        ("110105491231002", "17 digits and a check character"),  # the old 15-digit format
        ("", "17 digits and a check character"),
    ],
)
def test_a_malformed_id_number_is_refused(id_number: str, problem: str) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        check_id_number(id_number)
    assert excinfo.value.code == "invalid_value"
    assert excinfo.value.context == {"field": "id_number"}
    assert problem in excinfo.value.message
    assert id_number.strip() == "" or id_number not in excinfo.value.message


def test_an_id_number_must_be_text() -> None:
    with pytest.raises(InvalidValue, match="must be text"):
        check_id_number(110105194912310020)  # type: ignore[arg-type]


def test_changing_any_single_digit_breaks_the_check() -> None:
    body = VALID_ID_NUMBER[:17]
    for position in range(17):
        for digit in "0123456789":
            if digit == body[position]:
                continue
            changed = body[:position] + digit + body[position + 1 :] + VALID_ID_NUMBER[17]
            with pytest.raises(InvalidValue):
                check_id_number(changed)


def test_the_check_character_is_computed_as_the_standard_says() -> None:
    assert id_check_character(VALID_ID_NUMBER[:17]) == "X"
    assert id_check_character(OTHER_VALID_ID_NUMBER[:17]) == "4"
    generator = random.Random(11643)
    seen = set()
    for _ in range(2_000):
        body = "".join(generator.choice("0123456789") for _ in range(17))
        check = id_check_character(body)
        assert check == _iso7064_mod_11_2(body)
        assert check_id_number(body + check) == body + check
        seen.add(check)
    assert seen == set("0123456789X")


def test_the_check_character_needs_exactly_17_digits() -> None:
    with pytest.raises(ValueError):
        id_check_character("1234")
