"""A store of its own for a whole test module, on each backend: a SQLite file, or a scratch
PostgreSQL database dropped afterwards.

``tests/conftest.py``'s ``own_database_url`` does this per test; the catalogues of bad input and
attacks run dozens of cases against one prepared store, and judge "nothing recorded" on the whole
log, so they need a log nobody else writes to (the shared PostgreSQL database is written by other
test processes at the same time) without paying a database per case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import scratch_postgres_database


@contextmanager
def scratch_store(backend: str, home: Path) -> Iterator[str]:
    """The database URL of a fresh, empty store on ``backend`` ("sqlite" or "postgres")."""
    if backend != "postgres":
        home.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{home / 'realty.sqlite3'}"
        return
    with scratch_postgres_database() as url:
        yield url
