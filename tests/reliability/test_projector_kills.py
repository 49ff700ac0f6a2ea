"""Projector processes killed mid-batch, again and again, while two API processes take load: once a
projector catches up, every view equals a fresh rebuild from the log (no event lost, none counted
twice), on both backends.

The topology's two ``realty projector`` processes share the views (each keeps some, under a lease);
the test kills one of them, then the other, with SIGKILL at random moments while the views are
behind the head of the log, and restarts it; the survivor takes over the dead one's views meanwhile.
``tests/e2e/test_projector_process.py`` has the single-projector variant without API load.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from tests.e2e.test_projector_process import positions
from tests.integration.views_support import active_generation
from tests.reliability.test_acknowledged_writes import (
    assert_each_command_recorded_as_answered,
    assert_views_equal_a_fresh_rebuild,
    events_by_correlation,
    open_ledger,
    restart,
    revive_the_dead,
    run_load_while,
    seed_for_this_run,
    wait_for_views,
)
from tests.reliability.topology import running

KILLS = 12


def test_projectors_killed_mid_batch_under_load_leave_every_view_equal_to_a_fresh_rebuild(
        own_database_url: str, tmp_path: Path) -> None:
    seed = seed_for_this_run()
    rng = random.Random(seed)  # noqa: S311 - test timing, not crypto
    # Small batches: many batch transactions, so a kill often lands inside one.
    with running(own_database_url, tmp_path / "topology", apis=2, projectors=2,
                 extra_env={"REALTY_PROJECTION_BATCH_SIZE": "20"}) as topology:
        ledger = open_ledger(topology)
        try:
            behind_at_kill: list[bool] = []

            def kill_projectors_again_and_again() -> None:
                time.sleep(1.0)
                for n in range(KILLS):
                    time.sleep(rng.uniform(0.3, 1.5))
                    # One at a time, alternately; every fourth time both at once (nobody keeps the views).
                    victims = topology.projector_processes if n % 4 == 3 else [topology.projector_processes[n % 2]]
                    reached = positions(ledger)
                    behind_at_kill.append(bool(reached) and min(reached.values()) < ledger.log_head())
                    for victim in victims:
                        topology.kill(victim)
                    time.sleep(rng.uniform(0.0, 0.5))
                    for victim in victims:
                        restart(topology, victim)
                time.sleep(1.0)

            outcomes = run_load_while(topology, seed, kill_projectors_again_and_again)
            assert not [o for o in outcomes if (o.status or 0) >= 500], "a 5xx answer"
            assert sum(o.acknowledged for o in outcomes) >= 100
            assert sum(behind_at_kill) >= KILLS // 2, "the kills should land while the views are catching up"
            log = events_by_correlation(ledger)
            assert_each_command_recorded_as_answered(outcomes, log)

            revive_the_dead(topology)
            wait_for_views(ledger)  # the restarted projectors finish the work
            # One count straight from the log: each customer received is one row of the pipeline.
            received = Counter(e.topic for events in log.values() for e in events)["realty.customer.received"]
            customers = ledger.views.projection("pipeline").tables[0].physical(
                "pipeline", active_generation(ledger, "pipeline"))
            assert ledger.views.store.query(f"SELECT COUNT(*) FROM {customers}")[0][0] == received  # noqa: S608
            topology.stop()
            assert_views_equal_a_fresh_rebuild(ledger)
        finally:
            ledger.close()

