"""Proofs and checkpoint signing on a synthetic 10-million-leaf PostgreSQL log, next to small ones.

Proofs read only the Merkle node table, and a checkpoint reads the log's newest positions and the
events appended since the last one, so a big log can be had without writing 10 million events
through the application: each scratch database gets the application's own tables (a real
``RealtyLedger``), then ``n`` synthetic event rows and the node table of a tree of ``n`` leaves,
both made by SQL on the server (leaf i is ``sha256(int8send(i))``, nodes ``sha256(0x01 || l || r)``).
The node table therefore does not match the events' own leaves: proofs are checked against the
tree's root, never by ``realty verify``. Then, in interleaved rounds, ``app.audit.inclusion`` of a
random position, ``app.audit.consistency`` from a random size, and ``app.audit.checkpoint()`` after
``--checkpoint-events`` synthetic rows are appended by SQL: the median per round, and the median of
the rounds. ``--profile`` prints cProfile's view of each on the biggest log; ``--explain`` the plan
of one proof's node query. Scratch databases are dropped at the end unless ``--keep``.

    python benchmarks/proofs_at_scale.py --sizes 2000,200000,10000000 --keep   # ≈ 4 min to build 10M
    python benchmarks/proofs_at_scale.py --reuse                                # measure again on kept logs
    python benchmarks/proofs_at_scale.py --drop                                 # drop the kept logs

A 10,000,000-leaf log takes ≈ 5.5 GB of PostgreSQL (events 2.4 GB, nodes 2.2–3.1 GB by layout).
``REALTY_BENCH_TAG`` suffixes the database names, to keep logs built by two versions of the code.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import psycopg  # noqa: E402

from archive import merkle  # noqa: E402
from service.application import RealtyLedger  # noqa: E402
from service.settings import load_settings  # noqa: E402

PREFIX = "realty_bench_proofs_"
PG = os.environ.get("REALTY_BENCH_PG", "host=127.0.0.1 port=5432 user=postgres")


TAG = os.environ.get("REALTY_BENCH_TAG", "")  # to keep logs of two code versions side by side


def dbname_of(n: int) -> str:
    return f"{PREFIX}{n}{TAG}"


def keys_dir(dbname: str) -> Path:
    return ROOT / "var" / "bench" / dbname


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{PG} dbname=postgres", autocommit=True)


def open_ledger(dbname: str) -> RealtyLedger:
    where = keys_dir(dbname)
    return RealtyLedger(load_settings(
        database_url=f"postgresql://postgres@127.0.0.1:5432/{dbname}", checkpoint_every=0,
        checkpoint_interval=0, embedded_projector=False, pool_size=2, pool_max_overflow=4,
        signing_keys_dir=where / "keys", master_keys_dir=where / "keys" / "master", master_keys=None,
        checkpoint_journal=where / "checkpoints.jsonl"))


def build(n: int) -> None:
    dbname = dbname_of(n)
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    shutil.rmtree(keys_dir(dbname), ignore_errors=True)
    app = open_ledger(dbname)
    try:
        events, nodes = app.audit.index.events, app.audit.index.nodes_table
    finally:
        app.close()
    t0 = time.perf_counter()
    with psycopg.connect(f"{PG} dbname={dbname}", autocommit=True) as conn:
        # Ordered keys, so every index grows at its right edge (as the real log's do).
        conn.execute(f"INSERT INTO {events} (originator_id, originator_version, topic, state, position, chain_hash) "
                     "SELECT lpad(to_hex(i), 32, '0')::uuid, 1, 'bench:Synthetic', sha256(int8send(i)), i, "
                     "sha256(int8send(i)) FROM generate_series(0, %s) i", (n - 1,))
        conn.execute(f"INSERT INTO {nodes} (level, idx, hash) SELECT 0, i, sha256(int8send(i)) "
                     "FROM generate_series(0, %s) i", (n - 1,))
        level = 1
        while n >> level:
            conn.execute(f"INSERT INTO {nodes} (level, idx, hash) SELECT %s, a.idx >> 1, "
                         f"sha256('\\x01'::bytea || a.hash || b.hash) FROM {nodes} a JOIN {nodes} b "
                         "ON b.level = a.level AND b.idx = a.idx + 1 WHERE a.level = %s AND a.idx %% 2 = 0 "
                         "ORDER BY a.idx", (level, level - 1))
            level += 1
        conn.execute(f"VACUUM ANALYZE {events}")
        conn.execute(f"VACUUM ANALYZE {nodes}")
    print(f"built {dbname}: {n:,} events and their node table in {time.perf_counter() - t0:.0f} s", flush=True)


def append(app: RealtyLedger, count: int) -> None:
    events = app.audit.index.events
    with psycopg.connect(f"{PG} dbname={app.settings.database_url.rsplit('/', 1)[1]}", autocommit=True) as conn:
        conn.execute(f"INSERT INTO {events} (originator_id, originator_version, topic, state, position, chain_hash) "
                     "SELECT lpad(to_hex(i), 32, '0')::uuid, 1, 'bench:Synthetic', "
                     "decode(repeat(md5(i::text), 32), 'hex'), i, sha256(int8send(i)) "
                     f"FROM generate_series((SELECT MAX(position) + 1 FROM {events}), "
                     f"(SELECT MAX(position) + %s FROM {events})) i", (count,))


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def check_inclusion(proof: dict[str, Any]) -> bool:
    h = bytes.fromhex
    position = proof["position"]
    return merkle.verify_inclusion(h(proof["leaf_hash"]), position, proof["tree_size"],
                                   [h(x) for x in proof["proof"]], h(proof["root_hash"]))


def check_consistency(proof: dict[str, Any]) -> bool:
    h = bytes.fromhex
    return merkle.verify_consistency(proof["first"], proof["second"], h(proof["first_root_hash"]),
                                     h(proof["second_root_hash"]), [h(x) for x in proof["proof"]])


def one_round(app: RealtyLedger, rng: random.Random, args: argparse.Namespace) -> dict[str, float]:
    size = app.audit.latest_checkpoint().tree_size  # type: ignore[union-attr]
    inc, con, cps = [], [], []
    for _ in range(args.samples):
        seconds, p = timed(lambda: app.audit.inclusion(rng.randrange(size)))
        inc.append(seconds)
        assert check_inclusion(p), "an inclusion proof did not verify"
        seconds, c = timed(lambda: app.audit.consistency(rng.randint(1, size)))
        con.append(seconds)
        assert check_consistency(c), "a consistency proof did not verify"
    for _ in range(args.checkpoints):
        append(app, args.checkpoint_events)
        seconds, _ = timed(app.audit.checkpoint)
        cps.append(seconds)
    return {"inclusion": statistics.median(inc), "consistency": statistics.median(con),
            "checkpoint": statistics.median(cps)}


def profile(app: RealtyLedger, rng: random.Random, args: argparse.Namespace) -> None:
    size = app.audit.latest_checkpoint().tree_size  # type: ignore[union-attr]
    for what, fn in (("inclusion", lambda: app.audit.inclusion(rng.randrange(size))),
                     ("consistency", lambda: app.audit.consistency(rng.randint(1, size)))):
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.samples):
            fn()
        prof.disable()
        print(f"--- {what} x {args.samples}")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
    prof = cProfile.Profile()
    for _ in range(args.checkpoints):
        append(app, args.checkpoint_events)
        prof.enable()
        app.audit.checkpoint()
        prof.disable()
    print(f"--- checkpoint x {args.checkpoints}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def explain(app: RealtyLedger, rng: random.Random) -> None:
    index = app.audit.index
    size = app.audit.latest_checkpoint().tree_size  # type: ignore[union-attr]
    position = rng.randrange(size)
    wanted = [*merkle.inclusion_proof_nodes(position, size), (0, position), *merkle.root_nodes(size)]
    statement = (f"SELECT level, idx, hash FROM {index.nodes_table} WHERE (level, idx) IN "  # as MerkleIndex.nodes
                 "(SELECT * FROM unnest(%s::int[], %s::bigint[]))")
    with psycopg.connect(f"{PG} dbname={app.settings.database_url.rsplit('/', 1)[1]}", autocommit=True) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                            ([n[0] for n in wanted], [n[1] for n in wanted])).fetchall()
        print("\n".join(r[0] for r in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,200000,10000000")
    ap.add_argument("--reuse", action="store_true", help="use the databases a --keep run left")
    ap.add_argument("--keep", action="store_true", help="keep the databases for --reuse")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=100, help="proofs of each kind per round")
    ap.add_argument("--checkpoints", type=int, default=3, help="checkpoints per round")
    ap.add_argument("--checkpoint-events", type=int, default=100)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--drop", action="store_true", help="only drop the databases of --sizes")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.drop:
        drop(sizes)
        return
    try:
        if not args.reuse:
            for n in sizes:
                build(n)
        apps = {n: open_ledger(dbname_of(n)) for n in sizes}
        try:
            rng = random.Random(7)
            for app in apps.values():
                app.audit.checkpoint()
                one_round(app, rng, argparse.Namespace(**{**vars(args), "samples": 10, "checkpoints": 1}))  # warm-up
            if args.explain:
                explain(apps[sizes[-1]], rng)
            if args.profile:
                profile(apps[sizes[-1]], rng, args)
            results: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
            for r in range(args.rounds):
                order = sizes if r % 2 == 0 else sizes[::-1]
                for n in order:
                    results[n].append(one_round(apps[n], rng, args))
            print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}; "
                  f"median of {args.rounds} rounds (each the median of {args.samples} proofs, "
                  f"{args.checkpoints} checkpoints of {args.checkpoint_events} new events), ms")
            print(f"{'leaves':>12} {'inclusion':>10} {'consistency':>12} {'checkpoint':>11}")
            base = sizes[0]
            for n in sizes:
                figures = {k: statistics.median(r[k] for r in results[n]) for k in results[n][0]}
                ratios = {k: figures[k] / statistics.median(r[k] for r in results[base]) for k in figures}
                print(f"{n:>12,} " + " ".join(f"{figures[k] * 1000:>{w}.2f} ({ratios[k]:.2f}x)" for k, w in (
                    ("inclusion", 5), ("consistency", 7), ("checkpoint", 6))))
        finally:
            for app in apps.values():
                app.close()
    finally:
        if not args.keep:
            drop(sizes)


def drop(sizes: list[int]) -> None:
    with admin() as conn:
        for n in sizes:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname_of(n)}" WITH (FORCE)')
            shutil.rmtree(keys_dir(dbname_of(n)), ignore_errors=True)


if __name__ == "__main__":
    main()
