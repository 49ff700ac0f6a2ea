"""``realty``: the command line of the ledger.

Errors are one line on stderr and a non-zero exit (2 for bad input or a broken rule, 1 for
anything else); ``--debug`` shows the traceback. Personal data is masked in printed records
unless ``--reveal --by STAFF_ID`` is given (the terminal is often shared or recorded), and such a
full read is recorded on that staff member's access log.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.master_keys import MasterKeyError
from archive.signing import KeyringError
from domain.customer_erasure import ErasureBasis
from domain.errors import DomainError
from service.settings import Settings, SettingsError, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1 unless told otherwise."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- helpers -----------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"database_url": args.database_url} if args.database_url else {}
    return load_settings(**overrides)


def _open(settings: Settings) -> Any:
    """Open the ledger, creating the SQLite directory and the tables if needed."""
    from service.application import RealtyLedger

    db = settings.database
    if db.backend == "sqlite":
        assert db.path is not None
        db.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return RealtyLedger(settings)
    except Exception as e:  # the library raises OSError / psycopg errors when the store is unreachable
        if isinstance(e, DomainError | MasterKeyError | SettingsError):
            raise
        raise CliError(f"cannot open the store at {db.describe()}: {_first_line(e)}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _console() -> Any:
    from rich.console import Console

    return Console()


# --- commands ----------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    app = _open(settings)
    try:
        print(f"store ready at {settings.database.describe()} ({app.event_count()} events)")
    finally:
        app.close()
    return EXIT_OK


def _load_demo_with_progress(app: Any, customers: int, seed: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from service.demo import load_demo

    with Progress(
        TextColumn("demo data"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(),
        transient=False,
    ) as bar:
        task = bar.add_task("customers", total=customers)
        return load_demo(app, customers=customers, seed=seed, progress=lambda k: bar.update(task, completed=k))


def _print_demo_summary(summary: Any) -> None:
    print(
        f"demo loaded: {summary.customers} customers, {summary.listings} listings, {summary.staff} staff, "
        f"{summary.events} events in {summary.seconds:.1f} s"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    if args.customers < 1 or args.customers > 1_000_000:
        raise CliError("--customers must be between 1 and 1000000", EXIT_USAGE)
    settings = _settings(args)
    app = _open(settings)
    try:
        if args.if_empty and app.log_head() > 0:
            print(f"store at {settings.database.describe()} already has {app.event_count()} events; demo not loaded")
            return EXIT_OK
        _print_demo_summary(_load_demo_with_progress(app, args.customers, args.seed))
    finally:
        app.close()
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: initialise, load the demo on first run, print where to look, serve the API."""
    settings = _settings(args)
    app = _open(settings)
    try:
        if app.log_head() == 0:
            print(f"first run: loading demo data into {settings.database.describe()}")
            summary = _load_demo_with_progress(app, args.customers, args.seed)
            _print_demo_summary(summary)
            _write_showcase(settings, summary)
            _write_demo_tokens(app, settings)
            checkpoint = app.audit.checkpoint()
            print(f"signed checkpoint of {checkpoint.tree_size} events with key {checkpoint.key_id} "
                  f"(keys in {settings.keys_dir}); check the log any time with: realty verify")
        _print_summary(app, settings)
    finally:
        app.close()
    if args.no_serve:
        return EXIT_OK
    tokens = _var_dir(settings) / "demo-tokens.txt"
    print(f"API docs: http://{args.host}:{args.port}/docs   console: http://{args.host}:{args.port}/console/   "
          f"demo tokens (one per role): {tokens}")
    return _serve(settings, args.host, args.port, 1)


def _var_dir(settings: Settings) -> Path:
    """Where the run's side files go: beside the SQLite store, else ./var."""
    db = settings.database
    return db.path.parent if db.backend == "sqlite" and db.path else Path("var")


def _showcase_path(settings: Settings) -> Path | None:
    return _var_dir(settings) / "demo-showcase.json"


