"""Staff performance (chapter 6, 考核与激励): what each staff member did, month by month.

One row per staff member per month with the counts their assessment looks at, and one row per
staff member with their role, team, status and training and assessment record. Who a count
belongs to:

- receptions: the staff member a received customer was assigned to;
- showings: the staff member who conducted the showing — the event's ``on_behalf_of`` when it was
  recorded for someone, else its actor (the work is theirs, whoever holds the customer);
- conversions (a deal signed), complaints filed and surveys answered: the customer's holder when
  it happened (the holder answers for their customers' outcomes); a customer in the public pool
  has no holder, and these then count for no one;
- first responses: the staff member who answered the request (``on_behalf_of``, else the actor),
  with the minutes from the request being raised to its answer;
- trainings and assessments: the staff member they were recorded on.

A row's month is the month (UTC) of the event's business time; a row's team and role are the
staff member's as of the latest event counted in it. Means are stored with their sums and counts,
so a summary over several months adds sums and counts and divides once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain import customer_events as ev
from domain.customer_values import DealMilestone
from domain.rules import SATISFIED_SCORES
from domain.staff import StaffMember
from projections.pipeline import CLAIMED_FROM_POOL, RETURNED_TO_POOL
from projections.projection import Projection, Rows, Table, month, parse_ts, ts
from projections.query import Filter, ListSpec, ViewReader, check_group, where_clause

STAFF = "staff"
MONTHLY = "monthly"
CUSTOMERS = "customers"  # who holds each customer now (ids only), to credit their outcomes
REQUESTS = "requests"  # open requests: when they were raised, for the first-response time

GROUPS = ("staff_id", "team", "month")

COUNTERS = ("receptions", "showings", "conversions", "complaints", "surveys", "satisfied", "responses",
            "trainings")


def monthly_key(staff_id: str, month_: str) -> str:
    return f"{staff_id}|{month_}"


def _doer(event: Any) -> str:
    return str(event.on_behalf_of or event.actor_id)


class StaffPerformance(Projection):
    name = "staff_performance"
    version = 1
    tables = (
        Table(STAFF, (
            ("staff_id", "text"), ("role", "text"), ("team", "text"), ("active", "bool"),
            ("registered_at", "text"), ("deactivated_at", "text"), ("trainings", "int"),
            ("training_score_total", "int"), ("mean_training_score", "real"), ("last_assessment_period", "text"),
            ("last_assessment_score", "int"), ("last_assessment_at", "text"), ("version", "int"),
        ), key="staff_id", indexes=(("team", "role"),)),
        Table(MONTHLY, (
            ("row_id", "text"), ("staff_id", "text"), ("month", "text"), ("team", "text"), ("role", "text"),
            ("receptions", "int"), ("showings", "int"), ("conversions", "int"), ("complaints", "int"),
            ("surveys", "int"), ("satisfied", "int"), ("satisfaction_rate", "real"), ("responses", "int"),
            ("response_minutes_total", "real"), ("mean_response_minutes", "real"), ("trainings", "int"),
            ("training_score_total", "int"), ("mean_training_score", "real"), ("assessment_period", "text"),
            ("assessment_score", "int"),
        ), key="row_id", indexes=(("team", "month"), ("staff_id", "month"), ("month",))),
        Table(CUSTOMERS, (("customer_id", "text"), ("holder", "text"), ("team", "text")), key="customer_id"),
        Table(REQUESTS, (("request_id", "text"), ("customer_id", "text"), ("raised_at", "text")),
              key="request_id"),
    )
    topics = frozenset(cls.TOPIC for cls in (  # type: ignore[attr-defined]
        StaffMember.Registered, StaffMember.RoleChanged, StaffMember.TrainingCompleted,
        StaffMember.AssessmentRecorded, StaffMember.Deactivated,
        ev.Received, ev.ShowingConducted, ev.DealMilestoneReached, ev.ComplaintFiled, ev.SurveyAnswered,
        ev.RequestRaised, ev.RequestResponded, ev.Reassigned,
    )) | {RETURNED_TO_POOL, CLAIMED_FROM_POOL}

    _STAFF_TOPICS = frozenset(t for t in topics if t.startswith("realty.staff."))

    def keys(self, event: Any) -> list[tuple[str, str]]:
        # The rows a holder-based count needs are known only once the customer's row is read:
        # those are fetched on first use (once per batch).
        topic = type(event).TOPIC
        month_ = month(event.occurred_at)
        if topic in self._STAFF_TOPICS:
            staff_id = str(event.originator_id)
            return [(STAFF, staff_id), (MONTHLY, monthly_key(staff_id, month_))]
        wanted = [(CUSTOMERS, str(event.originator_id))]
        doer = None
        if topic == ev.Received.TOPIC:
            doer = str(event.assigned_to)
        elif topic in (ev.ShowingConducted.TOPIC, ev.RequestResponded.TOPIC):
            doer = _doer(event)
        if doer is not None:
            wanted += [(STAFF, doer), (MONTHLY, monthly_key(doer, month_))]
        if topic == ev.RequestResponded.TOPIC:
            wanted.append((REQUESTS, str(event.request_id)))
        return wanted

    def creates(self, event: Any) -> list[tuple[str, str]]:
        topic = type(event).TOPIC
        if topic == StaffMember.Registered.TOPIC:
            return [(STAFF, str(event.originator_id))]
        if topic == ev.Received.TOPIC:
            return [(CUSTOMERS, str(event.originator_id))]
        if topic == ev.RequestRaised.TOPIC:
            return [(REQUESTS, str(event.request_id))]
        return []

    def handle(self, event: Any, rows: Rows) -> None:
        topic = type(event).TOPIC
        if topic in self._STAFF_TOPICS:
            self._staff_event(topic, event, rows)
        else:
            self._customer_event(topic, event, rows)

    # --- staff records ---------------------------------------------------------------------

    def _staff_event(self, topic: str, event: Any, rows: Rows) -> None:
        key = str(event.originator_id)
        when = ts(event.occurred_at)
        if topic == StaffMember.Registered.TOPIC:
            rows.put(STAFF, {
                "staff_id": key, "role": event.role, "team": event.team, "active": True, "registered_at": when,
                "deactivated_at": None, "trainings": 0, "training_score_total": 0, "mean_training_score": None,
                "last_assessment_period": None, "last_assessment_score": None, "last_assessment_at": None,
                "version": event.originator_version,
            })
            return
        staff = rows.get(STAFF, key)
        if staff is None:
            raise LookupError(f"staff member {key} has no row (their Registered event was never seen)")
        if topic == StaffMember.RoleChanged.TOPIC:
            staff["role"], staff["team"] = event.new_role, event.team
        elif topic == StaffMember.Deactivated.TOPIC:
            staff["active"], staff["deactivated_at"] = False, when
        elif topic == StaffMember.TrainingCompleted.TOPIC:
            staff["trainings"] += 1
            staff["training_score_total"] += event.score
            staff["mean_training_score"] = staff["training_score_total"] / staff["trainings"]
            row = self._monthly(rows, key, event)
            row["trainings"] += 1
            row["training_score_total"] += event.score
            row["mean_training_score"] = row["training_score_total"] / row["trainings"]
        elif topic == StaffMember.AssessmentRecorded.TOPIC:
            staff["last_assessment_period"], staff["last_assessment_score"] = event.period, event.score
            staff["last_assessment_at"] = when
            row = self._monthly(rows, key, event)
            row["assessment_period"], row["assessment_score"] = event.period, event.score
        staff["version"] = event.originator_version
        rows.changed(STAFF, staff)

    # --- customer records ------------------------------------------------------------------

    def _customer_event(self, topic: str, event: Any, rows: Rows) -> None:
        key = str(event.originator_id)
        if topic == ev.Received.TOPIC:
            rows.put(CUSTOMERS, {"customer_id": key, "holder": str(event.assigned_to), "team": event.team})
            self._monthly(rows, str(event.assigned_to), event)["receptions"] += 1
            return
        customer = rows.get(CUSTOMERS, key)
        if customer is None:
            raise LookupError(f"customer {key} has no row (their Received event was never seen)")
        holder = customer["holder"]
        if topic == ev.Reassigned.TOPIC:
            customer["holder"], customer["team"] = str(event.to_staff), event.team
            rows.changed(CUSTOMERS, customer)
        elif topic == RETURNED_TO_POOL:
            customer["holder"] = None
            rows.changed(CUSTOMERS, customer)
        elif topic == CLAIMED_FROM_POOL:
            customer["holder"] = str(event.claimed_by)
            rows.changed(CUSTOMERS, customer)
        elif topic == ev.ShowingConducted.TOPIC:
            self._monthly(rows, _doer(event), event)["showings"] += 1
        elif topic == ev.DealMilestoneReached.TOPIC:
            if event.milestone == DealMilestone.SIGNED and holder is not None:
                self._monthly(rows, holder, event)["conversions"] += 1
        elif topic == ev.ComplaintFiled.TOPIC:
            if holder is not None:
                self._monthly(rows, holder, event)["complaints"] += 1
        elif topic == ev.SurveyAnswered.TOPIC:
            if holder is not None:
                row = self._monthly(rows, holder, event)
                row["surveys"] += 1
                row["satisfied"] += 1 if event.scores.get("overall") in SATISFIED_SCORES else 0
                row["satisfaction_rate"] = row["satisfied"] / row["surveys"]
        elif topic == ev.RequestRaised.TOPIC:
            rows.put(REQUESTS, {"request_id": str(event.request_id), "customer_id": key,
                                "raised_at": ts(event.occurred_at)})
        elif topic == ev.RequestResponded.TOPIC:
            request = rows.get(REQUESTS, str(event.request_id))
            if request is None:
                raise LookupError(f"request {event.request_id} has no row (its RequestRaised was never seen)")
            raised = parse_ts(request["raised_at"])
            assert raised is not None
            minutes = (event.occurred_at - raised).total_seconds() / 60
            row = self._monthly(rows, _doer(event), event)
            row["responses"] += 1
            row["response_minutes_total"] += minutes
            row["mean_response_minutes"] = row["response_minutes_total"] / row["responses"]
            rows.delete(REQUESTS, str(event.request_id))  # answered once: nothing more to time

    def _monthly(self, rows: Rows, staff_id: str, event: Any) -> dict[str, Any]:
        """The staff member's row for the event's month (created empty), marked changed; its team and
        role follow the staff member's record as it is now."""
        month_ = month(event.occurred_at)
        key = monthly_key(staff_id, month_)
        staff = rows.get(STAFF, staff_id)
        row = rows.get(MONTHLY, key)
        if row is None:
            row = rows.put(MONTHLY, {
                "row_id": key, "staff_id": staff_id, "month": month_, "team": None, "role": None,
                **{c: 0 for c in COUNTERS}, "satisfaction_rate": None, "response_minutes_total": 0.0,
                "mean_response_minutes": None, "training_score_total": 0, "mean_training_score": None,
                "assessment_period": None, "assessment_score": None,
            })
        else:
            rows.changed(MONTHLY, row)
        if staff is not None:
            row["team"], row["role"] = staff["team"], staff["role"]
        return row


