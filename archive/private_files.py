"""Writing a secret file safely: mode 0600 from its first byte, whole or not at all, durable; and
append-only files of JSON lines (the checkpoint journal, the shredding register)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_private(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` (0600) through a temporary file, fsynced, then moved into place and
    the directory fsynced (the rename itself must survive a crash). ``replace=False`` never replaces
    an existing file: ``FileExistsError`` instead (a master key must never be overwritten)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and fails if the name exists
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line (0600 file, made if missing) durably: one ``write`` of the whole line under
    ``O_APPEND``, so lines of processes appending at once never interleave, then ``fsync``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the file's name must survive a crash too, not only its bytes
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_lines(path: Path, parse: Callable[[str], T], damage: tuple[type[Exception], ...]) -> tuple[list[T], list[int]]:
    """Every non-blank line of an append-only file, parsed; and the numbers of the lines that
    ``parse`` refused with one of ``damage`` (a missing file is an empty one)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [], []
    found: list[T] = []
    damaged: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(parse(line))
        except damage:
            damaged.append(number)
    return found, damaged
