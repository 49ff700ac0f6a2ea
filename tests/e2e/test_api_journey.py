"""The manual's whole journey over HTTP, each step as the role that would do it.

Runs through FastAPI's test client on SQLite and PostgreSQL, and once through a real uvicorn on a
port (the ``served`` fixture of test_serve.py, which is also what ``make run`` starts).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastapi.testclient import TestClient

from tests.e2e.test_api import api, tokens  # noqa: F401 - fixtures
from tests.e2e.test_serve import access_log_lines, demo_tokens, served, server_output  # noqa: F401 - fixture


class Client(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...
    def post(self, url: str, **kwargs: Any) -> Any: ...


def at(days: float = 0, minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=days, minutes=minutes)).isoformat()


def walk_the_journey(client: Client, consultant: str, manager: str, service: str, customer_manager: str,
                     base: str = "") -> dict[str, Any]:
    """Reception → … → survey, plus a complaint. Returns the final customer, deal and listing."""

    def call(token: str, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        response = client.post(base + path, headers=headers, json=body or {})
        assert response.status_code == expect, (path, response.text)
        return dict(response.json())

    customer = call(consultant, "/customers", {"channel": "walk_in", "reception_started_at": at(minutes=-25),
                                               "reception_ended_at": at(minutes=-3)}, 201)["id"]
    c = f"/customers/{customer}"
    call(consultant, f"{c}/personal-details", {"name": "赵雅琴", "phone": "13800138000",
                                               "id_number": "11010519491231002X"})
    call(consultant, f"{c}/needs", {"budget_min": 4_000_000, "budget_max": 6_000_000, "area_min": 70,
                                    "area_max": 100, "rooms": 2, "districts": ["浦东"], "purpose": "home",
                                    "payment_method": "provident_fund", "qualification": "qualified"})
    listing = call(consultant, "/listings", {"district": "浦东", "address": "锦绣路 1888 弄 8 号 1201 室",
                                             "area": 89.5, "rooms": 2, "price": 5_200_000,
                                             "property_right_status": "clear", "tenure_years": 70,
                                             "mortgage_eligible": True}, 201)["id"]
    call(consultant, f"{c}/shortlist", {"matches": [{"listing_id": listing, "score": 92}]})
    showing = call(consultant, f"{c}/showings", {"listing_id": listing, "scheduled_for": at(days=1)},
                   201)["entity_id"]
    call(consultant, f"{c}/showings/{showing}/conduct",
         {"topics_explained": ["property_rights", "tenure", "mortgage_policy"]})
    call(consultant, f"{c}/showings/{showing}/feedback", {"interest": 5, "objections": ["楼层偏低"]})

    deal = call(consultant, "/deals", {"customer_id": customer, "listing_id": listing, "price": 5_200_000,
                                       "terms": "首付三成，公积金贷款"}, 201)["id"]
    d = f"/deals/{deal}"
    call(consultant, f"{d}/submission")
    call(manager, f"{d}/approval", {"note": "资料齐全"})  # review by another person
    call(consultant, f"{d}/signing", {"contract_number": "HT-2026-0001"})
    call(consultant, f"{d}/required-documents", {"kinds": ["id_card", "loan_approval"]})
    for kind in ("id_card", "loan_approval"):
        call(consultant, f"{d}/documents/{kind}/receipt")
        call(consultant, f"{d}/documents/{kind}/verification")
    call(consultant, f"{d}/payments", {"kind": "down_payment", "amount": 1_560_000,
                                       "payer_account": "6222020200112233445"}, 201)
    call(consultant, f"{d}/payments", {"kind": "loan_disbursement", "amount": 3_640_000,
                                       "payer_account": "6222020200112233445"}, 201)
    call(consultant, f"{d}/settlement")
    call(consultant, f"{d}/handover", {"note": "钥匙两把"})

    # After the handover the customer manager maintains the relationship (客户经理).
    customer_manager_id = str(uuid.UUID(hex=customer_manager.split("_")[1]))
    call(manager, f"{c}/reassignment", {"to_staff": customer_manager_id, "reason": "hand_over"})
    visit = call(customer_manager, f"{c}/return-visits", {"due_at": at(days=7), "purpose": "入住回访"},
                 201)["entity_id"]
    call(customer_manager, f"{c}/return-visits/{visit}/completion", {"summary": "入住顺利"})
    call(service, f"{c}/surveys", {"scores": {"overall": 5, "attitude": 5}, "comment": "满意"}, 201)
    complaint = call(service, f"{c}/complaints", {"category": "物业", "severity": "medium",
                                                  "description": "交房后水表读数有误"}, 201)["entity_id"]
    call(service, f"{c}/complaints/{complaint}/acknowledgement")
    call(manager, f"{c}/complaints/{complaint}/resolution", {"resolution": "已联系物业更正"})

    def read(path: str) -> dict[str, Any]:
        response = client.get(base + path, headers={"Authorization": f"Bearer {manager}"})
        assert response.status_code == 200, response.text
        return dict(response.json())

    return {"customer": read(c), "deal": read(d), "listing": read(f"/listings/{listing}")}


def assert_journey_recorded(final: dict[str, Any]) -> None:
    customer, deal, listing = final["customer"], final["deal"], final["listing"]
    assert customer["stage"] == "after_sales"
    assert customer["assigned_to"] != deal["drafted_by"]  # handed to the customer manager
    assert deal["status"] == "handed_over" and deal["paid"] == 5_200_000
    assert listing["status"] == "sold"
    complaint = next(iter(customer["complaints"].values()))
    assert complaint["status"] == "resolved"
    assert [s["scores"]["overall"] for s in customer["surveys"].values()] == [5]
    assert next(iter(customer["return_visits"].values()))["summary"] == "入住顺利"


def test_the_whole_journey_over_http(api: TestClient, tokens: dict[str, str]) -> None:  # noqa: F811
    final = walk_the_journey(api, tokens["consultant"], tokens["manager"], tokens["service"],
                             tokens["customer_manager"])
    assert_journey_recorded(final)


def test_the_whole_journey_through_a_real_uvicorn(served: tuple[str, str]) -> None:  # noqa: F811
    base, home = served
    demo = demo_tokens(Path(home) / "var")
    # Demo tokens belong to the first member of each role; make them colleagues of one team.
    with httpx.Client(timeout=30) as client:
        admin = {"Authorization": f"Bearer {demo['administrator']}"}
        team = "端到端组"
        people = {}
        for role in ("property_consultant", "sales_manager", "customer_service", "customer_manager"):
            created = client.post(f"{base}/staff", headers=admin, json={"name": "测试员", "role": role, "team": team})
            assert created.status_code == 201, created.text
            staff_id = created.json()["id"]
            token = client.post(f"{base}/staff/{staff_id}/tokens", headers=admin, json={"label": "e2e"})
            assert token.status_code == 201, token.text
            people[role] = token.json()["token"]
        final = walk_the_journey(client, people["property_consultant"], people["sales_manager"],
                                 people["customer_service"], people["customer_manager"], base=base)
    assert_journey_recorded(final)
    # What the server printed meanwhile: one JSON line a request, with who and which route (as a
    # template), and nothing of the customer's personal data.
    time.sleep(0.2)
    logged = access_log_lines(home)
    walkers = {str(uuid.UUID(token.split("_")[1])) for token in people.values()}
    journey = [line for line in logged if line["actor_id"] in walkers]
    assert {line["actor_id"] for line in journey} == walkers
    assert len(journey) >= 20 and all(line["status"] < 300 for line in journey)
    assert all(line["route"].startswith(("/customers", "/deals", "/listings")) for line in journey)
    printed = server_output(home)
    for secret in ("赵雅琴", "13800138000", "138****8000", demo["administrator"], people["property_consultant"]):
        assert secret not in printed
