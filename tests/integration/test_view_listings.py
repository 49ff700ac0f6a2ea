"""The listings view on both backends, against what the test itself sent.

Listings are put on offer, repriced, drafted on, reserved by a signed deal, sold at settlement,
released by a cancelled deal and withdrawn — through the application's commands, back-dated in
business time. What the view should hold is worked out here from each listing's own history
(``ledger.history``) and checked against the plan the test followed; the list's filters, sorts and
pages are checked against the same expectations. A view rebuilt from the log equals the one built
batch by batch, row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.listings import LISTING_ROWS, LISTINGS, PRICE_ROWS
from projections.query import QueryError
from service.application import Acting, RealtyLedger
from tests.conftest import Team, register_team
from tests.integration.views_support import Clock, catch_up, dump, open_ledger, rebuild

ACCOUNT = "6222020200112233445"


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = open_ledger(own_database_url, tmp_path, projection_batch_size=4)  # batches end mid-command
    try:
        yield app
    finally:
        app.close()


def text(moment: datetime | str | None) -> str | None:
    """A time as the views store it (UTC, microseconds, Z), worked out here."""
    if moment is None:
        return None
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the scenario -------------------------------------------------------------------------------


@dataclass
class Story:
    team: Team
    listings: dict[str, str]  # label -> listing id
    deals: dict[str, str]  # label -> deal id


OFFERS = {  # label: district, rooms, area, price
    "repriced": ("浦东", 2, 89.5, 5_200_000),
    "cut_twice": ("浦东", 3, 120.0, 8_800_000),
    "drafted": ("徐汇", 2, 76.25, 4_600_000),
    "reserved": ("徐汇", 3, 101.0, 7_300_000),
    "sold": ("静安", 1, 45.5, 3_100_000),
    "released": ("静安", 2, 66.0, 4_950_000),
    "withdrawn": ("浦东", 4, 140.0, 12_000_000),
    "untouched": ("徐汇", 1, 52.0, 2_980_000),
}


def list_all(ledger: RealtyLedger, who: Acting, clock: Clock) -> dict[str, str]:
    ids = {}
    for label, (district, rooms, area, price) in OFFERS.items():
        ids[label] = ledger.list_property(
            who, district=district, address="锦绣路 1888 弄 8 号", area=area, rooms=rooms, price=price,
            property_right_status="clear", tenure_years=70, mortgage_eligible=True, occurred_at=clock(3)).id
    return ids


def customer(ledger: RealtyLedger, team: Team, clock: Clock) -> str:
    started = clock(1)
    return ledger.receive_customer(team.consultant, channel="walk_in", reception_started_at=started,
                                   reception_ended_at=started + timedelta(minutes=20), occurred_at=started).id


def draft(ledger: RealtyLedger, team: Team, clock: Clock, listing_id: str, price: int) -> str:
    return ledger.draft_deal(team.consultant, customer_id=customer(ledger, team, clock), listing_id=listing_id,
                             price=price, terms="首付三成", occurred_at=clock()).id


def sign(ledger: RealtyLedger, team: Team, clock: Clock, deal: str) -> None:
    ledger.submit_deal_for_review(team.consultant, deal, occurred_at=clock())
    ledger.approve_deal(team.manager, deal, note="资料齐全", occurred_at=clock())
    ledger.sign_deal(team.consultant, deal, contract_number="HT-2026-0001", occurred_at=clock())


def settle(ledger: RealtyLedger, team: Team, clock: Clock, deal: str, price: int) -> None:
    c = team.consultant
    ledger.require_deal_documents(c, deal, kinds=["id_card"], occurred_at=clock())
    ledger.receive_deal_document(c, deal, kind="id_card", occurred_at=clock())
    ledger.verify_deal_document(c, deal, kind="id_card", occurred_at=clock())
    ledger.record_payment(c, deal, kind="down_payment", amount=price, payer_account=ACCOUNT, occurred_at=clock())
    ledger.settle_funds(c, deal, occurred_at=clock())


def play(ledger: RealtyLedger, *, catch_up_between: bool) -> Story:
    """The listings' story; with ``catch_up_between`` the view follows it step by step."""
    step = (lambda: catch_up(ledger, ["listings"])) if catch_up_between else (lambda: None)
    clock = Clock(days=40)
    team = register_team(ledger, name="静安三组")
    ids = list_all(ledger, team.manager, clock)
    step()
    m = team.manager
    ledger.change_listing_price(m, ids["repriced"], new_price=5_050_000, reason="业主让价", occurred_at=clock(24))
    ledger.change_listing_price(m, ids["cut_twice"], new_price=8_500_000, reason="业主让价", occurred_at=clock(24))
    step()
    ledger.change_listing_price(m, ids["cut_twice"], new_price=8_350_000, reason="市场回落", occurred_at=clock(48))
    deals = {"drafted": draft(ledger, team, clock, ids["drafted"], 4_600_000)}
    deals["reserved"] = draft(ledger, team, clock, ids["reserved"], 7_200_000)
    sign(ledger, team, clock, deals["reserved"])
    step()
    # A price change while reserved is allowed (the deal keeps its own price).
    ledger.change_listing_price(m, ids["reserved"], new_price=7_250_000, reason="调整挂牌", occurred_at=clock(24))
    deals["sold"] = draft(ledger, team, clock, ids["sold"], 3_050_000)
    sign(ledger, team, clock, deals["sold"])
    settle(ledger, team, clock, deals["sold"], 3_050_000)
    step()
    deals["released"] = draft(ledger, team, clock, ids["released"], 4_900_000)
    sign(ledger, team, clock, deals["released"])
    ledger.cancel_deal(team.consultant, deals["released"], reason="客户放弃", occurred_at=clock())
    ledger.withdraw_listing(m, ids["withdrawn"], reason="业主撤回", occurred_at=clock(24))
    catch_up(ledger, ["listings"])
    return Story(team, ids, deals)


