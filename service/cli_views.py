"""``realty projector``, ``realty projections status|rebuild`` and ``realty db grant-reader``."""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

from projections import tracking
from service.cli import EXIT_OK, EXIT_USAGE, CliError, _console, _open, _settings
from service.projector import UnknownProjection


def cmd_projector(args: argparse.Namespace) -> int:
    app = _open(_settings(args))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            runner = app.views.make_runner(args.only or None)
        except UnknownProjection as e:
            raise CliError(str(e), EXIT_USAGE) from None
        if args.once:
            owned = runner.acquire()
            events = runner.catch_up()
            runner.release()
            print(f"caught up {', '.join(owned) or 'no view (all held by other projectors)'}: {events} events read")
            return EXIT_OK
        print(f"projector for {', '.join(runner.projections)} on {app.settings.database.describe()}; "
              "views held by another projector are taken over when it stops", flush=True)
        automations = None
        if not args.no_automations:
            automations = app.start_automations()
        runner.start()
        reported: list[str] = []
        heartbeat = Path(args.heartbeat) if args.heartbeat else None
        while not stop.wait(1.0):
            if heartbeat is not None and runner.running:  # a health check reads its age (docker-compose.yml)
                heartbeat.touch()
            if runner.owned != reported:
                reported = runner.owned
                print(f"keeping: {', '.join(reported) or '(none yet)'}", flush=True)
        runner.stop()
        if automations is not None:
            automations.stop()
        print("projector stopped", flush=True)
    finally:
        app.close()
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    app = _open(_settings(args))
    try:
        status = app.views.status()
    finally:
        app.close()
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"views at log position {status['head']['position']}")
    for column in ("view", "generation", "position", "lag (events)", "rebuild", "error"):
        table.add_column(column)
    for name, view in status["views"].items():
        rebuild = view["rebuild"]
        table.add_row(name, str(view["generation"] or "-"), str(view["position"]), str(view["lag"]),
                      f"generation {rebuild['generation']}: {rebuild['lag']} behind" if rebuild else "",
                      (view["error"] or "")[:120])
    _console().print(table)
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    app = _open(_settings(args))
    try:
        try:
            projection = app.views.projection(args.name)
        except UnknownProjection as e:
            raise CliError(str(e), EXIT_USAGE) from None
        building = tracking.start_generation(app.views.store, projection, "building")
        print(f"rebuilding {args.name} into generation {building.generation}; "
              "the current copy answers reads until the new one has caught up", flush=True)
        runner = app.views.make_runner([args.name])
        here = args.name in runner.acquire()
        with Progress(TextColumn(args.name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=_console()) as bar:
            task = bar.add_task("events", total=app.views.log.head().position + 1)
            while True:
                if here:
                    runner.step()
                else:  # another projector holds the view: it does the work, we watch
                    time.sleep(0.5)
                current = _generation(app, args.name, building.generation)
                if current is None or current.state == "active":
                    break
                if current.error:
                    raise CliError(f"the rebuild stopped: {current.error}")
                bar.update(task, completed=current.last_position + 1, total=app.views.log.head().position + 1)
            bar.update(task, completed=bar.tasks[0].total)
        runner.release()
        print(f"{args.name}: generation {building.generation} now answers reads")
    finally:
        app.close()
    return EXIT_OK


def _generation(app: Any, name: str, generation: int) -> tracking.Track | None:
    return next((t for t in tracking.tracks(app.views.store, name) if t.generation == generation), None)


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def cmd_grant_reader(args: argparse.Namespace) -> int:
    """A PostgreSQL login role that can read the ``realty_read`` views and nothing else."""
    settings = _settings(args)
    if settings.database.backend != "postgres":
        raise CliError("read-only SQL views exist on PostgreSQL only (a SQLite store has none)", EXIT_USAGE)
    if not _ROLE_NAME.match(args.name):
        raise CliError("the role name must be lower-case letters, digits and _ (at most 63)", EXIT_USAGE)
    import os

    import psycopg
    from psycopg.sql import SQL, Identifier, Literal

    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and not password:
        raise CliError(f"{args.password_env} is not set", EXIT_USAGE)
    app = _open(settings)
    try:
        runner = app.views.make_runner()
        runner.acquire()  # the views and their read schema exist before the grant
        runner.release()
    finally:
        app.close()
    with psycopg.connect(settings.postgres_conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (args.name,)).fetchone()
        if not exists:
            conn.execute(SQL("CREATE ROLE {} LOGIN").format(Identifier(args.name)))
        if password:
            conn.execute(SQL("ALTER ROLE {} PASSWORD {}").format(Identifier(args.name), Literal(password)))
        conn.execute(SQL("GRANT {} TO {}").format(Identifier(tracking.READERS_ROLE), Identifier(args.name)))
        conn.execute(SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            Identifier(settings.database.dbname), Identifier(args.name)))
    print(f"{args.name} may read the views in schema {tracking.READ_SCHEMA} (and nothing else)")
    return EXIT_OK


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("projector", help="keep the views up to date (a process of its own; several may share work)")
    p.add_argument("--only", action="append", metavar="NAME", help="keep only this view (repeatable)")
    p.add_argument("--once", action="store_true", help="catch up once and exit")
    p.add_argument("--no-automations", action="store_true", help="do not run the SLA and pool automations here")
    p.add_argument("--heartbeat", metavar="FILE",
                   help="touch FILE every second while the projector runs (for a container health check)")
    p.set_defaults(func=cmd_projector)

    group = sub.add_parser("projections", help="the views: status, rebuild")
    actions = group.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("status", help="each view's position, lag behind the log, and error")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = actions.add_parser("rebuild", help="rebuild a view from the start of the log, reads served meanwhile")
    p.add_argument("name")
    p.set_defaults(func=cmd_rebuild)

    db = sub.add_parser("db", help="database roles for internal services")
    actions = db.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("grant-reader", help="a PostgreSQL role that may read the realty_read views only")
    p.add_argument("name")
    p.add_argument("--password-env", metavar="VAR", help="set the role's password from this environment variable")
    p.set_defaults(func=cmd_grant_reader)
