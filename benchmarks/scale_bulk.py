"""The scale benchmark's fast builder: the same events as ``RealtyLedger.save`` would store, written by COPY.

Generator processes make the records with the domain's own aggregates and methods (``scale.Writer``:
the same mix as the build through the application) and turn their events into stored rows with the
application's own sealing mapper (``archive.sealing_mapper``: the state sealed under the log key,
personal fields under a record key, each ciphertext bound to its row); the record keys the mapper
makes are taken from the keyring's pending queue (``DataKeys.take_pending``), as the recorder takes
them. One writer (this process) then appends those rows in large transactions, each as the chained
recorder appends a save (``archive.chained.ChainedPostgresRecorder``): the events table locked in
EXCLUSIVE mode, the head (position, chain hash) read under the lock, the key rows first, then the
events with ``position`` and ``chain_hash`` computed here by ``archive.chain.link`` over the leaves
(``archive.chain.event_leaf``, computed by the generators), notification ids drawn from the table's
own sequence in row order. The difference is only the transport: PostgreSQL ``COPY`` of tens of
thousands of rows instead of one recursive INSERT per 250 events. That the result is a real log is
not assumed: ``scale.py`` runs the project's verifier and sealing check over it and reads records back
through the application before it measures anything.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from archive.chain import GENESIS, event_leaf, link

EVENTS = "realty_events"
KEYS = "realty_data_keys"
EVENT_COLUMNS = "(originator_id, originator_version, topic, state, position, chain_hash)"
EVENT_TYPES = ["uuid", "int8", "text", "bytea", "int8", "bytea"]
KEY_COLUMNS = "(key_id, purpose, owner_id, subject_id, master_version, wrapped, created_at)"
KEY_TYPES = ["text", "text", "text", "text", "int4", "bytea", "text"]


@dataclass
class Chunk:
    """Rows of one generator, in its order: (originator id, version, topic, state, leaf) and key rows."""

    events: list[tuple[uuid.UUID, int, str, bytes, bytes]]
    keys: list[tuple[Any, ...]]
    customers: int = 0
    sample: list[str] = field(default_factory=list)
    long_ids: list[str] = field(default_factory=list)


def generate(plan: Any, emit: Callable[[Chunk], None], chunk_events: int) -> None:
    """One generator's share of the log (``scale.WriterPlan``), as chunks of about ``chunk_events``
    sealed rows; the records are made exactly as ``scale.write_share`` makes them."""
    # The benchmark's own record mix (imported here: scale imports this module).
    from scale import Writer, count_short, open_ledger, record_batches

    app = open_ledger(plan.pg, plan.dbname)
    try:
        keys = app.data_keys
        # Key rows are taken out of the keyring's queue when a chunk is sealed, but written by the
        # writer a little later: the keys of long records must stay cached here until then (the
        # cache would otherwise read them back from the table after 5 s, possibly before they are in).
        keys.cache_seconds = 1e9
        writer = Writer(app, plan.staff, plan.seed)
        mapper = app.mapper
        out = Chunk([], [])

        def seal(records: list[Any]) -> None:
            for record in records:
                for event in record.collect_events():
                    s = mapper.to_stored_event(event)
                    out.events.append((s.originator_id, s.originator_version, s.topic, s.state,
                                       event_leaf(s.originator_id, s.originator_version, s.topic, s.state)))
            out.keys.extend(keys.take_pending())
            keys.saved()  # as after a committed save: the queue is emptied, the keys stay cached

        # ``out`` is the chunk being filled when a short customer is made (a new one after each emit).
        for records, _ in record_batches(writer, plan, out.long_ids, lambda c: count_short(out, plan.sample)(c)):
            seal(records)
            if len(out.events) >= chunk_events:
                emit(out)
                out = Chunk([], [])
        if out.events or out.keys or out.long_ids:
            emit(out)
    finally:
        app.close()


def _generator_child(plan: Any, chunks: Any, chunk_events: int) -> None:
    try:
        generate(plan, lambda c: chunks.put(("chunk", c)), chunk_events)
        chunks.put(("done", None))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        chunks.put(("failed", f"{type(e).__name__}: {e}"))


class ChainedCopier:
    """Appends chunks to the events table as the chained recorder would, one transaction per call."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo)
        self.appended = 0

    def append(self, chunks: list[Chunk]) -> int:
        with self.conn.transaction(), self.conn.cursor() as cur:
            # The recorder's lock: no other writer can come between reading the head and appending.
            cur.execute(f"LOCK TABLE {EVENTS} IN EXCLUSIVE MODE")
            cur.execute(f"NOTIFY {EVENTS}")
            head = cur.execute(f"SELECT position, chain_hash FROM {EVENTS} "
                               "ORDER BY notification_id DESC LIMIT 1").fetchone()
            position, previous = (int(head[0]), bytes(head[1])) if head else (-1, GENESIS)
            key_rows = [row for c in chunks for row in c.keys]
            if key_rows:  # the keys first, in the same transaction (as the recorder inserts them)
                with cur.copy(f"COPY {KEYS} {KEY_COLUMNS} FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(KEY_TYPES)
                    for row in key_rows:
                        copy.write_row(row)
            n = 0
            with cur.copy(f"COPY {EVENTS} {EVENT_COLUMNS} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(EVENT_TYPES)
                for c in chunks:
                    for oid, version, topic, state, leaf in c.events:
                        position += 1
                        previous = link(previous, leaf)
                        copy.write_row((oid, version, topic, state, position, previous))
                    n += len(c.events)
        self.appended += n
        return n

    def close(self) -> None:
        self.conn.close()


@dataclass
class BulkResult:
    events: int = 0
    customers: int = 0
    long_ids: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    seconds: float = 0.0


def bulk_write(plans: list[Any], conninfo: str, *, chunk_events: int, txn_events: int,
               progress: Callable[[int], None] | None = None) -> BulkResult:
    """Run one generator process per plan and append what they make, ``txn_events`` rows per
    transaction, from a writer thread (so the next chunks are received while COPY runs)."""
    ctx = multiprocessing.get_context("spawn")
    chunks = ctx.Queue(maxsize=8 * len(plans))  # bounded: generators wait for a slow writer
    procs = [ctx.Process(target=_generator_child, args=(p, chunks, chunk_events), daemon=True) for p in plans]
    result = BulkResult()
    pending: queue_module.Queue[list[Chunk] | None] = queue_module.Queue(maxsize=2)
    failure: list[BaseException] = []
    copier = ChainedCopier(conninfo)

    def write() -> None:
        try:
            while (group := pending.get()) is not None:
                n = copier.append(group)
                if progress is not None:
                    progress(n)
        except BaseException as e:  # noqa: BLE001 - re-raised in the parent thread
            failure.append(e)
            while pending.get() is not None:  # let the receiving side finish
                pass

    t0 = time.perf_counter()
    thread = threading.Thread(target=write, name="copy-writer")
    thread.start()
    for p in procs:
        p.start()
    try:
        done, group, size = 0, [], 0
        while done < len(plans):
            try:
                kind, value = chunks.get(timeout=60)
            except queue_module.Empty:
                if not any(p.is_alive() for p in procs):
                    raise RuntimeError("the generator processes died without a word") from None
                continue
            if kind == "failed":
                raise RuntimeError(f"a generator process failed: {value}")
            if kind == "done":
                done += 1
                continue
            group.append(value)
            size += len(value.events)
            result.customers += value.customers
            result.sample += value.sample
            result.long_ids += value.long_ids
            if size >= txn_events:
                pending.put(group)
                group, size = [], 0
            if failure:
                raise failure[0]
        if group:
            pending.put(group)
    finally:
        pending.put(None)
        thread.join()
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
        copier.close()
    if failure:
        raise failure[0]
    result.events = copier.appended
    result.seconds = time.perf_counter() - t0
    return result
