"""Who read whose personal data, and when: one log per reader per day (PIPL accountability).

Reading personal data in full is an act on the record like any other. Each reader's reads of a
day go to one aggregate, whose id is derived from the reader and the day, so a compliance officer
can find it without an index and a busy reader's reads do not contend with anyone else's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from eventsourcing.domain import Aggregate

from domain.identity import Actor
from domain.recording import Recordable, RecordedEvent, require_text

_NAMESPACE = uuid.UUID("5f1d1c8e-6a3b-4c1e-9f0e-2d4b7a9c3e51")


def access_log_id(reader: uuid.UUID, day: date) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{reader}:{day.isoformat()}")


class PersonalDataAccessLog(Recordable, Aggregate):
    TOPIC = "realty.access_log"

    class Event(RecordedEvent):
        pass

    class Opened(Event, Aggregate.Created):
        TOPIC = "realty.access_log.opened"
        reader: uuid.UUID
        day: str

        def apply(self, log: PersonalDataAccessLog) -> None:
            log.reader, log.day, log.reads = self.reader, self.day, []

    Created = Opened

    class PersonalDataRead(Event):
        TOPIC = "realty.access_log.personal_data_read"
        subject_id: uuid.UUID
        subject_kind: str
        purpose: str

        def apply(self, log: PersonalDataAccessLog) -> None:
            log.reads.append({"subject_id": self.subject_id, "subject_kind": self.subject_kind,
                              "purpose": self.purpose, "at": self.occurred_at})

    @classmethod
    def open(cls, *, reader: Actor, day: date, occurred_at: datetime | None = None) -> PersonalDataAccessLog:
        log: PersonalDataAccessLog = cls._create_recorded(
            cls.Opened, reader, occurred_at, id=access_log_id(reader.id, day), reader=reader.id,
            day=day.isoformat(),
        )
        return log

    def record_read(
        self, *, subject_id: uuid.UUID, subject_kind: str, purpose: str, reader: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        self._record(
            self.PersonalDataRead, reader, occurred_at, subject_id=subject_id,
            subject_kind=require_text("subject_kind", subject_kind, 20), purpose=require_text("purpose", purpose, 100),
        )
