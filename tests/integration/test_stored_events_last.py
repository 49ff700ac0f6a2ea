"""Events written by earlier schema generations still read back exactly as they did.

Each ``tests/fixtures/events-vN.sqlite3`` was written once, by the code of its day, and is never
regenerated. Renaming an event class, moving a module or changing an event's shape without an
upcaster breaks these tests instead of orphaning stored records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from domain.personal_data import event_classes
from service.application import RealtyLedger
from service.settings import load_settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
GENERATIONS = sorted(p.stem.removeprefix("events-") for p in FIXTURES.glob("events-v*.sqlite3"))


def open_copy(generation: str, tmp_path: Path) -> RealtyLedger:
    # Work on a copy: opening a SQLite file can write to it (WAL), and the fixture must not change.
    copy = tmp_path / f"events-{generation}.sqlite3"
    shutil.copyfile(FIXTURES / f"events-{generation}.sqlite3", copy)
    return RealtyLedger(load_settings(database_url=f"sqlite:///{copy}"))


def assert_says_at_least(now: dict, then: dict, where: str) -> None:
    for key, value in then.items():
        assert key in now, f"{where}: {key} is gone"
        if isinstance(value, dict) and isinstance(now[key], dict) and key != "data":
            assert_says_at_least(now[key], value, f"{where}.{key}")
        elif key == "data" and isinstance(value, dict) and isinstance(now[key], dict):
            # An event's data reads exactly as written, except for fields a later class version
            # added, which its upcaster gives old events as null (TokenIssued.expires_at).
            added = {k: v for k, v in now[key].items() if k not in value}
            assert all(v is None for v in added.values()), f"{where}: data gained {added!r}"
            assert {k: v for k, v in now[key].items() if k in value} == value, \
                f"{where}: data reads {now[key]!r}, was {value!r}"
        else:
            assert now[key] == value, f"{where}: {key} reads {now[key]!r}, was {value!r}"


def test_there_is_at_least_one_fixture_generation() -> None:
    assert "v1" in GENERATIONS


@pytest.mark.parametrize("generation", GENERATIONS)
def test_every_stored_record_reads_back_as_it_did_when_written(generation: str, tmp_path: Path) -> None:
    expected = json.loads((FIXTURES / f"events-{generation}.expected.json").read_text(encoding="utf-8"))
    app = open_copy(generation, tmp_path)
    try:
        stored_topics = {n.topic for n in app.recorder.select_notifications(start=1, limit=100_000)}
        assert stored_topics == set(expected["topics"])
        for record_id, record in expected["records"].items():
            # Everything a record said then it still says; later generations may add fields.
            assert_says_at_least(app.state(record_id), record["state"], record_id)
            history = app.history(record_id)
            assert len(history) == len(record["history"]), record_id
            for now, then in zip(history, record["history"], strict=True):
                assert_says_at_least(now, then, f"{record_id} v{then['version']}")
    finally:
        app.close()


def test_every_event_type_of_todays_schema_is_covered_by_a_fixture() -> None:
    covered: set[str] = set()
    for generation in GENERATIONS:
        expected = json.loads((FIXTURES / f"events-{generation}.expected.json").read_text(encoding="utf-8"))
        covered |= set(expected["topics"])
    current = {cls.TOPIC for cls in event_classes()}  # type: ignore[attr-defined]
    missing = current - covered
    assert not missing, (
        f"new event types {sorted(missing)} have no stored fixture; "
        "write a new generation with python -m tests.fixtures.make_events_fixture vN"
    )