def _write_demo_tokens(app: Any, settings: Settings) -> None:
    """One API token per role for the demo, in a file only its owner can read (0600)."""
    from domain.identity import STAFF_ROLES
    from service.application import Acting

    wanted = {role.value for role in STAFF_ROLES}
    lines = ["# role\tteam\tstaff id\ttoken (demo data only; revoke with realty token revoke)"]
    for staff_id in app.staff_ids():
        staff = app.staff_member(staff_id)
        if staff["role"] in wanted and staff["active"]:
            token, _ = app.issue_token(Acting.system(), staff_id, label="demo")
            lines.append(f"{staff['role']}\t{staff['team']}\t{staff_id}\t{token}")
            wanted.discard(staff["role"])
    if "service_account" in wanted:  # the demo's internal reporting service
        account = app.register_staff(Acting.system(), name="演示报表服务", role="service_account", team="services")
        token, _ = app.issue_token(Acting.system(), account.id, label="demo")
        lines.append(f"service_account\tservices\t{account.id}\t{token}")
    path = _var_dir(settings) / "demo-tokens.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    import os

    import uvicorn

    # Workers are separate processes: they read the store's URL from the environment.
    os.environ["REALTY_DATABASE_URL"] = settings.database_url
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=SERVE_LOGGING, access_log=False)
    return EXIT_OK


# Applied by uvicorn in every worker process: our JSON access log (one line a request, built by
# service.api.middleware without personal data) on stderr, and uvicorn's own messages from
# warnings up. uvicorn's plain-text access log stays off: it would print URLs and client addresses.
SERVE_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json_line": {"format": "%(message)s"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "access": {"class": "logging.StreamHandler", "formatter": "json_line", "stream": "ext://sys.stderr"},
        "server": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "realty.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["server"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def cmd_serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise CliError("--port must be between 1 and 65535", EXIT_USAGE)
    if not 1 <= args.workers <= 64:
        raise CliError("--workers must be between 1 and 64", EXIT_USAGE)
    settings = _settings(args)
    _open(settings).close()  # fail here, in one line, if the store cannot be opened
    print(f"serving http://{args.host}:{args.port} (API docs at /docs) on {settings.database.describe()}")
    return _serve(settings, args.host, args.port, args.workers)


def _acting(args: argparse.Namespace) -> Any:
    """Who the command acts as: ``--by STAFF_ID``, or the system (bootstrap and operations)."""
    from service.application import Acting

    return Acting.system() if args.by is None else Acting(args.by)


def _register_with_token(args: argparse.Namespace, role: str, team: str) -> tuple[str, str, str]:
    """Register an account and issue its first token: (account id, token id, token)."""
    app = _open(_settings(args))
    try:
        acting = _acting(args)
        result = app.register_staff(acting, name=args.name, role=role, team=team)
        token, issued = app.issue_token(acting, result.id, label=args.label)
    finally:
        app.close()
    return result.id, issued.entity_id or "", token


def _print_token(token_id: str, token: str, whose: str = "") -> None:
    print(f"token {token_id}{whose} (shown once, store it now):")
    print(token)


def cmd_staff_add(args: argparse.Namespace) -> int:
    staff_id, token_id, token = _register_with_token(args, args.role, args.team)
    print(f"staff member {staff_id} registered ({args.role}, {args.team})")
    _print_token(token_id, token)
    return EXIT_OK


def cmd_service_account_add(args: argparse.Namespace) -> int:
    account_id, token_id, token = _register_with_token(args, "service_account", "services")
    print(f"service account {account_id} registered (read-only, personal data masked)")
    _print_token(token_id, token)
    return EXIT_OK


def cmd_token_issue(args: argparse.Namespace) -> int:
    app = _open(_settings(args))
    try:
        token, issued = app.issue_token(_acting(args), args.staff_id, label=args.label,
                                        expires_in_days=args.expires_in_days)
    finally:
        app.close()
    _print_token(issued.entity_id or "", token, f" for staff member {issued.id}")
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace) -> int:
    app = _open(_settings(args))
    try:
        app.revoke_token(_acting(args), args.staff_id, token_id=args.token_id, reason=args.reason)
    finally:
        app.close()
    print(f"token {args.token_id} revoked")
    return EXIT_OK


