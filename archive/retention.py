"""The retention schedule: how long each class of service file is kept, and from when.

The schedule is a TOML file the archivist can read (the packaged default is
``archive/default_retention.toml``; a deployment may point at its own). Each record class of the
domain (``domain.service_file_values.RecordClass``: the vocabulary) may have one rule::

    [classes.deal_file]
    description = "Deal and contract files"
    period = "5y"              # a whole number of years (y), months (m) or days (d), above zero
    starts_at = "closing"      # the event that starts the clock; one the class has
    basis = "房地产经纪管理办法 第二十六条"

Years and months are calendar ones, counted in the time zone of the start: a start on 29 February
plus one year ends on 28 February (the day is clamped to the end of a shorter month, so 31 January
plus one month is 28 or 29 February). Anything the loader does not understand is refused with one
``PolicyError`` naming the file, the class and the problem; a schedule that half-loads would keep
data too long or destroy it too early.

``retention_end`` turns the facts of one file (when its deal closed, when a lost customer was
last contacted, when its complaints were resolved) into the end of its retention, or ``None``
while the clock has not started (an open deal, an unresolved complaint, a customer still served).
"""

from __future__ import annotations

import calendar
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from domain.service_file_values import ALL_CLOCKS, CLOCKS, RecordClass

DEFAULT_POLICY = "default_retention.toml"
_PERIOD = re.compile(r"\s*(-?\d+)\s*([ymd])\s*")
_UNITS = {"y": "years", "m": "months", "d": "days"}
_KEYS = frozenset({"description", "period", "starts_at", "basis"})


class PolicyError(Exception):
    """The retention schedule cannot be used: one line naming the file, the class and the problem."""

    def __init__(self, source: str, problem: str, record_class: str | None = None) -> None:
        where = f"{source}: [classes.{record_class}]" if record_class else f"{source}:"
        super().__init__(" ".join(f"{where} {problem}".split()))
        self.source, self.record_class, self.problem = source, record_class, problem


@dataclass(frozen=True)
class Period:
    count: int
    unit: str  # "y", "m" or "d"

    def after(self, start: datetime) -> datetime:
        if self.unit == "d":
            return start + timedelta(days=self.count)
        months = self.count * (12 if self.unit == "y" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        year, month = start.year + year, month + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


@dataclass(frozen=True)
class RetentionRule:
    record_class: str
    period: Period
    starts_at: str
    description: str = ""
    basis: str = ""

    def describe(self) -> str:
        """One line for a disposition proposal: the class, the period and its clock, and the basis."""
        text = f"{self.record_class}: {self.period} from {self.starts_at}"
        return f"{text} ({self.basis})" if self.basis else text


@dataclass(frozen=True)
class RetentionPolicy:
    source: str
    rules: dict[str, RetentionRule]

    @property
    def classes(self) -> list[str]:
        return sorted(self.rules)

    def rule(self, record_class: str) -> RetentionRule:
        if record_class not in self.rules:
            raise PolicyError(self.source, "has no rule in this schedule", record_class)
        return self.rules[record_class]

    def end(self, record_class: str, started_at: datetime) -> datetime:
        """When a file of ``record_class`` whose clock started at ``started_at`` may be destroyed."""
        if not isinstance(started_at, datetime) or started_at.utcoffset() is None:
            raise ValueError("started_at must be a date-time with a time zone")
        return self.rule(record_class).period.after(started_at)


def load_policy(path: str | Path | None = None) -> RetentionPolicy:
    """The schedule in ``path``, or the packaged default when ``path`` is None."""
    if path is None:
        resource = resources.files("archive") / DEFAULT_POLICY
        return parse_policy(resource.read_bytes(), source=DEFAULT_POLICY)
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    return parse_policy(data, source=str(path))


def parse_policy(data: bytes | str, *, source: str = "<policy>") -> RetentionPolicy:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        document = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(source, f"is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"classes"})
    if unknown:
        raise PolicyError(source, f"unknown key {unknown[0]!r} (only [classes.<record class>] tables)")
    classes = document.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise PolicyError(source, "has no [classes.<record class>] tables")
    return RetentionPolicy(source, {name: _rule(source, name, body) for name, body in classes.items()})


def _rule(source: str, name: str, body: Any) -> RetentionRule:
    known = [c.value for c in RecordClass]
    if name not in known:
        raise PolicyError(source, f"unknown record class (the domain knows {', '.join(known)})", name)
    if not isinstance(body, dict):
        raise PolicyError(source, "must be a table", name)
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise PolicyError(source, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_KEYS))})", name)
    if "period" not in body:
        raise PolicyError(source, "has no period", name)
    period = _period(source, name, body["period"])
    starts_at = body.get("starts_at")
    if starts_at is None:
        raise PolicyError(source, "has no starts_at", name)
    if starts_at not in ALL_CLOCKS:
        raise PolicyError(source, f"unknown starts_at {starts_at!r} (one of {', '.join(sorted(ALL_CLOCKS))})", name)
    allowed = CLOCKS[RecordClass(name)]
    if starts_at not in allowed:
        raise PolicyError(source, f"starts_at {starts_at!r} does not apply (use {', '.join(sorted(allowed))})", name)
    for key in ("description", "basis"):
        if not isinstance(body.get(key, ""), str):
            raise PolicyError(source, f"{key} must be a string", name)
    return RetentionRule(name, period, starts_at, body.get("description", ""), body.get("basis", ""))


