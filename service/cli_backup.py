"""``realty backup --out FILE`` and ``realty restore FILE``: logical backups of the ledger's store.

A backup needs only the database (no master key: the data keys stay wrapped, the states stay
encrypted). A restore goes into an empty store, checks every digest of the file before it writes
anything, loads it in one transaction — which, before it commits, destroys again every data key
the shredding register lists and restricts again every subject it lists as restricted (a backup
taken before an erasure must not bring the customer back, not even while the restore is
interrupted) — then opens the ledger with the configured keys and checks the restored log as
``realty verify`` does: the chain, every checkpoint in the backup, and every checkpoint of the
checkpoint journal that the restored log reaches. ``realty keys shred-registered`` applies the
register alone, to a store restored by an older version (which shredded only after verifying) or
repaired by hand; it is idempotent. The views are not in a backup: the projector (embedded or
``realty projector``) rebuilds them from the log.

Exit codes: 0 done (for ``restore``: the restored log verified), 1 a failure (a damaged backup,
naming the part; a restored log that does not verify), 2 bad input (no such file, not a backup,
a store that is not empty, an existing output file).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, _console, _first_line, _settings
from service.settings import Settings

Progress = Callable[[str, int], Any]


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backup", help="write a consistent backup of the store to a file (no master key needed)")
    p.add_argument("--out", required=True, help="the backup file to write (never replaces an existing one)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup into an empty store, verify it, shred again what was shredded")
    p.add_argument("file", help="a file written by realty backup")
    p.add_argument("--shredding-register", metavar="PATH",
                   help="the shredding register to apply (default: the store's, REALTY_SHREDDING_REGISTER)")
    p.set_defaults(func=cmd_restore)


def add_keys_parser(actions: Any) -> None:
    """``realty keys shred-registered``, added by ``service.cli_keys`` to its ``keys`` actions."""
    p = actions.add_parser("shred-registered", help="destroy every data key the shredding register lists that the "
                                                   "store still holds, restrict what it lists as restricted (idempotent)")
    p.add_argument("--shredding-register", metavar="PATH",
                   help="the shredding register to apply (default: the store's, REALTY_SHREDDING_REGISTER)")
    p.set_defaults(func=cmd_keys_shred_registered)


# --- the store's tables, opened without the application -------------------------------------------


def _infrastructure(settings: Settings, *, create: bool) -> Any:
    """The library's factory for the store (its recorder names the log's table); ``create``: make the
    library's tables. Neither a keyring nor any table of ours is made here."""
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    from service.application import RealtyLedger

    db = settings.database
    if db.backend == "sqlite":
        assert db.path is not None
        db.path.parent.mkdir(parents=True, exist_ok=True)
    env = {**settings.library_env(), "CREATE_TABLE": "y" if create else "n"}
    try:
        return InfrastructureFactory.construct(Environment(RealtyLedger.name, env))
    except Exception as e:  # the library raises OSError / psycopg errors when the store is unreachable
        raise CliError(f"cannot open the store at {db.describe()}: {_first_line(e)}") from e


def _tables(events_table: str) -> list[Any]:
    from archive.backup import Table, ledger_tables
    from service.idempotency import TABLE as IDEMPOTENCY

    # Not ``claimed_at``: a claim in progress in a backup belongs to a process the restored store
    # never sees again, so it restores as free to take over (NULL); whether its command was
    # recorded (``recorded`` and what it recorded) is kept, so a retry after a restore is answered.
    idempotency = Table("idempotency", IDEMPOTENCY, (
        ("scope", "text"), ("key", "text"), ("fingerprint", "text"), ("status", "int"), ("headers", "text"),
        ("body", "bytes"), ("created_at", "time"), ("token", "text"), ("recorded", "int"), ("record_id", "text"),
        ("record_version", "int"), ("entity_id", "text"), ("recorded_position", "int")), "scope, key", optional=True)
    return ledger_tables(events_table, extra=[idempotency])


def _small_pool(settings: Settings) -> Settings:
    # One connection does the work; a second covers the library's own first query.
    return settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})


# --- backup -----------------------------------------------------------------------------------------


def backup_store(settings: Settings, out: Path, *, progress: Progress | None = None,
                 counted: Callable[[dict[str, int]], Any] | None = None) -> dict[str, Any]:
    """Write a backup of the store of ``settings`` to ``out``; its manifest."""
    from archive.backup import take_backup
    from archive.sql import Database

    factory = _infrastructure(_small_pool(settings), create=False)
    try:
        recorder = factory.application_recorder()
        return take_backup(Database(recorder.datastore), _tables(recorder.events_table_name), out,
                           source=settings.database.describe(), progress=progress, counted=counted)
    finally:
        factory.close()


