"""``realty keys init|rotate|status``: the master keys that wrap the store's data keys (and
``shred-registered``, which lives in ``service.cli_backup`` beside the restore that applies it too).

The store is opened here without the application (only its log's recorder and the keyring
tables), so that a store the application refuses to open — a newer master key not rotated in yet —
can still be rotated and inspected. Nothing printed is ever a key: only versions, counts and where
the master keys come from. Exit codes as everywhere in the CLI: 0 done, 1 a failure (for
``status``: the master keys given do not open the store), 2 unusable input (a malformed secret, a
master key file others can read, a wrong or missing master key, rotating keys held in a secret).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from service.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, _first_line, _settings


@contextmanager
def _keyring_of(settings: Any) -> Iterator[tuple[Any, Any, str]]:
    """(DataKeys not yet opened, its MasterKeys, the events table) over the store's own datastore."""
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    from archive.data_keys import DataKeys
    from archive.master_keys import MasterKeyError
    from archive.sql import Database
    from service.keyring import master_keys

    try:
        masters = master_keys(settings)
    except MasterKeyError as e:
        raise CliError(str(e), EXIT_USAGE) from None
    db_settings = settings.database
    if db_settings.backend == "sqlite":
        assert db_settings.path is not None
        db_settings.path.parent.mkdir(parents=True, exist_ok=True)
    factory: Any = None
    try:
        factory = InfrastructureFactory.construct(Environment("Realty", settings.library_env()))
        recorder: Any = factory.application_recorder()
        db = Database(recorder.datastore)
        keys = DataKeys(db, masters, cache_seconds=settings.key_cache_seconds)
        keys.create_tables()
    except Exception as e:  # the library raises OSError / psycopg errors when the store is unreachable
        if factory is not None:
            factory.close()
        raise CliError(f"cannot open the store at {db_settings.describe()}: {_first_line(e)}") from e
    try:
        yield keys, masters, db.table(recorder.events_table_name)
    except MasterKeyError as e:  # KeyringMismatch included: wrong, missing or not yet rotated-in keys
        raise CliError(str(e), EXIT_USAGE) from None
    finally:
        factory.close()


def _meta(keys: Any) -> dict[str, bytes]:
    return keys.read_meta()  # type: ignore[no-any-return]


def _known_versions(keys: Any, meta: dict[str, bytes]) -> set[int]:
    """The master versions the store has used: wrapping a live key, or recorded by init/rotate."""
    return keys.versions_in_use() | {int(name.removeprefix("master_check_v")) for name in meta
                                     if name.startswith("master_check_v")}


def _keys_word(n: int) -> str:
    return f"{n} data key{'' if n == 1 else 's'}"


def _where(masters: Any) -> str:
    return "the secret REALTY_MASTER_KEYS" if masters.directory is None else str(masters.directory)


def _no_keyring(settings: Any) -> CliError:
    return CliError(f"the store at {settings.database.describe()} has no keyring yet; run `realty keys init`",
                    EXIT_USAGE)


# --- commands ----------------------------------------------------------------------------------


def cmd_keys_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _keyring_of(settings) as (keys, masters, events):
        made_master = masters.directory is not None and not masters.versions
        if made_master:
            masters.init()
        had_keyring = "log_key" in _meta(keys)
        keys.open(events_table=events, may_init=True)
        live = sum(row["live"] for row in keys.status()["data_keys"].values())
    if masters.directory is not None:
        print(f"master key v{masters.active_version} in {masters.directory} "
              f"({'created' if made_master else 'already there'}; the directory is 0700, key files 0600)")
    else:
        print(f"master keys v{', v'.join(map(str, masters.versions))} from the secret REALTY_MASTER_KEYS")
    state = "already had its keyring" if had_keyring else "has its keyring now"
    print(f"the store at {settings.database.describe()} {state}: {_keys_word(live)} wrapped by master key "
          f"v{masters.active_version}")
    if keys.legacy_plaintext and not had_keyring:
        print("its earlier events stay as they were written (plain); every new event is sealed")
    return EXIT_OK


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from archive.master_keys import MasterKeys

    settings = _settings(args)
    if settings.master_keys is not None and not args.rewrap_only:
        raise CliError("the master keys come from the secret REALTY_MASTER_KEYS, which cannot be rotated here: add "
                       "the next version to the secret, then run `realty keys rotate --rewrap-only`", EXIT_USAGE)
    with _keyring_of(settings) as (keys, masters, events):
        meta = _meta(keys)
        if "log_key" not in meta:
            raise _no_keyring(settings)
        known = _known_versions(keys, meta)
        # Check the keys the store already uses before anything is written with (or next to) them;
        # a newer version waiting to be rotated in is left out of this check, and used below.
        keys.masters = MasterKeys({v: masters.key(v) for v in masters.versions if v in known}, source=masters.source)
        keys.open(events_table=events, may_init=False)
        if masters.versions and max(masters.versions) not in known:
            target, made = masters.active_version, False  # added to the secret, or left by an interrupted rotate
        elif args.rewrap_only:
            target, made = masters.active_version, False
        else:
            target, made = masters.rotate(), True
        keys.masters = masters
        count = keys.rotate(target)
        remaining = {v: n for v, n in keys.status()["master_keys"]["versions"].items() if v != target}
    origin = f"new master key v{target} in {masters.directory}" if made else f"master key v{target} ({_where(masters)})"
    print(f"{origin}: re-wrapped {_keys_word(count)} under it")
    removable = [f"v{v}" for v, n in sorted(remaining.items()) if n == 0]
    if removable:
        print(f"{', '.join(removable)} {'wraps' if len(removable) == 1 else 'wrap'} no data key any more and can be removed "
              "(once every process runs with the new version; see realty keys status)")
    return EXIT_OK


