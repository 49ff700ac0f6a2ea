"""``realty projector`` as a process of its own: killed mid-batch it loses nothing and counts nothing
twice; and the API reads its own writes from views kept by that separate process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from projections import tracking
from service.api.app import create_app
from service.application import RealtyLedger
from service.demo import load_demo
from service.projector import all_projections
from tests.conftest import register_team
from tests.e2e.cli import REALTY
from tests.e2e.test_api import assert_problem, auth, now
from tests.integration.views_support import catch_up, dump, open_ledger, rebuild


def start_projector(url: str, tmp_path: Path, batch_size: int = 40) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
    env.update(REALTY_DATABASE_URL=url, REALTY_SIGNING_KEYS_DIR=str(tmp_path / "keys"),
               REALTY_VIEWS_PATH=str(tmp_path / "views.sqlite3"), REALTY_PROJECTION_BATCH_SIZE=str(batch_size))
    return subprocess.Popen([str(REALTY), "projector", "--no-automations"], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def positions(ledger: RealtyLedger) -> dict[str, int]:
    return {t.name: t.last_id for t in tracking.tracks(ledger.views.store) if t.state == "active"}


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = open_ledger(own_database_url, tmp_path)
    try:
        yield app
    finally:
        app.close()


def test_a_projector_killed_mid_batch_again_and_again_leaves_every_view_equal_to_a_fresh_rebuild(
        ledger: RealtyLedger, own_database_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261127)  # noqa: S311 - test timing, not crypto
    load_demo(ledger, customers=60, seed=1)
    kills_mid_catch_up = 0
    for round_number in range(6):
        load_demo(ledger, customers=15, seed=100 + round_number)  # the log grows between kills
        head = ledger.log_head()
        before = positions(ledger)
        projector = start_projector(own_database_url, tmp_path)
        try:
            deadline = time.monotonic() + 60
            while positions(ledger) == before and time.monotonic() < deadline:  # it has started writing
                assert projector.poll() is None, projector.stderr.read() if projector.stderr else ""
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
        finally:
            projector.send_signal(signal.SIGKILL)
            projector.wait(10)
        reached = positions(ledger)
        if reached and min(reached.values()) < head:
            kills_mid_catch_up += 1
    assert kills_mid_catch_up >= 3, "the kills should land while the projector is still catching up"

    catch_up(ledger)  # a restart finishes the work
    for projection in all_projections():
        kept = dump(ledger, projection.name)
        assert dump(ledger, projection.name, rebuild(ledger, projection.name)) == kept, projection.name


def test_the_api_reads_its_own_writes_from_views_kept_by_a_separate_projector_process(
        own_database_url: str, tmp_path: Path) -> None:
    # PostgreSQL: the projector wakes on the log's NOTIFY; SQLite: it polls.
    ledger = open_ledger(own_database_url, tmp_path, read_wait_seconds=5.0)
    team = register_team(ledger)
    token, _ = ledger.issue_token(team.admin, team.id(team.consultant), label="tests")
    admin, _ = ledger.issue_token(team.admin, team.id(team.admin), label="tests")
    projector = start_projector(own_database_url, tmp_path)
    try:
        with TestClient(create_app(ledger=ledger)) as api:
            for _ in range(15):
                written = api.post("/customers", headers=auth(token), json={
                    "channel": "online", "reception_started_at": now(-25), "reception_ended_at": now(-5)})
                assert written.status_code == 201, written.text
                body = written.json()
                assert body["position"] == ledger.log_head()  # the position of the event it wrote
                listed = api.get("/views/pipeline", headers=auth(token),
                                 params={"min_position": body["position"], "sort": "-received_at", "limit": 500})
                assert listed.status_code == 200, listed.text
                assert listed.json()["position"] >= body["position"]
                assert body["id"] in {row["customer_id"] for row in listed.json()["items"]}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = api.get("/projections", headers=auth(admin))
                assert status.status_code == 200, status.text
                if {v["lag"] for v in status.json()["views"].values()} == {0}:
                    break
                time.sleep(0.1)
            views = status.json()["views"]
            assert set(views) == {p.name for p in all_projections()}
            assert {(v["position"], v["lag"], v["error"]) for v in views.values()} == {(ledger.log_head(), 0, None)}
    finally:
        projector.send_signal(signal.SIGTERM)
        projector.wait(20)
        ledger.close()
    assert projector.returncode == 0


def test_a_list_asked_for_a_position_its_view_has_not_reached_answers_503_with_the_lag(
        ledger: RealtyLedger, own_database_url: str, tmp_path: Path) -> None:
    impatient = open_ledger(own_database_url, tmp_path, read_wait_seconds=0.2)
    try:
        team = register_team(impatient)
        token, result = impatient.issue_token(team.admin, team.id(team.consultant), label="tests")
        with TestClient(create_app(ledger=impatient)) as api:  # no projector runs anywhere
            body = assert_problem(api.get("/views/pipeline", headers=auth(token),
                                          params={"min_position": result.position}), 503, "view_behind")
            assert body["lag"] == impatient.event_count() and body["view"] == "pipeline"
            beyond = assert_problem(api.get("/views/pipeline", headers=auth(token),
                                            params={"min_position": impatient.log_head() + 1}), 422,
                                    "position_beyond_head")
            assert beyond["head"] == impatient.log_head()
            assert api.get("/views/pipeline", headers=auth(token), params={"min_position": result.position}
                           ).headers.get("retry-after") == "1"
            # A view never built still checks the query; the funnel refuses what it does not know.
            assert_problem(api.get("/views/pipeline", headers=auth(token), params={"nope": "1"}), 422,
                           "unknown_filter")
            officer, _ = impatient.issue_token(team.admin, team.id(team.compliance), label="tests")
            assert_problem(api.get("/views/pipeline/funnel", headers=auth(officer), params={"stage": "lost"}), 422,
                           "unknown_filter")
    finally:
        impatient.close()


def test_a_list_waiting_on_a_view_that_has_stopped_says_so_at_once(
        ledger: RealtyLedger, own_database_url: str, tmp_path: Path) -> None:
    team = register_team(ledger)
    token, _ = ledger.issue_token(team.admin, team.id(team.consultant), label="tests")
    catch_up(ledger, ["pipeline"])
    ledger.receive_customer(team.consultant, channel="phone", reception_started_at=datetime.now(UTC),
                            reception_ended_at=datetime.now(UTC))
    track = tracking.active(ledger.views.store, "pipeline")
    assert track is not None
    tracking.record_failure(ledger.views.store, track, "projection pipeline failed handling the event at ...")
    with TestClient(create_app(ledger=ledger)) as api:
        started = time.monotonic()
        body = assert_problem(api.get("/views/pipeline", headers=auth(token),
                                      params={"min_position": ledger.log_head()}), 503, "view_stopped")
        assert time.monotonic() - started < ledger.settings.read_wait_seconds  # no pointless wait
        assert "stopped" in body["detail"] and body["lag"] == 1


def test_two_projector_processes_share_the_views_and_one_takes_over_when_the_other_dies(
        ledger: RealtyLedger, own_database_url: str, tmp_path: Path) -> None:
    import selectors

    load_demo(ledger, customers=10, seed=9)
    names = {p.name for p in all_projections()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
    env.update(REALTY_DATABASE_URL=own_database_url, REALTY_SIGNING_KEYS_DIR=str(tmp_path / "keys"),
               REALTY_VIEWS_PATH=str(tmp_path / "views.sqlite3"))
    processes = [subprocess.Popen([str(REALTY), "projector", "--no-automations"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(2)]
    keeping: dict[int, set[str]] = {0: set(), 1: set()}
    selector = selectors.DefaultSelector()
    for i, process in enumerate(processes):
        assert process.stdout is not None
        selector.register(process.stdout, selectors.EVENT_READ, i)

    def read_until(done: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if line.startswith("keeping:"):
                    kept = line.removeprefix("keeping:").strip()
                    keeping[key.data] = set() if kept == "(none yet)" else set(kept.split(", "))

    try:
        read_until(lambda: keeping[0] | keeping[1] == names, 60)
        assert keeping[0] | keeping[1] == names and not keeping[0] & keeping[1]  # shared, never twice
        dead = 0 if keeping[0] else 1
        processes[dead].send_signal(signal.SIGKILL)
        processes[dead].wait(10)
        selector.unregister(processes[dead].stdout)  # type: ignore[arg-type]
        load_demo(ledger, customers=3, seed=10)
        read_until(lambda: keeping[1 - dead] == names, 60)
        assert keeping[1 - dead] == names
        deadline = time.monotonic() + 60
        while set(positions(ledger).values()) != {ledger.log_head()} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(positions(ledger).values()) == {ledger.log_head()}
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)