def _write_showcase(settings: Settings, summary: Any) -> None:
    """Remember where to look: labels to `realty <kind> show ID` commands."""
    path = _showcase_path(settings)
    if path is None:
        return
    commands = {label: f"customer show {record_id}" for label, record_id in summary.showcase.items()}
    # Labels of other records start with their kind: "deal rejected then approved", "staff deactivated".
    commands |= {label: f"{label.split()[0]} show {record_id}" for label, record_id in summary.records.items()}
    path.parent.mkdir(parents=True, exist_ok=True)  # ./var for a PostgreSQL store on a first run
    path.write_text(json.dumps(commands, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _print_summary(app: Any, settings: Settings) -> None:
    from rich.table import Table

    counts = app.count_by_kind()
    table = Table(title="Realty Ledger")
    table.add_column("record")
    table.add_column("count", justify="right")
    for kind, count in sorted(counts.items()):
        table.add_row(kind, str(count))
    table.add_row("events (the log)", str(app.event_count()))
    console = _console()
    console.print(table)
    console.print(f"store: {settings.database.describe()}", soft_wrap=True)
    prog = _program()
    path = _showcase_path(settings)
    if path is not None and path.exists():
        showcase = json.loads(path.read_text(encoding="utf-8"))
        console.print(f"Where to look (from {path}):")
        for label, command in showcase.items():
            console.print(f"  {label:<34} {prog} {command} --history", soft_wrap=True)
    console.print(f"More: {prog} --help", soft_wrap=True)


def _program() -> str:
    """How the user called us (e.g. .venv/bin/realty), so printed commands can be pasted as they are."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "realty" or not argv0.exists():
        return "realty"
    try:
        return str(argv0.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(argv0)


# Roles that read personal data in full (the day-to-day roles of the API's FULL_VIEW, and audit).
FULL_READERS = frozenset({"property_consultant", "customer_manager", "customer_service", "sales_manager",
                          "compliance_officer"})


def _full_read(app: Any, args: argparse.Namespace, record_id: str, kind: str, purpose: str,
               roles: frozenset[str] = FULL_READERS) -> bool:
    """Whether personal data is shown in full: only with ``--reveal``, and only to the staff member
    named with ``--by`` (of one of ``roles``), whose read is recorded on their personal-data access
    log like a read through the API. The command line has no login: ``--by`` names who answers
    for the read."""
    if not args.reveal:
        return False
    if not args.by:
        raise CliError("--reveal needs --by STAFF_ID: full reads of personal data are recorded", EXIT_USAGE)
    if app.staff_member(args.by)["role"] not in roles:
        raise CliError(f"--by must name a {' or '.join(sorted(roles))}", EXIT_USAGE)
    from service.application import Acting

    app.record_personal_data_read(Acting(args.by), record_id, subject_kind=kind, purpose=purpose)
    return True


def cmd_show(kind: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from service.redaction import redact_events, redact_state

        at = _parse_time(args.at) if args.at else None
        app = _open(_settings(args))
        try:
            state = app.state(args.id, version=args.version, at=at)
            if state["kind"] != _KIND_OF_COMMAND[kind]:
                raise CliError(f"{args.id} is a {state['kind']}, not a {kind}", EXIT_USAGE)
            history = app.history(args.id) if args.history else None
            full = _full_read(app, args, args.id, state["kind"], f"cli {kind} show")
        finally:
            app.close()
        if not full:
            state = redact_state(state)
            history = None if history is None else redact_events(history)
        if args.json:
            print(json.dumps({"state": state, "history": history}, ensure_ascii=False, indent=2))
            return EXIT_OK
        _print_record(state, history)
        return EXIT_OK

    return run


_KIND_OF_COMMAND = {"customer": "customer", "deal": "deal", "listing": "listing", "staff": "staff"}


def _print_record(state: dict[str, Any], history: list[dict[str, Any]] | None) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=f"{state['kind']} {state['id']} (version {state['version']})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in state.items():
        if key in ("id", "kind"):
            continue
        text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
        table.add_row(key, text if len(text) < 400 else text[:397] + "...")
    console.print(table)
    if history is not None:
        events = Table(title="history")
        for column in ("v", "event", "occurred at", "recorded at", "actor", "role", "data"):
            events.add_column(column)
        for e in history:
            events.add_row(
                str(e["version"]),
                e["name"],
                e["occurred_at"][:19],
                e["recorded_at"][:19],
                e["actor_id"][:8],
                e["actor_role"],
                json.dumps(e["data"], ensure_ascii=False)[:120],
            )
        console.print(events)


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--at {text!r} is not an ISO 8601 date-time", EXIT_USAGE) from None
    if value.tzinfo is None:
        raise CliError("--at needs a time zone offset, e.g. 2026-05-01T12:00:00+08:00", EXIT_USAGE)
    return value


def cmd_summary(args: argparse.Namespace) -> int:
    settings = _settings(args)
    app = _open(settings)
    try:
        _print_summary(app, settings)
    finally:
        app.close()
    return EXIT_OK


# --- parser --------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        self.exit(EXIT_USAGE, f"realty: error: {message} (see realty --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="realty",
        description="Realty Ledger: the system of record of the sales-service process.",
        epilog="The store is chosen by REALTY_DATABASE_URL (default sqlite:///var/realty.sqlite3).",
    )
    parser.add_argument("--database-url", help="override REALTY_DATABASE_URL for this command")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("init", help="create the store (tables, and the SQLite file and folder)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="load deterministic, realistic demo data (a year of history)")
    p.add_argument("--customers", type=int, default=200, help="number of customers (default 200)")
    p.add_argument("--seed", type=int, default=2026, help="random seed; the same seed tells the same story")
    p.add_argument("--if-empty", action="store_true", help="do nothing if the store already has events")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="the main job: init, demo data and tokens on first run, summary, serve the API")
    p.add_argument("--customers", type=int, default=200, help="demo customers on first run (default 200)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-serve", action="store_true", help="stop after the summary")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="serve the HTTP API with uvicorn")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.set_defaults(func=cmd_serve)

    staff = sub.add_parser("staff", help="staff members: show, add")
    staff_actions = staff.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    staff_actions.required = True
    p = staff_actions.add_parser("add", help="register a staff member and issue their first API token")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, help="sales_manager, property_consultant, customer_manager, "
                   "customer_service, compliance_officer, archivist or administrator")
    p.add_argument("--team", required=True)
    p.add_argument("--label", default="first token", help="where the token will be used")
    p.add_argument("--by", help="the acting administrator's staff id (default: the system, for bootstrap)")
    p.set_defaults(func=cmd_staff_add)

    account = sub.add_parser("service-account", help="read-only accounts for internal services")
    account_actions = account.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    account_actions.required = True
    p = account_actions.add_parser("add", help="register an internal service and issue its token")
    p.add_argument("--name", required=True)
    p.add_argument("--label", default="first token", help="where the token will be used")
    p.add_argument("--by", help="the acting administrator's staff id (default: the system)")
    p.set_defaults(func=cmd_service_account_add)

    token = sub.add_parser("token", help="API tokens: issue, revoke")
    token_actions = token.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    token_actions.required = True
    p = token_actions.add_parser("issue", help="issue a token for a staff member (shown once)")
    p.add_argument("staff_id")
    p.add_argument("--label", required=True, help="where the token will be used")
    p.add_argument("--expires-in-days", type=int, metavar="N",
                   help="days the token lives (0: never expires; default: REALTY_TOKEN_LIFETIME_DAYS)")
    p.add_argument("--by", help="the acting staff id (default: the system)")
    p.set_defaults(func=cmd_token_issue)
    p = token_actions.add_parser("revoke", help="revoke a token at once")
    p.add_argument("staff_id")
    p.add_argument("token_id")
    p.add_argument("--reason", required=True)
    p.add_argument("--by", help="the acting staff id (default: the system)")
    p.set_defaults(func=cmd_token_revoke)

    p = sub.add_parser("summary", help="what the store holds")
    p.set_defaults(func=cmd_summary)

    from service import cli_audit  # these import this module's helpers: imported here, not at the top

    cli_audit.add_parsers(sub, _Parser)

    from service import cli_views

    cli_views.add_parsers(sub, _Parser)
    from service import cli_archive, cli_backup, cli_files, cli_keys

    cli_archive.add_parsers(sub, _Parser)
    cli_keys.add_parsers(sub, _Parser)
    cli_files.add_parsers(sub, _Parser)
    cli_backup.add_parsers(sub, _Parser)
    from service import cli_secrets

    cli_secrets.add_parsers(sub, _Parser)

    for kind, help_text in (
        ("customer", "customers (客户)"),
        ("deal", "deals (交易)"),
        ("listing", "listings (房源)"),
        ("staff", None),
    ):
        if help_text is None:
            actions = staff_actions
        else:
            group = sub.add_parser(kind, help=help_text)
            actions = group.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
            actions.required = True
        show = actions.add_parser("show", help=f"show a {kind}'s state, optionally its history or an earlier state")
        show.add_argument("id", help=f"the {kind} id")
        show.add_argument("--history", action="store_true", help="also print every event with who, when and why")
        when = show.add_mutually_exclusive_group()
        when.add_argument("--version", type=int, help="the state as of this version")
        when.add_argument("--at", help="the state as recorded at this time (ISO 8601 with offset)")
        show.add_argument("--json", action="store_true", help="print JSON")
        show.add_argument("--reveal", action="store_true",
                          help="show personal data unmasked (needs --by; the read is recorded)")
        show.add_argument("--by", help="the staff member reading in full (staff id)")
        show.set_defaults(func=cmd_show(kind))
        if kind == "customer":
            erase = actions.add_parser("erase", help="record a customer's erasure request (PIPL Art. 47): shred "
                                       "now, or restrict until the retention period ends")
            erase.add_argument("id", help="the customer id")
            erase.add_argument("--basis", required=True, choices=[b.value for b in ErasureBasis],
                               help="the legal basis of the request (PIPL Art. 47(1))")
            erase.add_argument("--by", required=True, help="the compliance officer recording it (staff id)")
            erase.add_argument("--json", action="store_true", help="print JSON")
            erase.set_defaults(func=cmd_erase)
    return parser


def cmd_erase(args: argparse.Namespace) -> int:
    from service.application import Acting

    app = _open(_settings(args))
    try:
        answer = app.request_erasure(Acting(args.by), args.id, legal_basis=args.basis)
    finally:
        app.close()
    if args.json:
        print(json.dumps(answer, default=str, indent=2))
    elif answer["status"] == "erased":
        print(f"customer {answer['customer_id']}: erased — {len(answer['destroyed_keys'])} keys destroyed; their "
              "personal data now reads as [erased] everywhere")
    else:
        until = answer["retention_until"]
        print(f"customer {answer['customer_id']}: restricted (no processing but storage) until "
              f"{until.date().isoformat() if until else 'a retention period that has not started yet ends'}; "
              "shredded then by the automations")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        return int(args.func(args))
    except SettingsError as e:
        return _fail(args, e, str(e), EXIT_USAGE)
    except (KeyringError, MasterKeyError) as e:  # missing or wrong keys, loose permissions, a bad key file
        return _fail(args, e, str(e), EXIT_USAGE)
    except DomainError as e:
        return _fail(args, e, f"{e.code}: {e.message}", EXIT_USAGE)
    except CliError as e:
        return _fail(args, e, str(e), e.exit_code)
    except KeyboardInterrupt:
        print(f"\nrealty: interrupted after {time.monotonic() - started:.1f} s", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, no traceback
        return _fail(args, e, f"unexpected {type(e).__name__}: {_first_line(e)}", EXIT_FAILURE)


def _fail(args: argparse.Namespace, e: BaseException, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(e)
    print(f"realty: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