def _legacy_rows(keys: Any, events: str) -> int:
    first = "substr(state, 1, 1) = X'7B'" if keys.db.backend == "sqlite" else \
        "substring(state FROM 1 FOR 1) = decode('7b', 'hex')"
    return int(keys.db.query(f"SELECT COUNT(*) FROM {events} WHERE {first}")[0][0])  # '{': plain JSON


def _status(keys: Any, masters: Any, events: str, settings: Any) -> dict[str, Any]:
    from archive.master_keys import MasterKeyError

    meta = _meta(keys)
    if "log_key" not in meta:
        raise _no_keyring(settings)
    problem = None
    try:
        keys.open(events_table=events, may_init=False)
    except MasterKeyError as e:  # KeyringMismatch: wrong, missing or not yet rotated-in master keys
        problem = str(e)
    wraps = dict(keys.db.query(f"SELECT master_version, COUNT(*) FROM {keys.table} WHERE wrapped IS NOT NULL "
                               "GROUP BY master_version"))
    try:
        active: int | None = masters.active_version
    except MasterKeyError as e:
        active, problem = None, problem or str(e)
    versions = [{"version": v, "present": v in masters.versions, "wraps": int(wraps.get(v, 0)),
                 "can_be_removed": v != active and not wraps.get(v)}
                for v in sorted(set(masters.versions) | {v for v in wraps if v is not None})]
    purposes = {p: {"live": int(live), "destroyed": int(total) - int(live)} for p, total, live in keys.db.query(
        f"SELECT purpose, COUNT(*), COUNT(wrapped) FROM {keys.table} GROUP BY purpose ORDER BY purpose")}
    return {
        "store": settings.database.describe(),
        "master_keys": {"source": "directory" if masters.directory is not None else "secret",
                        "where": _where(masters), "active": active, "versions": versions},
        "data_keys": purposes,
        "legacy_plaintext": {"before_encryption": meta.get("legacy_plaintext") == b"1",
                             "rows": _legacy_rows(keys, events)},
        "usable": problem is None,
        "problem": problem,
    }


def cmd_keys_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _keyring_of(settings) as (keys, masters, events):
        status = _status(keys, masters, events, settings)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        _print_status(status)
    if status["problem"]:
        raise CliError(status["problem"], EXIT_FAILURE)
    return EXIT_OK


def _print_status(status: dict[str, Any]) -> None:
    masters = status["master_keys"]
    active = f"v{masters['active']}" if masters["active"] is not None else "none"
    print(f"store: {status['store']}")
    print(f"master keys: from the {masters['source']} {masters['where']}; active version {active}")
    for v in masters["versions"]:
        note = "" if v["present"] else " (MISSING here)"
        if v["can_be_removed"] and v["present"]:
            note = "; can be removed"
        elif v["version"] == masters["active"]:
            note += " (active)"
        print(f"  v{v['version']}: wraps {_keys_word(v['wraps'])}{note}")
    for purpose, counts in status["data_keys"].items():
        print(f"data keys ({purpose}): {counts['live']} live, {counts['destroyed']} destroyed")
    legacy = status["legacy_plaintext"]
    if legacy["rows"] or legacy["before_encryption"]:
        print(f"legacy plaintext: {legacy['rows']} events stored plain (written before the store was encrypted)")
    else:
        print("legacy plaintext: none (every event is sealed)")
    print("usable: yes" if status["usable"] else f"usable: NO: {status['problem']}")


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="master keys that wrap the data keys (encryption at rest): init, rotate, status, "
                          "shred-registered")
    actions = keys.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("init", help="create the master key (directory) and the store's keyring (idempotent)")
    p.set_defaults(func=cmd_keys_init)
    p = actions.add_parser("rotate", help="a new master key version; every live data key re-wrapped under it")
    p.add_argument("--rewrap-only", action="store_true",
                   help="make no new master key: re-wrap under the newest version present (e.g. just added to "
                        "the REALTY_MASTER_KEYS secret)")
    p.set_defaults(func=cmd_keys_rotate)
    p = actions.add_parser("status", help="master key versions and what each still wraps; data keys; legacy rows")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_keys_status)
    from service import cli_backup  # the shredding register's repair lives with restore, which applies it too

    cli_backup.add_keys_parser(actions)
