"""Security under restore (issue 7): a customer erased after a backup was taken stays erased when
that older backup is restored — the shredding register, kept outside the database and every backup,
destroys their keys again — on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from service.application import RealtyLedger
from tests.conftest import Team
from tests.integration.test_backup_restore import (  # noqa: F401 - source is a fixture
    erased_after_the_backup_stays_erased,
    scratch_database,
    settings_for,
    source,
)


def test_erased_customers_stay_erased_after_a_restore(source: tuple[RealtyLedger, Team], own_database_url: str,  # noqa: F811
                                                      tmp_path: Path) -> None:
    app, team = source
    with scratch_database(own_database_url, tmp_path, "restored") as target_url:
        erased_after_the_backup_stays_erased(app, team, settings_for(target_url, tmp_path, "restored"), tmp_path)
