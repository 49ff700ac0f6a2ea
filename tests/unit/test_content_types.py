"""An upload's type comes from its bytes, and its size is bounded while it is read."""

from __future__ import annotations

import base64
import io
import struct

import pytest

from archive.content_types import (
    JPEG,
    PDF,
    PNG,
    SNIFF_BYTES,
    SUPPORTED,
    TIFF,
    WEBP,
    BoundedReader,
    DocumentTooLarge,
    UnsupportedDocumentType,
    check_upload,
    read_bounded,
)
from domain.errors import DomainError
from service.demo.archive_stories import paper, scan

LIMIT = 10 << 20
ALL = set(SUPPORTED)


def minimal_pdf() -> bytes:
    return paper("test", "content types")  # the demo's one-page PDF: the same bytes a store accepts


def minimal_png() -> bytes:
    return scan("test")  # the demo's small greyscale PNG


def minimal_tiff() -> bytes:
    # 1x1 bilevel, little-endian: header, one IFD of 8 entries, one byte of pixel data.
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (259, 3, 1, 1), (262, 3, 1, 0),
               (273, 4, 1, 8 + 2 + 8 * 12 + 4), (278, 3, 1, 1), (279, 4, 1, 1), (258, 3, 1, 1)]
    entries.sort()
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00"


# CPython's Lib/test/imghdrdata: a 16x16 JPEG (JFIF) and a WebP (VP8X), whole files.
PYTHON_JPG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8Q"
    "EBEQCgwSExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
    "EBAQEBAQEBD/wAARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwQF/8QAJBAAAQQBBAICAwAAAAAAAAAAAQID"
    "BAYFBwgSExEiABQJMTL/xAAVAQEBAAAAAAAAAAAAAAAAAAAABv/EACMRAAECBQMFAAAAAAAAAAAAAAECEQMEBQYhABIxFRZhgeH/"
    "2gAMAwEAAhEDEQA/ABSm0mobc8HmExLUlRzzEWPkJWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXmm3fX5m2nF4GlVxx/HOpx"
    "4ks51+MiU/Iaad7UcUo4tILoS4kqcWkezS0hO/HvuRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5SWVPuciFKRFLgSrwetnyPIB+"
    "Vb4N9mKhQMzo5po9XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ/rs8AuA8VAe0vdl7VOYn+27flGAUgmITjbhSmCg3BYlyeWDkMolv"
    "w4KOp1KM6iCNvngZHwetf//Z"
)
PYTHON_WEBP = base64.b64decode(
    "UklGRqgBAABXRUJQVlA4WAoAAAAQAAAADwAADwAAQUxQSMMAAAABJ6KokSTleucYX+ffKpmImP90cY3gJjDi4Yt3MsjBEVyDKzDo"
    "sHgVjnhRNcEIDAJPkqBqsFUZHNa2bUYvTsZ2PLbtd/uvKa4hov9J0f2PkPe6REkkGzolkTTzFG0Ox9PlFiD0CxS+kOGDtxoynjaC"
    "fx0pfk52CPuInrOR75lzRugygtv4zEiy90UwfSD9NheMITJWLaXWayO8XeOlWRXVnIGk2W6WdYoYMQ+KqixQNPowgt+6a1BSKbUt"
    "z+lUFAoBAAAAVlA4IL4AAACQAgCdASoQABAAAwA0JbACdDBPCIUMfAMdCCz96AD+/XSg/QKbH4r3Q3ycN/bSDK/T/zVo4u6nvclv"
    "G/SqxWOuup+XhN9BojvaW+Tv+MvxvX/hr/o/5Qns9LtmX/+qKdl/yWznhuasl7nkxvSTI4xf3Y85VSB/lU/8Ofj/b9JrA+ifvIOY"
    "Zm2x1RP/dhfmsf5diuSfR7+z+r/+HR3zEo/+XM/B+vkYw73Pzx+ROaAB/ZoBSzEs3rzZe6qsAAAA"
)


@pytest.mark.parametrize(
    ("content", "media_type"),
    [(minimal_pdf(), PDF), (minimal_png(), PNG), (PYTHON_JPG, JPEG), (minimal_tiff(), TIFF),
     (PYTHON_WEBP, WEBP), (b"%PDF-2.0\r\n" + b"\x00" * 10, PDF)],
    ids=["pdf", "png", "jpeg", "tiff", "webp", "pdf-2.0"],
)
def test_a_real_document_is_recognised_by_its_bytes(content: bytes, media_type: str) -> None:
    assert check_upload(content[:SNIFF_BYTES], len(content), max_bytes=LIMIT, allowed=ALL) == media_type


def test_a_supported_type_outside_the_allowed_set_is_refused() -> None:
    with pytest.raises(UnsupportedDocumentType) as refused:
        check_upload(minimal_png(), None, max_bytes=LIMIT, allowed={PDF})
    assert refused.value.detected == PNG
    assert refused.value.context == {"detected": PNG, "allowed": [PDF]}


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00"
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00" + b"PE\x00\x00"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 16 + b"word/document.xml"


