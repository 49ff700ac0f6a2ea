"""The catch-up runner on both backends: batches, positions, rebuilds, leases and failures.

Each test has a store of its own (``own_database_url``): views judge the whole log.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from projections import tracking
from projections.projection import Projection, Rows, Table
from service.application import Acting, RealtyLedger
from service.demo import load_demo
from service.projector import all_projections
from tests.conftest import register_team
from tests.integration.views_support import catch_up, dump, open_ledger, rebuild


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = open_ledger(own_database_url, tmp_path, projection_batch_size=97)  # batches end mid-record
    try:
        yield app
    finally:
        app.close()


def stages_from_demo(ledger: RealtyLedger) -> Counter[str]:
    """Each customer's stage, from the aggregate itself (not from any view)."""
    counts: Counter[str] = Counter()
    received = ledger.recorder.select_notifications(start=1, limit=100_000, topics=["realty.customer.received"])
    for notification in received:
        counts[ledger.state(notification.originator_id)["stage"]] += 1
    return counts


def test_the_pipeline_counts_each_stage_as_the_customer_records_say(ledger: RealtyLedger) -> None:
    summary = load_demo(ledger, customers=40, seed=11)
    catch_up(ledger)
    rows = dump(ledger, "pipeline")["customers"]
    in_view = Counter(row[3] for row in rows)  # stage column
    assert len(rows) == summary.customers
    assert in_view == stages_from_demo(ledger)
    assert dict(in_view) == {k: v for k, v in summary.customers_by_stage.items() if v}


def test_every_view_rebuilt_from_zero_equals_the_one_built_batch_by_batch(ledger: RealtyLedger) -> None:
    team = register_team(ledger)
    # Built while the log grows: small batches, interleaved with new events.
    for seed in (1, 2, 3):
        load_demo(ledger, customers=12, seed=seed)
        catch_up(ledger)
        ledger.receive_customer(team.consultant, channel="phone", reception_started_at=datetime.now(UTC) - timedelta(
            minutes=20), reception_ended_at=datetime.now(UTC))
    catch_up(ledger)
    for projection in all_projections():
        before = dump(ledger, projection.name)
        assert any(before.values()), f"{projection.name} holds no rows: the comparison would prove nothing"
        generation = rebuild(ledger, projection.name)
        assert dump(ledger, projection.name, generation) == before, projection.name


def test_a_view_reaches_the_head_and_reports_no_lag(ledger: RealtyLedger) -> None:
    load_demo(ledger, customers=5, seed=3)
    head = ledger.log_head()
    assert ledger.views.status()["views"]["pipeline"]["state"] == "not_built"
    catch_up(ledger, ["pipeline"])
    view = ledger.views.status()["views"]["pipeline"]
    assert (view["position"], view["lag"], view["error"]) == (head, 0, None)
    before = ledger.event_count()
    team = register_team(ledger)
    ledger.receive_customer(team.consultant, channel="walk_in", reception_started_at=datetime.now(UTC),
                            reception_ended_at=datetime.now(UTC))
    assert ledger.views.status()["views"]["pipeline"]["lag"] == ledger.event_count() - before > 0


class Receptions(Projection):
    """A test view that counts receptions by channel, and can be made to fail on phone calls."""

    name = "test_receptions"
    topics = frozenset({"realty.customer.received"})
    tables = (Table("channels", (("channel", "text"), ("customers", "int")), key="channel"),)
    broken: ClassVar[bool] = False

    def keys(self, event: Any) -> list[tuple[str, str]]:
        return [("channels", event.channel)]

    def handle(self, event: Any, rows: Rows) -> None:
        if self.broken and event.channel == "phone":
            raise ValueError("phone receptions are not understood")
        row = rows.get("channels", event.channel) or rows.put("channels", {"channel": event.channel, "customers": 0})
        row["customers"] += 1
        rows.changed("channels", row)


def runner_for(ledger: RealtyLedger, *projections: Projection, batch_size: int = 5) -> Any:
    from projections.runner import ProjectionRunner

    return ProjectionRunner(ledger.views.store, ledger.views.log, ledger.views.decode, projections,
                            batch_size=batch_size)


def run_through(ledger: RealtyLedger, *projections: Projection, batch_size: int = 5) -> None:
    """A runner of these views catches up with the log, and lets them go."""
    runner = runner_for(ledger, *projections, batch_size=batch_size)
    runner.acquire()
    runner.catch_up()
    runner.release()


