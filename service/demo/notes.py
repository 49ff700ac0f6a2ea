"""The demo's own notes on the records it wrote: staff, teams, listings, deals and customers.

These plain dataclasses are what the stories consult to decide what happens next (who holds a
customer, whether a listing is still free, how far a deal has gone). They are never the
aggregates themselves: the demo writes only through the application's commands and never reads
its records back, so its notes must follow every command it issues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.customer_values import Stage


@dataclass(eq=False)
class _Team:
    name: str
    managers: list[_Staff] = field(default_factory=list)
    consultants: list[_Staff] = field(default_factory=list)
    customer_managers: list[_Staff] = field(default_factory=list)
    services: list[_Staff] = field(default_factory=list)


@dataclass(eq=False)
class _Staff:
    idx: int
    id: str
    name: str
    role: str
    team: _Team | None
    registered_at: datetime
    active: bool = True
    away_until: datetime | None = None  # on leave or leaving: given no new customers
    customers: dict[int, _Customer] = field(default_factory=dict)  # held, by customer number
    signed_at: list[datetime] = field(default_factory=list)
    promoted: bool = False
    incentives: int = 0


@dataclass(eq=False)
class _Listing:
    idx: int
    id: str
    district: str
    area: float
    rooms: int
    price: int
    status: str = "available"
    open_deal: _Deal | None = None
    held_for: _Customer | None = None  # listed for one buyer, who drafts on it next
    price_changes: int = 0


@dataclass(eq=False)
class _Deal:
    id: str
    customer: _Customer
    listing: _Listing
    price: int
    drafter: _Staff
    by_manager: bool
    status: str = "drafted"
    rejected: bool = False
    paid: int = 0


@dataclass(eq=False)
class _Customer:
    idx: int
    outcome: str
    arrival: datetime
    team: _Team
    channel: str
    id: str = ""
    owner: _Staff | None = None  # the holder of the record (consultant, later customer manager)
    sales: _Staff | None = None  # the consultant who does the selling
    name: str = ""
    male: bool = True
    phone: str = ""
    id_number: str | None = None
    account: str = ""
    needs: dict[str, Any] | None = None
    shortlist: list[_Listing] = field(default_factory=list)
    showings: int = 0
    deals: dict[str, str] = field(default_factory=dict)  # deal id -> latest milestone
    lost: bool = False
    tags: list[str] = field(default_factory=list)  # what makes the record worth showing
    events: int = 0
    threads: int = 0

    @property
    def stage(self) -> str:
        # The same derivation as domain.customer.Customer.stage, from what the demo wrote.
        if self.lost:
            return Stage.LOST.value
        milestones = set(self.deals.values())
        if milestones & {"handed_over", "closed"}:
            return Stage.AFTER_SALES.value
        if "signed" in milestones:
            return Stage.TRANSACTION.value
        if "drafted" in milestones:
            return Stage.SIGNING.value
        if self.needs or self.shortlist or self.showings or self.deals:
            return Stage.MATCHING.value
        return Stage.RECEPTION.value

