"""The demo loader tells a whole, rule-abiding story, and the same story for the same seed.

The first test runs on SQLite and PostgreSQL (the ``app`` fixture) and checks the summary against
the store itself: the demo's own events (found by the correlation id prefix every demo command
carries, so other tests writing to a shared PostgreSQL do not disturb the count), the records
they create, and every customer's stage as the application derives it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.customer_values import Stage
from service.application import RealtyLedger
from service.demo import DemoSummary, load_demo
from service.settings import load_settings

CUSTOMERS = 30
# One fixed "now" for the module, so that runs compared with each other end on the same day.
NOW = datetime.now(UTC) - timedelta(hours=1)


def demo_events(app: RealtyLedger, after: int, summary: DemoSummary) -> list[tuple[str, Any]]:
    """(stored topic, domain event) of every event this demo run wrote after notification ``after``."""
    prefix = f"demo-{summary.run_id}-"
    found = []
    start = after + 1
    while True:
        batch = app.recorder.select_notifications(start=start, limit=1000)
        for notification in batch:
            event = app.mapper.to_domain_event(notification)
            if event.correlation_id.startswith(prefix):
                found.append((notification.topic, event))
        if len(batch) < 1000:
            return found
        start = batch[-1].id + 1


def test_a_small_demo_covers_every_stage_and_its_summary_matches_the_store(app: RealtyLedger) -> None:
    head, count = app.log_head(), app.event_count()
    done: list[int] = []

    summary = load_demo(app, customers=CUSTOMERS, seed=7, now=NOW, progress=done.append)

    assert done == list(range(1, CUSTOMERS + 1))
    events = demo_events(app, head, summary)
    assert len(events) == summary.events
    if app.settings.database.backend == "sqlite":
        assert app.event_count() == count + summary.events
    else:  # other tests may share this PostgreSQL
        assert app.event_count() >= count + summary.events

    topics = Counter(topic for topic, _ in events)
    assert topics["realty.staff.registered"] == summary.staff
    assert topics["realty.listing.listed"] == summary.listings
    assert topics["realty.customer.received"] == summary.customers == CUSTOMERS
    assert topics["realty.deal.drafted"] == summary.deals
    assert topics["realty.customer.complaint_filed"] == summary.complaints
    assert topics["realty.customer.request_raised"] == summary.requests
    assert topics["realty.customer.survey_answered"] == summary.surveys
    assert topics["realty.customer.marked_lost"] >= summary.lost_customers
    assert topics["realty.customer.reactivated"] == summary.reactivated_customers
    assert topics["realty.customer.reassigned"] == summary.reassignments
    assert topics["realty.staff.deactivated"] == 1

    # Every customer is in the stage the summary counts, as the application derives it.
    customers = [e.originator_id for topic, e in events if topic == "realty.customer.received"]
    stages = Counter(app.state(c)["stage"] for c in customers)
    assert {s: n for s, n in summary.customers_by_stage.items() if n} == dict(stages)
    assert all(summary.customers_by_stage[s.value] > 0 for s in Stage), summary.customers_by_stage
    assert summary.lost_customers == stages["lost"]
    deals = [e.originator_id for topic, e in events if topic == "realty.deal.drafted"]
    assert {s: n for s, n in summary.deals_by_outcome.items() if n} == dict(
        Counter(app.state(d)["status"] for d in deals))

    # The archive: files for closed deals and lost customers, checked, filed and sealed; the
    # predecessor system's customers (among the customers, lost years ago) have files due now.
    assert topics["realty.service_file.opened"] == summary.service_files > 0
    assert topics["realty.service_file.document_collected"] == summary.document_versions > summary.service_file_documents
    assert topics["realty.service_file.sealed"] == summary.service_files_sealed
    assert topics["realty.service_file.hold_placed"] == summary.legal_holds == 2
    assert topics["realty.service_file.hold_released"] == 1
    files = [app.repository.get(e.originator_id) for topic, e in events if topic == "realty.service_file.opened"]
    due = [f for f in files if (end := app.file_retention_end(f)) is not None and end <= NOW]
    assert len(due) == summary.predecessor_customers > 0
    assert all(f.record_class == "customer_file" and f.status == "sealed" for f in due)
    assert len([f for f in due if f.active_holds]) == 1
    assert all(app.state(str(f.owner_id))["stage"] == "lost" for f in due)

    # Showcase customers are where the summary says they are; other records are of their kind.
    for stage, label in DemoSummary.STAGE_LABELS.items():
        assert app.state(summary.showcase[label])["stage"] == stage
    for label, record_id in summary.records.items():
        assert app.state(record_id)["kind"].startswith(label.split()[0])

    # Business time: never ahead of the clock, strictly increasing within every record.
    last: dict[Any, datetime] = {}
    for _, event in events:
        assert event.occurred_at <= NOW
        previous = last.get(event.originator_id)
        assert previous is None or event.occurred_at > previous
        last[event.originator_id] = event.occurred_at
    minutes = [(e.reception_ended_at - e.reception_started_at).total_seconds() / 60
               for topic, e in events if topic == "realty.customer.received"]
    assert sum(15 <= m <= 30 for m in minutes) >= 0.7 * len(minutes)


def load_fresh(tmp_path: Path, name: str, seed: int) -> DemoSummary:
    app = RealtyLedger(load_settings(database_url=f"sqlite:///{tmp_path / name}"))
    try:
        return load_demo(app, customers=CUSTOMERS, seed=seed, now=NOW)
    finally:
        app.close()


def test_the_same_seed_tells_the_same_story_and_another_seed_another(tmp_path: Path) -> None:
    first = load_fresh(tmp_path, "first.sqlite3", seed=11)
    again = load_fresh(tmp_path, "again.sqlite3", seed=11)
    other = load_fresh(tmp_path, "other.sqlite3", seed=12)

    assert first.shape() == again.shape()
    assert first.run_id != again.run_id
    assert set(first.showcase.values()).isdisjoint(again.showcase.values())  # fresh ids each time
    assert first.shape() != other.shape()
