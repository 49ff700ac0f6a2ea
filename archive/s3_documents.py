"""Service-file documents in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, moto).

``S3DocumentStore`` is the blob half of a ``DocumentStore``: encryption, addressing and every
integrity check stay in ``archive.documents``; this module only puts, gets, heads and deletes
objects named ``prefix/ab/cdef...`` (the address, its first two hex characters fanned out as on
disk). It speaks the S3 REST API with path-style URLs (``endpoint/bucket/key``, which every
S3-compatible server accepts) over ``http.client``, each request signed with AWS Signature
Version 4, so it needs nothing beyond the standard library.

A blob's address is known only once it has all been encrypted, so ``_store`` spools the chunks to
an unnamed temporary file (ciphertext only) while hashing them, then sends one PUT whose
``x-amz-content-sha256`` is that hash: the server refuses a body that arrives different from what
was signed. Storing is idempotent (the same address always carries the same bytes; a second PUT
rewrites them). A GET is streamed: the store reads the response segment by segment and checks the
address against the SHA-256 of what it read, so an object changed in the bucket fails with the
store's ``DocumentIntegrityError`` like a changed file on disk.

Failures are an ``S3Error`` carrying the operation, the HTTP status and S3's error code (parsed
from the response, nothing else of it); no message ever holds a credential, a signature or
object content. A missing object is ``BlobNotFound``. Every request has a timeout (connect and
each socket read), and each request uses a connection of its own, so one store serves any
number of threads.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import re
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from archive.documents import BlobNotFound, DocumentStore, _checked_address

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ALGORITHM = "AWS4-HMAC-SHA256"
_SERVICE = "s3"
_BLOCK = 1 << 20  # bytes per socket send when uploading a spooled blob
_ERROR_CODE = re.compile(rb"<Code>([A-Za-z0-9._-]{1,100})</Code>")
_REGION = re.compile(r"[a-z0-9-]{1,64}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class S3Error(OSError):
    """An S3 request that failed: which operation, the HTTP status and S3's error code.

    Never a credential, a signature or object content in the message: only what is safe in a log.
    ``status`` is None when no response came (refused connection, timeout, broken stream)."""

    def __init__(self, operation: str, key: str, status: int | None, code: str | None,
                 request_id: str | None = None, reason: str | None = None) -> None:
        self.operation, self.key, self.status, self.code, self.request_id = operation, key, status, code, request_id
        if status is None:
            detail = f"no response ({reason})" if reason else "no response"
        else:
            detail = f"HTTP {status} {code or '(no error code)'}"
            if request_id:
                detail += f", request id {request_id}"
        super().__init__(f"S3 {operation} of {key} failed: {detail}")


# --- Signature Version 4 ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """The headers to send, and the intermediate forms (for known-answer tests)."""

    headers: dict[str, str]
    canonical_request: str
    string_to_sign: str
    signature: str


def sign_v4(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], payload_sha256: str,
            *, access_key_id: str, secret_access_key: str, region: str, service: str,
            when: datetime) -> SignedRequest:
    """Sign a request as AWS Signature Version 4 (header form).

    ``path`` is the canonical URI already encoded (see ``_uri_path``); ``headers`` are the ones to
    sign, which must include ``host``; ``x-amz-date`` is added from ``when`` (UTC). The
    signature is returned in an ``Authorization`` header beside the headers given."""
    amz_date = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    signed["x-amz-date"] = amz_date
    if "host" not in signed:
        raise ValueError("a signed request names its host")
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical_query = "&".join(
        f"{_encode(k)}={_encode(v)}" for k, v in sorted((str(k), str(v)) for k, v in query.items())
    )
    canonical_request = "\n".join([
        method, path, canonical_query, "".join(f"{n}:{signed[n]}\n" for n in names), signed_headers,
        payload_sha256,
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([_ALGORITHM, amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_access_key).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    out = {name: str(value) for name, value in headers.items()}
    out["x-amz-date"] = amz_date
    out["Authorization"] = (f"{_ALGORITHM} Credential={access_key_id}/{scope}, "
                            f"SignedHeaders={signed_headers}, Signature={signature}")
    return SignedRequest(out, canonical_request, string_to_sign, signature)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    # RFC 3986 unreserved characters stay; everything else is %XX (uppercase), as SigV4 requires.
    return quote(text, safe="-_.~")


def _uri_path(*segments: str) -> str:
    # S3 signs the path as sent, each segment encoded once (not twice, unlike other services).
    return "/" + "/".join(_encode(s) for s in segments)


# --- The store -------------------------------------------------------------------------------


class S3DocumentStore(DocumentStore):
    """Blobs as objects ``prefix/ab/cdef...`` in ``bucket`` at ``endpoint`` (path-style URLs)."""

    def __init__(self, endpoint: str, bucket: str, prefix: str, access_key_id: str, secret_access_key: str,
                 region: str = "us-east-1", *, timeout: float = 30.0) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an S3 endpoint is http(s)://host[:port]")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("an S3 endpoint is http(s)://host[:port], with no path, query or user")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the S3 endpoint has an invalid port") from None
        if not _BUCKET.fullmatch(bucket):
            raise ValueError("an S3 bucket name is 3-63 lowercase letters, digits, dots and hyphens")
        segments = [s for s in prefix.strip("/").split("/")] if prefix.strip("/") else []
        if any(s in ("", ".", "..") for s in segments):
            raise ValueError("an S3 prefix has no empty, '.' or '..' segments")
        if not _REGION.fullmatch(region):
            raise ValueError("an S3 region is lowercase letters, digits and hyphens")
        if not access_key_id or not secret_access_key:
            raise ValueError("S3 credentials need an access key id and a secret access key")
        if timeout <= 0:
            raise ValueError("the S3 timeout is positive")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.bucket, self.prefix, self.region, self.timeout = bucket, "/".join(segments), region, timeout
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._hostname = parts.hostname
        self._port = port
        self._host_header = parts.netloc.rpartition("@")[2]
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key

    def __repr__(self) -> str:  # no credentials
        return f"S3DocumentStore({self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    def key(self, address: str) -> str:
        """The object key of a blob."""
        address = _checked_address(address)
        return "/".join(filter(None, (self.prefix, address[:2], address[2:])))

    # The four blob primitives of DocumentStore.

    def exists(self, address: str) -> bool:
        key = self.key(address)
        conn, response = self._request("HEAD", key)
        try:
            response.read()
            if response.status == 200:
                return True
            if response.status == 404:
                return False
            raise self._error("HEAD", key, response, b"")
        finally:
            conn.close()

    def delete(self, address: str) -> bool:
        # S3 answers a DELETE of a missing key with 204 too, so ask first: the answer says whether
        # there was a blob (a concurrent delete between the two makes no difference to the caller).
        if not self.exists(address):
            return False
        key = self.key(address)
        conn, response = self._request("DELETE", key)
        try:
            body = response.read(64 * 1024)
            if response.status in (200, 204):
                return True
            raise self._error("DELETE", key, response, body)
        finally:
            conn.close()

    def _open_blob(self, address: str) -> BinaryIO:
        key = self.key(address)
        conn, response = self._request("GET", key)
        if response.status == 200:
            return io.BufferedReader(_ResponseBody(conn, response, key), buffer_size=_BLOCK)  # type: ignore[return-value]
        try:
            body = response.read(64 * 1024)
            if response.status == 404 and _error_code(body) in (None, "NoSuchKey"):
                raise BlobNotFound(address)
            raise self._error("GET", key, response, body)
        finally:
            conn.close()

    def _store(self, blob: Iterable[bytes]) -> str:
        with tempfile.TemporaryFile(prefix="realty-s3-") as spool:
            digest, size = hashlib.sha256(), 0
            for chunk in blob:
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.flush()
            spool.seek(0)
            address = digest.hexdigest()
            key = self.key(address)
            conn, response = self._request(
                "PUT", key, body=spool, payload_sha256=address,
                headers={"content-length": str(size), "content-type": "application/octet-stream"},
            )
            try:
                body = response.read(64 * 1024)
                if response.status != 200:
                    raise self._error("PUT", key, response, body)
            finally:
                conn.close()
        return address

    # HTTP.

    def _request(self, method: str, key: str, *, body: BinaryIO | None = None, payload_sha256: str = EMPTY_SHA256,
                 headers: Mapping[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        path = _uri_path(self.bucket, *key.split("/"))
        to_sign = {"host": self._host_header, "x-amz-content-sha256": payload_sha256, **(headers or {})}
        signed = sign_v4(method, path, {}, to_sign, payload_sha256, access_key_id=self._access_key_id,
                         secret_access_key=self._secret_access_key, region=self.region, service=_SERVICE,
                         when=self._now())
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=signed.headers)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise S3Error(method, key, None, None, reason=_reason(e)) from None
        except BaseException:
            conn.close()
            raise

    def _connection(self) -> http.client.HTTPConnection:
        if self._tls is not None:
            return http.client.HTTPSConnection(self._hostname, self._port, timeout=self.timeout,
                                               context=self._tls, blocksize=_BLOCK)
        return http.client.HTTPConnection(self._hostname, self._port, timeout=self.timeout, blocksize=_BLOCK)

    def _now(self) -> datetime:  # seam for tests
        return datetime.now(UTC)

    @staticmethod
    def _error(operation: str, key: str, response: http.client.HTTPResponse, body: bytes) -> S3Error:
        return S3Error(operation, key, response.status, _error_code(body),
                       request_id=_safe_token(response.getheader("x-amz-request-id")))


class _ResponseBody(io.RawIOBase):
    """A GET response's body as a raw stream that owns its connection (closed with it).

    A connection lost or timed out mid-body is an ``S3Error``: a transport failure, not a
    verdict on the document, which only the store's checks give."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse, key: str) -> None:
        self._conn, self._response, self._key = conn, response, key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        try:
            return self._response.readinto(buffer)
        except (OSError, http.client.HTTPException) as e:
            raise S3Error("GET", self._key, None, None, reason=_reason(e)) from None

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
            finally:
                self._conn.close()
        super().close()


def _error_code(body: bytes) -> str | None:
    match = _ERROR_CODE.search(body or b"")
    return match.group(1).decode() if match else None


def _safe_token(value: str | None) -> str | None:
    return value if value and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value) else None


def _reason(error: BaseException) -> str:
    # The exception's type only: its text can hold the host's address but never anything secret;
    # the type (TimeoutError, ConnectionRefusedError, IncompleteRead) is what an operator needs.
    return type(error).__name__
