"""Acknowledged writes survive a killed API process: two ``realty serve`` processes on one store take a
seeded mixed load while one of them is killed with SIGKILL at random moments and restarted, again
and again; afterwards every command that was answered 2xx is in the log exactly once, with all of
its events, nothing refused is there at all, every stored row opens, the chain and the Merkle tree
verify, and the views the projector kept equal a fresh rebuild.

Both backends. On SQLite the two API processes (and the projector) share one database file: the
library opens it in WAL mode, one writer at a time holds the file's write lock (the others wait up
to the lock timeout), so the processes serialise their appends as PostgreSQL's table lock does, and
a transaction cut off by a kill never reaches the WAL's commit record, so no reader ever sees it.

A command whose process died while it ran leaves its Idempotency-Key claimed; with a short claim
timeout (``REALTY_IDEMPOTENCY_CLAIM_SECONDS``) the client's retry takes the claim over and either runs
the command (it was not recorded: 2xx) or is told 409 ``idempotency_key_recorded`` (it was, and its
answer was lost: the log holds it once). So no command ends undecided (``service.idempotency``).

The seed of the random moments is printed (``-s`` shows it); ``REALTY_TEST_SEED`` replays its choices.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.persistence import OperationalError

from service.application import RealtyLedger
from service.projector import all_projections
from service.views import describe_event
from tests.e2e.test_projector_process import positions
from tests.integration.views_support import dump, rebuild
from tests.reliability.load import LoadGenerator, Outcome, summary
from tests.reliability.topology import Process, Topology, running

KILLS = 10
# Short, so the clients' retries (sent for up to RETRY_IN_PROGRESS_FOR seconds while a claim is in
# progress) outlive the claims of the requests the kills cut off.
CLAIM_SECONDS = 2
RETRY_IN_PROGRESS_FOR = 30.0
RECORDED = "idempotency_key_recorded"

# Every event each kind of command writes: all of them or none (a command is one transaction).
EVENTS_OF: dict[str, Counter[str]] = {
    "receive": Counter({"realty.customer.received": 1}),
    "list_property": Counter({"realty.listing.listed": 1}),
    "raise_request": Counter({"realty.customer.request_raised": 1}),
    "respond": Counter({"realty.customer.request_responded": 1}),
    "file_complaint": Counter({"realty.customer.complaint_filed": 1}),
    "answer_survey": Counter({"realty.customer.survey_answered": 1}),
    "schedule_return_visit": Counter({"realty.customer.return_visit_scheduled": 1}),
    "draft_deal": Counter({"realty.deal.drafted": 1, "realty.listing.deal_opened": 1,
                           "realty.customer.deal_milestone_reached": 1}),
}


def seed_for_this_run() -> int:
    seed = int(os.environ.get("REALTY_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"seed {seed} (REALTY_TEST_SEED={seed} replays the random choices)")
    return seed


@dataclass(frozen=True)
class Recorded:
    position: int
    topic: str
    record_id: str
    data: dict[str, Any]


def events_by_correlation(ledger: RealtyLedger) -> dict[str, list[Recorded]]:
    """Every event of the log, opened (a row that does not decode raises), by correlation id."""
    found: dict[str, list[Recorded]] = defaultdict(list)
    after = 0
    while True:
        page = ledger.recorder.select_notifications(start=after, limit=500, inclusive_of_start=False)
        if not page:
            return found
        for notification in page:
            event = ledger.mapper.to_domain_event(notification)
            described = describe_event(event)
            found[described["correlation_id"]].append(
                Recorded(notification.id, described["event"], str(event.originator_id), described["data"]))
        after = page[-1].id


def assert_each_command_recorded_as_answered(outcomes: list[Outcome], log: dict[str, list[Recorded]]) -> None:
    """2xx: its events exactly once, all of them; "recorded, its answer lost": the same; a definite
    refusal: nothing; no answer: all or nothing."""
    for o in outcomes:
        events = log.get(o.marker, [])
        topics = Counter(e.topic for e in events)
        if o.code == RECORDED:
            assert topics == EVENTS_OF[o.kind], f"{o} told it was recorded, recorded as {topics}"
        elif o.acknowledged:
            assert topics == EVENTS_OF[o.kind], f"acknowledged {o} recorded as {topics}"
            assert o.body is not None and o.body["position"] == max(e.position for e in events), o
            assert o.body["id"] in {e.record_id for e in events}, o
            field = {"list_property": "address", "raise_request": "subject", "respond": "response",
                     "file_complaint": "description", "answer_survey": "comment",
                     "schedule_return_visit": "purpose", "draft_deal": "terms"}.get(o.kind)
            if field:  # the body's own marker, too: the events hold this command's text, once
                assert [e.data.get(field) for e in events if field in e.data] == [o.sent[field]], o
        elif o.refused:
            assert not events, f"refused {o} left {topics}"
        else:
            assert topics in (Counter(), EVENTS_OF[o.kind]), f"unanswered {o} half-recorded as {topics}"


def wait_for_views(ledger: RealtyLedger, seconds: float = 120) -> None:
    names = {p.name for p in all_projections()}
    head = ledger.log_head()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reached = positions(ledger)
        if set(reached) == names and set(reached.values()) == {head}:
            return
        time.sleep(0.2)
    raise AssertionError(f"views did not reach {head} in {seconds} s: {positions(ledger)}")


def assert_views_equal_a_fresh_rebuild(ledger: RealtyLedger) -> None:
    """Call with no projector running: a rebuild takes every view's lease."""
    for projection in all_projections():
        kept = dump(ledger, projection.name)
        assert dump(ledger, projection.name, rebuild(ledger, projection.name)) == kept, projection.name


