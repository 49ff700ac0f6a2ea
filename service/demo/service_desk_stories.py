"""The service desk's part of a customer's story: surveys, requests, complaints and corrections.

Requests are answered within the 24 hours of the service standard, mostly; complaints are
acknowledged, escalated when serious, and resolved within 72 hours, except those planned to be
late or to stay open. Contact details are corrected by a new event that says why. Requests,
complaints and corrections run as threads of their own beside the customer's main story, and
take subjects that fit the customer's stage at that moment; surveys are answered where the main
story calls for one (after a handover, a loss over service, now and then during matching).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.rules import COMPLAINT_RESOLUTION_WINDOW, REQUEST_RESPONSE_WINDOW
from service.demo import people
from service.demo.notes import _Customer
from service.demo.scheduler import Step, Thread
from service.demo.vocabulary import (
    BAD_COMMENTS,
    COMPLAINTS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    GOOD_COMMENTS,
    REQUESTS,
    RESOLUTIONS,
)
from service.demo.world import DemoWorld


class ServiceDeskStories(DemoWorld):
    def _survey(self, c: _Customer, t: datetime, *, low: bool = False) -> None:
        """Satisfaction survey (满意度调查), by the team's customer-service specialist."""
        rng = self.rng
        if low:
            overall = rng.choice((1, 2, 2, 3))
        else:
            overall = self._pick(((5, 55), (4, 36), (3, 5), (2, 3), (1, 1)))
        scores = {"overall": overall}
        dims = ("attitude", "professionalism", "responsiveness", "accuracy")
        for dim in dims if rng.random() < 0.7 else rng.sample(dims, 2):
            scores[dim] = max(1, min(5, overall + rng.choice((-1, 0, 0, 0, 1))))
        comment = rng.choice(GOOD_COMMENTS) if overall >= 4 else rng.choice(BAD_COMMENTS)
        self._customer_cmd("answer_survey", c, rng.choice(c.team.services), t, scores=scores, comment=comment)
        self.surveys.append(overall)

    def _service_survey(self, c: _Customer, t: datetime) -> Step[datetime]:
        t = yield self._days(t, 1, 7)
        self._survey(c, t)
        return t

    def _requests(self, c: _Customer, start: datetime, count: int) -> Thread:
        """Requests get a response within 24 hours (服务标准), mostly."""
        rng = self.rng
        t = yield start
        for _ in range(count):
            subject, response = rng.choice(REQUESTS[c.stage])
            raiser = rng.choice(c.team.services)
            request = self._customer_cmd("raise_request", c, raiser, t, subject=subject).entity_id
            raised = t
            self.requests.append((raised, None))
            slot = len(self.requests) - 1
            late = rng.random() < 0.1
            t = yield (self._hours(t, 26, 60) if late else self._hours(t, 0.3, 8))
            responder = c.sales if c.sales is not None and rng.random() < 0.3 else rng.choice(c.team.services)
            self._customer_cmd("respond_to_request", c, responder, t, request_id=request, response=response)
            self.requests[slot] = (raised, t)
            if t - raised > REQUEST_RESPONSE_WINDOW:
                c.tags.append("late request")
            t = yield self._days(t, 5, 40)

    def _complaint(self, c: _Customer, start: datetime, plan: str) -> Thread:
        """Complaints are handled within 72 hours (服务标准): acknowledge, maybe escalate, resolve."""
        rng = self.rng
        t = yield start
        category, description = rng.choice(COMPLAINTS[c.stage])
        severity = self._pick((("low", 40), ("medium", 40), ("high", 20)))
        service = rng.choice(c.team.services)
        complaint = self._customer_cmd("file_complaint", c, service, t, category=category, severity=severity,
                                       description=description).entity_id
        filed = t
        self.complaints.append((filed, None))
        slot = len(self.complaints) - 1
        t = yield self._hours(t, 0.5, 6)
        self._customer_cmd("acknowledge_complaint", c, service, t, complaint_id=complaint)
        resolver = service
        if severity == "high" or rng.random() < 0.2:
            t = yield self._hours(t, 1, 12)
            resolver = c.team.managers[0]
            self._customer_cmd("escalate_complaint", c, service, t, complaint_id=complaint, escalated_to=resolver.id,
                               reason="涉及金额或服务质量，需销售经理协调处理" if severity == "high" else "客户要求主管处理")
        if plan == "open":
            c.tags.append("open complaint")
            return
        window = (75, 150) if plan == "late" else (2, 55)  # office hours add at most 14 hours
        t = yield max(t + timedelta(minutes=30), self._hours(filed, *window))
        self._customer_cmd("resolve_complaint", c, resolver, t, complaint_id=complaint,
                           resolution=rng.choice(RESOLUTIONS))
        self.complaints[slot] = (filed, t)
        if t - filed > COMPLAINT_RESOLUTION_WINDOW:
            c.tags.append("late complaint")

    def _correction(self, c: _Customer, start: datetime) -> Thread:
        """Contact details are corrected by a new event that says why (manual 7.4)."""
        rng = self.rng
        t = yield start
        kind = rng.choice(("phone", "name", "id_number"))
        staff = rng.choice(c.team.services)
        if kind == "phone":
            c.phone = people.mobile(self.rng)
            self._customer_cmd("correct_contact_details", c, staff, t, reason="客户更换手机号码", phone=c.phone)
        elif kind == "name":
            c.name = c.name[0] + self.rng.choice(GIVEN_MALE if c.male else GIVEN_FEMALE)
            self._customer_cmd("correct_contact_details", c, staff, t, reason="姓名录入有误，按身份证更正",
                               name=c.name)
        else:
            reason = "身份证号录入有误，核对原件后更正" if c.id_number else "客户补充提供身份证号"
            c.id_number = people.id_number(self.rng, c.male, self.today.year)
            self._customer_cmd("correct_contact_details", c, staff, t, reason=reason, id_number=c.id_number)
        c.tags.append("details corrected")
