"""Real records for the API fuzzer to aim at: one team with a token per role, and a story of
linked records (a matched customer with a request, a complaint, a showing and a return visit; a
listing; a signed deal; its service file with a document under a legal hold; a second staff member
with a token; a sealed export), so that generated cases reach past the 404 of a random id.

Records are made through the application (fast, and no HTTP cases are spent on them). The path
parameters of one story are consistent with each other (a request id belongs to the customer id
beside it), so a case that uses them can get as far as the domain's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.application import Acting, RealtyLedger
from service.archive_exports import run_export
from tests.conftest import Team, register_team
from tests.integration.scenarios import list_flat, match, receive, sign
from tests.integration.test_service_files import CONTRACT

# The team's field of each role (tests/e2e/test_api.py names them the same way).
ROLE_FIELDS = ("manager", "consultant", "customer_manager", "service", "compliance", "archivist", "admin",
               "service_account")


@dataclass(frozen=True)
class Seeded:
    team: Team
    tokens: dict[str, str]  # role field -> bearer token
    path_ids: dict[str, str]  # path parameter name -> a real value


def seed(app: RealtyLedger) -> Seeded:
    team = register_team(app)
    tokens = {field: app.issue_token(team.admin, team.id(getattr(team, field)), label="fuzz")[0]
              for field in ROLE_FIELDS}
    c = team.consultant
    listing = list_flat(app, c)
    customer = receive(app, team)
    showing = match(app, team, customer, listing)
    request = app.raise_request(c, customer, subject="学区政策").entity_id
    complaint = app.file_complaint(team.service, customer, category="服务", severity="high",
                                   description="迟到").entity_id
    visit = app.schedule_return_visit(team.service, customer, due_at=datetime.now(UTC) + timedelta(days=3),
                                      purpose="回访").entity_id
    deal = sign(app, team, customer, listing)
    app.require_deal_documents(c, deal, kinds=["id_card", "loan_approval"])
    file_id = str(app.open_service_file(c, owner_kind="deal", owner_id=deal, record_class="deal_file").id)
    document = app.upload_document(c, file_id, content=CONTRACT, kind="contract").entity_id
    hold = app.file_command(team.compliance, file_id, "place_hold", reason="法院调查令").entity_id
    # The fuzzed staff routes aim at a member of their own, so a generated deactivation or token
    # revocation cannot lock out the identities the fuzzer calls with.
    target = app.register_staff(Acting.system(), name="钱多多", role="property_consultant", team=team.name).id
    _, issued = app.issue_token(team.admin, str(target), label="fuzz target")
    export = run_export(app.settings, by=team.id(team.archivist), customer_id=None, deal_id=deal, archive_no=None,
                        fmt="tar", recipient=None)
    path_ids: dict[str, Any] = {
        "customer_id": customer, "request_id": request, "complaint_id": complaint, "showing_id": showing,
        "visit_id": visit, "listing_id": listing, "deal_id": deal, "kind": "id_card", "file_id": file_id,
        "document_id": document, "hold_id": hold, "staff_id": target, "token_id": issued.entity_id,
        "aggregate": "customers", "record_id": customer, "export_id": export["export_id"],
    }
    return Seeded(team, tokens, {name: str(value) for name, value in path_ids.items()})
