"""Staff members: their roles, training, assessment and incentives (ch. 6), and deactivation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import InvalidValue, NotPermitted, SelfAssessment, StaffAlreadyDeactivated, StaffDeactivated
from domain.identity import STAFF_ROLES, Actor, Role
from domain.staff import StaffMember
from tests.unit.builders import (
    actor,
    ago,
    deactivated_staff,
    manager,
    recorded,
    refused,
    refused_creation,
    registered_staff,
)


@pytest.mark.parametrize("role", sorted(r.value for r in STAFF_ROLES))
def test_registering_a_staff_member_records_their_role_and_team(role: str) -> None:
    by = actor(Role.ADMINISTRATOR)
    at = ago(days=10)

    staff = StaffMember.register(name=" 王建国 ", role=role, team="浦东一组", actor=by, occurred_at=at)

    event = recorded(staff, StaffMember.Registered, by, at)
    assert (event.name, event.role, event.team) == ("王建国", role, "浦东一组")
    assert (staff.name, staff.role, staff.team) == ("王建国", role, "浦东一组")
    assert staff.role_enum is Role(role)
    assert staff.active
    assert staff.trainings == [] and staff.assessments == [] and staff.incentives == []


@pytest.mark.parametrize("role", ["system", "ceo", ""])
def test_a_staff_member_cannot_hold_the_system_role_or_an_unknown_one(role: str) -> None:
    with refused_creation(InvalidValue, "invalid_value") as excinfo:
        StaffMember.register(name="某人", role=role, team="浦东一组", actor=Actor.system())
    assert excinfo.value.context["field"] == "role"


@pytest.mark.parametrize(("field", "name", "team"), [("name", "", "浦东一组"), ("team", "某人", " ")])
def test_a_staff_member_needs_a_name_and_a_team(field: str, name: str, team: str) -> None:
    with refused_creation(InvalidValue, "invalid_value") as excinfo:
        StaffMember.register(name=name, role="archivist", team=team, actor=Actor.system())
    assert excinfo.value.context["field"] == field


@pytest.mark.parametrize("role", [Role.PROPERTY_CONSULTANT, Role.CUSTOMER_SERVICE, Role.COMPLIANCE_OFFICER])
def test_only_sales_managers_and_administrators_register_staff(role: Role) -> None:
    with refused_creation(NotPermitted, "not_permitted") as excinfo:
        StaffMember.register(name="某人", role="archivist", team="浦东一组", actor=actor(role))
    assert excinfo.value.context == {"role": role.value, "duty": "manage staff"}


def test_a_sales_manager_may_register_staff() -> None:
    staff = StaffMember.register(name="某人", role="property_consultant", team="浦东一组", actor=manager())
    assert staff.active


# --- acting identity ------------------------------------------------------------------------------


def test_an_active_staff_member_acts_with_their_own_id_and_role() -> None:
    staff = registered_staff("customer_manager")
    boss = uuid.uuid4()

    acting = staff.acting_as("req-42", on_behalf_of=boss)

    assert acting == Actor(id=staff.id, role=Role.CUSTOMER_MANAGER, on_behalf_of=boss, correlation_id="req-42")


def test_a_deactivated_staff_member_can_no_longer_act() -> None:
    staff = deactivated_staff()
    with refused(staff, StaffDeactivated, "staff_deactivated") as excinfo:
        staff.acting_as("req-43")
    assert excinfo.value.context == {"staff_id": str(staff.id)}


# --- role changes, training, assessment, incentives -----------------------------------------------


def test_changing_a_role_records_the_old_and_new_role() -> None:
    staff = registered_staff("property_consultant")
    by = manager()
    at = ago(hours=1)

    staff.change_role(role="customer_manager", team="浦东二组", actor=by, occurred_at=at)

    event = recorded(staff, StaffMember.RoleChanged, by, at)
    assert (event.old_role, event.new_role, event.team) == ("property_consultant", "customer_manager", "浦东二组")
    assert (staff.role, staff.team) == ("customer_manager", "浦东二组")
    assert staff.acting_as("req").role is Role.CUSTOMER_MANAGER


def test_a_team_move_alone_is_a_role_change_that_keeps_the_role() -> None:
    staff = registered_staff("property_consultant")
    staff.change_role(role="property_consultant", team="静安一组", actor=manager())
    assert (staff.role, staff.team) == ("property_consultant", "静安一组")


@pytest.mark.parametrize(
    ("role", "team"),
    [("property_consultant", None), ("property_consultant", "浦东一组"), ("system", None), ("ceo", None)],
    ids=["unchanged", "unchanged-team-named", "system", "unknown"],
)
def test_a_role_change_must_change_something_to_a_staff_role(role: str, team: str | None) -> None:
    staff = registered_staff("property_consultant")
    with refused(staff, InvalidValue, "invalid_value") as excinfo:
        staff.change_role(role=role, team=team, actor=manager())
    assert excinfo.value.context["field"] == "role"
    assert staff.role == "property_consultant"


def test_completing_a_training_records_the_course_and_score() -> None:
    staff = registered_staff()
    by = manager()
    at = ago(hours=1)

    staff.complete_training(course="按揭政策 2024", score=88, actor=by, occurred_at=at)

    event = recorded(staff, StaffMember.TrainingCompleted, by, at)
    assert (event.course, event.score) == ("按揭政策 2024", 88)
    assert staff.trainings == [{"course": "按揭政策 2024", "score": 88, "at": at}]


def test_an_assessment_records_the_period_score_and_assessor() -> None:
    staff = registered_staff()
    by = manager()
    at = ago(hours=1)

    staff.record_assessment(period="2024-Q3", score=92, actor=by, occurred_at=at)

    event = recorded(staff, StaffMember.AssessmentRecorded, by, at)
    assert (event.period, event.score) == ("2024-Q3", 92)
    assert staff.assessments == [{"period": "2024-Q3", "score": 92, "by": by.id}]


def test_nobody_assesses_themselves() -> None:
    staff = registered_staff("sales_manager")
    myself = staff.acting_as("req")
    with refused(staff, SelfAssessment, "self_assessment") as excinfo:
        staff.record_assessment(period="2024-Q3", score=100, actor=myself)
    assert excinfo.value.context["staff_id"] == str(staff.id)


def test_awarding_an_incentive_records_kind_amount_and_reason() -> None:
    staff = registered_staff()
    by = actor(Role.ADMINISTRATOR)
    at = ago(hours=1)

    staff.award_incentive(kind="季度奖", amount=5_000, reason="满意度 96%", actor=by, occurred_at=at)

    event = recorded(staff, StaffMember.IncentiveAwarded, by, at)
    assert (event.kind, event.amount, event.reason) == ("季度奖", 5_000, "满意度 96%")
    assert staff.incentives == [{"kind": "季度奖", "amount": 5_000, "reason": "满意度 96%"}]


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (lambda s, a: s.complete_training(course="课程", score=101, actor=a), "score"),
        (lambda s, a: s.complete_training(course="", score=80, actor=a), "course"),
        (lambda s, a: s.record_assessment(period="2024-Q3", score=-1, actor=a), "score"),
        (lambda s, a: s.record_assessment(period="", score=80, actor=a), "period"),
        (lambda s, a: s.award_incentive(kind="奖金", amount=-1, reason="…", actor=a), "amount"),
        (lambda s, a: s.award_incentive(kind="奖金", amount=10**8 + 1, reason="…", actor=a), "amount"),
        (lambda s, a: s.award_incentive(kind="", amount=100, reason="…", actor=a), "kind"),
        (lambda s, a: s.deactivate(reason="", actor=a), "reason"),
    ],
    ids=[
        "training-score-above-100",
        "training-without-course",
        "negative-assessment",
        "assessment-without-period",
        "negative-incentive",
        "huge-incentive",
        "incentive-without-kind",
        "deactivation-without-reason",
    ],
)
def test_malformed_staff_records_are_refused(command: Callable[[StaffMember, Actor], Any], field: str) -> None:
    staff = registered_staff()
    with refused(staff, InvalidValue, "invalid_value") as excinfo:
        command(staff, manager())
    assert excinfo.value.context["field"] == field
    assert staff.active


# --- deactivation ---------------------------------------------------------------------------


def test_deactivating_a_staff_member_records_why() -> None:
    staff = registered_staff()
    by = manager()
    at = ago(hours=1)

    staff.deactivate(reason="离职", actor=by, occurred_at=at)

    event = recorded(staff, StaffMember.Deactivated, by, at)
    assert event.reason == "离职"
    assert not staff.active


def test_a_staff_member_is_deactivated_only_once() -> None:
    staff = deactivated_staff()
    with refused(staff, StaffAlreadyDeactivated, "staff_already_deactivated") as excinfo:
        staff.deactivate(reason="再次离职", actor=manager())
    assert excinfo.value.context == {"staff_id": str(staff.id)}


_STAFF_COMMANDS: dict[str, Callable[[StaffMember, Actor], Any]] = {
    "change_role": lambda s, a: s.change_role(role="customer_manager", team=None, actor=a),
    "complete_training": lambda s, a: s.complete_training(course="课程", score=80, actor=a),
    "record_assessment": lambda s, a: s.record_assessment(period="2024-Q3", score=80, actor=a),
    "award_incentive": lambda s, a: s.award_incentive(kind="奖金", amount=100, reason="…", actor=a),
}


@pytest.mark.parametrize("command", sorted(_STAFF_COMMANDS))
def test_a_deactivated_staff_members_record_is_closed(command: str) -> None:
    staff = deactivated_staff()
    with refused(staff, StaffDeactivated, "staff_deactivated"):
        _STAFF_COMMANDS[command](staff, manager())


@pytest.mark.parametrize("command", [*sorted(_STAFF_COMMANDS), "deactivate"])
def test_a_consultant_cannot_manage_staff(command: str) -> None:
    staff = registered_staff()
    calls = {**_STAFF_COMMANDS, "deactivate": lambda s, a: s.deactivate(reason="…", actor=a)}
    with refused(staff, NotPermitted, "not_permitted"):
        calls[command](staff, actor(Role.PROPERTY_CONSULTANT))
    assert staff.active


def test_replaying_a_staff_members_events_rebuilds_the_same_record() -> None:
    staff = registered_staff()
    for command in _STAFF_COMMANDS.values():
        command(staff, manager())
    staff.deactivate(reason="离职", actor=manager())

    rebuilt = None
    for event in staff.pending_events:
        rebuilt = event.mutate(rebuilt)

    assert isinstance(rebuilt, StaffMember)
    assert {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"} == {
        k: v for k, v in vars(staff).items() if k != "_pending_events"
    }
