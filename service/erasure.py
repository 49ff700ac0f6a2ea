"""Erasure requests (PIPL Art. 47) on the application: restrict at once, shred when no period runs.

``request_erasure`` decides with the retention policy whether a legal retention period still runs
for the customer: a deal file is kept for its period after the deal closed (an open deal: the
clock has not started), complaint records for theirs after the last resolution (an unresolved
complaint: not started). Lost-customer data (``customer_file``) is a *maximum*, not a minimum, so
it never holds an erasure back.

The order of the steps is chosen so that a crash at any point leaves the customer no less
protected: the customer's keys are marked restricted first (personal data reads as RESTRICTED to
everyone), then the request is recorded (commands are refused), then — if nothing holds it back —
the keys are destroyed and ``PersonalDataErased`` records which. The automations pass
(``carry_out_due_erasures``) finishes any erasure whose period has ended, or that a crash left
half done; so does the request itself when it is sent again (a retry after a failure between its
two saves carries the erasure out instead of being refused). Only the request's last save marks
its Idempotency-Key "recorded" (``marks_claim``), so such a retry is never told it is done early.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

from archive.retention import PolicyError, RetentionPolicy, load_policy
from domain.customer import Customer
from domain.customer_erasure import ErasureBasis
from domain.errors import ErasureAlreadyRequested, ErasureNotRequested, NotFound
from domain.identity import Duty
from domain.recording import require_choice
from domain.service_file_values import OwnerKind, RecordClass, service_file_id
from service.settings import SettingsError

ERASURE = "erasure_request"


class ErasureCommands:
    # Provided by RealtyLedger.
    settings: Any
    data_keys: Any
    _run: Any
    _load: Any
    _get: Any
    _actor: Any

    @functools.cached_property
    def retention_policy(self) -> RetentionPolicy:
        try:
            return load_policy(self.settings.retention_policy)
        except PolicyError as e:
            raise SettingsError(f"REALTY_RETENTION_POLICY: {e}") from None

    def retention_runs_until(self, customer: Customer) -> tuple[bool, datetime | None]:
        """Whether a legal retention period still holds the customer's data, and its end (None
        while a clock has not started)."""
        policy, ends = self.retention_policy, []
        if self._held(customer):
            return True, None  # a legal hold stops any destruction until it is released
        for deal_id in customer.deals:
            deal = self._load(uuid.UUID(deal_id), kind="deal")
            ends.append(None if deal.is_open else policy.end("deal_file", deal.last_occurred_at))
        complaints = list(getattr(customer, "complaints", {}).values())
        if complaints:
            resolved = [c.get("resolved_at") for c in complaints]
            ends.append(None if any(r is None for r in resolved) else policy.end("complaint_record", max(resolved)))
        if not ends:
            return False, None
        if any(end is None for end in ends):
            return True, None
        return True, max(ends)  # type: ignore[type-var]

    def _held(self, customer: Customer) -> bool:
        """Whether any service file of the customer, or of their deals, is under a legal hold."""
        owners = [(OwnerKind.CUSTOMER, customer.id), *((OwnerKind.DEAL, uuid.UUID(d)) for d in customer.deals)]
        for kind, owner in owners:
            for record_class in RecordClass:
                try:
                    file = self._load(service_file_id(kind, owner, record_class), kind="service file")
                except NotFound:
                    continue
                if file.active_holds:
                    return True
        return False

    def request_erasure(self, acting: Any, customer_id: str, *, legal_basis: str,
                        now: datetime | None = None) -> dict[str, Any]:
        """Record an erasure request; shred at once unless a retention period runs (then restrict).
        Sent again for a customer whose erasure is due but not carried out, it carries it out."""
        now = now or datetime.now(UTC)
        customer = self._get(Customer, customer_id)
        # Every check the command makes, before the keys are restricted (which must come first).
        self._actor(acting).require(Duty.HANDLE_ERASURE)
        require_choice("legal_basis", legal_basis, ErasureBasis)
        if customer.is_erased:
            raise ErasureAlreadyRequested(customer.id)
        runs, until = self.retention_runs_until(customer)
        due = not runs or (until is not None and until <= now)
        if customer.is_restricted:
            if not due:  # restricted while a retention period runs: the request stands as it is
                raise ErasureAlreadyRequested(customer.id)
            # Requested before and due, but not carried out (the request failed between its two
            # saves, or its period has ended since): finish it rather than refuse it.
            erased = self.carry_out_erasure(acting, customer.id)
            return {"customer_id": str(customer.id), "status": "erased", "retention_until": customer.restricted_until,
                    "position": erased["position"], "destroyed_keys": erased["destroyed_keys"]}
        self.data_keys.restrict(str(customer.id))
        try:
            # Due now, the request goes on to shred: its last save, not this one, completes it.
            result = self._run(acting, Customer, customer.id, None, lambda c, actor: (
                c.request_erasure(legal_basis=legal_basis, retention_until=until, actor=actor) or [], None),
                marks_claim=not due)
        except BaseException:
            # Nothing was recorded by this call; lift the restriction only if no other request was
            # (two officers at once: the loser must not un-restrict the winner's customer).
            if not self._load(customer.id, kind="customer").is_restricted:
                self.data_keys.unrestrict(str(customer.id))
            raise
        answer = {"customer_id": str(customer.id), "status": "restricted", "retention_until": until,
                  "position": result.position, "destroyed_keys": []}
        if due:
            erased = self.carry_out_erasure(acting, customer.id)
            answer.update(status="erased", position=erased["position"], destroyed_keys=erased["destroyed_keys"])
        return answer

    def carry_out_erasure(self, acting: Any, customer_id: uuid.UUID | str, *, cause: str = ERASURE) -> dict[str, Any]:
        """Destroy every key of the customer (their records', their deals', their documents') and
        record which; idempotent (a second run destroys nothing more and records nothing)."""
        customer = self._get(Customer, customer_id)
        if cause == ERASURE and not customer.is_restricted:
            raise ErasureNotRequested(customer.id)
        destroyed = self.data_keys.destroy(subject_ids=[str(customer.id)], reason=f"{cause} of {customer.id}")
        if customer.is_erased and not destroyed:
            return {"position": None, "destroyed_keys": []}
        result = self._run(acting, Customer, customer.id, None, lambda c, actor: (
            c.record_erasure(destroyed_keys=destroyed, cause=cause, actor=actor) or [], None))
        return {"position": result.position, "destroyed_keys": destroyed}

    def carry_out_due_erasures(self, acting: Any, now: datetime) -> list[str]:
        """Shred every restricted customer whose retention period has ended by ``now``."""
        done = []
        for subject in self.data_keys.restricted_subjects():
            try:
                customer = self._get(Customer, subject)
            except Exception:  # noqa: BLE001 - a subject that is not a customer (a staff member)
                continue
            if not customer.is_restricted:
                continue
            runs, until = self.retention_runs_until(customer)
            if runs and (until is None or until > now):
                continue
            self.carry_out_erasure(acting, customer.id)
            done.append(str(customer.id))
        return done

