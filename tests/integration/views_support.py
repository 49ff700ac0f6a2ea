"""Helpers for view tests: a ledger on a store of its own, catching views up, rebuilding them, and
dumping a generation's rows for a row-for-row comparison."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from projections import tracking
from service.application import RealtyLedger
from service.settings import load_settings


def open_ledger(url: str, tmp_path: Path, **settings: Any) -> RealtyLedger:
    return RealtyLedger(load_settings(database_url=url, signing_keys_dir=tmp_path / "keys",
                                      views_path=tmp_path / "views.sqlite3", **settings))


def acquire_all(runner: Any, seconds: float = 20) -> None:
    """Take every lease of the runner's views, waiting for one still held by a process just killed
    (PostgreSQL ends that session, and its advisory locks, once it notices the closed socket)."""
    deadline = time.monotonic() + seconds
    while len(runner.acquire()) < len(runner.projections):
        assert time.monotonic() < deadline, f"views still kept elsewhere: {set(runner.projections) - set(runner.owned)}"
        time.sleep(0.1)


def catch_up(ledger: RealtyLedger, names: list[str] | None = None) -> int:
    runner = ledger.views.make_runner(names)
    try:
        acquire_all(runner)
        return runner.catch_up()
    finally:
        runner.release()


def active_generation(ledger: RealtyLedger, name: str) -> int:
    track = tracking.active(ledger.views.store, name)
    assert track is not None, f"view {name} was never built"
    return track.generation


def dump(ledger: RealtyLedger, name: str, generation: int | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a view's generation, sorted (booleans as booleans)."""
    projection = ledger.views.projection(name)
    generation = generation or active_generation(ledger, name)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in projection.tables:
        bools = [i for i, (_, kind) in enumerate(table.columns) if kind == "bool"]
        rows = ledger.views.store.query(
            f"SELECT {', '.join(table.column_names)} FROM {table.physical(name, generation)}")  # noqa: S608
        out[table.name] = sorted(
            (tuple(bool(v) if i in bools and v is not None else v for i, v in enumerate(row)) for row in rows),
            key=repr)
    return out


def rebuild(ledger: RealtyLedger, name: str) -> int:
    """Rebuild a view into a new generation until it answers reads; returns that generation."""
    building = tracking.start_generation(ledger.views.store, ledger.views.projection(name), "building")
    runner = ledger.views.make_runner([name])
    try:
        acquire_all(runner)
        runner.catch_up()
    finally:
        runner.release()
    assert active_generation(ledger, name) == building.generation
    return building.generation


class Clock:
    """Business time for a scenario: starts ``days`` ago and only moves forward, never past now
    (the domain refuses business times ahead of the real clock)."""

    def __init__(self, days: float) -> None:
        self.now = datetime.now(UTC) - timedelta(days=days)

    def __call__(self, hours: float = 1.0) -> datetime:
        self.now += timedelta(hours=hours)
        assert self.now < datetime.now(UTC), "the scenario ran past the real clock"
        return self.now
