"""Demo data: a year in the life of a Shanghai brokerage, told only through the ledger's commands.

``load_demo`` registers staff, lists properties and walks customers through every stage of the
manual: reception, matching (needs, shortlists, showings and feedback), signing (drafts, reviews,
rejections and resubmissions), transaction (documents, payments, settlement) and after-sales
(handover, return visits, surveys), with lost and reactivated customers, cancelled deals,
requests and complaints answered on time or late, corrections, reassignments, training,
assessments, incentives and a consultant who leaves.

Every record is written through a command method of ``RealtyLedger`` with the acting identity of
the role the manual gives that work, so every rule of the domain is enforced: a ``DomainError``
raised here is a bug in this package, never something to swallow.

The year is simulated, not scripted record by record. Each customer, listing and staff member
is a *thread*: a generator that yields the business time of its next command. One scheduler
resumes the threads in global time order, so every record (customers, listings shared by many
customers, deals, staff) only ever moves forward in time, and a decision such as "which listing is
still free" sees the world as it was at that moment. Choices come only from
``random.Random(seed)`` and the threads run in an order fixed by the seed, so the same seed tells
the same story (the ids differ from run to run; the counts and the shape do not). All business
times fall before the start of ``now``'s day in Shanghai, so the story does not depend on the
time of day the demo is loaded.

The package: ``loader`` (``load_demo`` and the order of the run), ``scheduler`` (threads and
steps in time order), ``world`` (the demo's state and the helpers every write and every business
time goes through), ``notes`` (what the demo remembers of each record), ``vocabulary`` and
``people`` (the words, weights and made-up personal details), one module of stories per kind of
record (``staff_stories``, ``listing_stories``, ``customer_stories``, ``deal_stories``,
``service_desk_stories``, ``archive_stories``: mixins that ``loader`` combines), and ``summary``.

A few of the customers come from the predecessor system: received and lost more than three
years ago, recorded at those business times, so their customer files are due for disposition now
(``archive_stories``); the archive files every closed deal and every lost customer of the year.
"""

from __future__ import annotations

from service.demo.loader import load_demo
from service.demo.summary import DemoSummary

__all__ = ["DemoSummary", "load_demo"]