def assert_the_log_is_whole(ledger: RealtyLedger) -> None:
    checked, problems = ledger.check_sealing()
    assert checked == ledger.event_count() and not problems, problems[:3]
    report = ledger.audit.verify()
    assert report.clean, report.first_problem


def restart(topology: Topology, process: Process, attempts: int = 3) -> None:
    """Restart as a supervisor would: a process that fails to start (on a shared PostgreSQL, another
    suite may hold every connection for a moment) is started again."""
    for attempt in range(1, attempts + 1):
        try:
            topology.restart(process)
            return
        except AssertionError as failed:  # it exited while starting
            if attempt == attempts:
                raise
            print(f"{process.name} failed to start, starting it again: {str(failed).splitlines()[-1][:200]}")
            time.sleep(2.0)


def open_ledger(topology: Topology, attempts: int = 5) -> RealtyLedger:
    """The checking ledger, opened again if the shared server has no connection free for a moment."""
    for attempt in range(1, attempts + 1):
        try:
            return topology.open_ledger()
        except OperationalError:
            if attempt == attempts:
                raise
            time.sleep(3.0)
    raise AssertionError("unreachable")


def revive_the_dead(topology: Topology) -> None:
    """Before judging the views: any projector that died while starting is started again."""
    for process in topology.projector_processes:
        if not process.alive:
            restart(topology, process)


def run_load_while(topology: Topology, seed: int, disturb: Any, clients: int = 4) -> list[Outcome]:
    """Run the load in the background while ``disturb()`` runs, then let it finish its last commands."""
    generator = LoadGenerator(topology.api_urls, topology.tokens, seed, clients=clients,
                              in_progress_for=RETRY_IN_PROGRESS_FOR)
    stop = threading.Event()
    result: list[list[Outcome]] = []
    load = threading.Thread(target=lambda: result.append(generator.run(stop=stop)), name="load")
    load.start()
    try:
        disturb()
    finally:
        stop.set()
        load.join(120)
    assert not load.is_alive(), "the load did not finish"
    outcomes = result[0]
    print(summary(outcomes))
    return outcomes


def test_a_killed_api_loses_no_acknowledged_write_and_records_none_twice(
        own_database_url: str, tmp_path: Path) -> None:
    seed = seed_for_this_run()
    rng = random.Random(seed)  # noqa: S311 - test timing, not crypto
    with running(own_database_url, tmp_path / "topology", apis=2, projectors=1,
                 extra_env={"REALTY_IDEMPOTENCY_CLAIM_SECONDS": str(CLAIM_SECONDS)}) as topology:
        victim = topology.api_processes[0]

        def kill_again_and_again() -> None:
            time.sleep(1.0)  # the clients have made some customers to work on
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.2, 1.5))
                topology.kill(victim)
                time.sleep(rng.uniform(0.0, 0.5))
                restart(topology, victim)
            time.sleep(1.0)

        outcomes = run_load_while(topology, seed, kill_again_and_again)
        assert not [o for o in outcomes if (o.status or 0) >= 500], "a 5xx answer"
        assert sum(o.acknowledged for o in outcomes) >= 100, summary(outcomes)
        # The kills landed on live traffic: requests were cut off or refused and sent again.
        assert sum(o.attempts > 1 for o in outcomes) >= KILLS // 2, summary(outcomes)
        ledger = open_ledger(topology)
        try:
            assert_each_command_recorded_as_answered(outcomes, events_by_correlation(ledger))
            assert_the_log_is_whole(ledger)
            revive_the_dead(topology)
            wait_for_views(ledger)
            topology.stop()
            assert_views_equal_a_fresh_rebuild(ledger)
        finally:
            ledger.close()
    recorded = [o for o in outcomes if o.code == RECORDED]
    print(f"{len(recorded)} commands told they were recorded after their answer was lost")
    undecided = [o for o in outcomes if o.undecided]
    assert not undecided, f"commands left without a final answer: {undecided[:3]}"