def cmd_backup(args: argparse.Namespace) -> int:
    from archive.backup import BackupRefused

    settings = _settings(args)
    out = Path(args.out)
    started = time.monotonic()
    with _Bars("backing up") as (bar, on_counts, on_rows):
        try:
            manifest = backup_store(settings, out, progress=on_rows, counted=on_counts)
        except FileExistsError as e:
            raise CliError(str(e), EXIT_USAGE) from None
        except BackupRefused as e:
            raise CliError(str(e), EXIT_USAGE) from None
    parts = manifest["parts"]
    head = manifest.get("head") or {}
    checkpoint = _checkpoint(manifest)
    covered = (f"latest checkpoint {checkpoint.tree_size} events" if checkpoint else "no checkpoint signed yet")
    print(f"backup written to {out}: {parts['events']['rows']:,} events (head position {head.get('position', '-')}), "
          f"{parts['data_keys']['rows']:,} data keys, {parts.get('checkpoints', {}).get('rows', 0)} checkpoints, "
          f"{covered}; {out.stat().st_size:,} bytes in {time.monotonic() - started:.1f} s")
    return EXIT_OK


# --- restore ----------------------------------------------------------------------------------------


@dataclass
class RestoreOutcome:
    manifest: dict[str, Any]
    loaded: dict[str, int]
    report: Any  # archive.verify.Report of the restored log
    checkpoint_in_journal: bool | None  # the backup's own latest checkpoint: also in the journal?
    journal_beyond: list[int] = field(default_factory=list)  # journal checkpoints past the restored log
    reshredded: list[str] = field(default_factory=list)
    restricted: list[str] = field(default_factory=list)  # subjects restricted again (shredding register)
    register: Path | None = None
    register_found: bool = False


def restore_store(settings: Settings, path: Path, *, register: Path | None = None,
                  check_progress: Callable[[int], Any] | None = None, progress: Progress | None = None,
                  verify_progress: Callable[[str, int], Any] | None = None) -> RestoreOutcome:
    """Restore the backup at ``path`` into the (empty) store of ``settings``. Raises NotABackup and
    BackupDamaged (before anything is written), StoreNotEmpty and BackupRefused."""
    from archive.backup import StoreNotEmpty, restore_backup, store_contents
    from archive.backup_format import BackupReader
    from archive.checkpoints import CheckpointStore
    from archive.data_keys import DataKeys
    from archive.sql import Database
    from archive.tree import MerkleIndex
    from projections.tracking import TRACKS
    from service.idempotency import IdempotencyStore
    from service.keyring import master_keys

    # 1. The whole file, every digest, before the store is even opened.
    checker = BackupReader(path)
    for part in checker.parts():
        for _ in part.rows:
            if check_progress is not None and checker.rows_read % 2000 == 0:
                check_progress(checker.rows_read)
    manifest = checker.manifest
    assert manifest is not None

    # 2. An empty store: nothing in the tables a backup fills, no views claiming positions.
    views = settings.views_file
    if views is not None and views.exists():
        raise StoreNotEmpty(f"the views file {views} exists (views of another log): remove it, the projector "
                            "rebuilds it from the restored log")
    settings = _small_pool(settings)
    factory = _infrastructure(settings, create=False)
    try:
        recorder = factory.application_recorder()
        db = Database(recorder.datastore)
        tables = _tables(recorder.events_table_name)
        also = [TRACKS] if db.backend == "postgres" else []
        held = store_contents(db, tables, also)
        if held:
            what = ", ".join(f"{n} ({c:,} rows)" for n, c in held.items())
            raise StoreNotEmpty(f"the store at {settings.database.describe()} is not empty: {what}")
    finally:
        factory.close()

    # 3. The tables, then every row in one transaction, which applies the shredding register before it
    # commits: an interruption anywhere after it (verification, wrong master keys) leaves nothing of
    # an erased customer readable, and before it leaves the store empty (a restore can run again).
    replay = _replay(settings, register)
    factory = _infrastructure(settings, create=True)
    try:
        recorder = factory.application_recorder()
        if "snapshots" in manifest["parts"]:
            factory.aggregate_recorder("snapshots")
        db = Database(recorder.datastore)
        DataKeys(db, master_keys(settings)).create_tables()
        CheckpointStore(db, recorder.events_table_name)
        MerkleIndex(db, recorder.events_table_name)
        IdempotencyStore(recorder.datastore)
        loaded = restore_backup(db, _tables(recorder.events_table_name), BackupReader(path), progress=progress,
                                also=also, replay=replay)
    finally:
        factory.close()

    # 4. The ledger as it will run: its keys must open the restored keyring; then verify.
    from service.application import RealtyLedger

    outcome = RestoreOutcome(manifest, loaded, None, None, reshredded=replay.destroyed, restricted=replay.restricted,
                             register=replay.source.path, register_found=replay.source.path.exists())
    app = RealtyLedger(settings)
    try:
        _verify(app, manifest, outcome, verify_progress)
    finally:
        app.close()
    return outcome


