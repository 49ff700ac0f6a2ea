"""The console's pages, by area, and the API routes each one needs.

A page shows in the menu, and opens, only for a role the API's permission table lets call every
route it ``needs`` (``ConsoleUser.can``); its buttons are checked the same way, one route each.
So the console can never offer what the API would refuse, nor hide what it allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Section:
    key: str  # its title is the message nav.<key>
    path: str
    needs: tuple[str, ...]
    area: str  # compliance, archive, management


SECTIONS: tuple[Section, ...] = (
    Section("search", "/console/audit/search", ("audit.history", "audit.public_keys"), "compliance"),
    Section("verification", "/console/audit/log",
            ("audit.verify", "audit.latest_checkpoint", "audit.checkpoints", "audit.public_keys"), "compliance"),
    Section("access_log", "/console/audit/access-log", ("audit.access_log",), "compliance"),
    Section("sla", "/console/audit/sla-breaches", ("views.service_desk", "audit.history"), "compliance"),
    Section("files", "/console/archive/files", ("service_files.list",), "archive"),
    Section("retention", "/console/archive/retention", ("service_files.retention_due",), "archive"),
    Section("exports", "/console/archive/exports", ("archive.export",), "archive"),
    Section("pipeline", "/console/management/pipeline", ("views.funnel", "views.pipeline"), "management"),
    Section("service_desk", "/console/management/service-desk", ("views.service_desk",), "management"),
    Section("satisfaction", "/console/management/satisfaction", ("views.satisfaction_summary",), "management"),
    Section("process", "/console/management/process", ("views.process_analytics", "views.stage_times"),
            "management"),
    Section("reception", "/console/management/reception", ("views.reception_summary",), "management"),
)
AREAS = ("compliance", "archive", "management")

# Every form of the console (its route's name) and the API route it calls: the handler refuses a
# role the API's table does not name before anything is sent (``ConsoleUser.require``), and the
# role test posts every one of them as every role. Sign-in and sign-out are every role's.
FORMS: dict[str, str] = {
    "console.sign_out": "staff.revoke_token",
    # compliance (service/console/routes/compliance.py)
    "console.audit_sign_checkpoint": "audit.checkpoint",
    # archive (service/console/routes/archive.py)
    "console.archive.check": "service_files.check_completeness",
    "console.archive.file_it": "service_files.file",
    "console.archive.seal": "service_files.seal",
    "console.archive.reopen": "service_files.reopen",
    "console.archive.place_hold": "service_files.place_hold",
    "console.archive.release_hold": "service_files.release_hold",
    "console.archive.propose": "service_files.propose_disposition",
    "console.archive.approve": "service_files.approve_disposition",
    "console.archive.reject": "service_files.reject_disposition",
    "console.archive.export": "archive.export",
}


def visible_sections(user: Any) -> list[Section]:
    return [s for s in SECTIONS if all(user.can(route) for route in s.needs)]


def section(key: str) -> Section:
    return next(s for s in SECTIONS if s.key == key)
