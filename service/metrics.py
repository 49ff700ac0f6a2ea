"""What ``GET /metrics`` tells Prometheus about one process and the store it serves.

Two kinds of figures. What this process does is counted as it happens, in prometheus_client's
process-wide metrics: HTTP requests by route template, method and status and their latency
(``observe_request``, called by the request pipeline), the events it appended
(``events_appended``, called where the ledger saves) and the verifications it ran
(``verification_done``). With ``PROMETHEUS_MULTIPROC_DIR`` set, the library's multiprocess mode
sums these over the uvicorn workers of a replica. What the store says is read at scrape time by
``LedgerCollector``: the log's size, each view's lag and whether it stopped, the open service-desk
items near or past their SLA, the latest signed checkpoint and the age of the signing and master
keys — a handful of indexed queries and two small file reads, so a scrape stays cheap on a log of
any length. Each read is guarded: one that fails is reported as ``realty_scrape_read_ok{read}`` 0
and counted in ``realty_scrape_errors_total``, and the scrape still answers. Labels carry route
templates, view names and item kinds only, never an id or anything personal.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from archive.signing import KeyringMissing
from domain.rules import SLA_WARNING_FRACTION
from projections.projection import ts
from projections.service_desk import COMPLAINT, REQUEST, SERVICE_DESK

if TYPE_CHECKING:
    from archive.verify import Report
    from service.application import RealtyLedger

# The text format every Prometheus version reads (0.0.4); the names here need none of 1.0.0's escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED = "unmatched"  # the route label of a request no route matched (scanners must not add series)
# Seconds, Prometheus' base unit; finest around the API's p99 target of 100 ms.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

log = logging.getLogger("realty.metrics")

HTTP_REQUESTS = Counter("realty_http_requests", "HTTP requests answered, by route template, method and status",
                        ("route", "method", "status"))
HTTP_LATENCY = Histogram("realty_http_request_duration_seconds",
                         "Time from a request's arrival to its last byte, by route template and method",
                         ("route", "method"), buckets=LATENCY_BUCKETS)
EVENTS_APPENDED = Counter("realty_events_appended", "Events this process appended to the log")
VERIFICATIONS = Counter("realty_verifications", "Whole-log verifications this process ran, by outcome",
                        ("outcome",))
# max across workers: the newest verification of each outcome is the one that counts.
VERIFIED_AT = Gauge("realty_verification_last_timestamp_seconds",
                    "When this process last finished a verification with this outcome (Unix time)",
                    ("outcome",), multiprocess_mode="max")
SCRAPE_ERRORS = Counter("realty_scrape_errors", "Scrape-time reads that failed, by read", ("read",))


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one answered request under its route template (never its raw path)."""
    method = method if method in _METHODS else "other"
    route = route or UNMATCHED
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def events_appended(count: int) -> None:
    EVENTS_APPENDED.inc(count)


def verification_done(report: Report) -> None:
    """Record a finished verification: its outcome, and when."""
    outcome = "clean" if report.clean else "damaged"
    VERIFICATIONS.labels(outcome).inc()
    VERIFIED_AT.labels(outcome).set(time.time())


def exposition(ledger: RealtyLedger) -> bytes:
    """The process's metrics and the store's, in the Prometheus text format."""
    registry = CollectorRegistry()
    # The store's reads first, so that a read failing now is already in this scrape's error count.
    registry.register(LedgerCollector(ledger))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every worker's counters and histograms, summed
    else:
        registry.register(_ProcessMetrics())
    return generate_latest(registry)


