"""Legal holds and disposition of a service file: the end of a file's life (a mixin of ``ServiceFile``).

A legal hold (placed and released by a compliance officer, always with a reason) suspends every
step of disposition: a proposal, its approval and the certificate are all refused while any hold
is active, and a hold placed after a proposal blocks its approval without withdrawing it.
Disposition is a two-person rule: an archivist proposes once the retention end the policy gives
(passed in by the service) has passed, a compliance officer who is not the proposer approves; the
service then records the disposition certificate (``DispositionCarriedOut``) and destroys what it
lists: every stored version and its key. After it the file records nothing more, and its documents
cannot be read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from domain.errors import (
    DispositionAlreadyApproved,
    DispositionAlreadyProposed,
    DispositionIncomplete,
    DispositionNotApproved,
    HoldAlreadyReleased,
    HoldNotFound,
    InvalidValue,
    LegalHoldActive,
    NoPendingDisposition,
    RetentionNotEnded,
    SamePersonDisposition,
    ServiceFileDisposed,
)
from domain.identity import Actor, Duty
from domain.recording import business_time, require_aware, require_text, require_whole


class HoldsAndDisposition:
    """Placing and releasing legal holds; proposing, approving, rejecting and recording disposition."""

    # Provided by ServiceFile.
    id: uuid.UUID
    holds: dict[uuid.UUID, dict[str, Any]]
    disposition: dict[str, Any] | None
    last_occurred_at: datetime | None
    is_disposed: Any
    active_holds: Any
    versions: Any
    _record: Any
    HoldPlaced: Any
    HoldReleased: Any
    DispositionProposed: Any
    DispositionApproved: Any
    DispositionRejected: Any
    DispositionCarriedOut: Any

    # --- legal holds ------------------------------------------------------------------------

    def place_hold(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> uuid.UUID:
        actor.require(Duty.PLACE_LEGAL_HOLDS)
        self._require_not_disposed()
        hold_id = uuid.uuid4()
        self._record(
            self.HoldPlaced, actor, occurred_at, hold_id=hold_id, hold_reason=require_text("reason", reason)
        )
        return hold_id

    def release_hold(
        self, *, hold_id: uuid.UUID, reason: str, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        actor.require(Duty.PLACE_LEGAL_HOLDS)
        self._require_not_disposed()
        if hold_id not in self.holds:
            raise HoldNotFound(hold_id)
        if self.holds[hold_id]["released_at"] is not None:
            raise HoldAlreadyReleased(hold_id)
        self._record(
            self.HoldReleased, actor, occurred_at, hold_id=hold_id, release_reason=require_text("reason", reason)
        )

    # --- disposition ------------------------------------------------------------------------

    def propose_disposition(
        self, *, rule: str, retention_end: datetime, actor: Actor, occurred_at: datetime | None = None
    ) -> None:
        """Propose destroying the file: its retention end (from the policy) must have passed by now."""
        actor.require(Duty.PROPOSE_DISPOSITION)
        self._require_not_disposed()
        if self.disposition is not None:
            raise DispositionAlreadyProposed(self.id)
        self._require_no_hold()
        require_aware("retention_end", retention_end)
        when = business_time(occurred_at, self.last_occurred_at)
        if retention_end > when:
            raise RetentionNotEnded(self.id, retention_end.isoformat())
        self._record(
            self.DispositionProposed,
            actor,
            when,
            rule=require_text("rule", rule),
            retention_end=retention_end,
            proposed_by=actor.id,
        )

    def approve_disposition(self, *, actor: Actor, occurred_at: datetime | None = None) -> None:
        actor.require(Duty.APPROVE_DISPOSITION)
        self._require_not_disposed()
        pending = self._require_pending()
        if pending["approved_by"] is not None:
            raise DispositionAlreadyApproved(self.id)
        if actor.id == pending["proposed_by"]:
            raise SamePersonDisposition(self.id)
        self._require_no_hold()
        self._record(self.DispositionApproved, actor, occurred_at, approved_by=actor.id)

    def reject_disposition(self, *, reason: str, actor: Actor, occurred_at: datetime | None = None) -> None:
        """Withdraw the proposal, approved or not, as long as it is not carried out; the file is kept."""
        actor.require(Duty.APPROVE_DISPOSITION)
        self._require_not_disposed()
        self._require_pending()
        self._record(
            self.DispositionRejected, actor, occurred_at, refusal_reason=require_text("reason", reason)
        )

    def require_disposable(self) -> dict[str, Any]:
        """The approved disposition, if it may be carried out now: the service asks before shredding."""
        self._require_not_disposed()
        pending = self._require_pending()
        if pending["approved_by"] is None:
            raise DispositionNotApproved(self.id)
        self._require_no_hold()
        return dict(pending)

    def record_disposition(
        self,
        *,
        destroyed_documents: list[dict[str, Any]],
        destroyed_keys: list[str],
        actor: Actor,
        occurred_at: datetime | None = None,
    ) -> None:
        """The disposition certificate: every version on file and the keys the archive destroys right
        after it is recorded (first, so that a hold placed meanwhile conflicts before anything goes)."""
        actor.require(Duty.CARRY_OUT_DISPOSITION)
        approved = self.require_disposable()
        destroyed = _document_versions(destroyed_documents)
        on_file = {(str(d["document_id"]), d["version"]) for d in self.versions()}
        if set(destroyed) != on_file or len(destroyed) != len(on_file):
            raise DispositionIncomplete(
                self.id,
                [f"{i}@{n}" for i, n in sorted(on_file - set(destroyed))],
                [f"{i}@{n}" for i, n in sorted(set(destroyed) - on_file)],
            )
        keys = [require_text("destroyed_keys", k, 200) for k in destroyed_keys]
        if len(set(keys)) != len(keys):
            raise InvalidValue("destroyed_keys", "must not repeat a key")
        self._record(
            self.DispositionCarriedOut,
            actor,
            occurred_at,
            destroyed_documents=[{"document_id": i, "version": n} for i, n in sorted(destroyed)],
            destroyed_keys=sorted(keys),
            rule=approved["rule"],
            retention_end=approved["retention_end"],
            proposed_by=approved["proposed_by"],
            approved_by=approved["approved_by"],
        )

    # --- guards ---------------------------------------------------------------------------

    def _require_not_disposed(self) -> None:
        if self.is_disposed:
            raise ServiceFileDisposed(self.id)

    def _require_no_hold(self) -> None:
        if self.active_holds:
            raise LegalHoldActive(self.id, [str(h["hold_id"]) for h in self.active_holds])

    def _require_pending(self) -> dict[str, Any]:
        if self.disposition is None:
            raise NoPendingDisposition(self.id)
        return self.disposition  # type: ignore[no-any-return]


def _document_versions(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    found = []
    for item in items:
        try:
            document_id = str(uuid.UUID(str(item["document_id"])))
            version = item["version"]
        except (KeyError, TypeError, ValueError):
            raise InvalidValue("destroyed_documents", "each must name a document_id and a version") from None
        require_whole("destroyed_documents", version, 1, 10**6)
        found.append((document_id, version))
    return found
