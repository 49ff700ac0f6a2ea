"""What an uploaded service-file document is, judged from its bytes, and how big it may be.

An upload's file name and declared ``Content-Type`` are the sender's claims; ``check_upload``
looks only at the first bytes (read ``SNIFF_BYTES`` of them) and accepts a document when they
carry the full signature of one of a few formats: PDF, JPEG, PNG, TIFF, WebP. An HTML page, a
script, a ZIP (and so DOCX/XLSX), an ELF or PE executable, plain text, or a file renamed to
``.pdf`` carries none of them and is refused, as is a head that starts like a PDF or an image
but carries HTML or script markup in the sniffed window (a polyglot a browser might render).

The signatures are written out here rather than taken from a sniffing library: the archive
package may import only the standard library and a few named packages, and a short allowlist
of exact, structural checks (PNG's IHDR chunk right after its signature, a WebP's VP8 chunk,
a PDF version line at offset 0) accepts less by accident than a general-purpose magic table
built to name as many formats as it can.

``BoundedReader`` and ``read_bounded`` stop a stream as soon as it passes the limit, before
the rest of it is read.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from domain.errors import DomainError

# How many leading bytes a caller should pass to check_upload: enough for every signature and
# for the polyglot scan, small enough to hold for every upload.
SNIFF_BYTES = 4096

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
WEBP = "image/webp"
SUPPORTED = frozenset({PDF, JPEG, PNG, TIFF, WEBP})


class UnsupportedDocumentType(DomainError):
    """The content is none of the allowed formats; ``detected`` names what it is, or "unknown"."""

    code = "unsupported_document_type"

    def __init__(self, detected: str, allowed: frozenset[str] | set[str]) -> None:
        super().__init__(
            f"the document's content is {detected}, which is not one of the accepted types"
            f" ({', '.join(sorted(allowed))})",
            detected=detected,
            allowed=sorted(allowed),
        )
        self.detected = detected


class DocumentTooLarge(DomainError):
    code = "document_too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the document is larger than the limit of {max_bytes} bytes", max_bytes=max_bytes)
        self.max_bytes = max_bytes


# --- Detection ------------------------------------------------------------------------------

_PDF_HEADER = re.compile(rb"%PDF-(1\.[0-7]|2\.0)[\r\n \t%]")
# JPEG: SOI then the first marker of a real file (APPn, DQT, DHT, SOF0-2, COM, DRI).
_JPEG_FIRST_MARKERS = frozenset({*range(0xE0, 0xF0), 0xDB, 0xC4, 0xC0, 0xC1, 0xC2, 0xFE, 0xDD})
_PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
_WEBP_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")

# Markup that makes a browser's sniffer (or a careless viewer) treat the bytes as a page.
_ACTIVE_MARKUP = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|object|embed|svg)[\s>/]",
                            re.IGNORECASE)

# Things worth naming in a refusal (the first match wins); everything else is "unknown".
_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "application/x-elf"),
    (b"MZ", "application/x-msdownload"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"#!", "text/x-script"),
)


def detect(head: bytes) -> str:
    """The media type of a document starting with ``head``, or "unknown".

    Only the formats this module accepts are recognised in full; a few others are named so that
    a refusal can say what was sent. A head with active markup in it is "text/html" whatever
    its first bytes claim.
    """
    if _ACTIVE_MARKUP.search(head):
        return "text/html"
    if _PDF_HEADER.match(head):
        return PDF
    if head.startswith(_PNG_HEADER):
        return PNG
    if len(head) >= 4 and head[:3] == b"\xff\xd8\xff" and head[3] in _JPEG_FIRST_MARKERS:
        return JPEG
    if len(head) >= 8 and head[:4] in (b"II*\x00", b"MM\x00*"):
        first_ifd = int.from_bytes(head[4:8], "little" if head[:2] == b"II" else "big")
        if first_ifd >= 8:
            return TIFF
    if len(head) >= 16 and head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in _WEBP_CHUNKS:
        return WEBP
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic):
            return name
    return "unknown"


def check_upload(first_bytes: bytes, declared_size: int | None, *, max_bytes: int, allowed: set[str]) -> str:
    """The media type of an upload from its first bytes (pass ``SNIFF_BYTES`` of them, or all
    of a shorter file), or ``UnsupportedDocumentType`` / ``DocumentTooLarge``.

    ``declared_size`` (a Content-Length, say) is checked when given; the true size is checked
    while the body is read, by ``BoundedReader``. A document of exactly ``max_bytes`` is accepted.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    unknown = set(allowed) - SUPPORTED
    if unknown:
        raise ValueError(f"cannot recognise {sorted(unknown)}; supported: {sorted(SUPPORTED)}")
    if (declared_size is not None and declared_size > max_bytes) or len(first_bytes) > max_bytes:
        raise DocumentTooLarge(max_bytes)
    detected = detect(first_bytes[:SNIFF_BYTES])
    if detected not in allowed:
        raise UnsupportedDocumentType(detected, allowed)
    return detected


# --- Size guard -----------------------------------------------------------------------------


class BoundedReader:
    """A read-only view of ``stream`` that raises ``DocumentTooLarge`` as soon as more than
    ``max_bytes`` come out of it. It reads at most one byte past the limit, so a stream of
    exactly ``max_bytes`` passes and a longer one is stopped without being read to its end."""

    def __init__(self, stream: BinaryIO, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self._stream = stream
        self._max = max_bytes
        self._seen = 0

    @property
    def bytes_read(self) -> int:
        return self._seen

    def read(self, size: int = -1) -> bytes:
        room = self._max - self._seen
        # Ask for one byte more than the room left, so going past the limit is seen here.
        want = room + 1 if size is None or size < 0 else min(size, room + 1)
        if size is None or size < 0:
            data = _read_fully(self._stream, want)
        else:
            data = self._stream.read(want)
        self._seen += len(data)
        if self._seen > self._max:
            raise DocumentTooLarge(self._max)
        return data


def _read_fully(stream: BinaryIO, limit: int) -> bytes:
    chunks, got = [], 0
    while got < limit:
        chunk = stream.read(min(limit - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_bounded(stream: BinaryIO, max_bytes: int) -> bytes:
    """All of ``stream``, or ``DocumentTooLarge`` once it passes ``max_bytes``; at most
    ``max_bytes + 1`` bytes are ever read from it."""
    return BoundedReader(stream, max_bytes).read()
