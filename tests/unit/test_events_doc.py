"""docs/events.md documents every event type of the code, with exactly its fields, the personal ones
marked, and the envelope the feed really sends — so a new event or field cannot go undocumented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from domain.personal_data import event_classes
from domain.recording import METADATA_FIELDS, RecordedEvent
from service.event_feed import SECRET_FIELDS, envelope
from tests.unit.builders import received_customer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
_LIBRARY_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_HEADING = re.compile(r"^#### `([a-z_.]+)`$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#", re.MULTILINE)
_ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| (masked|—) \|$", re.MULTILINE)


def sections() -> dict[str, str]:
    """Topic -> the text of its section (up to the next heading)."""
    found: dict[str, str] = {}
    for match in _HEADING.finditer(DOC):
        following = _ANY_HEADING.search(DOC, match.end())
        found[match.group(1)] = DOC[match.end():following.start() if following else len(DOC)]
    return found


def sent_fields(cls: type[RecordedEvent]) -> list[str]:
    skip = set(METADATA_FIELDS) | _LIBRARY_FIELDS | SECRET_FIELDS.get(cls.TOPIC, frozenset())  # type: ignore[attr-defined]
    return [f.name for f in dataclasses.fields(cls) if f.name not in skip]


def test_every_event_type_has_a_section_and_every_section_an_event_type() -> None:
    code = {cls.TOPIC for cls in event_classes()}  # type: ignore[attr-defined]
    documented = set(sections())
    assert not code - documented, f"undocumented in docs/events.md: {sorted(code - documented)}"
    assert not documented - code, f"docs/events.md documents topics the code does not have: {sorted(documented - code)}"


@pytest.mark.parametrize("cls", event_classes(), ids=lambda cls: cls.TOPIC)  # type: ignore[attr-defined]
def test_each_section_lists_exactly_the_fields_the_feed_sends_and_marks_the_personal_ones(
    cls: type[RecordedEvent],
) -> None:
    section = sections().get(cls.TOPIC)  # type: ignore[attr-defined]
    assert section is not None, f"{cls.TOPIC} has no section in docs/events.md"  # type: ignore[attr-defined]
    rows = _ROW.findall(section)
    assert [name for name, _ in rows] == sent_fields(cls)
    assert {name for name, mark in rows if mark == "masked"} == set(cls.PERSONAL_FIELDS)
    if not rows:
        assert "`data` is `{}`" in section
    for secret in SECRET_FIELDS.get(cls.TOPIC, frozenset()):  # type: ignore[attr-defined]
        assert f"`{secret}` is recorded in the log but never sent" in section


def test_the_envelope_table_is_the_envelope_the_feed_sends() -> None:
    start = DOC.index("## The envelope")
    table = DOC[start:DOC.index("```json", start)]
    documented = re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)
    event = received_customer().collect_events()[0]
    assert documented == list(envelope(event, 1, 0))
