"""The retention schedule: the packaged default, every way a schedule can be wrong, calendar
arithmetic, and when a file's clock starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive.retention import (
    PolicyError,
    RetentionFacts,
    clock_started_at,
    is_due,
    load_policy,
    parse_policy,
    retention_end,
)
from domain.service_file_values import RecordClass

CST = timezone(timedelta(hours=8))
GOOD = """
[classes.deal_file]
period = "5y"
starts_at = "closing"
basis = "房地产经纪管理办法 第二十六条"
[classes.customer_file]
period = "36m"
starts_at = "last_contact"
[classes.complaint_record]
period = "90d"
starts_at = "resolution"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "retention.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the packaged default --------------------------------------------------------------------------


def test_the_packaged_default_keeps_deal_files_five_years_from_closing() -> None:
    policy = load_policy()
    assert policy.classes == sorted(c.value for c in RecordClass)
    deal = policy.rule("deal_file")
    assert (str(deal.period), deal.starts_at) == ("5y", "closing")
    assert "第二十六条" in deal.basis and deal.description
    assert (str(policy.rule("customer_file").period), policy.rule("customer_file").starts_at) == ("3y", "last_contact")
    assert (str(policy.rule("complaint_record").period), policy.rule("complaint_record").starts_at) == (
        "3y", "resolution")
    assert deal.describe() == "deal_file: 5y from closing (房地产经纪管理办法 第二十六条)"


def test_the_default_schedule_ships_with_the_package() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'archive = ["default_retention.toml"]' in pyproject
    assert (Path(__file__).resolve().parents[2] / "archive" / "default_retention.toml").is_file()


def test_a_schedule_is_loaded_from_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    policy = load_policy(path)
    assert policy.source == str(path)
    assert str(policy.rule("complaint_record").period) == "90d"
    assert policy.rule("customer_file").describe() == "customer_file: 36m from last_contact"


def test_a_schedule_may_leave_a_class_out_and_then_has_no_rule_for_it() -> None:
    policy = parse_policy('[classes.deal_file]\nperiod = "5y"\nstarts_at = "closing"\n', source="x.toml")
    assert policy.classes == ["deal_file"]
    with pytest.raises(PolicyError) as excinfo:
        policy.rule("customer_file")
    assert str(excinfo.value) == "x.toml: [classes.customer_file] has no rule in this schedule"


