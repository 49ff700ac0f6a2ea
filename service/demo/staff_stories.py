"""The staff's year: the founding roster, training, assessments, incentives, leave, a promotion, a leaver.

Staff are registered before the year starts, by the administrator the system registers first.
Through the year each member has training and quarterly assessments (manual ch. 6), the best
consultant of a quarter gets a bonus, one consultant takes two weeks' leave, one is promoted to
sales manager and one leaves; whenever someone stops taking customers, their sales manager hands
what they hold to available colleagues first. The reassignment and consultant-picking helpers
live here because every other story uses them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from service.demo import people
from service.demo.notes import _Customer, _Staff, _Team
from service.demo.scheduler import Thread
from service.demo.vocabulary import COURSES, TEAM_NAMES
from service.demo.world import DemoWorld


class StaffStories(DemoWorld):
    def _register(self, by: _Staff | None, t: datetime, name: str, role: str, team: _Team | None,
                  team_name: str) -> _Staff:
        result = self.app.register_staff(self._as(by), name=name, role=role, team=team_name, occurred_at=t)
        self._wrote(1)
        staff = _Staff(len(self.staff), result.id, name, role, team, t)
        self.staff.append(staff)
        if team is not None:
            {"sales_manager": team.managers, "property_consultant": team.consultants,
             "customer_manager": team.customer_managers, "customer_service": team.services}[role].append(staff)
        return staff

    def _register_founding_staff(self) -> None:
        n = self.n_customers
        n_teams = 2 if n < 150 else 3 if n < 600 else 4 if n < 1500 else 5
        per_team = max(2, min(10, round(n / n_teams / 45)))
        t = self._office(self.start - timedelta(days=45)).replace(hour=9, minute=30, second=0)
        self.earliest = t
        # The system registers the administrator, who registers everyone else.
        self.admin = self._register(None, t, self._unique_name(), "administrator", None, "行政部")
        for role, dept in (("compliance_officer", "合规部"), ("archivist", "档案室")):
            t += timedelta(minutes=self.rng.randint(2, 6))
            self._register(self.admin, t, self._unique_name(), role, None, dept)
        for team_name in TEAM_NAMES[:n_teams]:
            team = _Team(team_name)
            self.teams.append(team)
            big = per_team >= 6
            roles = (["sales_manager"] * 2 + ["property_consultant"] * per_team
                     + ["customer_manager"] * (2 if big else 1) + ["customer_service"] * (2 if big else 1))
            for role in roles:
                t += timedelta(minutes=self.rng.randint(2, 6))
                self._register(self.admin, t, self._unique_name(), role, team, team_name)
        self.scheduler.clock = t  # registered before any thread runs: the threads start after this

    def _staff_year(self, s: _Staff) -> Thread:
        """Training through the year and quarterly assessments (manual ch. 6)."""
        rng = self.rng
        plan: list[tuple[datetime, str, str]] = []
        if s.registered_at > self.start:  # a new hire starts with onboarding
            plan.append((self._days(s.registered_at, 1, 3), "training", COURSES[0]))
        for course in rng.sample(COURSES[1:], rng.randint(1, 3)):
            plan.append((self._days(max(s.registered_at, self.start), 5, 330), "training", course))
        if s.role != "administrator":
            for q_start, q_end, label in self._quarters():
                if s.registered_at < q_end - timedelta(days=30):
                    plan.append((self._days(q_end, 4, 15), "assessment", label))
        plan.sort(key=lambda item: item[0])
        for when, kind, what in plan:
            t = yield when
            if not s.active:
                return
            if kind == "training":
                score = max(60, min(100, round(rng.gauss(85, 8))))
                trainer = self.admin if s is not self.admin else None
                self._staff_cmd("record_training", s, trainer, t, course=what, score=score)
                self.counts["trainings"] += 1
            else:
                if s.role in ("sales_manager", "compliance_officer", "archivist") or s.team is None:
                    assessor = self.admin
                else:
                    assessor = s.team.managers[0]
                score = max(55, min(99, round(rng.gauss(82, 8))))
                self._staff_cmd("record_assessment", s, assessor, t, period=what, score=score)
                self.counts["assessments"] += 1

    def _quarters(self) -> list[tuple[datetime, datetime, str]]:
        """The last four complete calendar quarters: (start, end, label)."""
        end = self.today.replace(month=3 * ((self.today.month - 1) // 3) + 1, day=1)
        out = []
        for _ in range(4):
            month, year = end.month - 3, end.year
            if month < 1:
                month, year = month + 12, year - 1
            start = end.replace(year=year, month=month)
            out.append((start, end, f"{year}-Q{(month - 1) // 3 + 1}"))
            end = start
        return out[::-1]

    def _incentives(self) -> Thread:
        """Quarterly bonuses for the consultant with most contracts signed (考核与激励)."""
        for q_start, q_end, label in self._quarters()[-2:]:
            t = yield self._days(q_end, 10, 20)
            best: tuple[int, int] | None = None
            winner = None
            for s in self.staff:
                if s.role != "property_consultant" or not s.active:
                    continue
                signed = sum(1 for at in s.signed_at if q_start <= at < q_end)
                if signed and (best is None or (signed, -s.idx) > best):
                    best, winner = (signed, -s.idx), s
            if winner is not None and best is not None:
                amount = 3000 + 1500 * best[0]
                self._staff_cmd("award_incentive", winner, self.admin, t, kind="季度销冠奖金", amount=amount,
                                reason=f"{label} 签约 {best[0]} 单，位列第一")
            else:  # a quiet quarter still has its service star
                winner = next(s for s in self.staff if s.role == "customer_service" and s.active)
                self._staff_cmd("award_incentive", winner, self.admin, t, kind="服务之星", amount=2000,
                                reason=f"{label} 客户满意度评分最高")
            winner.incentives += 1
            self.counts["incentives"] += 1
            self.records.setdefault("staff with an incentive", winner.id)

    def _plan_staff_changes(self) -> None:
        rng = self.rng
        # A consultant leaves: customers handed over first, then deactivated, then a new hire.
        leaver = rng.choice(self.teams[0].consultants)
        leave_at = self._slot(self.today - timedelta(days=rng.randint(55, 100)), 0, 0).replace(hour=17)
        self.scheduler.spawn(self._departure(leaver, leave_at))
        # Another goes on two weeks' leave: their open customers go to colleagues meanwhile.
        on_leave = rng.choice(self.teams[1].consultants)
        leave_from = self._slot(self.today - timedelta(days=rng.randint(150, 210)), 0, 0)
        self.scheduler.spawn(self._leave(on_leave, leave_from))
        # A senior consultant of the last team is promoted to sales manager, if the team can spare one.
        candidates = [s for s in self.teams[-1].consultants if s is not on_leave]
        if len(self.teams[-1].consultants) >= 3:
            promoted = rng.choice(candidates)
            promote_at = self._slot(self.today - timedelta(days=rng.randint(20, 45)), 0, 0)
            self.scheduler.spawn(self._promotion(promoted, promote_at))

    def _hand_over(self, leaving: _Staff, t: datetime, reason: str, *, keep_lost: bool = False) -> None:
        """The team's sales manager reassigns everything ``leaving`` holds, in one moment."""
        team = leaving.team
        assert team is not None
        manager = team.managers[0]
        successors = [s for s in team.consultants if s is not leaving and self._available(s, t)]
        if not successors:  # nobody free in the team: colleagues of other teams take over
            successors = [s for tm in self.teams for s in tm.consultants
                          if s is not leaving and self._available(s, t)]
        for i, c in enumerate(list(leaving.customers.values())):
            if keep_lost and c.lost:
                continue
            to = successors[i % len(successors)]
            self._reassign(c, to, manager, t, reason)
        for c in self.customers:  # deals in after-sales still need a consultant to close them
            if c.sales is leaving and c.owner is not leaving:
                c.sales = successors[c.idx % len(successors)]

    def _departure(self, leaver: _Staff, when: datetime) -> Thread:
        t = yield when
        leaver.away_until = self.horizon + timedelta(days=1)
        taken = list(leaver.customers.values())
        self._hand_over(leaver, t, "hand_over")
        for c in taken:
            c.tags.append("taken over")
        self._staff_cmd("deactivate_staff", leaver, self.admin, t, reason="离职：个人发展原因，客户已全部交接")
        leaver.active = False
        self.records["staff deactivated"] = leaver.id
        t = yield self._days(t, 4, 8)
        assert leaver.team is not None
        name = self._unique_name()
        hire = self._register(self.admin, t, name, "property_consultant", leaver.team, leaver.team.name)
        self.scheduler.spawn(self._staff_year(hire))

    def _unique_name(self) -> str:
        while True:
            candidate = people.name(self.rng, self.rng.random() < 0.5)
            if candidate not in self._staff_names:
                self._staff_names.add(candidate)
                return candidate

    def _leave(self, staff: _Staff, when: datetime) -> Thread:
        t = yield when
        staff.away_until = t + timedelta(days=14)
        self._hand_over(staff, t, "leave", keep_lost=True)

    def _promotion(self, staff: _Staff, when: datetime) -> Thread:
        t = yield when
        team = staff.team
        assert team is not None
        if staff.active and sum(1 for s in team.consultants if self._available(s, t)) >= 3:
            staff.away_until = self.horizon + timedelta(days=1)
            self._hand_over(staff, t, "hand_over")
            t = yield t + timedelta(minutes=self.rng.randint(5, 30))
            self._staff_cmd("change_staff_role", staff, self.admin, t, role="sales_manager")
            team.consultants.remove(staff)
            team.managers.append(staff)
            staff.role, staff.promoted = "sales_manager", True
            self.records["staff promoted"] = staff.id

    def _available(self, s: _Staff, t: datetime) -> bool:
        return s.active and (s.away_until is None or s.away_until <= t)

    def _pick_consultant(self, team: _Team, t: datetime) -> _Staff:
        here = [s for s in team.consultants if self._available(s, t)]
        if here:
            return self.rng.choice(here)
        anywhere = [s for tm in self.teams for s in tm.consultants if self._available(s, t)]
        return self.rng.choice(anywhere)

    def _reassign(self, c: _Customer, to: _Staff, by: _Staff, t: datetime, reason: str) -> None:
        self._customer_cmd("reassign_customer", c, by, t, to_staff=to.id, reason=reason)
        assert c.owner is not None
        c.owner.customers.pop(c.idx, None)
        to.customers[c.idx] = c
        if to.role == "property_consultant":
            c.sales = to  # a customer manager takes over the relationship, not the selling
        c.owner = to
        self.counts["reassignments"] += 1
