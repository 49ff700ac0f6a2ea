"""What a demo run wrote, summed up from the demo's notes: counts, time span, and records worth a look.

``DemoSummary`` is the public result of ``load_demo``; ``shape()`` is the part a seed (and
``now``) fixes, for comparing runs. ``summarise`` derives it from the world at the end of a run:
counts by stage and status, late and open requests and complaints, satisfaction, and a showcase
of customers with the richest history in each stage or with a telling tag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from domain.customer_values import Stage
from domain.rules import COMPLAINT_RESOLUTION_WINDOW, REQUEST_RESPONSE_WINDOW, SATISFIED_SCORES
from service.demo.notes import _Customer
from service.demo.world import DemoWorld


@dataclass(frozen=True)
class DemoSummary:
    """What ``load_demo`` wrote, and where to look.

    ``showcase`` maps a label to a *customer* id (one in each stage, and a few with a telling
    history); ``records`` maps a label to the id of another record, the label starting with its
    kind (``deal``, ``listing`` or ``staff``). ``run_id`` is the prefix of the correlation id of
    every event the demo wrote (``demo-<run_id>-…``).
    """

    seed: int
    staff: int
    teams: int
    listings: int
    listings_by_status: dict[str, int]
    customers: int
    customers_by_stage: dict[str, int]
    lost_customers: int
    reactivated_customers: int
    reassignments: int
    showings: int
    deals: int
    deals_by_outcome: dict[str, int]
    requests: int
    requests_late: int
    requests_open: int
    complaints: int
    complaints_late: int
    complaints_open: int
    surveys: int
    satisfaction_rate: float
    trainings: int
    assessments: int
    incentives: int
    predecessor_customers: int  # among ``customers``: received and lost years ago, in the predecessor system
    service_files: int
    service_file_documents: int
    document_versions: int
    service_files_sealed: int  # seals, counting a file sealed again after a reopening
    legal_holds: int
    events: int
    earliest: datetime
    latest: datetime
    seconds: float
    run_id: str
    showcase: dict[str, str]
    records: dict[str, str]

    STAGE_LABELS: ClassVar[dict[str, str]] = {
        Stage.RECEPTION.value: "customer in reception",
        Stage.MATCHING.value: "customer in matching",
        Stage.SIGNING.value: "customer in signing",
        Stage.TRANSACTION.value: "customer in transaction",
        Stage.AFTER_SALES.value: "customer in after_sales",
        Stage.LOST.value: "customer lost",
    }

    def shape(self) -> dict[str, Any]:
        """Everything but ids, the run id and the time taken: equal for equal seeds (and ``now``)."""
        data = asdict(self)
        for volatile in ("seconds", "run_id"):
            data.pop(volatile)
        data["showcase"] = sorted(self.showcase)
        data["records"] = sorted(self.records)
        return data


def summarise(world: DemoWorld, seconds: float) -> DemoSummary:
    """The summary of a finished run, from the demo's notes alone (the store is not read back)."""
    stages = dict.fromkeys((s.value for s in Stage), 0)
    for c in world.customers:
        stages[c.stage] += 1
    deal_statuses = ("drafted", "in_review", "rejected", "approved", "signed", "settled", "handed_over",
                     "closed", "cancelled")
    deals = dict.fromkeys(deal_statuses, 0)
    for d in world.deals:
        deals[d.status] += 1
    listing_statuses = dict.fromkeys(("available", "reserved", "sold", "withdrawn"), 0)
    for li in world.listings:
        listing_statuses[li.status] += 1
    late_requests = sum(1 for r, a in world.requests if a is not None and a - r > REQUEST_RESPONSE_WINDOW)
    late_complaints = sum(1 for f, r in world.complaints if r is not None and r - f > COMPLAINT_RESOLUTION_WINDOW)
    satisfied = sum(1 for s in world.surveys if s in SATISFIED_SCORES)

    showcase: dict[str, str] = {}
    shown: set[int] = set()

    def richest(group: list[_Customer]) -> str:
        # The richest history, preferring a customer not shown under another label.
        best = max(group, key=lambda c: (c.idx not in shown, c.events, -c.idx))
        shown.add(best.idx)
        return best.id

    for stage, label in DemoSummary.STAGE_LABELS.items():
        in_stage = [c for c in world.customers if c.stage == stage]
        if in_stage:
            showcase[label] = richest(in_stage)
    for tag, label in (("reactivated", "customer reactivated"), ("open complaint", "customer, complaint open"),
                       ("late complaint", "customer, complaint late"), ("late request", "customer, request late"),
                       ("details corrected", "customer, details corrected"),
                       ("taken over", "customer of a leaver"),
                       ("reassigned for workload", "customer, workload moved"),
                       ("file on legal hold", "customer, file on legal hold")):
        tagged = [c for c in world.customers if tag in c.tags]
        if tagged:
            showcase[label] = richest(tagged)
    assert world.earliest is not None and world.scheduler.clock is not None
    archive = world.archive_counts
    return DemoSummary(
        seed=world.seed,
        staff=len(world.staff),
        teams=len(world.teams),
        listings=len(world.listings),
        listings_by_status=listing_statuses,
        customers=len(world.customers),
        customers_by_stage=stages,
        lost_customers=stages[Stage.LOST.value],
        reactivated_customers=world.counts["reactivated"],
        reassignments=world.counts["reassignments"],
        showings=world.counts["showings"],
        deals=len(world.deals),
        deals_by_outcome=deals,
        requests=len(world.requests),
        requests_late=late_requests,
        requests_open=sum(1 for _, a in world.requests if a is None),
        complaints=len(world.complaints),
        complaints_late=late_complaints,
        complaints_open=sum(1 for _, r in world.complaints if r is None),
        surveys=len(world.surveys),
        satisfaction_rate=round(satisfied / len(world.surveys), 3) if world.surveys else 0.0,
        trainings=world.counts["trainings"],
        assessments=world.counts["assessments"],
        incentives=world.counts["incentives"],
        predecessor_customers=len(world.predecessors),
        service_files=archive["service_files"],
        service_file_documents=archive["documents"],
        document_versions=archive["versions"],
        service_files_sealed=archive["sealed"],
        legal_holds=archive["holds"],
        events=world.events,
        earliest=world.earliest.astimezone(UTC),
        latest=world.scheduler.clock.astimezone(UTC),
        seconds=round(seconds, 3),
        run_id=world.run_id,
        showcase=showcase,
        records={label: world.records[label] for label in sorted(world.records)},
    )