def _replay(settings: Settings, register: Path | None) -> Any:
    from archive.backup import RegisterReplay
    from archive.shredding_register import ShreddingRegister

    own = ShreddingRegister(settings.shredding_register_path)
    return RegisterReplay(ShreddingRegister(register) if register is not None else own, own)


def _checkpoint(manifest: dict[str, Any]) -> Any:
    from archive.signing import Checkpoint

    text = manifest.get("checkpoint")
    return Checkpoint.from_json(text) if text else None


def _verify(app: Any, manifest: dict[str, Any], outcome: RestoreOutcome,
            progress: Callable[[str, int], Any] | None) -> None:
    """``realty verify`` on the restored log, held to the journal's checkpoints it reaches (a journal
    that goes further records events written after the backup: they are reported, not failed)."""
    from archive.signing import KeyringMissing
    from archive.verify import Finding, verify_log

    audit = app.audit
    size = audit.index.log_size()
    stored = audit.checkpoints.all()
    checkpoints = list(stored)
    journaled, damaged = audit.journal.read() if audit.journal is not None else ([], [])
    journaled = [c for c in journaled if c.origin == audit.origin]
    outcome.journal_beyond = sorted({c.tree_size for c in journaled if c.tree_size > size})
    checkpoints += [c for c in journaled if c.tree_size <= size and c not in stored]
    ours = _checkpoint(manifest)
    outcome.checkpoint_in_journal = None if ours is None else ours in journaled
    try:
        keys = audit.public_keys()
    except KeyringMissing:  # nothing signed here: every checkpoint is then by an unknown key
        keys = {}
    report = verify_log(audit.db, audit.events_table, checkpoints, keys, index=audit.index,
                        progress=None if progress is None else (lambda n: progress("verifying", n)))
    report.problems += [Finding("checkpoint_missing", 0, f"line {n} of the checkpoint journal {audit.journal.path} "
                                                         "is not a checkpoint") for n in damaged]
    _, findings = app.check_sealing(progress=None if progress is None else (lambda n: progress("decrypting", n)))
    report.problems.extend(findings)
    outcome.report = report


def cmd_restore(args: argparse.Namespace) -> int:
    from archive.backup import BackupRefused, StoreNotEmpty
    from archive.backup_format import BackupDamaged, NotABackup

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no backup file at {path}", EXIT_USAGE)
    settings = _settings(args)
    register = Path(args.shredding_register) if args.shredding_register else None
    started = time.monotonic()
    with _Bars("restoring") as (bar, on_counts, on_rows):
        task = bar.add_task("checking the file", total=None)

        def verifying(stage: str, n: int) -> None:
            bar.update(task, description=stage, completed=n)

        try:
            outcome = restore_store(settings, path, register=register,
                                    check_progress=lambda n: bar.update(task, completed=n),
                                    progress=on_rows, verify_progress=verifying)
        except NotABackup as e:
            raise CliError(str(e), EXIT_USAGE) from None
        except BackupDamaged as e:
            raise CliError(f"{e}; nothing was written", EXIT_FAILURE) from None
        except StoreNotEmpty as e:
            raise CliError(f"{e}; restore only into an empty store", EXIT_USAGE) from None
        except BackupRefused as e:
            raise CliError(str(e), EXIT_USAGE) from None
    _print_restore(outcome, settings, time.monotonic() - started)
    return EXIT_OK if outcome.report.clean else EXIT_FAILURE