def _period(source: str, name: str, value: Any) -> Period:
    match = _PERIOD.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PolicyError(source, f"period {value!r} is not a whole number of y, m or d, such as \"5y\"", name)
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise PolicyError(source, f"period {value!r} must be above zero", name)
    if count > 200 * (1 if unit == "y" else 12 if unit == "m" else 366):
        raise PolicyError(source, f"period {value!r} is longer than 200 years", name)
    return Period(count, unit)


# --- when the clock of one file started ----------------------------------------------------------


@dataclass(frozen=True)
class RetentionFacts:
    """What the service knows about one file's records, as primitives.

    ``deal_closed_at``: when the deal ended (closed, or cancelled), None while it is open.
    ``customer_lost``/``last_contact_at``: a customer's file runs only once they are lost to the
    team, from the last contact with them. ``complaints_resolved_at``/``complaint_unresolved``:
    a complaint record runs from the last resolution, and not while any complaint is open.
    """

    record_class: str
    deal_closed_at: datetime | None = None
    customer_lost: bool = False
    last_contact_at: datetime | None = None
    complaints_resolved_at: tuple[datetime, ...] = ()
    complaint_unresolved: bool = False


def clock_started_at(starts_at: str, facts: RetentionFacts) -> datetime | None:
    """When the ``starts_at`` event happened for this file, or None if it has not (yet)."""
    if starts_at == "closing":
        return facts.deal_closed_at
    if starts_at == "last_contact":
        if not facts.customer_lost:
            return None
        if facts.last_contact_at is None:
            raise ValueError("a lost customer's facts need the time of the last contact")
        return facts.last_contact_at
    if starts_at == "resolution":
        if facts.complaint_unresolved or not facts.complaints_resolved_at:
            return None
        return max(facts.complaints_resolved_at)
    raise ValueError(f"unknown starts_at {starts_at!r}")


def retention_end(policy: RetentionPolicy, facts: RetentionFacts) -> datetime | None:
    """The end of the file's retention under ``policy``, or None while its clock has not started."""
    rule = policy.rule(facts.record_class)
    started = clock_started_at(rule.starts_at, facts)
    return None if started is None else policy.end(facts.record_class, started)


def is_due(policy: RetentionPolicy, facts: RetentionFacts, now: datetime) -> bool:
    """Whether the file's retention has ended by ``now`` (so its disposition may be proposed)."""
    end = retention_end(policy, facts)
    return end is not None and end <= now
