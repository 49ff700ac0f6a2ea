"""Deals: drafting, two-person review, signing, documents, payments, settlement, handover, after-sales.

How far a buyer's deal goes is planned up front from the customer's outcome (``_DealPlan``): it
may stop at any stage, be rejected once and resubmitted, be drafted by a sales manager, or be
cancelled after drafting, approval or signing. The reviewer is always a sales manager other than
the drafter. After the handover the customer manager usually takes the customer over and return
visits and a satisfaction survey follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.demo import people
from service.demo.listing_stories import ListingStories
from service.demo.notes import _Customer, _Deal, _Listing, _Staff
from service.demo.scheduler import Step
from service.demo.service_desk_stories import ServiceDeskStories
from service.demo.vocabulary import APPROVAL_NOTES, HANDOVER_NOTES, REJECTIONS, VISIT_SUMMARIES
from service.demo.world import SHANGHAI


@dataclass(frozen=True)
class _DealPlan:
    stop: str  # drafted, in_review, rejected, approved, documents, payments, settled, handed_over, closed
    reject_first: bool = False
    cancel_at: str | None = None  # drafted, approved or signed
    by_manager: bool = False


class DealStories(ListingStories, ServiceDeskStories):
    """Builds on the listing stories (which listing is free) and the service desk (surveys)."""

    def _deal_plan(self, outcome: str) -> _DealPlan:
        rng = self.rng
        by_manager = rng.random() < 0.08
        reject = rng.random() < 0.15
        if outcome == "signing":
            stop = self._pick((("drafted", 20), ("in_review", 30), ("rejected", 15), ("approved", 35)))
            return _DealPlan(stop, reject or stop == "rejected", None, by_manager)
        if outcome == "transaction":
            return _DealPlan(self._pick((("documents", 40), ("payments", 30), ("settled", 30))), reject, None,
                             by_manager)
        if outcome == "cancelled":
            cancel_at = self._pick((("drafted", 35), ("approved", 35), ("signed", 30)))
            return _DealPlan("closed", reject, cancel_at, by_manager)
        return _DealPlan("closed" if rng.random() < 0.85 else "handed_over", reject, None, by_manager)

    def _deal(self, c: _Customer, t: datetime, best: _Listing | None, plan: _DealPlan) -> Step[datetime]:
        """Draft, signing review (签约审核), signing, documents, payments, settlement, handover."""
        rng = self.rng
        t = yield self._hours(t, 4, 72)
        listing = best if best is not None and self._free(best, c) else None
        if listing is None:
            listing = next((li for li in c.shortlist if self._free(li, c)), None)
        if listing is None:
            ranked = self._rank(c)
            listing = ranked[0][1] if ranked and ranked[0][0] >= 50 else None
        if listing is None:  # nothing suitable is free: a consultant takes on a listing for this buyer
            assert c.sales is not None
            listing = self._new_listing(c.sales, t, c.needs)
            listing.held_for = c
            t = yield self._hours(t, 2, 48)
        team = c.team
        drafter = team.managers[0] if plan.by_manager else c.sales
        assert drafter is not None and c.needs is not None
        price = int(round(listing.price * (1 - rng.uniform(0, 0.04)) / 1000) * 1000)
        method = c.needs["payment_method"]
        terms = {
            "full": "全款支付：首期五成于签约后七日内支付，余款于过户前付清",
            "commercial_mortgage": "首付三成五，余款商业贷款，银行放款至资金监管账户",
            "provident_fund": "首付三成，余款公积金贷款，资金全程监管",
            "combined_loan": "首付三成五，余款公积金与商业组合贷款，资金全程监管",
        }[method]
        terms = f"成交总价人民币{price}元；{terms}；交房前结清物业及水电煤费用；税费按国家规定各自承担"
        result = self.app.draft_deal(self._as(drafter), customer_id=c.id, listing_id=listing.id, price=price,
                                     terms=terms, occurred_at=t)
        self._wrote(3, c, 1)
        deal = _Deal(result.id, c, listing, price, drafter, plan.by_manager)
        self.deals.append(deal)
        listing.open_deal, listing.held_for = deal, None
        c.deals[deal.id] = "drafted"

        def handler() -> _Staff:
            # The drafting manager sees their own deal through; otherwise the customer's consultant.
            staff = deal.drafter if deal.by_manager else c.sales
            assert staff is not None
            return staff

        if rng.random() < 0.5:
            t = yield self._hours(t, 1, 48)
            deposit = rng.choice((20_000, 50_000, 100_000))
            self._deal_cmd("record_payment", deal, handler(), t, kind="deposit", amount=deposit,
                           payer_account=c.account)
            deal.paid += deposit
        if plan.cancel_at == "drafted":
            return (yield from self._cancel(deal, t, "客户与业主就付款方式未达成一致，协商终止"))
        if plan.stop == "drafted":
            return t
        t = yield self._hours(t, 2, 48)
        self._deal_cmd("submit_deal_for_review", deal, handler(), t)
        deal.status = "in_review"
        if plan.stop == "in_review" and not plan.reject_first:
            return t
        t = yield self._hours(t, 3, 40)
        if plan.reject_first:
            self._deal_cmd("reject_deal", deal, self._reviewer(deal), t, reason=rng.choice(REJECTIONS))
            deal.status, deal.rejected = "rejected", True
            if plan.stop == "rejected":
                return t
            t = yield self._days(t, 1, 4)
            self._deal_cmd("submit_deal_for_review", deal, handler(), t)
            deal.status = "in_review"
            if plan.stop == "in_review":
                return t
            t = yield self._hours(t, 3, 40)
        self._deal_cmd("approve_deal", deal, self._reviewer(deal), t, note=rng.choice(APPROVAL_NOTES))
        deal.status = "approved"
        if plan.cancel_at == "approved":
            t = yield self._days(t, 1, 5)
            return (yield from self._cancel(deal, t, "业主临时提价，双方协商解除"))
        if plan.stop == "approved":
            return t
        t = yield self._days(t, 1, 6)
        year = t.astimezone(SHANGHAI).year
        self._deal_cmd("sign_deal", deal, handler(), t, contract_number=f"HT-{year}-{next(self.contracts):05d}")
        deal.status = "signed"
        listing.status = "reserved"
        c.deals[deal.id] = "signed"
        handler().signed_at.append(t)

        # Transaction execution: documents, down payment, the rest of the money, settlement.
        loan = method != "full"
        kinds = ["id_card", "purchase_qualification", "property_certificate"]
        if loan:
            kinds += ["income_proof", "loan_approval"]
        if rng.random() < 0.4:
            kinds.append("marriage_certificate")
        t = yield self._hours(t, 1, 6)
        self._deal_cmd("require_deal_documents", deal, handler(), t, kinds=kinds)
        t = yield self._days(t, 1, 5)
        ratio = {"full": 0.5, "commercial_mortgage": 0.35, "provident_fund": 0.3, "combined_loan": 0.35}[method]
        down = int(round(price * ratio / 1000) * 1000) - deal.paid
        self._deal_cmd("record_payment", deal, handler(), t, kind="down_payment", amount=down,
                       payer_account=c.account)
        deal.paid += down
        stop_docs = rng.randrange(len(kinds)) if plan.stop == "documents" else None
        cancel_docs = rng.randrange(1, len(kinds)) if plan.cancel_at == "signed" else None
        rng.shuffle(kinds)
        if "loan_approval" in kinds:  # the bank decides last
            kinds.remove("loan_approval")
            kinds.append("loan_approval")
        for i, kind in enumerate(kinds):
            if cancel_docs is not None and i == cancel_docs:
                t = yield self._days(t, 1, 6)
                return (yield from self._cancel(deal, t, "买方贷款审批未通过，双方协商解约"))
            t = yield self._days(t, 0.3, 8 if kind == "loan_approval" else 4)
            self._deal_cmd("receive_deal_document", deal, handler(), t, kind=kind)
            if stop_docs is not None and i == stop_docs:
                return t
            t = yield self._days(t, 0.1, 2)
            self._deal_cmd("verify_deal_document", deal, handler(), t, kind=kind)
        if plan.stop == "payments":
            return t
        t = yield self._days(t, 3, 20)
        if loan:
            self._deal_cmd("record_payment", deal, handler(), t, kind="loan_disbursement", amount=price - deal.paid,
                           payer_account=people.bank_card(self.rng))  # the lending bank's account
        else:
            self._deal_cmd("record_payment", deal, handler(), t, kind="balance", amount=price - deal.paid,
                           payer_account=c.account)
        deal.paid = price
        t = yield self._days(t, 1, 3)
        self._deal_cmd("settle_funds", deal, handler(), t)
        deal.status = "settled"
        listing.status = "sold"
        self.records.setdefault("listing sold", listing.id)
        if plan.stop == "settled":
            return t
        t = yield self._days(t, 5, 25)
        self._deal_cmd("confirm_handover", deal, handler(), t, note=rng.choice(HANDOVER_NOTES))
        deal.status = "handed_over"
        c.deals[deal.id] = "handed_over"
        return (yield from self._after_sales(c, deal, t, close=plan.stop == "closed"))

    def _reviewer(self, deal: _Deal) -> _Staff:
        """A sales manager of the team other than whoever drafted the deal (two-person review)."""
        managers = [m for m in deal.customer.team.managers if m is not deal.drafter]
        return self.rng.choice(managers)

    def _cancel(self, deal: _Deal, t: datetime, reason: str) -> Step[datetime]:
        staff = deal.drafter if deal.by_manager else deal.customer.sales
        assert staff is not None
        t = yield t
        self._deal_cmd("cancel_deal", deal, staff, t, reason=reason)
        deal.status = "cancelled"
        deal.listing.status, deal.listing.open_deal = "available", None
        deal.customer.deals[deal.id] = "cancelled"
        self.records.setdefault("deal cancelled", deal.id)
        return t

    def _after_sales(self, c: _Customer, deal: _Deal, t: datetime, *, close: bool) -> Step[datetime]:
        """Handover done: the customer manager takes over; return visits (回访) and a survey."""
        rng = self.rng
        keeper = c.owner
        if c.team.customer_managers and rng.random() < 0.85:
            t = yield self._days(t, 1, 3)
            keeper = rng.choice(c.team.customer_managers)
            self._reassign(c, keeper, c.team.managers[0], t, "hand_over")
        visitor = keeper if keeper is not None and keeper.role == "customer_manager" else rng.choice(c.team.services)
        t = yield self._hours(t, 1, 6)
        handed_over = t
        due = self._slot(t, 6, 8)
        visit = self._customer_cmd("schedule_return_visit", c, visitor, t, due_at=due,
                                   purpose="交房后首次回访：入住情况与物业交接").entity_id
        if close:
            t = yield self._days(t, 1, 4)
            staff = deal.drafter if deal.by_manager else c.sales
            assert staff is not None
            self._deal_cmd("close_deal", deal, staff, t)
            deal.status = "closed"
            c.deals[deal.id] = "closed"
            self.records.setdefault("deal closed", deal.id)
            if deal.rejected:
                self.records.setdefault("deal rejected then approved", deal.id)
        t = yield self._office(due + timedelta(hours=rng.uniform(-20, 30)))
        self._customer_cmd("complete_return_visit", c, visitor, t, visit_id=visit, summary=rng.choice(VISIT_SUMMARIES))
        if rng.random() < 0.9:
            t = yield self._hours(t, 2, 48)
            self._survey(c, t)
        if rng.random() < 0.7:
            t = yield self._hours(t, 1, 4)
            due = self._slot(handed_over, 29, 32)
            visit = self._customer_cmd("schedule_return_visit", c, visitor, t, due_at=due,
                                       purpose="交房后一个月回访：居住体验与售后需求").entity_id
            t = yield self._office(due + timedelta(hours=rng.uniform(-20, 48)))
            self._customer_cmd("complete_return_visit", c, visitor, t, visit_id=visit,
                               summary=rng.choice(VISIT_SUMMARIES))
        return t