def _print_restore(outcome: RestoreOutcome, settings: Settings, seconds: float) -> None:
    report, loaded = outcome.report, outcome.loaded
    ours = _checkpoint(outcome.manifest)
    if outcome.journal_beyond:
        print(f"note: the checkpoint journal has checkpoints up to {outcome.journal_beyond[-1]:,} events, the backup "
              f"{report.tree_size:,}: events recorded after the backup are not in it")
    if outcome.register is not None and not outcome.register_found:
        print(f"note: no shredding register at {outcome.register}: no key destroyed again")
    if outcome.restricted:
        _print_restricted(outcome.restricted)
    if ours is None:
        held = "no checkpoint in the backup"
    elif outcome.checkpoint_in_journal:
        held = f"the backup's checkpoint of {ours.tree_size:,} events, also in the journal"
    else:
        held = f"the backup's checkpoint of {ours.tree_size:,} events (not in the journal here)"
    summary = (f"restored {loaded.get('events', 0):,} events, {loaded.get('data_keys', 0):,} data keys, "
               f"{loaded.get('checkpoints', 0)} checkpoints into {settings.database.describe()} in {seconds:.1f} s; "
               f"{len(outcome.reshredded)} keys destroyed again (shredding register)")
    if report.clean:
        print(f"{summary}; verified: chain, {report.checkpoints_checked} checkpoints, {held}")
        return
    first = report.first_problem
    print(f"{summary}; VERIFICATION FAILED: {first.kind} at position {first.position}: {first.detail}")


def _print_restricted(subjects: list[str]) -> None:
    # Ids only (as in the register). The keys read as restricted again, but the erasure requests are
    # events after the backup: without them again, nothing erases these customers when retention ends.
    shown = ", ".join(subjects[:20]) + (f" and {len(subjects) - 20} more" if len(subjects) > 20 else "")
    print(f"note: {len(subjects)} subjects restricted again (shredding register): {shown}; their erasure requests "
          "are not in the restored log: record each again (realty customer erase ID --basis ... --by ...)")


# --- keys shred-registered -------------------------------------------------------------------------


def shred_registered(settings: Settings, register: Path | None = None) -> Any:
    """Apply the shredding register to the store of ``settings`` in one transaction (keys destroyed,
    subjects restricted, as ``realty restore`` does while it loads); the ``RegisterReplay`` done.
    Idempotent: what the store no longer holds live is left alone. Needs no master key."""
    from archive.data_keys import TABLE
    from archive.sql import Database

    replay = _replay(settings, register)
    replay.reason = "keys shred-registered: destroyed again, as the shredding register lists"
    factory = _infrastructure(_small_pool(settings), create=False)
    try:
        db = Database(factory.application_recorder().datastore)
        with db.transaction() as c:
            present = c.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)) \
                if db.backend == "sqlite" else c.query("SELECT table_name FROM information_schema.tables "
                                                       "WHERE table_schema = ? AND table_name = ?",
                                                       (db.datastore.schema, TABLE))
            if not present:
                raise CliError(f"the store at {settings.database.describe()} has no data keys: nothing to shred",
                               EXIT_USAGE)
            replay.apply(db, c)
        if replay.destroyed and db.backend == "sqlite":  # as after DataKeys.destroy
            db.query("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        factory.close()
    return replay


def cmd_keys_shred_registered(args: argparse.Namespace) -> int:
    settings = _settings(args)
    register = Path(args.shredding_register) if args.shredding_register else None
    replay = shred_registered(settings, register)
    if not replay.source.path.exists():
        print(f"note: no shredding register at {replay.source.path}: nothing to destroy")
    print(f"{len(replay.destroyed)} data keys destroyed, {len(replay.restricted)} subjects restricted, as the shredding "
          f"register {replay.source.path} lists, in {settings.database.describe()}")
    if replay.restricted:
        _print_restricted(replay.restricted)
    return EXIT_OK


class _Bars:
    """A rich progress bar over the parts of a backup: one task per part, sized when counted."""

    def __init__(self, title: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn(f"{title} {{task.description}}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=_console(), transient=True)
        self.tasks: dict[str, Any] = {}

    def _counts(self, counts: dict[str, int]) -> None:
        for part, total in counts.items():
            self.tasks[part] = self.progress.add_task(part, total=total)

    def _rows(self, part: str, done: int) -> None:
        if part not in self.tasks:
            self.tasks[part] = self.progress.add_task(part, total=None)
        self.progress.update(self.tasks[part], completed=done)

    def __enter__(self) -> tuple[Any, Callable[[dict[str, int]], None], Progress]:
        self.progress.__enter__()
        return self.progress, self._counts, self._rows

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)