STAFF_PERFORMANCE = StaffPerformance()

MONTHLY_ROWS = ListSpec(
    STAFF_PERFORMANCE, MONTHLY,
    filters={
        "staff_id": Filter("staff_id"), "team": Filter("team"), "role": Filter("role"), "month": Filter("month"),
        "month_from": Filter("month", "text", ">="), "month_to": Filter("month", "text", "<="),
    },
    sorts={"month": "month", "staff_id": "staff_id", "receptions": "receptions", "showings": "showings",
           "conversions": "conversions", "complaints": "complaints", "satisfaction_rate": "satisfaction_rate",
           "mean_response_minutes": "mean_response_minutes"},
    default_sort="-month",
    numeric_sorts=frozenset({"receptions", "showings", "conversions", "complaints", "satisfaction_rate",
                             "mean_response_minutes"}),
)

STAFF_ROWS = ListSpec(
    STAFF_PERFORMANCE, STAFF,
    filters={"team": Filter("team"), "role": Filter("role"), "active": Filter("active", "bool"),
             "staff_id": Filter("staff_id")},
    sorts={"registered_at": "registered_at", "mean_training_score": "mean_training_score",
           "last_assessment_score": "last_assessment_score", "team": "team"},
    default_sort="registered_at",
    numeric_sorts=frozenset({"mean_training_score", "last_assessment_score"}),
)


