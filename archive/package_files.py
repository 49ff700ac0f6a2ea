"""The file names of a sealed package, and its serialization as one tar or zip file (RFC 8493 §4).

Shared by the builder (``archive.sealed_package``) and the verifier (``archive.package_verify``).
A serialized bag holds exactly one top-level folder, the bag. Members are written in a fixed order
(``bagit.txt``, ``bag-info.txt``, the other tag files by name, then ``data/`` depth first by name)
with the same owner (0, no names), permissions (0644 files, 0755 folders) and time, so that the
same bag always gives the same member list. Reading takes nothing on trust: only plain files and
folders, names that stay inside the one folder, no name twice; a tar must end with its
end-of-archive blocks, so that a tar cut short at a member boundary is named as truncated.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

FORMAT = "realty-sealed-package/v1"
BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
SIGNATURE = "tagmanifest-sha256.txt.sig"
CHECKPOINT = "checkpoint.json"
PROOFS = "proofs.jsonl"
EVENTS = "data/events.jsonl"
DOCUMENTS = "data/documents.jsonl"
SUMMARY = "data/summary.md"
DOCUMENTS_DIR = "data/documents/"
SIGNED_TAG_FILES = frozenset({BAGIT_TXT, BAG_INFO, MANIFEST, CHECKPOINT, PROOFS})  # exactly the tag manifest's lines
SIGNATURE_FORMAT = "realty-package-signature/v1"
SIGNATURE_CONTEXT = b"realty-sealed-package/v1 signature over tagmanifest-sha256.txt\n"
CHUNK = 1024 * 1024


class ContainerError(Exception):
    """A tar or zip that cannot be read as a package; ``member`` names where, if known."""

    def __init__(self, detail: str, member: str | None = None) -> None:
        super().__init__(detail)
        self.member = member


def check_relative_name(name: str, what: str = "name") -> list[str]:
    """The parts of a safe relative name (``/``-separated); ValueError for anything that could
    leave its folder or that tools disagree about."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be non-empty text")
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"{what} {name!r} must be relative, with / as the only separator")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise ValueError(f"{what} {name!r} contains control or format characters")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what} {name!r} has an empty, '.' or '..' part")
    return parts


def member_order(bag_dir: Path) -> list[str]:
    """Every folder and file of the bag, relative, in the serialization order: ``bagit.txt``,
    ``bag-info.txt``, the other root entries by name, ``data`` last; each folder before what it
    holds, depth first, by name."""
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(bag_dir):
        rel = Path(dirpath).relative_to(bag_dir).as_posix()
        prefix = "" if rel == "." else rel + "/"
        names.extend(prefix + n for n in (*dirnames, *filenames))
    root = sorted((n for n in names if "/" not in n), key=lambda n: (n != BAGIT_TXT, n != BAG_INFO, n == "data", n))
    nested = sorted((n for n in names if "/" in n), key=lambda n: n.split("/"))
    order: list[str] = []
    for name in root:
        order.append(name)
        order.extend(n for n in nested if n.split("/", 1)[0] == name)
    return order


def write_tar(bag_dir: Path, top: str, out: BinaryIO, mtime: int,
              progress: Callable[[str], Any] | None = None) -> None:
    # "w", not the stream mode "w|": that one re-slices its buffer on every 10 KiB (quadratic in the
    # write size). "w" needs only tell(), which the encrypting writer has.
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:  # type: ignore[call-arg]
        for rel in [".", *member_order(bag_dir)]:
            path = bag_dir / rel
            info = tarfile.TarInfo(top if rel == "." else f"{top}/{rel}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            info.mode, info.size = 0o644, path.stat().st_size
            with open(path, "rb") as f:
                tar.addfile(info, f)
            if progress:
                progress(rel)


def write_zip(bag_dir: Path, top: str, out: BinaryIO, date_time: tuple[int, ...],
              progress: Callable[[str], Any] | None = None) -> None:
    # Stored, not deflated: documents are mostly compressed already, and a plain store keeps the
    # export as fast as a tar.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for rel in [".", *member_order(bag_dir)]:
            path = bag_dir / rel
            name = top if rel == "." else f"{top}/{rel}"
            if path.is_dir():
                info = zipfile.ZipInfo(name + "/", date_time=date_time)  # type: ignore[arg-type]
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, date_time=date_time)  # type: ignore[arg-type]
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.file_size = path.stat().st_size
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=info.file_size > 2**31) as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            if progress:
                progress(rel)