# --- bad schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "record_class", "problem"),
    [
        ("[classes.deal_file\nperiod = 5y", None, "is not valid TOML"),
        ("", None, "has no [classes.<record class>] tables"),
        ('title = "x"\n[classes.deal_file]\nperiod = "5y"\nstarts_at = "closing"', None, "unknown key 'title'"),
        ('[classes.tax_file]\nperiod = "5y"\nstarts_at = "closing"', "tax_file", "unknown record class"),
        ('[classes]\ndeal_file = "5y"', "deal_file", "must be a table"),
        ('[classes.deal_file]\nstarts_at = "closing"', "deal_file", "has no period"),
        ('[classes.deal_file]\nperiod = "5y"', "deal_file", "has no starts_at"),
        ('[classes.deal_file]\nperiod = "0y"\nstarts_at = "closing"', "deal_file", "must be above zero"),
        ('[classes.deal_file]\nperiod = "-1y"\nstarts_at = "closing"', "deal_file", "must be above zero"),
        ('[classes.deal_file]\nperiod = "5 years"\nstarts_at = "closing"', "deal_file", "is not a whole number"),
        ('[classes.deal_file]\nperiod = 5\nstarts_at = "closing"', "deal_file", "is not a whole number"),
        ('[classes.deal_file]\nperiod = "2.5y"\nstarts_at = "closing"', "deal_file", "is not a whole number"),
        ('[classes.deal_file]\nperiod = "500y"\nstarts_at = "closing"', "deal_file", "longer than 200 years"),
        ('[classes.deal_file]\nperiod = "5y"\nstarts_at = "signing"', "deal_file", "unknown starts_at 'signing'"),
        ('[classes.deal_file]\nperiod = "5y"\nstarts_at = "resolution"', "deal_file", "does not apply"),
        ('[classes.deal_file]\nyears = 5\nstarts_at = "closing"', "deal_file", "unknown key 'years'"),
        ('[classes.deal_file]\nperiod = "5y"\nstarts_at = "closing"\nbasis = 26', "deal_file", "basis must be a string"),
    ],
    ids=["not-toml", "empty", "unknown-top-key", "unknown-class", "not-a-table", "no-period", "no-starts-at",
         "zero", "negative", "words", "bare-number", "fraction", "too-long", "unknown-clock", "clock-of-another-class",
         "unknown-class-key", "basis-not-text"],
)
def test_a_bad_schedule_is_refused_in_one_line_naming_the_file_the_class_and_the_problem(
    tmp_path: Path, text: str, record_class: str | None, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as excinfo:
        load_policy(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    assert problem in message
    assert excinfo.value.record_class == record_class
    if record_class:
        assert f"[classes.{record_class}]" in message


def test_a_schedule_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "missing.toml")


def test_a_schedule_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[classes.deal_file]\nbasis = "caf\xe9"'.encode("latin-1"))
    with pytest.raises(PolicyError, match="is not valid TOML"):
        load_policy(path)


# --- calendar arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("5y", datetime(2021, 6, 30, 15, 0, tzinfo=CST), datetime(2026, 6, 30, 15, 0, tzinfo=CST)),
        ("1y", datetime(2024, 2, 29, 9, 30, tzinfo=CST), datetime(2025, 2, 28, 9, 30, tzinfo=CST)),
        ("4y", datetime(2024, 2, 29, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
        ("1m", datetime(2025, 1, 31, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)),
        ("1m", datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        ("13m", datetime(2025, 12, 15, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC)),
        ("36m", datetime(2023, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        ("90d", datetime(2025, 12, 1, 8, 0, tzinfo=CST), datetime(2026, 3, 1, 8, 0, tzinfo=CST)),
    ],
    ids=["years", "feb-29-plus-a-year", "feb-29-plus-a-leap-cycle", "jan-31-plus-a-month", "into-a-leap-february",
         "across-a-year", "months-as-years", "days"],
)
def test_periods_are_calendar_years_months_or_days(period: str, start: datetime, end: datetime) -> None:
    policy = parse_policy(f'[classes.deal_file]\nperiod = "{period}"\nstarts_at = "closing"\n')
    assert policy.end("deal_file", start) == end
    assert policy.end("deal_file", start).utcoffset() == start.utcoffset()


def test_years_count_in_the_time_zone_of_the_start() -> None:
    # 29 Feb 2024 at 02:00 in Shanghai is still 28 Feb in UTC: the day that counts is Shanghai's.
    start = datetime(2024, 2, 29, 2, 0, tzinfo=CST)
    end = load_policy().end("deal_file", start)
    assert end == datetime(2029, 2, 28, 2, 0, tzinfo=CST)
    assert load_policy().end("deal_file", start.astimezone(UTC)) == datetime(2029, 2, 28, 18, 0, tzinfo=UTC)


def test_a_start_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        load_policy().end("deal_file", datetime(2024, 1, 1))


# --- when a file's clock starts ----------------------------------------------------------------------


def test_a_deal_file_runs_from_the_closing_and_not_while_the_deal_is_open() -> None:
    policy = load_policy()
    closed = datetime(2026, 3, 15, 10, 0, tzinfo=CST)
    assert retention_end(policy, RetentionFacts("deal_file")) is None
    assert retention_end(policy, RetentionFacts("deal_file", deal_closed_at=closed)) == closed.replace(year=2031)


def test_a_customers_file_runs_from_the_last_contact_only_once_they_are_lost() -> None:
    policy = load_policy()
    contact = datetime(2025, 5, 1, tzinfo=CST)
    assert retention_end(policy, RetentionFacts("customer_file", last_contact_at=contact)) is None
    lost = RetentionFacts("customer_file", customer_lost=True, last_contact_at=contact)
    assert retention_end(policy, lost) == datetime(2028, 5, 1, tzinfo=CST)
    with pytest.raises(ValueError, match="last contact"):
        retention_end(policy, RetentionFacts("customer_file", customer_lost=True))


def test_a_complaint_record_runs_from_the_last_resolution_and_not_while_one_is_open() -> None:
    policy = load_policy()
    first, last = datetime(2025, 1, 10, tzinfo=CST), datetime(2025, 4, 2, tzinfo=CST)
    resolved = RetentionFacts("complaint_record", complaints_resolved_at=(last, first))
    assert retention_end(policy, resolved) == datetime(2028, 4, 2, tzinfo=CST)
    one_open = RetentionFacts("complaint_record", complaints_resolved_at=(first,), complaint_unresolved=True)
    assert retention_end(policy, one_open) is None
    assert retention_end(policy, RetentionFacts("complaint_record")) is None


def test_the_clock_follows_the_schedules_starts_at() -> None:
    facts = RetentionFacts("deal_file", deal_closed_at=datetime(2025, 1, 1, tzinfo=UTC), customer_lost=True,
                           last_contact_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert clock_started_at("closing", facts) == datetime(2025, 1, 1, tzinfo=UTC)
    assert clock_started_at("last_contact", facts) == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock_started_at("signing", facts)


def test_a_file_is_due_once_its_retention_end_has_passed() -> None:
    policy = parse_policy('[classes.deal_file]\nperiod = "30d"\nstarts_at = "closing"\n')
    closed = datetime(2026, 1, 1, tzinfo=UTC)
    facts = RetentionFacts("deal_file", deal_closed_at=closed)
    assert not is_due(policy, facts, closed + timedelta(days=30) - timedelta(seconds=1))
    assert is_due(policy, facts, closed + timedelta(days=30))
    assert not is_due(policy, RetentionFacts("deal_file"), closed + timedelta(days=10_000))