def figures(sums: Mapping[str, Any]) -> dict[str, Any]:
    """The counters of a group of monthly rows, and the means and rates they make."""
    out = {c: int(sums.get(c) or 0) for c in COUNTERS}
    minutes = float(sums.get("response_minutes_total") or 0)
    score = int(sums.get("training_score_total") or 0)
    out["satisfaction_rate"] = out["satisfied"] / out["surveys"] if out["surveys"] else None
    out["mean_response_minutes"] = minutes / out["responses"] if out["responses"] else None
    out["mean_training_score"] = score / out["trainings"] if out["trainings"] else None
    return out


def summarise(views: ViewReader, *, group_by: str, filters: Mapping[str, Any] | None = None,
              forced: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """The monthly rows' counters added up per ``group_by`` (staff_id, team or month) and in total;
    means and rates are divided once, from the added sums and counts."""
    column = check_group(group_by, GROUPS)
    where, params = where_clause(MONTHLY_ROWS, filters or {}, forced)
    summed = (*COUNTERS, "response_minutes_total", "training_score_total")
    rows, view = views.query(
        STAFF_PERFORMANCE.name,
        f"SELECT {column}, COUNT(*), {', '.join(f'SUM({c})' for c in summed)} FROM {{{MONTHLY}}} "  # noqa: S608
        f"{where} GROUP BY {column}", params)
    groups = sorted(rows, key=lambda r: (r[0] is None, r[0] or ""))
    total: dict[str, float] = {}
    answer_groups = []
    for key, months, *sums in groups:
        by_name = dict(zip(summed, sums, strict=True))
        for name, value in by_name.items():
            total[name] = total.get(name, 0) + (value or 0)
        answer_groups.append({group_by: key, "rows": int(months), **figures(by_name)})
    answer = {"group_by": group_by, "groups": answer_groups,
              "total": {"rows": sum(g["rows"] for g in answer_groups), **figures(total)}}
    return answer, view
