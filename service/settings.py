"""Settings, validated at start, and their translation into the library's environment.

``REALTY_DATABASE_URL`` chooses the store: ``sqlite:///relative/path``, ``sqlite:////absolute``
or ``postgresql://user:password@host:port/dbname``. This module is the only place that knows the
eventsourcing library's environment variable names; the application never reads ``os.environ``
for persistence settings, so a stray ``POSTGRES_ENABLE_DB_FUNCTIONS`` (which would let
subscribers miss events) cannot leak in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg.conninfo
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from archive.s3_documents import S3DocumentStore
from domain.rules import HANDOVER_RETURN_VISIT_AFTER, POOL_PROTECTION_PERIOD
from domain.staff import MAX_TOKEN_LIFETIME

DEFAULT_DATABASE_URL = "sqlite:///var/realty.sqlite3"


class SettingsError(Exception):
    """Settings that cannot be used; the message says which and why, without secrets."""


@dataclass(frozen=True)
class Database:
    backend: Literal["sqlite", "postgres"]
    path: Path | None = None  # sqlite
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""

    def describe(self) -> str:
        """Where the store is, safe to print (no password)."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def parse_database_url(url: str) -> Database:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not raw or raw == ":memory:":
            raise ValueError(
                "a sqlite URL needs a file path: sqlite:///relative/path or sqlite:////absolute/path"
            )
        return Database(backend="sqlite", path=Path(unquote(raw)))
    if parts.scheme in ("postgresql", "postgres"):
        dbname = parts.path.lstrip("/")
        if not parts.hostname or not dbname:
            raise ValueError("a postgresql URL needs a host and a database: postgresql://user@host:5432/db")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ValueError("the postgresql URL has an invalid port") from None
        return Database(
            backend="postgres",
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=unquote(dbname),
        )
    raise ValueError(
        f"unsupported scheme {parts.scheme or '(none)'!r}: use sqlite:///path or postgresql://user@host/db"
    )


@dataclass(frozen=True)
class DocumentsBucket:
    endpoint: str
    bucket: str
    prefix: str
    region: str

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint} ({self.region})"