class _ProcessMetrics:
    """The process-wide default registry (ours plus the library's process and GC metrics) as one
    collector, so that each scrape can add its ledger's collector beside it."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class LedgerCollector:
    """The store's figures, read when Prometheus scrapes (``registry.register(LedgerCollector(...))``)."""

    def __init__(self, ledger: RealtyLedger, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        ok = GaugeMetricFamily("realty_scrape_read_ok", "Whether this scrape's read of the store succeeded",
                               labels=["read"])
        status = self._guarded("views", ok, self.ledger.views.status)  # the log's head with the views' positions
        if status is not None:
            yield from _views(status)
        for read, produce in (("sla", lambda: _sla(self.ledger, now)),
                              ("checkpoint", lambda: _checkpoint(self.ledger, now)),
                              ("signing_key", lambda: _signing_key(self.ledger, now)),
                              ("master_key", lambda: _master_key(self.ledger, now))):
            metrics = self._guarded(read, ok, lambda p=produce: list(p()))
            yield from metrics or []
        yield ok

    def _guarded(self, read: str, ok: GaugeMetricFamily, produce: Callable[[], Any]) -> Any:
        try:
            result = produce()
        except Exception as e:  # noqa: BLE001 - a store that is down must not turn a scrape into a 500
            # The error's type only: a message from the store could quote a value.
            log.warning("metrics: the %s read failed (%s)", read, type(e).__name__)
            SCRAPE_ERRORS.labels(read).inc()
            ok.add_metric([read], 0)
            return None
        ok.add_metric([read], 1)
        return result


def _views(status: dict[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily("realty_log_events", "Events in the log (its chain positions: no gaps)",
                            value=status["head"]["leaf_index"] + 1)
    lag = GaugeMetricFamily("realty_projection_lag_events", "Events the view is behind the log's head",
                            labels=["view"])
    stopped = GaugeMetricFamily("realty_projection_stopped",
                                "1 when the view has stopped at an event it cannot handle", labels=["view"])
    for name, view in status["views"].items():
        lag.add_metric([name], view["lag"])
        stopped.add_metric([name], 1 if view["error"] else 0)
    yield lag
    yield stopped


def _sla(ledger: RealtyLedger, now: float) -> Iterator[Metric]:
    """Open requests and complaints past their warning point, by whether they are past due yet.

    Read from the service-desk view (as of its position): one query on its ``(open, warn_at)``
    index, since an item past its due time is past its warning point too. Not reported while the
    view has not been built.
    """
    moment = ts(datetime.fromtimestamp(now, UTC))
    rows, view = ledger.views.query(
        SERVICE_DESK.name, "SELECT item_kind, COUNT(*), SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END) "
        "FROM {items} WHERE open = ? AND warn_at <= ? GROUP BY item_kind", (moment, True, moment))
    if view.generation == 0:
        return
    counts = {kind: (int(warned), int(breached or 0)) for kind, warned, breached in rows}
    family = GaugeMetricFamily(
        "realty_sla_open_items",
        f"Open service-desk items past {SLA_WARNING_FRACTION:.0%} of their window (due_soon) or past it "
        "(breached), by kind (request: 24 h to respond; complaint: 72 h to handle)", labels=["kind", "state"])
    for kind in (REQUEST, COMPLAINT):
        warned, breached = counts.get(kind, (0, 0))
        family.add_metric([kind, "due_soon"], warned - breached)
        family.add_metric([kind, "breached"], breached)
    yield family


def _checkpoint(ledger: RealtyLedger, now: float) -> Iterator[Metric]:
    latest = ledger.audit.latest_checkpoint()
    if latest is None:  # nothing signed yet: alert on absent(realty_checkpoint_tree_size)
        return
    signed = latest.timestamp.timestamp()
    yield GaugeMetricFamily("realty_checkpoint_tree_size", "Events covered by the latest signed checkpoint",
                            value=latest.tree_size)
    yield GaugeMetricFamily("realty_checkpoint_timestamp_seconds", "When the latest checkpoint was signed (Unix time)",
                            value=signed)
    yield GaugeMetricFamily("realty_checkpoint_age_seconds", "Seconds since the latest checkpoint was signed",
                            value=max(0.0, now - signed))


def _signing_key(ledger: RealtyLedger, now: float) -> Iterator[Metric]:
    try:
        keyring = ledger.audit.keyring
        # The manifest records when each key was made; a key given as a PEM secret has no such record.
        manifest = keyring._manifest() if keyring.directory is not None else None  # noqa: SLF001
    except KeyringMissing:  # no key made yet (it is made with the first checkpoint)
        return
    if manifest is None:
        return
    entry = next(e for e in manifest["keys"] if e["key_id"] == manifest["active"])
    created = datetime.fromisoformat(entry["created_at"]).timestamp()
    yield GaugeMetricFamily("realty_signing_key_age_seconds", "Age of the active checkpoint signing key",
                            value=max(0.0, now - created))


def _master_key(ledger: RealtyLedger, now: float) -> Iterator[Metric]:
    masters = ledger.data_keys.masters
    active = masters.active_version
    yield GaugeMetricFamily("realty_master_key_active_version", "Version of the master key that wraps new data keys",
                            value=active)
    if masters.directory is None:  # from a secret: when it was made is not known here
        return
    # Key files are written once (archive.master_keys), so their modification time is their creation.
    made = (masters.directory / f"master-v{active}.key").stat().st_mtime
    yield GaugeMetricFamily("realty_master_key_age_seconds", "Age of the active master key (from its key file)",
                            value=max(0.0, now - made))
