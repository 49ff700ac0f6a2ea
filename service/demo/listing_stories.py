"""Listings: the stock on offer, new listings through the year, price changes, withdrawals, matching.

About one listing for every three customers: some on offer before the year starts, the rest
listed through it, a quarter of them repriced and a few withdrawn, but only while no buyer has a
deal on them or is promised them. A buyer for whom nothing suitable is free gets a listing taken
on for them. Matching scores a listing against a customer's needs; the customer stories shortlist
and show the best free ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from service.demo.notes import _Customer, _Listing, _Staff
from service.demo.scheduler import Thread
from service.demo.staff_stories import StaffStories
from service.demo.vocabulary import DISTRICT_NAMES, DISTRICT_WEIGHTS, DISTRICTS


class ListingStories(StaffStories):
    """Builds on the staff stories: a consultant available at the time lists and reprices."""

    def _plan_listings(self) -> None:
        n = max(10, self.n_customers // 3)
        stock = n * 45 // 100  # on offer before the year starts
        withdrawn = set(self.rng.sample(range(n), max(1, n // 16)))
        for i in range(n):
            if i < stock:
                at = self._office(self.start - timedelta(days=self.rng.uniform(1, 40)))
            else:
                at = self._office(self.start + timedelta(days=self.rng.uniform(0, 330)))
            self.scheduler.spawn(self._listing_life(at, i in withdrawn, self.rng.random() < 0.25))

    def _new_listing(self, lister: _Staff, t: datetime, needs: dict[str, Any] | None = None) -> _Listing:
        rng = self.rng
        if needs:
            district = rng.choice(needs["districts"])
            area = round(rng.uniform(needs["area_min"], needs["area_max"]), 1)
        else:
            district = rng.choices(DISTRICT_NAMES, DISTRICT_WEIGHTS)[0]
            area = round(rng.triangular(38, 180, 85), 1)
        full, unit, roads, _ = DISTRICTS[district]
        rooms = 1 if area < 55 else 2 if area < 90 else 3 if area < 135 else 4
        price = round(area * unit * rng.uniform(0.82, 1.18) / 10_000) * 10_000
        if needs:
            price = min(max(price, needs["budget_min"]), needs["budget_max"])
        floor = rng.randint(1, 28)
        address = (f"上海市{full}{rng.choice(roads)}{rng.randint(1, 199) * 10 + rng.randint(0, 9)}弄"
                   f"{rng.randint(1, 40)}号{floor}{rng.randint(1, 6):02d}室")
        right = self._pick((("clear", 85), ("mortgaged", 12), ("shared", 3)))
        tenure = self._pick(((70, 75), (50, 10), (rng.randint(40, 69), 15)))
        result = self.app.list_property(
            self._as(lister), district=district, address=address, area=area, rooms=rooms, price=price,
            property_right_status=right, tenure_years=tenure, mortgage_eligible=right != "shared" and tenure >= 40,
            occurred_at=t,
        )
        self._wrote(1)
        listing = _Listing(len(self.listings), result.id, district, area, rooms, price)
        self.listings.append(listing)
        return listing

    def _listing_life(self, at: datetime, withdraw: bool, reprice: bool) -> Thread:
        t = yield at
        lister = self._pick_consultant(self.rng.choice(self.teams), t)
        listing = self._new_listing(lister, t)
        for _ in range(self.rng.randint(1, 2) if reprice else 0):
            t = yield self._days(t, 20, 110)
            if listing.status == "available" and listing.open_deal is None and listing.held_for is None:
                factor = self.rng.choice((0.95, 0.96, 0.97, 0.98, 0.98, 1.03))
                new_price = round(listing.price * factor / 10_000) * 10_000
                if new_price != listing.price:
                    reason = "业主上调报价" if factor > 1 else self.rng.choice(("业主降价促销", "根据市场行情调整"))
                    self._listing_cmd("change_listing_price", listing, t, new_price=new_price, reason=reason)
                    listing.price = new_price
                    listing.price_changes += 1
                    self.records.setdefault("listing repriced", listing.id)
        if withdraw:
            for _ in range(6):
                t = yield self._days(t, 10, 45)
                if listing.status == "available" and listing.open_deal is None and listing.held_for is None:
                    reason = self.rng.choice(("业主暂停出售", "业主决定自住", "产权人意见不一致，暂缓出售"))
                    self._listing_cmd("withdraw_listing", listing, t, reason=reason)
                    listing.status = "withdrawn"
                    self.records.setdefault("listing withdrawn", listing.id)
                    return

    def _listing_cmd(self, command: str, listing: _Listing, t: datetime, **kwargs: Any) -> None:
        lister = self._pick_consultant(self.rng.choice(self.teams), t)
        getattr(self.app, command)(self._as(lister), listing_id=listing.id, occurred_at=t, **kwargs)
        self._wrote(1)

    def _score(self, listing: _Listing, needs: dict[str, Any]) -> int:
        score = 35 if listing.district in needs["districts"] else 5
        low, high = needs["budget_min"], needs["budget_max"]
        if low <= listing.price <= high:
            score += 30
        else:
            miss = (low - listing.price if listing.price < low else listing.price - high) / high
            score += max(0, round(30 - 100 * miss))
        if needs["area_min"] <= listing.area <= needs["area_max"]:
            score += 20
        else:
            gap = min(abs(listing.area - needs["area_min"]), abs(listing.area - needs["area_max"]))
            score += max(0, round(20 - gap))
        score += 10 if listing.rooms == needs["rooms"] else 5 if abs(listing.rooms - needs["rooms"]) == 1 else 0
        return min(score, 100)

    def _free(self, listing: _Listing, c: _Customer) -> bool:
        return listing.status == "available" and listing.open_deal is None and listing.held_for in (None, c)

    def _rank(self, c: _Customer) -> list[tuple[int, _Listing]]:
        assert c.needs is not None
        ranked = [(self._score(li, c.needs), li) for li in self.listings if self._free(li, c)]
        ranked.sort(key=lambda pair: (-pair[0], pair[1].idx))
        return ranked