def parse_documents_url(url: str) -> DocumentsBucket:
    """``s3://bucket/prefix?endpoint=http(s)://host:port&region=us-east-1`` (region optional)."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError(f"unsupported scheme {parts.scheme or '(none)'!r}: "
                         "use s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1")
    if parts.username or parts.password:
        raise ValueError("the S3 credentials go in REALTY_S3_ACCESS_KEY_ID and REALTY_S3_SECRET_ACCESS_KEY, "
                         "not in the URL")
    if not parts.hostname:
        raise ValueError("an s3 URL names its bucket: s3://bucket/prefix?endpoint=...")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise ValueError(f"unknown s3 URL parameter {unknown[0]!r} (known: endpoint, region)")
    if any(len(v) > 1 for v in query.values()):
        raise ValueError("an s3 URL parameter is given once")
    endpoint = query.get("endpoint", [""])[0]
    if not endpoint:
        raise ValueError("an s3 URL needs its endpoint: s3://bucket/prefix?endpoint=http://host:9000")
    endpoint_parts = urlsplit(endpoint)
    if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.hostname:
        raise ValueError("the s3 URL's endpoint is http(s)://host[:port]")
    region = query.get("region", ["us-east-1"])[0] or "us-east-1"
    bucket = parts.netloc  # as written: bucket names are lowercase, which hostname would hide
    prefix = unquote(parts.path).strip("/")
    try:
        # The store checks bucket, prefix, endpoint and region the same way it will use them.
        S3DocumentStore(endpoint, bucket, prefix, "check", "check", region)
    except ValueError as e:
        raise ValueError(f"the s3 URL: {e}") from None
    return DocumentsBucket(endpoint=endpoint.rstrip("/"), bucket=bucket, prefix=prefix, region=region)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTY_", extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL)
    # Connection pool per process (PostgreSQL); the library opens it eagerly.
    pool_size: int = Field(default=5, ge=1, le=100)
    pool_max_overflow: int = Field(default=10, ge=0, le=200)
    # Seconds a request waits for a pooled connection (or for a new connection to the server) before
    # it is answered 503 store_unavailable; while the server is down the wait is cut short
    # (service.store_outage). The library calls it POSTGRES_CONNECT_TIMEOUT.
    pool_timeout: int = Field(default=5, ge=1, le=600)
    # Seconds a writer waits for the log's table lock before giving up.
    lock_timeout: int = Field(default=10, ge=0, le=600)
    # Test each pooled connection with a round trip before use. Off: a connection the server has
    # closed is found without one (service.store_outage), the library retries a statement that fails
    # on a broken connection, and the ping costs every command a round trip.
    pool_pre_ping: bool = False
    # Records each process keeps for commands to read (0 turns the cache off). Safe at any size:
    # every cached read is checked when the command writes (see service.reads).
    cache_size: int = Field(default=10_000, ge=0, le=10_000_000)
    # A sealed snapshot of a record every this many of its events, so that loading a long history
    # reads one snapshot and fewer than this many events (0 turns snapshots off; why 100: the
    # scale section of benchmarks/README.md).
    snapshot_interval: int = Field(default=100, ge=0, le=1_000_000)
    # The Ed25519 keys that sign checkpoints: a directory made by `realty audit init-keys` (default:
    # keys/ next to a SQLite store, var/keys for PostgreSQL), or one PEM given as a secret.
    signing_keys_dir: Path | None = None
    signing_key_pem: SecretStr | None = None
    # Public keys of earlier signing keys (a file from `realty audit public-key`), for verifying old
    # checkpoints when the signing key comes as a PEM secret (a keyring directory keeps them itself).
    signing_public_keys: Path | None = None
    # Every checkpoint signed here is also appended to this file, outside the database (default:
    # <store>-checkpoints.jsonl beside a SQLite store, var/checkpoints-<dbname>.jsonl for PostgreSQL:
    # one journal per log, so two stores in one directory never hold each other to their own).
    checkpoint_journal: Path | None = None
    # Every destruction of data keys (crypto-shredding) is also appended to this file, outside the
    # database and every backup, so that a restore destroys them again (default: <store>-shredded.jsonl
    # beside a SQLite store, var/shredded-<dbname>.jsonl for PostgreSQL; see archive.shredding_register).
    shredding_register: Path | None = None
    # Names this log in its checkpoints, so a witness never confuses two logs.
    ledger_origin: str = Field(default="realty-ledger", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    # The service signs a checkpoint after this many new events, and at this interval (seconds)
    # if the log grew; 0 turns either off.
    checkpoint_every: int = Field(default=1000, ge=0, le=10_000_000)
    checkpoint_interval: float = Field(default=60.0, ge=0, le=86_400)

    # Master keys (key-encryption keys) that wrap the data keys encrypting every stored event: a
    # directory made by `realty keys init` (default: master/ in the signing keys' directory), or a
    # secret of "<version>:<base64 key>" entries separated by commas. Never in the database.
    master_keys_dir: Path | None = None
    master_keys: SecretStr | None = None
    # How long an unwrapped data key is used from memory before it is checked again: the longest
    # another process may go on showing a customer's personal data after it has been shredded.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=3600)

    # Service-file documents, encrypted and content-addressed (default: <store>-documents/ beside a
    # SQLite store, var/documents-<dbname>/ for PostgreSQL), and the largest upload accepted.
    documents_dir: Path | None = None
    # ...or an S3-compatible bucket instead of the directory:
    # s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1 (path-style requests, so
    # MinIO, Ceph and AWS alike), with its credentials as secrets.
    documents_url: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=2 * 1024**3)
    # Sealed packages made through the API, kept for download (default: <store>-exports/ beside a
    # SQLite store, var/exports-<dbname>/ for PostgreSQL).
    exports_dir: Path | None = None
    # The retention schedule (TOML; default: the packaged archive/default_retention.toml).
    retention_policy: Path | None = None

    # The views (projections): a SQLite store keeps them in a file of their own (default:
    # <store>-views.sqlite3 beside it); PostgreSQL keeps them in the log's database.
    views_path: Path | None = None
    # Run the projector inside the service process (embedded mode). Turn off when separate
    # `realty projector` processes keep the views.
    embedded_projector: bool = True
    projection_batch_size: int = Field(default=2000, ge=1, le=100_000)
    # How long a list route given min_position waits for its view to reach it before a 503.
    read_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    # How long an Idempotency-Key stays "in progress" (409) before a retry may take the claim over
    # (service.idempotency). Longer than a request takes (its lock and pool waits, its 3 s of race
    # retries); a request still running when its claim is taken over records nothing, so a short
    # value costs slow requests their answer, never a double record.
    idempotency_claim_seconds: float = Field(default=30.0, gt=0, le=86_400)
    # Automations: customers untouched by their consultant this many days return to the team's
    # public pool; a return visit falls due this many days after handover; the automations run at
    # this interval (seconds; 0 turns them off).
    pool_protection_days: int = Field(default=POOL_PROTECTION_PERIOD.days, ge=1, le=365)
    return_visit_after_days: int = Field(default=HANDOVER_RETURN_VISIT_AFTER.days, ge=1, le=365)
    automation_interval: float = Field(default=60.0, ge=0, le=86_400)
    # Days an API token lives when its issuer names no lifetime (0: tokens never expire).
    token_lifetime_days: int = Field(default=90, ge=0, le=MAX_TOKEN_LIFETIME.days)
    # The console's cookies carry the Secure flag: None (default) when the request came over https
    # (as uvicorn sees it: behind a TLS-terminating proxy, run with --proxy-headers), True always
    # (a proxy that terminates TLS without forwarding the scheme), False never (plain-http testing).
    console_secure_cookies: bool | None = None

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parse_database_url(value)
        return value

    @field_validator("documents_url")
    @classmethod
    def _check_documents_url(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_documents_url(value)
            return value
        return None  # empty: the directory

    @model_validator(mode="after")
    def _s3_needs_credentials(self) -> Settings:
        if self.documents_url is not None:
            missing = [name for name, secret in (("REALTY_S3_ACCESS_KEY_ID", self.s3_access_key_id),
                                                 ("REALTY_S3_SECRET_ACCESS_KEY", self.s3_secret_access_key))
                       if secret is None or not secret.get_secret_value()]
            if missing:
                raise ValueError(f"REALTY_DOCUMENTS_URL names an S3 bucket, which needs {' and '.join(missing)}")
        return self

    @property
    def documents_bucket(self) -> DocumentsBucket | None:
        """Where the documents live when REALTY_DOCUMENTS_URL names a bucket."""
        return parse_documents_url(self.documents_url) if self.documents_url else None

    @property
    def database(self) -> Database:
        return parse_database_url(self.database_url)

    @property
    def keys_dir(self) -> Path:
        if self.signing_keys_dir is not None:
            return self.signing_keys_dir
        db = self.database
        return db.path.parent / "keys" if db.path is not None else Path("var/keys")

    @property
    def master_dir(self) -> Path:
        return self.master_keys_dir if self.master_keys_dir is not None else self.keys_dir / "master"

    @property
    def documents_path(self) -> Path:
        if self.documents_dir is not None:
            return self.documents_dir
        db = self.database
        if db.path is not None:
            return db.path.with_name(f"{db.path.stem}-documents")
        return self.keys_dir.parent / f"documents-{db.dbname}"

    @property
    def exports_path(self) -> Path:
        if self.exports_dir is not None:
            return self.exports_dir
        db = self.database
        if db.path is not None:
            return db.path.with_name(f"{db.path.stem}-exports")
        return self.keys_dir.parent / f"exports-{db.dbname}"

    @property
    def journal_path(self) -> Path:
        if self.checkpoint_journal is not None:
            return self.checkpoint_journal
        db = self.database
        if db.path is not None:
            return db.path.with_name(f"{db.path.stem}-checkpoints.jsonl")
        return self.keys_dir.parent / f"checkpoints-{db.dbname}.jsonl"

    @property
    def shredding_register_path(self) -> Path:
        if self.shredding_register is not None:
            return self.shredding_register
        db = self.database
        if db.path is not None:
            return db.path.with_name(f"{db.path.stem}-shredded.jsonl")
        return self.keys_dir.parent / f"shredded-{db.dbname}.jsonl"

    @property
    def views_file(self) -> Path | None:
        db = self.database
        if db.path is None:
            return None
        return self.views_path or db.path.with_name(f"{db.path.stem}-views.sqlite3")

    def postgres_conninfo(self) -> str:
        db = self.database
        return psycopg.conninfo.make_conninfo(host=db.host, port=db.port, user=db.user, password=db.password or None,
                                              dbname=db.dbname, connect_timeout=max(2, self.pool_timeout))

    def library_env(self) -> dict[str, str]:
        """The eventsourcing environment for these settings (the one translation point)."""
        db = self.database
        # The library's own cache stays off: ours (service.reads) is checked at write time.
        env = {"AGGREGATE_CACHE_MAXSIZE": ""}
        if self.snapshot_interval:
            env["IS_SNAPSHOTTING_ENABLED"] = "y"  # the snapshots table (realty_snapshots / stored_snapshots)
        if db.backend == "sqlite":
            assert db.path is not None
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                APPLICATION_RECORDER_TOPIC="archive.chained:ChainedSQLiteRecorder",
                SQLITE_DBNAME=str(db.path),
                SQLITE_LOCK_TIMEOUT=str(self.lock_timeout),
            )
        else:
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                APPLICATION_RECORDER_TOPIC="archive.chained:ChainedPostgresRecorder",
                POSTGRES_DBNAME=db.dbname,
                POSTGRES_HOST=db.host,
                POSTGRES_PORT=str(db.port),
                POSTGRES_USER=db.user,
                POSTGRES_PASSWORD=db.password,
                POSTGRES_POOL_SIZE=str(self.pool_size),
                POSTGRES_MAX_OVERFLOW=str(self.pool_max_overflow),
                POSTGRES_LOCK_TIMEOUT=str(self.lock_timeout),
                POSTGRES_CONNECT_TIMEOUT=str(self.pool_timeout),
                POSTGRES_PRE_PING="y" if self.pool_pre_ping else "n",
            )
        return env


SECRETS_DIR_VARIABLE = "REALTY_SECRETS_DIR"


def secrets_dir() -> Path | None:
    """Where settings may also come from files, one per setting, named after its variable
    (``realty_master_keys``, ``realty_signing_key_pem``, ``realty_database_url``…): Docker and
    Kubernetes mount secrets so (``/run/secrets``), which keeps them out of the environment, where
    ``docker inspect`` and ``/proc/<pid>/environ`` would show them. A variable set in the
    environment wins over its file."""
    import os

    given = os.environ.get(SECRETS_DIR_VARIABLE, "").strip()
    if not given:
        return None
    path = Path(given)
    if not path.is_dir():
        raise SettingsError(f"invalid settings: {SECRETS_DIR_VARIABLE}: {given} is not a directory")
    return path


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, the secrets directory (``REALTY_SECRETS_DIR``) and overrides,
    or a SettingsError naming the bad field."""
    try:
        return Settings(**overrides, _secrets_dir=secrets_dir())  # type: ignore[arg-type,call-arg]
    except ValidationError as e:
        problems = []
        for err in e.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["loc"]:
                field = "REALTY_" + "_".join(str(p) for p in err["loc"]).upper()
                problems.append(f"{field}: {message}")
            else:  # a rule across settings: its message names them
                problems.append(message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
