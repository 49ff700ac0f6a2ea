"""The satisfaction view on both backends, against the answers the test itself recorded.

Surveys are answered over three months for customers of two teams; one customer is handed over
between two answers, another answers while in the public pool and again once claimed. The shares
of satisfied answers (overall 4 or 5) per consultant, team and month are counted here from what
was sent, and compared with the view's list and summary; the rebuilt view equals the incremental one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from projections import satisfaction
from projections.query import QueryError
from projections.satisfaction import ANSWER_LIST, SATISFACTION
from service.application import Acting, RealtyLedger
from tests.conftest import Team, register_team
from tests.integration.test_view_service_desk import all_rows, assert_rebuild_equals, build, ledger  # noqa: F401

D = timedelta(days=1)
DIMENSIONS = ("overall", "attitude", "professionalism", "responsiveness", "accuracy")


@dataclass
class Answer:
    survey_id: str
    customer: str
    consultant: str | None
    team: str
    at: datetime
    scores: dict[str, int]

    @property
    def month(self) -> str:
        return self.at.astimezone(UTC).strftime("%Y-%m")


@dataclass
class Surveys:
    ledger: RealtyLedger
    team: Team
    other: Team
    now: datetime
    answers: list[Answer] = field(default_factory=list)
    holder: dict[str, str | None] = field(default_factory=dict)
    team_of: dict[str, str] = field(default_factory=dict)

    def receive(self, who: Acting, of: Team, at: datetime, assigned_to: Acting | None = None) -> str:
        holder = assigned_to or who
        customer = self.ledger.receive_customer(
            who, channel="phone", reception_started_at=at, reception_ended_at=at + timedelta(minutes=25),
            assigned_to=str(holder.staff_id)).id
        self.holder[customer], self.team_of[customer] = str(holder.staff_id), of.name
        return customer

    def survey(self, who: Acting, customer: str, at: datetime, **scores: int) -> None:
        result = self.ledger.answer_survey(who, customer, scores=scores, comment="顾问很耐心", occurred_at=at)
        self.answers.append(Answer(str(result.entity_id), customer, self.holder[customer], self.team_of[customer],
                                   at, scores))


def scenario(ledger: RealtyLedger, between: Callable[[], None] = lambda: None) -> Surveys:  # noqa: F811
    team, other = register_team(ledger, "浦东一组"), register_team(ledger, "徐汇二组")
    now = datetime.now(UTC)
    s = Surveys(ledger, team, other, now)
    months = [now - 75 * D, now - 40 * D, now - 5 * D]  # 35 days apart: three calendar months

    a1 = s.receive(team.consultant, team, now - 80 * D)
    for at, overall in zip(months, (5, 4, 3), strict=True):
        s.survey(team.service, a1, at, overall=overall, attitude=5, accuracy=overall)
    a2 = s.receive(team.consultant, team, now - 80 * D)
    for at in months:
        s.survey(team.customer_manager if at == months[1] else team.service, a2, at, overall=5, professionalism=4)
    between()

    # Handed over from the second consultant to the consultant between the second and third answers.
    a3 = s.receive(team.second_consultant, team, now - 80 * D)
    s.survey(team.service, a3, months[0], overall=2, responsiveness=1)
    s.survey(team.service, a3, months[1], overall=4)
    ledger.reassign_customer(team.manager, a3, to_staff=team.id(team.consultant), reason="workload",
                             occurred_at=now - 30 * D)
    s.holder[a3] = team.id(team.consultant)
    s.survey(team.service, a3, months[2], overall=4, attitude=3)
    a4 = s.receive(team.manager, team, now - 45 * D, assigned_to=team.customer_manager)
    s.survey(team.service, a4, months[1], overall=5)
    s.survey(team.manager, a4, months[2], overall=1, attitude=1, professionalism=2, responsiveness=1, accuracy=2)
    between()

    # Left untouched: in the pool (held by no one) when it answers, then claimed by the customer manager.
    a5 = s.receive(team.second_consultant, team, now - 100 * D)
    ledger.return_to_pool(Acting.system(), a5, now=datetime.now(UTC))  # at -85 days
    s.holder[a5] = None
    s.survey(team.service, a5, months[0], overall=3)
    ledger.claim_from_pool(team.customer_manager, a5, occurred_at=now - 50 * D)
    s.holder[a5] = team.id(team.customer_manager)
    s.survey(team.service, a5, months[1], overall=5)
    between()

    # The other team: ten answers this month, nine of them satisfied — exactly the 90% target.
    for n in range(2):
        b = s.receive(other.consultant, other, now - 20 * D)
        for i in range(5):
            s.survey(other.service, b, months[2] + timedelta(minutes=i), overall=3 if (n, i) == (1, 4) else 4 + i % 2)
        between()
    return s


def counted(answers: list[Answer], key: Callable[[Answer], Any]) -> dict[Any, tuple[int, int]]:
    """(answers, satisfied answers) per key, counted from what was sent."""
    groups: dict[Any, tuple[int, int]] = {}
    for a in answers:
        count, satisfied = groups.get(key(a), (0, 0))
        groups[key(a)] = (count + 1, satisfied + (a.scores["overall"] >= 4))
    return groups


def assert_summary(answer: dict[str, Any], group_by: str, expected: dict[Any, tuple[int, int]]) -> None:
    got = {g[group_by]: g for g in answer["groups"]}
    assert set(got) == set(expected)
    for key, (count, satisfied) in expected.items():
        g = got[key]
        assert (g["count"], g["satisfied"]) == (count, satisfied), key
        assert g["share"] == pytest.approx(satisfied / count)
        assert g["target"] == 0.9
        assert g["meets_target"] is (Fraction(satisfied, count) >= Fraction(9, 10)), key
    total_count = sum(c for c, _ in expected.values())
    total_satisfied = sum(s for _, s in expected.values())
    assert (answer["total"]["count"], answer["total"]["satisfied"]) == (total_count, total_satisfied)


def test_each_answer_counts_for_the_holder_and_team_of_its_time_with_its_scores(ledger: RealtyLedger) -> None:  # noqa: F811
    s = scenario(ledger)
    build(ledger, SATISFACTION.name)
    rows = {r["survey_id"]: r for r in all_rows(ledger, ANSWER_LIST)}
    assert set(rows) == {a.survey_id for a in s.answers}
    for a in s.answers:
        row = rows[a.survey_id]
        assert (row["customer_id"], row["consultant"], row["team"], row["month"]) == (
            a.customer, a.consultant, a.team, a.month)
        assert row["answered_at"] == a.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert row["satisfied"] is (a.scores["overall"] in (4, 5))
        assert {d: row[d] for d in DIMENSIONS} == {d: a.scores.get(d) for d in DIMENSIONS}
    assert len({a.month for a in s.answers}) == 3
    assert any(a.consultant is None for a in s.answers)  # answered while in the pool


def test_the_summary_per_consultant_team_and_month_is_the_share_counted_from_the_answers(
    ledger: RealtyLedger,  # noqa: F811
) -> None:
    s = scenario(ledger)
    build(ledger, SATISFACTION.name)
    for group_by, key in (("consultant", lambda a: a.consultant), ("team", lambda a: a.team),
                          ("month", lambda a: a.month)):
        answer, _ = satisfaction.summarise(ledger.views, group_by=group_by)
        assert_summary(answer, group_by, counted(s.answers, key))
    # Exactly 90%: the other team meets the target; the first team does not.
    teams, _ = satisfaction.summarise(ledger.views, group_by="team")
    by_team = {g["team"]: g for g in teams["groups"]}
    assert (by_team["徐汇二组"]["count"], by_team["徐汇二组"]["satisfied"]) == (10, 9)
    assert by_team["徐汇二组"]["meets_target"] is True and by_team["浦东一组"]["meets_target"] is False

    # Filtered (the list's filters) and scoped (as a team role or a consultant would be).
    latest = max(a.month for a in s.answers)
    mine = s.team.id(s.team.consultant)
    answer, _ = satisfaction.summarise(ledger.views, group_by="consultant", filters={"month": latest},
                                       forced={"team": s.team.name})
    assert_summary(answer, "consultant", counted(
        [a for a in s.answers if a.month == latest and a.team == s.team.name], lambda a: a.consultant))
    answer, _ = satisfaction.summarise(ledger.views, group_by="month", forced={"consultant": mine})
    assert_summary(answer, "month", counted([a for a in s.answers if a.consultant == mine], lambda a: a.month))
    answer, _ = satisfaction.summarise(ledger.views, group_by="team", filters={"satisfied": "false"})
    assert_summary(answer, "team", counted([a for a in s.answers if a.scores["overall"] < 4], lambda a: a.team))


def test_a_summary_refuses_an_unknown_grouping_or_filter(ledger: RealtyLedger) -> None:  # noqa: F811
    with pytest.raises(QueryError) as refused:
        satisfaction.summarise(ledger.views, group_by="customer_id")
    assert refused.value.code == "invalid_group_by"
    with pytest.raises(QueryError) as refused:
        satisfaction.summarise(ledger.views, group_by="team", filters={"comment": "x"})
    assert refused.value.code == "unknown_filter"


def test_a_rebuilt_satisfaction_view_equals_the_one_built_batch_by_batch_row_for_row(
    ledger: RealtyLedger,  # noqa: F811
) -> None:
    built = build(ledger, SATISFACTION.name)
    s = scenario(ledger, between=built.catch_up)
    assert len(all_rows(ledger, ANSWER_LIST)) == len(s.answers)
    assert_rebuild_equals(ledger, built, SATISFACTION)
    answer, _ = satisfaction.summarise(ledger.views, group_by="consultant")
    assert_summary(answer, "consultant", counted(s.answers, lambda a: a.consultant))