# --- what the view should hold, from each listing's own history --------------------------------


def from_history(ledger: RealtyLedger, listing_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The listing's row and its prices, folded here from the events of its history."""
    row: dict[str, Any] = {}
    prices: list[dict[str, Any]] = []
    for event in ledger.history(listing_id):
        name, data, at = event["name"].split(".")[1], event["data"], text(event["occurred_at"])
        if name == "Listed":
            row = {"listing_id": listing_id, "district": data["district"], "rooms": data["rooms"],
                   "area": data["area"], "price": data["price"], "status": "available", "listed_at": at,
                   "first_price": data["price"], "price_changes": 0, "open_deal_id": None, "has_open_deal": False,
                   "reserved_by_deal": None, "reserved_at": None, "sold_price": None, "sold_at": None,
                   "withdrawn_at": None}
            prices.append({"listing_id": listing_id, "at": at, "old_price": None, "new_price": data["price"]})
        elif name == "PriceChanged":
            row["price"] = data["new_price"]
            row["price_changes"] += 1
            prices.append({"listing_id": listing_id, "at": at, "old_price": data["old_price"],
                           "new_price": data["new_price"]})
        elif name == "DealOpened":
            row.update(open_deal_id=data["deal_id"], has_open_deal=True)
        elif name == "Reserved":
            row.update(status="reserved", reserved_by_deal=data["deal_id"], reserved_at=at)
        elif name == "Released":
            row.update(status="available", open_deal_id=None, has_open_deal=False, reserved_by_deal=None,
                       reserved_at=None)
        elif name == "Sold":
            row.update(status="sold", sold_price=data["price"], sold_at=at)
        elif name == "Withdrawn":
            row.update(status="withdrawn", withdrawn_at=at)
        row["updated_at"], row["version"] = at, event["version"]
    return row, prices


def view_rows(ledger: RealtyLedger, **filters: Any) -> list[dict[str, Any]]:
    page, _ = ledger.views.list(LISTING_ROWS, filters=filters, limit=500)
    assert page.next_cursor is None
    return page.items


def ids_of(rows: list[dict[str, Any]]) -> list[str]:
    return [r["listing_id"] for r in rows]


# --- the tests ----------------------------------------------------------------------------------


def test_each_listing_has_the_status_price_and_deal_its_history_gives(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=True)
    ids, deals = story.listings, story.deals
    expected = {lid: from_history(ledger, lid)[0] for lid in ids.values()}
    rows = {r["listing_id"]: r for r in view_rows(ledger)}
    assert rows == expected

    # What the scenario did, said plainly (and the history agrees with it).
    status = {label: rows[lid]["status"] for label, lid in ids.items()}
    assert status == {"repriced": "available", "cut_twice": "available", "drafted": "available",
                      "reserved": "reserved", "sold": "sold", "released": "available", "withdrawn": "withdrawn",
                      "untouched": "available"}
    assert rows[ids["cut_twice"]]["price"] == 8_350_000 and rows[ids["cut_twice"]]["price_changes"] == 2
    assert rows[ids["reserved"]]["price"] == 7_250_000
    assert (rows[ids["drafted"]]["open_deal_id"], rows[ids["drafted"]]["has_open_deal"]) == (deals["drafted"], True)
    assert rows[ids["reserved"]]["reserved_by_deal"] == deals["reserved"]
    assert (rows[ids["sold"]]["sold_price"], rows[ids["sold"]]["reserved_by_deal"]) == (3_050_000, deals["sold"])
    released = rows[ids["released"]]
    assert (released["open_deal_id"], released["reserved_by_deal"], released["has_open_deal"]) == (None, None, False)


def test_a_listings_price_history_is_its_listing_price_then_each_change_in_order(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=True)
    for label, listing_id in story.listings.items():
        _, expected = from_history(ledger, listing_id)
        page, _ = ledger.views.list(PRICE_ROWS, filters={}, forced={"listing_id": listing_id}, limit=500)
        got = [{k: r[k] for k in ("listing_id", "at", "old_price", "new_price")} for r in page.items]
        assert got == expected, label
    page, _ = ledger.views.list(PRICE_ROWS, filters={}, forced={"listing_id": story.listings["cut_twice"]})
    assert [(r["old_price"], r["new_price"]) for r in page.items] == [
        (None, 8_800_000), (8_800_000, 8_500_000), (8_500_000, 8_350_000)]
    # Newest first, and only the changes after a time.
    newest, _ = ledger.views.list(PRICE_ROWS, filters={"changed_after": page.items[1]["at"].replace("Z", "+00:00")},
                                  forced={"listing_id": story.listings["cut_twice"]}, sort="-at")
    assert [r["new_price"] for r in newest.items] == [8_350_000, 8_500_000]


def test_the_filters_and_sorts_answer_what_the_listings_say(ledger: RealtyLedger) -> None:
    story = play(ledger, catch_up_between=False)
    rows = [from_history(ledger, lid)[0] for lid in story.listings.values()]

    def expect(keep: Any, key: Any = None, reverse: bool = False) -> list[str]:
        chosen = [r for r in rows if keep(r)]
        if key is not None:
            chosen.sort(key=lambda r: (key(r), r["listing_id"]), reverse=reverse)
        return ids_of(chosen)

    assert sorted(ids_of(view_rows(ledger, status="available"))) == sorted(expect(lambda r: r["status"] == "available"))
    assert sorted(ids_of(view_rows(ledger, district="浦东", price_max="8400000"))) == sorted(
        expect(lambda r: r["district"] == "浦东" and r["price"] <= 8_400_000))
    assert sorted(ids_of(view_rows(ledger, area_min="66", area_max="101.0", rooms_min="2"))) == sorted(
        expect(lambda r: 66 <= r["area"] <= 101 and r["rooms"] >= 2))
    assert sorted(ids_of(view_rows(ledger, rooms="1"))) == sorted(expect(lambda r: r["rooms"] == 1))
    assert sorted(ids_of(view_rows(ledger, status="available", has_open_deal="false"))) == sorted(
        expect(lambda r: r["status"] == "available" and not r["has_open_deal"]))
    middle = sorted(r["listed_at"] for r in rows)[3].replace("Z", "+00:00")
    assert sorted(ids_of(view_rows(ledger, listed_after=middle))) == sorted(
        expect(lambda r: r["listed_at"] >= text(middle)))

    by_price, _ = ledger.views.list(LISTING_ROWS, filters={"price_min": "3000000"}, sort="price", limit=500)
    assert ids_of(by_price.items) == expect(lambda r: r["price"] >= 3_000_000, key=lambda r: r["price"])
    newest, _ = ledger.views.list(LISTING_ROWS, filters={}, limit=500)  # default: -listed_at
    assert ids_of(newest.items) == expect(lambda r: True, key=lambda r: r["listed_at"], reverse=True)
    by_area, _ = ledger.views.list(LISTING_ROWS, filters={}, sort="-area", limit=500)
    assert ids_of(by_area.items) == expect(lambda r: True, key=lambda r: r["area"], reverse=True)


@pytest.mark.parametrize("sort", ["price", "-price", "listed_at", "-area", "rooms"])
def test_pages_return_every_listing_once_in_order(ledger: RealtyLedger, sort: str) -> None:
    story = play(ledger, catch_up_between=False)
    whole, _ = ledger.views.list(LISTING_ROWS, filters={}, sort=sort, limit=500)
    seen: list[str] = []
    cursor = None
    while True:
        page, _ = ledger.views.list(LISTING_ROWS, filters={}, sort=sort, cursor=cursor, limit=3)
        seen.extend(ids_of(page.items))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids_of(whole.items)
    assert sorted(seen) == sorted(story.listings.values())


def test_unknown_filters_and_bad_values_are_refused_by_name(ledger: RealtyLedger) -> None:
    play(ledger, catch_up_between=False)
    for filters, code in (({"colour": "red"}, "unknown_filter"), ({"area_min": "big"}, "invalid_filter"),
                          ({"area_min": "nan"}, "invalid_filter"), ({"price_max": "1.5"}, "invalid_filter")):
        with pytest.raises(QueryError) as refused:
            ledger.views.list(LISTING_ROWS, filters=filters)
        assert refused.value.code == code, filters


def test_the_view_rebuilt_from_the_log_equals_the_one_built_step_by_step(ledger: RealtyLedger) -> None:
    play(ledger, catch_up_between=True)
    before = dump(ledger, LISTINGS.name)
    assert len(before["listings"]) == len(OFFERS) and len(before["prices"]) == len(OFFERS) + 4
    generation = rebuild(ledger, LISTINGS.name)
    assert dump(ledger, LISTINGS.name, generation) == before
