"""The log as a stored RFC 9162 Merkle tree: every perfect subtree hash, for proofs without a scan.

Leaf i is the event at position i (``archive.chain.event_leaf``). ``extend`` indexes the events
appended since it last ran and stores each perfect subtree it completes — (level, index, hash),
level 0 being the leaf hashes — in ``<events>_merkle_nodes``. A root, an inclusion proof or a
consistency proof for any size up to the indexed one then needs O(log² n) of those rows, fetched
in one query (``archive.merkle`` says which), whatever the size of the log.

The node table is derived from the log and can be rebuilt from it; verification never trusts it
(it recomputes everything from the events). A node that disagrees with the log only makes proofs
fail to verify against the signed roots, and ``realty verify`` names the first leaf where it does.

UPGRADING: a node table made before the hash was kept in its key's index still works, with one
page read more per node. On PostgreSQL it is brought up to date without stopping writes, then a
short lock (at 10 million events the key's index grows from ≈ 0.6 GB to ≈ 1.5 GB; building it took
≈ 40 s on the 2-core test machine)::

    CREATE UNIQUE INDEX CONCURRENTLY <events>_merkle_nodes_covering
        ON <events>_merkle_nodes (level, idx) INCLUDE (hash);
    ALTER TABLE <events>_merkle_nodes DROP CONSTRAINT <events>_merkle_nodes_pkey,
        ADD CONSTRAINT <events>_merkle_nodes_pkey PRIMARY KEY USING INDEX <events>_merkle_nodes_covering;
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from archive import merkle
from archive.chain import event_leaf
from archive.sql import Cursor, Database

Node = tuple[int, int]
BATCH = 5000


class LogDamaged(Exception):
    """The log cannot be indexed as it is (a missing or repeated position): run ``realty verify``."""


class MerkleIndex:
    def __init__(self, db: Database, events_table: str) -> None:
        self.db = db
        self.events = db.table(events_table)
        self.nodes_table = db.table(f"{events_table}_merkle_nodes")
        # The hash is kept in the primary key's own b-tree (PostgreSQL: INCLUDE; SQLite: the table
        # is that b-tree), so a node is one index lookup rather than an index lookup and a table
        # page. On a big log the lower nodes of a proof are different for every proof and come from
        # disk or the OS cache, so that page read was a large part of a proof's growth with the log
        # (see UPGRADING above for tables made before).
        key, table_options = (("PRIMARY KEY (level, idx) INCLUDE (hash)", "") if db.backend == "postgres"
                              else ("PRIMARY KEY (level, idx)", " WITHOUT ROWID"))
        db.create(
            f"CREATE TABLE IF NOT EXISTS {self.nodes_table} (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
            f"hash {db.blob} NOT NULL, {key}){table_options}"
        )

    def size(self) -> int:
        """How many leaves are indexed."""
        ((top,),) = self.db.query(f"SELECT MAX(idx) FROM {self.nodes_table} WHERE level = 0")  # noqa: S608
        return 0 if top is None else int(top) + 1

    def log_size(self) -> int:
        """How many events the log holds (its newest position + 1)."""
        ((top,),) = self.db.query(f"SELECT MAX(position) FROM {self.events}")  # noqa: S608
        return 0 if top is None else int(top) + 1

    def sizes(self) -> tuple[int, int]:
        """``size()`` and ``log_size()`` in one round trip."""
        ((indexed, logged),) = self.db.query(
            f"SELECT (SELECT MAX(idx) FROM {self.nodes_table} WHERE level = 0), "  # noqa: S608
            f"(SELECT MAX(position) FROM {self.events})")
        return tuple(0 if top is None else int(top) + 1 for top in (indexed, logged))  # type: ignore[return-value]

    def nodes(self, wanted: Iterable[Node], cursor: Cursor | None = None) -> dict[Node, bytes]:
        wanted = list(dict.fromkeys(wanted))
        if not wanted:
            return {}
        found: dict[Node, bytes] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            if self.db.backend == "postgres":  # one plan whatever the number of nodes
                statement = (f"SELECT level, idx, hash FROM {self.nodes_table} WHERE (level, idx) IN "  # noqa: S608
                             "(SELECT * FROM unnest(?::int[], ?::bigint[]))")
                params: list[Any] = [[n[0] for n in chunk], [n[1] for n in chunk]]
            else:
                statement = (f"SELECT level, idx, hash FROM {self.nodes_table} WHERE "  # noqa: S608
                             + " OR ".join("(level = ? AND idx = ?)" for _ in chunk))
                params = [v for node in chunk for v in node]
            rows = cursor.query(statement, params) if cursor else self.db.query(statement, params)
            found.update({(int(level), int(idx)): bytes(h) for level, idx, h in rows})
        return found

    def proof_material(self, size: int, wanted: list[Node]) -> dict[Node, bytes]:
        """Every node in ``wanted`` and those of the root at ``size``, in one query. Callers ask
        only for sizes they know are indexed (a signed checkpoint's, or at most ``size()``), so a
        node that is not there means a damaged index, not a size beyond it."""
        wanted = [*wanted, *merkle.root_nodes(size)]
        nodes = self.nodes(wanted)
        missing = [n for n in wanted if n not in nodes]
        if missing:
            raise LogDamaged(f"the Merkle index lacks node {missing[0]}; rebuild it from the log")
        return nodes

    def root(self, size: int) -> bytes:
        return merkle.root_from_nodes(size, self.proof_material(size, []))

    def extend(self, up_to: int | None = None, progress: Callable[[int], Any] | None = None) -> int:
        """Index the events from the indexed size up to ``up_to`` (default: the whole log);
        returns the new indexed size. Safe to run in several processes at once (the nodes of a
        given log are the same whoever computes them)."""
        return self._extend(up_to, progress).size

    def extend_to_root(self) -> tuple[int, bytes]:
        """``extend()``, and the root of the tree it reached: folded from the right edge it has just
        read and built, rather than read back from the table (for a checkpoint, which signs it)."""
        frontier = self._extend(None, None)
        return frontier.size, frontier.root()

    def _extend(self, up_to: int | None, progress: Callable[[int], Any] | None) -> merkle.Frontier:
        size, logged = self.sizes()  # one round trip for both
        frontier = merkle.Frontier.from_nodes(size, self.nodes(merkle.root_nodes(size)))
        target = logged if up_to is None else up_to
        while frontier.size < target:
            limit = min(BATCH, target - frontier.size)
            rows = self.db.query(
                f"SELECT position, originator_id, originator_version, topic, state FROM {self.events} "  # noqa: S608
                "WHERE position >= ? ORDER BY position LIMIT ?", (frontier.size, limit))
            if not rows:
                break
            completed: list[tuple[int, int, bytes]] = []
            for position, originator_id, version, topic, state in rows:
                if position != frontier.size:
                    raise LogDamaged(f"position {frontier.size} is missing from the log (next is {position})")
                completed.extend(frontier.append(event_leaf(originator_id, version, topic, bytes(state))))
            with self.db.transaction() as cursor:
                cursor.executemany(
                    f"INSERT INTO {self.nodes_table} (level, idx, hash) VALUES (?, ?, ?) "  # noqa: S608
                    "ON CONFLICT (level, idx) DO NOTHING", completed)
            if progress is not None:
                progress(frontier.size)
        return frontier
