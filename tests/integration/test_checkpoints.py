"""Signed checkpoints on both backends: made on demand, every N events and on a timer by the
service's scheduler; one per tree size; none for an empty log; and a key rotation leaves the
checkpoints of the old key verifiable (by key id)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive.checkpoints import EmptyLog
from archive.signing import SigningKeyring
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team

PROMPTLY = 20.0


@pytest.fixture
def ledger_factory(own_database_url: str, tmp_path: Path) -> Iterator[object]:
    opened: list[RealtyLedger] = []

    def open_ledger(**settings: object) -> RealtyLedger:
        app = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys",
                                         **settings))
        opened.append(app)
        return app

    yield open_ledger
    for app in opened:
        app.close()


def receive_customers(app: RealtyLedger, team: Team, count: int) -> None:
    now = datetime.now(UTC)
    for _ in range(count):
        app.receive_customer(team.consultant, channel="walk_in", reception_started_at=now - timedelta(minutes=30),
                             reception_ended_at=now - timedelta(minutes=5))


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + PROMPTLY
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {PROMPTLY:.0f} s")


def test_an_empty_log_has_nothing_to_sign(ledger_factory: object) -> None:
    app = ledger_factory(checkpoint_interval=0)  # type: ignore[operator]
    with pytest.raises(EmptyLog):
        app.audit.checkpoint()
    assert app.audit.latest_checkpoint() is None


def test_a_checkpoint_covers_the_whole_log_and_one_is_kept_per_tree_size(ledger_factory: object) -> None:
    app = ledger_factory(checkpoint_interval=0)  # type: ignore[operator]
    team = register_team(app)
    first = app.audit.checkpoint()
    assert first.tree_size == app.audit.index.log_size() > 0
    assert app.audit.checkpoint() == first  # nothing new: the same checkpoint, not a second signature
    receive_customers(app, team, 2)
    second = app.audit.checkpoint()
    assert second.tree_size == first.tree_size + 2
    assert [c.tree_size for c in app.audit.checkpoints.all()] == [first.tree_size, second.tree_size]
    assert app.audit.verify().clean


def test_the_scheduler_signs_after_n_new_events(ledger_factory: object) -> None:
    app = ledger_factory(checkpoint_every=5, checkpoint_interval=0)  # type: ignore[operator]
    team = register_team(app)
    app.checkpoint_scheduler.start()
    receive_customers(app, team, 6)
    wait_for(lambda: app.audit.latest_checkpoint() is not None, "a checkpoint after 5 new events")
    assert app.audit.latest_checkpoint().tree_size >= 5  # type: ignore[union-attr]


def test_the_scheduler_signs_on_its_timer_when_the_log_grew(ledger_factory: object) -> None:
    app = ledger_factory(checkpoint_every=0, checkpoint_interval=0.2)  # type: ignore[operator]
    team = register_team(app)
    app.checkpoint_scheduler.start()
    wait_for(lambda: app.audit.latest_checkpoint() is not None, "a checkpoint on the timer")
    size = app.audit.latest_checkpoint().tree_size  # type: ignore[union-attr]
    receive_customers(app, team, 1)
    wait_for(lambda: app.audit.latest_checkpoint().tree_size == size + 1,  # type: ignore[union-attr]
             "a checkpoint of the grown log")


def test_a_rotated_key_signs_from_then_on_and_the_old_checkpoints_still_verify(
    ledger_factory: object, tmp_path: Path
) -> None:
    app = ledger_factory(checkpoint_interval=0)  # type: ignore[operator]
    team = register_team(app)
    old = app.audit.checkpoint()
    new_key = SigningKeyring(tmp_path / "keys").rotate()
    receive_customers(app, team, 1)
    later = ledger_factory(checkpoint_interval=0)  # type: ignore[operator]  # a process started after the rotation
    new = later.audit.checkpoint()
    assert new.key_id == new_key and old.key_id != new_key
    report = later.audit.verify()
    assert report.clean and report.checkpoints_checked == 2


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_a_signing_key_from_a_secret_verifies_the_checkpoints_of_earlier_keys_listed_as_public_keys(
    ledger_factory: object, tmp_path: Path
) -> None:
    first_key, second_key = _pem(), _pem()
    app = ledger_factory(checkpoint_interval=0, signing_key_pem=first_key)  # type: ignore[operator]
    team = register_team(app)
    app.audit.checkpoint()
    earlier = tmp_path / "earlier-public-keys.txt"
    earlier.write_text(SigningKeyring.from_pem(first_key).export_public(), encoding="utf-8")
    receive_customers(app, team, 1)

    forgetful = ledger_factory(checkpoint_interval=0, signing_key_pem=second_key)  # type: ignore[operator]
    forgetful.audit.checkpoint()
    report = forgetful.audit.verify()
    assert [p.kind for p in report.problems] == ["checkpoint_signature"]  # the first key is unknown to it

    informed = ledger_factory(checkpoint_interval=0, signing_key_pem=second_key,  # type: ignore[operator]
                              signing_public_keys=earlier)
    report = informed.audit.verify()
    assert report.clean and report.checkpoints_checked == 2
