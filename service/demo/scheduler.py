"""The time-ordered threads the demo's story is told in, and the one loop that resumes them.

A *thread* is a generator that yields the business time it wants to act at and is resumed with
the time it got; a *step* is a piece of a thread, run with ``yield from``, that returns a value
(the time it ended, the listing it chose). The scheduler always resumes the thread with the
earliest wish, and never hands out the same business time twice, so time only moves forward
across all commands, hence within every record. A thread whose next wish lies at or beyond the
horizon has nothing more to tell: it is closed there.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

TICK = timedelta(milliseconds=1)  # two commands never share a business time

# A thread yields the business time it wants to act at and is resumed with the time it got.
Thread = Generator[datetime, datetime, None]
T = TypeVar("T")
Step = Generator[datetime, datetime, T]


class StoryOwner(Protocol):
    """Whose story a set of threads tells (a customer): the story is complete when its last thread ends."""

    threads: int


class Scheduler:
    def __init__(self, horizon: datetime, progress: Callable[[int], None] | None) -> None:
        self.horizon = horizon
        self.clock: datetime | None = None  # the business time of the latest command
        self._progress = progress
        self._heap: list[tuple[datetime, int, Thread, StoryOwner | None]] = []
        self._seq = itertools.count()  # equal wishes are served first come, first served
        self._done = 0

    def spawn(self, thread: Thread, owner: StoryOwner | None = None) -> None:
        """Start ``thread``: it runs to its first wish now, and waits for its turn from there."""
        if owner is not None:
            owner.threads += 1
        self._resume(thread, owner, None)

    def run(self) -> None:
        """Resume threads in order of their wishes until none is left (threads may spawn threads)."""
        while self._heap:
            wanted, _, thread, owner = heapq.heappop(self._heap)
            # Strictly increasing business time across all commands, hence within every record.
            when = wanted if self.clock is None or wanted > self.clock else self.clock + TICK
            self.clock = when
            self._resume(thread, owner, when)

    def _resume(self, thread: Thread, owner: StoryOwner | None, when: datetime | None) -> None:
        try:
            wanted = thread.send(when)  # type: ignore[arg-type]  # None starts a thread
        except StopIteration:
            self._thread_done(owner)
            return
        if wanted >= self.horizon:  # the rest of this thread lies in the future: it stops here
            thread.close()
            self._thread_done(owner)
            return
        heapq.heappush(self._heap, (wanted, next(self._seq), thread, owner))

    def story_told(self) -> None:
        """A story told outside the loop is complete (the predecessor system's customers, whose
        history lies years before the loop's first command): it counts toward ``progress``."""
        self._done += 1
        if self._progress is not None:
            self._progress(self._done)

    def _thread_done(self, owner: StoryOwner | None) -> None:
        if owner is None:
            return
        owner.threads -= 1
        if owner.threads == 0:
            self._done += 1
            if self._progress is not None:
                self._progress(self._done)
