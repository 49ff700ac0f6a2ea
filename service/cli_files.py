"""``realty retention due`` and ``realty files show``: the service files whose retention period has
ended, and one file's state.

Reads only: nothing here records anything. ``files show`` masks the file's free text (reasons of
versions, reopenings, holds) as every printed record is masked, and never prints where a document
is stored or which key encrypts it. Exit codes as everywhere in the CLI: 0 done, 2 bad input or an
unknown file, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from service.cli import EXIT_OK, _console, _open, _parse_time, _print_record, _settings

_INTERNAL = ("storage_key", "key_id")


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    retention = sub.add_parser("retention", help="service files whose retention period has ended")
    actions = retention.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("due", help="the files due for disposition, with their holds and disposition state")
    p.add_argument("--at", help="judge as of this time (ISO 8601 with offset; default now)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_retention_due)

    files = sub.add_parser("files", help="service files (服务档案)")
    actions = files.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    p = actions.add_parser("show", help="a service file: documents and versions, status, holds, disposition")
    p.add_argument("file_id", help="the service file id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_files_show)


def cmd_retention_due(args: argparse.Namespace) -> int:
    at = _parse_time(args.at) if args.at else None
    app = _open(_settings(args))
    try:
        due = app.retention_due(at)
    finally:
        app.close()
    if args.json:
        print(json.dumps(due, ensure_ascii=False, indent=2))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"retention ended: {len(due)} service file{'' if len(due) == 1 else 's'}")
    for column in ("file", "class", "owner", "archive no.", "retention end", "holds", "disposition"):
        table.add_column(column)
    for d in due:
        table.add_row(d["file_id"], d["record_class"], f"{d['owner_kind']} {d['owner_id']}",
                      d["archive_number"] or "—", d["retention_end"][:19], str(len(d["holds"])),
                      d["disposition"] or "—")
    _console().print(table)
    return EXIT_OK


def cmd_files_show(args: argparse.Namespace) -> int:
    from domain.errors import NotFound
    from service.redaction import redact_state

    app = _open(_settings(args))
    try:
        state = app.state(args.file_id)
        if state["kind"] != "service_file":
            raise NotFound("service file", args.file_id)
        end = app.file_retention_end(app.repository.get(uuid.UUID(state["id"])))
    finally:
        app.close()
    shown = redact_state(without_internals(state))
    shown["retention_end"] = end.isoformat() if end else None
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        _print_record(shown, None)
    return EXIT_OK


def without_internals(data: Any) -> Any:
    """The state without storage addresses and key ids (at any depth)."""
    if isinstance(data, dict):
        return {k: without_internals(v) for k, v in data.items() if k not in _INTERNAL}
    if isinstance(data, list):
        return [without_internals(v) for v in data]
    return data