@pytest.mark.parametrize(
    ("content", "detected"),
    [
        (b"", "unknown"),
        (b"Dear agent, please find the contract attached.\n", "unknown"),
        (b"<!DOCTYPE html><html><body>invoice</body></html>", "text/html"),
        (b"  \n<html><script>alert(1)</script></html>", "text/html"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "text/html"),
        (ZIP, "application/zip"),
        (ELF, "application/x-elf"),
        (PE, "application/x-msdownload"),
        (b"#!/bin/sh\nrm -rf /\n", "text/x-script"),
        (b"GIF89a\x10\x00\x10\x00", "image/gif"),
        # Polyglots: a format's signature with markup a browser would run behind it.
        (b"%PDF-1.4\n<html><script>alert(1)</script>", "text/html"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00<script>alert(1)</script>", "text/html"),
        # Signatures cut short or bent.
        (b"%PDF", "unknown"),
        (b"%PDF-9.9\n", "unknown"),
        (b"junk%PDF-1.7\n", "unknown"),
        (b"\x89PNG\r\n\x1a\n", "unknown"),
        (b"\xff\xd8\xff", "unknown"),
        (b"II*\x00\x00\x00\x00\x00", "unknown"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "unknown"),
    ],
    ids=["empty", "text", "html", "html-after-space", "svg", "zip", "elf", "pe", "script", "gif", "pdf-html-polyglot",
         "jpeg-script-polyglot", "pdf-too-short", "pdf-bad-version", "pdf-not-at-start", "png-without-ihdr",
         "jpeg-soi-only", "tiff-ifd-at-zero", "riff-wave"],
)
def test_anything_else_is_refused_and_named_when_known(content: bytes, detected: str) -> None:
    with pytest.raises(UnsupportedDocumentType) as refused:
        check_upload(content, len(content), max_bytes=LIMIT, allowed=ALL)
    assert refused.value.detected == detected
    assert refused.value.code == "unsupported_document_type"


def test_a_renamed_executable_is_refused_whatever_it_claims_to_be() -> None:
    # The name and the declared type never reach check_upload: only the bytes do.
    with pytest.raises(UnsupportedDocumentType):
        check_upload(PE + minimal_pdf(), None, max_bytes=LIMIT, allowed={PDF})


def test_markup_anywhere_in_the_sniffed_window_is_refused_but_not_beyond_it() -> None:
    pdf = minimal_pdf()
    late = pdf + b"\x00" * SNIFF_BYTES + b"<script>"
    assert check_upload(late, None, max_bytes=LIMIT, allowed=ALL) == PDF
    with pytest.raises(UnsupportedDocumentType):
        check_upload(pdf + b"<script>", None, max_bytes=LIMIT, allowed=ALL)


def test_jpeg_metadata_in_xmp_is_not_mistaken_for_markup() -> None:
    xmp = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>'
    assert check_upload(PYTHON_JPG[:20] + xmp + PYTHON_JPG[20:], None, max_bytes=LIMIT, allowed=ALL) == JPEG


def test_a_document_over_the_limit_is_refused_and_one_at_the_limit_accepted() -> None:
    pdf = minimal_pdf()
    assert check_upload(pdf, len(pdf), max_bytes=len(pdf), allowed=ALL) == PDF
    with pytest.raises(DocumentTooLarge) as refused:
        check_upload(pdf, len(pdf) + 1, max_bytes=len(pdf), allowed=ALL)
    assert (refused.value.code, refused.value.max_bytes) == ("document_too_large", len(pdf))
    with pytest.raises(DocumentTooLarge):  # the bytes in hand already exceed it, whatever was declared
        check_upload(pdf, 10, max_bytes=len(pdf) - 1, allowed=ALL)


def test_both_refusals_are_domain_errors_with_stable_codes_and_no_content_in_the_message() -> None:
    assert issubclass(UnsupportedDocumentType, DomainError) and issubclass(DocumentTooLarge, DomainError)
    assert UnsupportedDocumentType.code == "unsupported_document_type"
    assert DocumentTooLarge.code == "document_too_large"
    with pytest.raises(UnsupportedDocumentType) as refused:
        check_upload(b"secret ID number 110101199003077777", None, max_bytes=LIMIT, allowed=ALL)
    assert "1101" not in str(refused.value)


def test_asking_for_a_type_it_cannot_recognise_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="cannot recognise"):
        check_upload(minimal_pdf(), None, max_bytes=LIMIT, allowed={"application/msword"})


class CountingStream(io.RawIOBase):
    """An endless stream that counts what is taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), 4096)
        buffer[:n] = b"x" * n
        self.taken += n
        return n


def test_the_size_guard_stops_an_endless_stream_just_past_the_limit() -> None:
    stream = CountingStream()
    with pytest.raises(DocumentTooLarge):
        read_bounded(stream, 100_000)
    assert stream.taken <= 100_000 + 4096


def test_the_size_guard_passes_a_stream_of_exactly_the_limit() -> None:
    data = bytes(range(256)) * 40
    assert read_bounded(io.BytesIO(data), len(data)) == data
    with pytest.raises(DocumentTooLarge):
        read_bounded(io.BytesIO(data + b"!"), len(data))


def test_the_bounded_reader_raises_on_the_read_that_passes_the_limit() -> None:
    reader = BoundedReader(io.BytesIO(b"a" * 25), 20)
    assert reader.read(10) == b"a" * 10
    assert reader.read(10) == b"a" * 10
    assert reader.bytes_read == 20
    with pytest.raises(DocumentTooLarge):
        reader.read(10)


def test_the_bounded_reader_reports_the_end_of_a_short_stream() -> None:
    reader = BoundedReader(io.BytesIO(b"abc"), 20)
    assert reader.read(10) == b"abc"
    assert reader.read(10) == b""