class _Tail:
    """A reader that counts what passes and keeps the last bytes (for the end-of-archive check)."""

    KEEP = 64 * 1024

    def __init__(self, source: Any) -> None:
        self.source, self.count, self.tail = source, 0, b""

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.count += len(data)
        self.tail = (self.tail + data)[-self.KEEP:] if len(data) < self.KEEP else data[-self.KEEP:]
        return data


def extract_tar(source: Any, dest: Path) -> tuple[str, int]:
    """Unpack a tar stream (read once, front to back) into ``dest``: the top folder's name and the
    number of members. ContainerError names the member at fault; the decryption's own error passes."""
    reader = _Tail(source)
    last = None
    seen: set[str] = set()
    top: str | None = None
    try:
        with tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK) as tar:  # type: ignore[call-overload]
            for member in tar:
                top = _place(member.name, top, seen, last)
                last = member.name
                if member.isdir():
                    (dest / member.name).mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    source_file = tar.extractfile(member)
                    assert source_file is not None
                    _copy_out(source_file, dest / member.name)
                else:
                    raise ContainerError(f"{member.name} is not a plain file or folder (a link or device)",
                                         member.name)
            end = tar.offset
        while reader.read(CHUNK):
            pass
    except tarfile.TarError as e:
        where = f" after member {last}" if last else " at its start"
        raise ContainerError(f"the tar is damaged or cut short{where}: {e}", last) from None
    trailer = reader.count - end
    if trailer < 1024 or trailer > len(reader.tail) or any(reader.tail[len(reader.tail) - trailer:]):
        raise ContainerError(f"the tar has no end-of-archive marker after member {last}: it was cut short "
                             "(or has something appended)", last)
    if top is None:
        raise ContainerError("the tar is empty")
    return top, len(seen)


def extract_zip(path: Path, dest: Path) -> tuple[str, int]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ContainerError(f"not a readable zip (damaged or cut short): {e}") from None
    seen: set[str] = set()
    top: str | None = None
    last = None
    with zf:
        for info in zf.infolist():
            name = info.filename.removesuffix("/") if info.is_dir() else info.filename
            top = _place(name, top, seen, last)
            last = name
            if info.flag_bits & 0x1:
                raise ContainerError(f"{name} is encrypted inside the zip", name)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ContainerError(f"{name} is a link, not a plain file", name)
            if info.is_dir():
                (dest / name).mkdir(parents=True, exist_ok=True)
                continue
            try:
                with zf.open(info) as src:
                    _copy_out(src, dest / name)
            except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as e:
                raise ContainerError(f"{name} cannot be read from the zip (damaged): {e}", name) from None
    if top is None:
        raise ContainerError("the zip is empty")
    return top, len(seen)


def _place(name: str, top: str | None, seen: set[str], previous: str | None) -> str:
    try:
        parts = check_relative_name(name, "member name")
    except ValueError as e:
        raise ContainerError(str(e), name) from None
    if top is not None and parts[0] != top:
        raise ContainerError(f"{name} is outside the package's one top-level folder {top}", name)
    key = unicodedata.normalize("NFC", name).casefold()
    if key in seen:
        raise ContainerError(f"{name} appears twice in the archive", name)
    seen.add(key)
    return parts[0]


def _copy_out(source: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        shutil.copyfileobj(source, out, CHUNK)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, the line without its newline) of a JSON-lines file, streamed."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            yield number, line.rstrip(b"\n")
