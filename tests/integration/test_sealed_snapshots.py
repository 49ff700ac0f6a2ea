"""Snapshots are sealed like events: bound to their row, personal fields under the subject's key,
erased with it (SQLite and PostgreSQL keyrings)."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from archive.sealing_mapper import SealedStateInvalid
from domain.customer import Customer
from domain.personal_data import ERASED
from service.application import RealtyLedger
from tests.conftest import Team
from tests.integration.scenarios import receive

NAME, PHONE = "周慧敏", "13612345678"


def test_a_snapshot_is_sealed_bound_to_its_row_and_shredded_with_its_subject(app: RealtyLedger, team: Team) -> None:
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE)
    aggregate = app.repository.get(uuid.UUID(customer))
    snapshot = Snapshot.take(aggregate)

    stored = app.mapper.to_stored_event(snapshot)

    assert stored.state[:1] == b"\x01"
    assert NAME.encode() not in stored.state and PHONE.encode() not in stored.state
    restored = app.mapper.to_domain_event(stored)
    assert restored.state["name"] == NAME and restored.state["phone"] == PHONE
    assert isinstance(restored.mutate(None), Customer)
    # Another version's row: the seal does not open there.
    moved = StoredEvent(stored.originator_id, stored.originator_version + 1, stored.topic, stored.state)
    with pytest.raises(SealedStateInvalid):
        app.mapper.to_domain_event(moved)

    app.request_erasure(team.compliance, customer, legal_basis="consent_withdrawn")

    erased = app.mapper.to_domain_event(stored)
    assert erased.state["name"] == ERASED and erased.state["phone"] == ERASED