def receive(ledger: RealtyLedger, who: Acting, channel: str) -> str:
    now = datetime.now(UTC)
    return ledger.receive_customer(who, channel=channel, reception_started_at=now - timedelta(minutes=20),
                                   reception_ended_at=now).id


def channel_counts(ledger: RealtyLedger) -> dict[str, int]:
    track = tracking.active(ledger.views.store, Receptions.name)
    assert track is not None
    rows = ledger.views.store.query(f"SELECT channel, customers FROM view_{Receptions.name}_channels_g{track.generation}")
    return dict(rows)  # type: ignore[arg-type]


def test_a_view_that_cannot_handle_an_event_stops_there_names_it_and_resumes_once_fixed(
        ledger: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    team = register_team(ledger)
    for channel in ("walk_in", "online", "phone", "walk_in", "referral"):
        receive(ledger, team.consultant, channel)
    monkeypatch.setattr(Receptions, "broken", True)
    runner = runner_for(ledger, Receptions(), batch_size=3)
    runner.acquire()
    runner.catch_up()
    failed = tracking.active(ledger.views.store, Receptions.name)
    assert failed is not None and failed.error is not None
    phone_event = next(n for n in ledger.recorder.select_notifications(start=1, limit=1000)
                       if n.topic == "realty.customer.received" and ledger.state(n.originator_id)["channel"] == "phone")
    assert f"position {phone_event.id}" in failed.error
    assert "realty.customer.received" in failed.error and str(phone_event.originator_id) in failed.error
    assert failed.last_id < phone_event.id  # it never moved past the event it could not handle
    assert sum(channel_counts(ledger).values()) < 5
    runner.release()

    monkeypatch.setattr(Receptions, "broken", False)  # the fix, and a restart
    fixed = runner_for(ledger, Receptions(), batch_size=3)
    fixed.acquire()
    fixed.catch_up()
    fixed.release()
    assert channel_counts(ledger) == {"walk_in": 2, "online": 1, "phone": 1, "referral": 1}
    track = tracking.active(ledger.views.store, Receptions.name)
    assert track is not None and track.error is None and track.last_id == ledger.log_head()


def test_a_failing_view_does_not_hold_the_others_back(ledger: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    team = register_team(ledger)
    receive(ledger, team.consultant, "phone")
    monkeypatch.setattr(Receptions, "broken", True)
    pipeline = ledger.views.projection("pipeline")
    run_through(ledger, Receptions(), pipeline)
    status = ledger.views.status()["views"]["pipeline"]
    assert (status["position"], status["error"]) == (ledger.log_head(), None)


def test_only_one_process_keeps_a_view_at_a_time_and_another_takes_over_when_it_stops(ledger: RealtyLedger) -> None:
    first, second = runner_for(ledger, Receptions()), runner_for(ledger, Receptions())
    assert first.acquire() == [Receptions.name]
    assert second.acquire() == []
    first.release()
    assert second.acquire() == [Receptions.name]
    second.release()


def lose_lease(runner: Any, name: str) -> None:
    """What a process does not notice: its lease ends under it (PostgreSQL ends the lease's session,
    say an idle timeout or a restart of the connection; for SQLite the lock is dropped)."""
    lease = runner._leases[name]
    conn = getattr(lease, "_conn", None)
    if conn is not None:
        import psycopg

        with psycopg.connect(runner.store.conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    else:
        import os

        os.close(lease._fd)
        lease._fd = None


def test_a_process_whose_lease_ended_under_it_never_counts_a_batch_twice(ledger: RealtyLedger) -> None:
    team = register_team(ledger)
    receive(ledger, team.consultant, "online")
    first = runner_for(ledger, Receptions())
    first.acquire()
    first.catch_up()
    lose_lease(first, Receptions.name)
    second = runner_for(ledger, Receptions())
    assert second.acquire() == [Receptions.name]  # the lease was free: another process took the view
    receive(ledger, team.consultant, "phone")

    class Interleaved:  # the second process runs a whole batch while the first is between its reads
        def __init__(self, log: Any) -> None:
            self.log = log

        def read(self, *args: Any, **kwargs: Any) -> Any:
            second.step()
            return self.log.read(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.log, name)

    first.log = Interleaved(first.log)
    first.step()
    second.catch_up()
    assert channel_counts(ledger) == {"online": 1, "phone": 1}
    assert first.owned == []  # it noticed that the view is kept elsewhere now
    second.release()
    first.release()


def test_a_rebuild_serves_reads_from_the_old_copy_until_the_new_one_has_caught_up(ledger: RealtyLedger) -> None:
    team = register_team(ledger)
    for channel in ("walk_in", "online", "phone") * 4:
        receive(ledger, team.consultant, channel)
    runner = runner_for(ledger, Receptions(), batch_size=4)
    runner.acquire()
    runner.catch_up()
    old = tracking.active(ledger.views.store, Receptions.name)
    assert old is not None and channel_counts(ledger) == {"walk_in": 4, "online": 4, "phone": 4}

    building = tracking.start_generation(ledger.views.store, Receptions(), "building")
    runner.step()  # one batch of the rebuild: the new copy is partly filled
    still = tracking.active(ledger.views.store, Receptions.name)
    assert still is not None and still.generation == old.generation
    partial = tracking.tracks(ledger.views.store, Receptions.name)[-1]
    assert partial.state == "building" and 0 < partial.last_id < old.last_id
    assert channel_counts(ledger) == {"walk_in": 4, "online": 4, "phone": 4}  # reads still whole
    runner.catch_up()
    runner.release()
    now_active = tracking.active(ledger.views.store, Receptions.name)
    assert now_active is not None and now_active.generation == building.generation
    assert channel_counts(ledger) == {"walk_in": 4, "online": 4, "phone": 4}
    assert [t.generation for t in tracking.tracks(ledger.views.store, Receptions.name)] == [building.generation]


def test_a_new_version_of_a_view_is_rebuilt_by_itself(ledger: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    team = register_team(ledger)
    receive(ledger, team.consultant, "online")
    run_through(ledger, Receptions())
    monkeypatch.setattr(Receptions, "version", 2)
    run_through(ledger, Receptions())
    track = tracking.active(ledger.views.store, Receptions.name)
    assert track is not None and (track.version, track.generation) == (2, 2)
    assert channel_counts(ledger) == {"online": 1}


class ReceptionsWithTeams(Receptions):
    """Version 2 of the test view: its table gains a column (the documented reason to bump)."""

    version = 2
    tables = (Table("channels", (("channel", "text"), ("customers", "int"), ("team", "text")), key="channel"),)

    def handle(self, event: Any, rows: Rows) -> None:
        row = rows.get("channels", event.channel) or rows.put(
            "channels", {"channel": event.channel, "customers": 0, "team": None})
        row["customers"] += 1
        row["team"] = event.team
        rows.changed("channels", row)


def test_a_new_version_whose_table_gains_a_column_is_rebuilt_and_the_other_views_go_on(
        ledger: RealtyLedger) -> None:
    team = register_team(ledger)
    receive(ledger, team.consultant, "online")
    run_through(ledger, Receptions())
    receive(ledger, team.consultant, "phone")  # the old copy has something to catch up on
    pipeline = ledger.views.projection("pipeline")
    runner = runner_for(ledger, ReceptionsWithTeams(), pipeline)
    runner.acquire()
    runner.catch_up()  # the old copy's tables lack the new column: that must not stop the runner
    runner.release()
    track = tracking.active(ledger.views.store, Receptions.name)
    assert track is not None and (track.version, track.generation, track.error) == (2, 2, None)
    assert channel_counts(ledger) == {"online": 1, "phone": 1}
    assert ledger.views.status()["views"]["pipeline"]["position"] == ledger.log_head()


def test_a_new_version_of_a_view_over_an_empty_log_is_swapped_in_without_waiting_for_an_event(
        ledger: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    run_through(ledger, Receptions())
    monkeypatch.setattr(Receptions, "version", 2)
    runner = runner_for(ledger, Receptions())
    runner.acquire()
    done = threading.Thread(target=runner.catch_up, daemon=True)
    done.start()
    done.join(5)
    runner._stop.set()
    assert not done.is_alive(), "catch_up kept waiting for a swap that only an event would trigger"
    runner.release()
    track = tracking.active(ledger.views.store, Receptions.name)
    assert track is not None and (track.version, track.generation) == (2, 2)


def test_a_rebuild_left_unfinished_by_an_older_version_is_started_over_by_the_newer_one(
        ledger: RealtyLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    team = register_team(ledger)
    for channel in ("walk_in", "online", "phone") * 3:
        receive(ledger, team.consultant, channel)
    run_through(ledger, Receptions(), batch_size=4)
    monkeypatch.setattr(Receptions, "version", 2)
    runner = runner_for(ledger, Receptions(), batch_size=4)
    runner.acquire()
    runner.step()  # version 2's rebuild stops part way (the process is replaced by version 3)
    runner.release()
    monkeypatch.setattr(Receptions, "version", 3)
    run_through(ledger, Receptions(), batch_size=4)
    track = tracking.active(ledger.views.store, Receptions.name)
    assert track is not None and track.version == 3
    assert channel_counts(ledger) == {"walk_in": 3, "online": 3, "phone": 3}
    assert [t.state for t in tracking.tracks(ledger.views.store, Receptions.name)] == ["active"]


def test_an_unknown_id_in_a_filter_of_the_list_is_just_an_empty_page(ledger: RealtyLedger) -> None:
    from projections.pipeline import CUSTOMERS

    load_demo(ledger, customers=3, seed=5)
    catch_up(ledger, ["pipeline"])
    page, view = ledger.views.list(CUSTOMERS, filters={"assigned_to": str(uuid.uuid4())})
    assert page.items == [] and page.next_cursor is None and view.position == ledger.log_head()


class Requests(Projection):
    """A test view of each customer's requests that notes, as each Received is handled, whether the
    batch had read the customer's row (it makes that row: there is nothing to read on any log)."""

    name = "test_requests"
    topics = frozenset({"realty.customer.received", "realty.customer.request_raised"})
    tables = (Table("customers", (("customer_id", "text"), ("requests", "int")), key="customer_id"),)
    read_before_made: ClassVar[list[bool]] = []

    def keys(self, event: Any) -> list[tuple[str, str]]:
        return [("customers", str(event.originator_id))]

    def creates(self, event: Any) -> list[tuple[str, str]]:
        return [("customers", str(event.originator_id))] if type(event).TOPIC == "realty.customer.received" else []

    def handle(self, event: Any, rows: Rows) -> None:
        key = str(event.originator_id)
        if type(event).TOPIC == "realty.customer.received":
            # Rows keeps every row the batch read, a missing one as None: a read leaves the key there.
            self.read_before_made.append(key in rows._rows.get("customers", {}))
            rows.put("customers", {"customer_id": key, "requests": 0})
            return
        row = rows.get("customers", key)
        assert row is not None, "the row made earlier in the batch is there"
        row["requests"] += 1
        rows.changed("customers", row)


def test_a_batch_never_reads_the_rows_its_own_events_make_and_still_counts_right(ledger: RealtyLedger) -> None:
    team = register_team(ledger)
    customers = [receive(ledger, team.consultant, "walk_in") for _ in range(3)]
    for n, customer in enumerate(customers):
        for _ in range(n + 1):
            ledger.raise_request(team.consultant, customer, subject="户型图")
    Requests.read_before_made = []
    run_through(ledger, Requests(), batch_size=100)  # one batch: each customer's Received and requests
    assert Requests.read_before_made == [False, False, False]
    track = tracking.active(ledger.views.store, Requests.name)
    assert track is not None
    table = f"view_{Requests.name}_customers_g{track.generation}"
    counts = dict(ledger.views.store.query(f"SELECT customer_id, requests FROM {table}"))  # noqa: S608
    assert counts == {customer: n + 1 for n, customer in enumerate(customers)}


def test_a_row_named_by_keys_is_read_when_no_event_of_the_batch_makes_it(ledger: RealtyLedger) -> None:
    # The other side of the test above: without ``creates`` the batch reads the row first (in vain),
    # which shows that the test above can fail.
    class RequestsReadFirst(Requests):
        name = "test_requests_read_first"

        def creates(self, event: Any) -> list[tuple[str, str]]:
            return []

    team = register_team(ledger)
    receive(ledger, team.consultant, "walk_in")
    Requests.read_before_made = []
    run_through(ledger, RequestsReadFirst(), batch_size=100)
    assert Requests.read_before_made == [True]
