"""How an event's shape changes without orphaning stored records: class_version and an upcaster.

The model has no upcasters yet (every event is at version 1). This test pins the mechanism the
project relies on, with the library's own mapper and our conventions (explicit topic, metadata in
the state): an event stored at version 1 is read back through ``upcast_v1_v2`` after the class moved
to version 2, and the same topic resolves to the new class.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent, UUIDAsHex

from domain.identity import Actor, Role
from domain.recording import Recordable, RecordedEvent


def mapper() -> Mapper[uuid.UUID]:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


class Visit(Recordable, Aggregate):
    TOPIC = "realty.test.visit"

    class Event(RecordedEvent):
        pass

    class Booked(Event, Aggregate.Created):
        TOPIC = "realty.test.visit.booked"
        # Version 2 split "where" into district and address; version 1 events had only "where".
        class_version = 2
        district: str
        address: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            district, _, address = state.pop("where").partition(" ")
            state["district"], state["address"] = district, address

        def apply(self, visit: Any) -> None:
            visit.district, visit.address = self.district, self.address

    Created = Booked


def test_an_event_stored_at_version_1_reads_back_through_its_upcaster() -> None:
    visit_id = uuid.uuid4()
    actor = Actor(id=uuid.uuid4(), role=Role.PROPERTY_CONSULTANT, correlation_id="c-1")
    transcoder = mapper().transcoder
    # A row as version-1 code wrote it: no class_version key, the old field, our metadata.
    old_state = transcoder.encode({
        "timestamp": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "originator_topic": "realty.test.visit",
        "actor_id": actor.id,
        "actor_role": "property_consultant",
        "on_behalf_of": None,
        "correlation_id": "c-1",
        "occurred_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "where": "浦东 锦绣路 1888 弄",
    })
    stored = StoredEvent(originator_id=visit_id, originator_version=1,
                         topic="realty.test.visit.booked", state=old_state)

    event = mapper().to_domain_event(stored)

    assert type(event) is Visit.Booked
    assert (event.district, event.address) == ("浦东", "锦绣路 1888 弄")
    assert event.actor_id == actor.id and event.correlation_id == "c-1"
    visit = event.mutate(None)
    assert visit.address == "锦绣路 1888 弄"


def test_new_events_are_stored_with_their_class_version() -> None:
    actor = Actor(id=uuid.uuid4(), role=Role.PROPERTY_CONSULTANT)
    visit = Visit._create_recorded(Visit.Booked, actor, None, district="徐汇", address="漕溪北路 1 号")
    stored = mapper().to_stored_event(visit.collect_events()[0])
    state = mapper().transcoder.decode(stored.state)
    assert stored.topic == "realty.test.visit.booked"
    assert state["class_version"] == 2
    assert "where" not in state
