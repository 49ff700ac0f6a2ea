"""The one Application: every aggregate is saved through it, so there is one log and one order.

Command methods take primitives plus the acting identity (``Acting``) and return a
``CommandResult`` of ids and the new version. Library errors never escape: a missing aggregate
becomes ``NotFound``, a lost race becomes ``ConcurrencyConflict``. A command called without an
expected version reloads, re-checks its rules and retries a lost race (for up to
``RETRY_SECONDS``, so that many writers on one record all get through, one after the other).
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import Environment

from archive.audit_trail import AuditTrail
from archive.checkpoints import CheckpointJournal, CheckpointScheduler
from archive.recorders import RowMissing
from archive.sealing_mapper import SealingMapper
from archive.signing import SigningKeyring
from domain.access_log import PersonalDataAccessLog, access_log_id
from domain.customer import Customer
from domain.customer_values import DealMilestone
from domain.deal import Deal
from domain.errors import ConcurrencyConflict, CustomerRestricted, DomainError, InvalidValue, NotFound
from domain.identity import SYSTEM_ACTOR_ID, Actor, Role
from domain.listing import Listing
from domain.personal_data import ERASED, RESTRICTED, personal_field_names
from domain.rules import HANDOVER_RETURN_VISIT_AFTER, POOL_PROTECTION_PERIOD
from domain.service_file import ServiceFile
from domain.staff import StaffMember
from service import metrics, store_outage, tokens, views
from service.automations import Automations
from service.erasure import ErasureCommands
from service.exports import ExportCommands
from service.idempotency import IdempotencyKeyTakenOver, mark_for_held_claim
from service.ids import as_uuid
from service.keyring import open_data_keys
from service.projector import Views
from service.reads import Reads, RecordCache
from service.service_files import ServiceFileCommands
from service.settings import Settings, load_settings
from service.unsettled_saves import pending_events, recorded_position

# A lost race is retried on fresh data (the rules re-checked) for this long, with a jittered
# back-off growing to BACKOFF_CAP, at least MIN_RETRIES times: 32 writers on one customer take
# about 32 rounds of a few milliseconds, and every one of them is a valid command that should land.
RETRY_SECONDS = 3.0
MIN_RETRIES = 3
BACKOFF_CAP = 0.05
# What may still be recorded on a restricted customer's service files: holds and disposition.
_STORAGE_EVENTS = (ServiceFile.HoldPlaced, ServiceFile.HoldReleased, ServiceFile.DispositionProposed,
                   ServiceFile.DispositionApproved, ServiceFile.DispositionRejected, ServiceFile.DispositionCarriedOut)
A = TypeVar("A")
# The records that can grow long enough to be worth a snapshot (a short one never reaches the interval).
_SNAPSHOTTED = (Customer, Deal, Listing, ServiceFile, StaffMember, PersonalDataAccessLog)
log = logging.getLogger("realty.snapshots")

# The reads of the command running in this thread (None outside commands: queries read fresh).
_READS: ContextVar[Reads | None] = ContextVar("realty_command_reads", default=None)

# The event that creates each kind of record, for counting records without loading them.
_CREATION_TOPICS = {
    Customer.Received.TOPIC: "customers",
    Listing.Listed.TOPIC: "listings",
    Deal.Drafted.TOPIC: "deals",
    StaffMember.Registered.TOPIC: "staff",
}


@dataclass(frozen=True)
class Credential:
    """A bearer token as the HTTP layer accepted it, and the role and team it judged the request by.

    A command sent with it refuses to act unless the staff record it reads — a read that is
    guarded at write time — still vouches for the token and still has that role and team. So the
    door may accept a token on a cached record: a revocation, deactivation, or change of role or
    team that the cache has not seen yet fails the command's guard, and its fresh retry refuses.
    """

    token_id: uuid.UUID
    secret_hash: str
    role: str
    team: str


@dataclass(frozen=True)
class Acting:
    """Who is calling: a staff member's id (or the system), and the request's correlation id."""

    staff_id: str | uuid.UUID
    correlation_id: str | None = None
    on_behalf_of: str | uuid.UUID | None = None
    # May the caller touch this record? Run on the command's own record in every attempt, so a
    # retry re-checks on fresh data (the HTTP layer's record scopes; raises a DomainError).
    check: Callable[[Any], None] | None = field(default=None, compare=False, repr=False)
    # What the caller was authorised with; proved again on the staff record the command reads.
    credential: Credential | None = field(default=None, compare=False, repr=False)

    @classmethod
    def system(cls, correlation_id: str | None = None) -> Acting:
        return cls(staff_id=SYSTEM_ACTOR_ID, correlation_id=correlation_id)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who, in which role and team, and how to act as them."""

    staff_id: uuid.UUID
    role: Role
    team: str
    acting: Acting
    # Accepted on a cached staff record: a refusal made on it is confirmed on a fresh read first.
    cached: bool = False


@dataclass(frozen=True)
class CommandResult:
    id: str
    version: int
    entity_id: str | None = None  # e.g. the new showing, request or payment
    # The log position (notification id) of the last event the command wrote: a list route given
    # it as ``min_position`` answers from a view that has seen this write (read-your-writes).
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "entity_id": self.entity_id, "position": self.position}


class RealtyLedger(ErasureCommands, ServiceFileCommands, ExportCommands, Application[uuid.UUID]):
    name = "Realty"  # table realty_events

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._cache = RecordCache(self.settings.cache_size)
        self._reader_locks = [threading.Lock() for _ in range(64)]  # striped by reader
        interval = self.settings.snapshot_interval
        # After a save, the library snapshots a record whose new version is a multiple of this.
        self.snapshotting_intervals = dict.fromkeys(_SNAPSHOTTED, interval) if interval else {}  # type: ignore[misc]
        super().__init__(env=self.settings.library_env())
        try:
            if self.settings.database.backend == "postgres":  # a server that can go away and come back
                store_outage.watch(self.recorder.datastore.pool, "event store", wait=self.settings.pool_timeout,  # type: ignore[attr-defined]
                                   ping_always=self.settings.pool_pre_ping)
            self.data_keys = open_data_keys(self.settings, self.recorder)
            self.mapper.keys = self.data_keys
            self.retention_policy  # noqa: B018 - a bad schedule stops the start, not the first disposition
        except BaseException:
            super().close()
            raise
        self._audit: AuditTrail | None = None
        self._audit_lock = threading.Lock()
        self.checkpoint_scheduler = CheckpointScheduler(
            lambda: self.audit.checkpoint(), every=self.settings.checkpoint_every,
            interval=self.settings.checkpoint_interval)
        self.views = Views(self)
        self.automations = Automations(self)

    @property
    def audit(self) -> AuditTrail:
        """The log's Merkle index, checkpoints and proofs (its tables are made on first use)."""
        with self._audit_lock:
            if self._audit is None:
                self._audit = AuditTrail(self.recorder, self._signing_keyring, self.settings.ledger_origin,
                                         CheckpointJournal(self.settings.journal_path))
            return self._audit

    def _signing_keyring(self, for_signing: bool) -> SigningKeyring:
        pem = self.settings.signing_key_pem
        if pem is not None:
            return SigningKeyring.from_pem(pem.get_secret_value(), self.settings.signing_public_keys)
        keyring = SigningKeyring(self.settings.keys_dir)
        if for_signing:
            keyring.init()  # a first key if there is none (embedded mode); an existing one is kept
        return keyring

    def start_automations(self) -> Automations:
        """Run the clock's automations in the background (one process at a time does the work)."""
        self.automations.start(self.settings.automation_interval)
        return self.automations

    def close(self) -> None:
        self.checkpoint_scheduler.stop()
        self.automations.stop()
        self.views.close()
        super().close()

    def construct_mapper(self) -> SealingMapper:  # type: ignore[override]
        # Every event is sealed (archive.sealing_mapper); the keyring is attached once the
        # recorder, and so the database, exists.
        return SealingMapper(self.construct_transcoder())

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        self.data_keys.saved()
        metrics.events_appended(len(recordings))  # every save of this process passes here
        return recordings

    def _take_snapshots(self, processing_event: Any) -> None:
        # After the events are committed, in writes of their own. A snapshot only shortens loading,
        # so failing to take one (another process took it first, a key was shredded meanwhile)
        # must not turn a recorded command into a reported failure: loading replays more events.
        if not self.snapshots or not self.snapshotting_intervals:
            return
        for event in processing_event.events:
            interval = self.snapshotting_intervals.get(type(processing_event.aggregates.get(event.originator_id)))
            if interval and event.originator_version % interval == 0:
                try:
                    self.take_snapshot(event.originator_id, version=event.originator_version)
                except Exception as e:  # noqa: BLE001 - logged without content; the events are safe
                    log.warning("no snapshot of record %s at version %d: %s", event.originator_id,
                                event.originator_version, type(e).__name__)

    def take_snapshot(self, aggregate_id: uuid.UUID, version: int | None = None,
                      projector_func: Any = project_aggregate) -> None:
        """Snapshot a record as recorded at ``version`` (sealed by the mapper like an event); not
        when it reads as erased or restricted: an erased record's key is gone, and a restricted
        one's placeholder is not its data (frozen into a snapshot, it would outlive the restriction)."""
        aggregate: Any = self.repository.get(aggregate_id, version=version, projector_func=projector_func)
        if _withholds_personal_data(vars(aggregate)):
            return
        assert self.snapshots is not None, "snapshots are off (REALTY_SNAPSHOT_INTERVAL=0)"
        self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])

    def check_sealing(self, progress: Callable[[int], Any] | None = None) -> tuple[int, list[Any]]:
        """Does every stored state open for its own row (``archive.sealing_check``)?"""
        from archive.sealing_check import check_sealed_states
        from archive.sql import Database

        return check_sealed_states(Database(self.recorder.datastore), self.recorder.events_table_name,
                                   self.data_keys, progress)

    def after_append(self) -> None:
        """After every save: wake this process's projector (embedded mode) to follow the log."""
        self.views.wake()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:  # type: ignore[override]
        # Only our translated settings, never os.environ (see service.settings).
        return Environment(name, dict(env or {}))

    # --- plumbing --------------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: str | uuid.UUID, version: int | None = None) -> A:
        """Read a record: through the running command's reads if any, else fresh from the store."""
        kind = views.KINDS.get(cls, cls.__name__.lower())
        agg_id = as_uuid(aggregate_id, "id" if cls is object else f"{kind.replace(' ', '_')}_id")
        reads = _READS.get()
        if reads is not None and version is None:
            return reads.get(agg_id, cls, kind)
        aggregate = self._load(agg_id, version=version, kind=kind)
        if not isinstance(aggregate, cls):
            raise NotFound(kind, agg_id)
        return aggregate

    def _load(self, agg_id: uuid.UUID, *, version: int | None = None, kind: str = "record") -> Any:
        try:
            return self.repository.get(agg_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(kind, agg_id) from None

    def _actor(self, acting: Acting) -> Actor:
        correlation_id = acting.correlation_id or uuid.uuid4().hex
        staff_id = as_uuid(acting.staff_id, "actor")
        if staff_id == SYSTEM_ACTOR_ID:
            return Actor.system(correlation_id)
        staff = self._get(StaffMember, staff_id)
        if acting.credential is not None:
            credential = acting.credential
            staff.vouch_for(credential.token_id, credential.secret_hash, role=credential.role, team=credential.team)
        on_behalf = None if acting.on_behalf_of is None else as_uuid(acting.on_behalf_of, "on_behalf_of")
        return staff.acting_as(correlation_id, on_behalf)

    def _execute(self, acting: Acting, step: Callable[[Actor], tuple[list[Any], str | None]], *,
                 marks_claim: bool = True) -> CommandResult:
        """Run ``step`` and save what it changed in one transaction, retrying lost races.

        ``step`` returns the records it changed (the first is the command's own record) and the id
        of any entity it created. Every record it read and did not change is guarded at write time.
        ``marks_claim=False``: a save that does not complete the request (the first step of a
        command that saves more than once), which must not mark an Idempotency-Key "recorded".
        """
        deadline = time.monotonic() + RETRY_SECONDS
        for attempt in itertools.count():
            reads = Reads(self._load, self._cache, fresh=attempt > 0)
            token = _READS.set(reads)
            try:
                try:
                    changed, entity_id = step(self._actor(acting))
                except DomainError:
                    if reads.fresh or not reads.used_cache:
                        raise
                    continue  # refuse only on what the store says, not on a cached copy
                self._refuse_processing_restricted(changed)
                saving = pending_events(changed)
                # Under an Idempotency-Key, the same transaction marks the key's claim "recorded",
                # or records nothing if a retry has taken the claim over (service.idempotency).
                mark = mark_for_held_claim(changed[0].id, changed[0].version, entity_id)
                if mark is not None and not marks_claim:
                    # Not done yet: a retry after a failure must run the command on (it resumes), not be
                    # told "recorded". The save still requires the request's token (a no-op update of
                    # the claim's own key columns), so a retry that took the key over still decides.
                    mark = replace(mark, values=dict(mark.where), position_column=None)
                try:
                    recordings = self.save(*changed, guards=reads.guards(changed), mark=mark)
                    position = recordings[-1].notification.id if recordings else None
                except RowMissing:
                    raise IdempotencyKeyTakenOver from None
                except IntegrityError:
                    # Our own commit, whose answer a broken connection lost, looks like a lost race.
                    position = recorded_position(self, saving)
                    if position is None:
                        # Pending key rows stay queued: a document's key was made before this loop, and
                        # the retry's events still need it (a key of a record never saved is harmless).
                        reads.forget(changed)
                        if attempt >= MIN_RETRIES and time.monotonic() >= deadline:
                            raise self._conflict(changed[0], reads) from None
                        # Jittered back-off, so racing writers do not collide again in lockstep.
                        time.sleep(random.uniform(0, min(0.004 * 2 ** attempt, BACKOFF_CAP)))  # noqa: S311 - not crypto
                        continue
                    self.data_keys.saved()
                reads.remember(changed)
                self.checkpoint_scheduler.appended(len(saving))
                self.after_append()
                return CommandResult(str(changed[0].id), changed[0].version, entity_id, position)
            finally:
                _READS.reset(token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refuse_processing_restricted(self, changed: list[Any]) -> None:
        """PIPL Art. 47(2): a customer who asked for erasure while a retention period runs is not
        processed through their deals or service files either (the customer record refuses by
        itself). Holds and disposition stay possible: they are storage and its end."""
        for record in changed:
            if isinstance(record, Deal):
                subject = record.customer_id
            elif isinstance(record, ServiceFile):
                subject = record.subject_id
            else:
                continue
            pending = getattr(record, "_pending_events", ())
            if all(isinstance(e, _STORAGE_EVENTS) for e in pending):
                continue
            if self.data_keys.is_restricted(str(subject)):
                raise CustomerRestricted(subject)

    def _conflict(self, record: Any, reads: Reads) -> ConcurrencyConflict:
        read_version = reads.read_versions.get(record.id)
        try:
            current = self._load(record.id).version
        except NotFound:
            current = None
        return ConcurrencyConflict(record.id, read_version, current)

    def _run(
        self,
        acting: Acting,
        cls: type[A],
        aggregate_id: str | uuid.UUID,
        expected_version: int | None,
        work: Callable[[A, Actor], tuple[Iterable[Any], str | None]],
        *,
        marks_claim: bool = True,
    ) -> CommandResult:
        """A command on one existing record (which ``work`` changes, with any others it returns)."""

        def step(actor: Actor) -> tuple[list[Any], str | None]:
            aggregate: Any = self._get(cls, aggregate_id)
            if acting.check is not None:
                acting.check(aggregate)
            if expected_version is not None and aggregate.version != expected_version:
                raise ConcurrencyConflict(aggregate.id, expected_version, aggregate.version)
            others, entity_id = work(aggregate, actor)
            return [aggregate, *others], entity_id

        return self._execute(acting, step, marks_claim=marks_claim)

    def _create(self, acting: Acting, make: Callable[[Actor], Any]) -> CommandResult:
        """A command that creates a record (``make`` may change others and return them too)."""

        def step(actor: Actor) -> tuple[list[Any], None]:
            made = make(actor)
            return (list(made) if isinstance(made, tuple) else [made]), None

        return self._execute(acting, step)

    def _customer_command(
        self,
        acting: Acting,
        customer_id: str | uuid.UUID,
        expected_version: int | None,
        call: Callable[[Customer, Actor], Any],
    ) -> CommandResult:
        def work(customer: Customer, actor: Actor) -> tuple[list[Any], str | None]:
            created = call(customer, actor)
            return [], None if created is None else str(created)

        return self._run(acting, Customer, customer_id, expected_version, work)

    # --- staff -----------------------------------------------------------------------------

    def register_staff(
        self, acting: Acting, *, name: str, role: str, team: str, occurred_at: datetime | None = None
    ) -> CommandResult:
        return self._create(acting, lambda actor: StaffMember.register(
            name=name, role=role, team=team, actor=actor, occurred_at=occurred_at))

    def _staff_command(
        self,
        acting: Acting,
        staff_id: str | uuid.UUID,
        expected_version: int | None,
        call: Callable[[StaffMember, Actor], None],
        entity_id: str | None = None,
    ) -> CommandResult:
        def work(staff: StaffMember, actor: Actor) -> tuple[list[Any], str | None]:
            call(staff, actor)
            return [], entity_id

        return self._run(acting, StaffMember, staff_id, expected_version, work)

    def change_staff_role(self, acting: Acting, staff_id: str, *, role: str, team: str | None = None,
                          expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._staff_command(acting, staff_id, expected_version, lambda s, a: s.change_role(
            role=role, team=team, actor=a, occurred_at=occurred_at))

    def record_training(self, acting: Acting, staff_id: str, *, course: str, score: int,
                        expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._staff_command(acting, staff_id, expected_version, lambda s, a: s.complete_training(
            course=course, score=score, actor=a, occurred_at=occurred_at))

    def record_assessment(self, acting: Acting, staff_id: str, *, period: str, score: int,
                          expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._staff_command(acting, staff_id, expected_version, lambda s, a: s.record_assessment(
            period=period, score=score, actor=a, occurred_at=occurred_at))

    def award_incentive(self, acting: Acting, staff_id: str, *, kind: str, amount: int, reason: str,
                        expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._staff_command(acting, staff_id, expected_version, lambda s, a: s.award_incentive(
            kind=kind, amount=amount, reason=reason, actor=a, occurred_at=occurred_at))

    def deactivate_staff(self, acting: Acting, staff_id: str, *, reason: str,
                         expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._staff_command(acting, staff_id, expected_version, lambda s, a: s.deactivate(
            reason=reason, actor=a, occurred_at=occurred_at))

    def issue_token(self, acting: Acting, staff_id: str, *, label: str, expires_in_days: int | None = None,
                    occurred_at: datetime | None = None) -> tuple[str, CommandResult]:
        """A new API token for a staff member: the token (shown once) and the recorded result.

        It expires ``expires_in_days`` after ``occurred_at`` (default: the token lifetime setting;
        0: never).
        """
        target = as_uuid(staff_id, "staff_member_id")
        days = self.settings.token_lifetime_days if expires_in_days is None else expires_in_days
        token, token_id, secret_hash = tokens.new_token(target)
        # The token's id is the command's entity: a retry that finds the command recorded (its answer,
        # which held the token, is never kept) is told which token was issued, to revoke it.
        result = self._staff_command(acting, target, None, lambda s, a: s.issue_token(
            token_id=token_id, secret_hash=secret_hash, label=label, lifetime=tokens.lifetime_of(days), actor=a,
            occurred_at=occurred_at), entity_id=str(token_id))
        return token, result

    def revoke_token(self, acting: Acting, staff_id: str, *, token_id: str, reason: str) -> CommandResult:
        return self._staff_command(acting, staff_id, None, lambda s, a: s.revoke_token(
            token_id=as_uuid(token_id, "token_id"), reason=reason, actor=a))

    def authenticate(self, token: str, correlation_id: str | None = None) -> Principal | None:
        """The identity a bearer token stands for, or None (malformed, unknown, revoked, inactive).

        Reads the staff record from the store, not the cache: a token revoked or a member
        deactivated by another process stops working at once, for reads as well as commands.
        The record read then refreshes the cache that ``authenticate_cached`` looks at.
        """
        try:
            parsed = tokens.parse_token(token)
            staff = self._load(parsed.staff_id)
        except (tokens.MalformedToken, NotFound):
            return None
        principal = self._principal(staff, parsed, correlation_id, cached=False)
        if isinstance(staff, StaffMember):
            self._cache.give_back(staff)
        return principal

    def authenticate_cached(self, token: str, correlation_id: str | None = None) -> Principal | None:
        """``authenticate`` on this process's cached staff record, without touching the store; None
        when the cache cannot vouch for the token (not cached, or not matching there).

        Only for callers about to send a command: its ``Acting`` carries the credential, and the
        command proves it on the staff record it reads and guards (see ``Credential``).
        """
        try:
            parsed = tokens.parse_token(token)
        except tokens.MalformedToken:
            return None
        return self._principal(self._cache.peek(parsed.staff_id), parsed, correlation_id, cached=True)

    @staticmethod
    def _principal(staff: Any, parsed: tokens.ParsedToken, correlation_id: str | None, *,
                   cached: bool) -> Principal | None:
        if not isinstance(staff, StaffMember) or not staff.token_matches(parsed.token_id, parsed.secret_hash):
            return None
        credential = Credential(parsed.token_id, parsed.secret_hash, staff.role, staff.team)
        acting = Acting(staff.id, correlation_id=correlation_id, credential=credential)
        return Principal(staff.id, staff.role_enum, staff.team, acting, cached=cached)

    def record_personal_data_read(self, acting: Acting, subject_id: str, *, subject_kind: str,
                                  purpose: str) -> CommandResult:
        """Put a full read of someone's personal data on the reader's log for today."""
        subject = as_uuid(subject_id, "subject_id")

        def step(actor: Actor) -> tuple[list[Any], None]:
            today = datetime.now(UTC).date()
            try:
                log = self._get(PersonalDataAccessLog, access_log_id(actor.id, today))
            except NotFound:
                log = PersonalDataAccessLog.open(reader=actor, day=today)
            log.record_read(subject_id=subject, subject_kind=subject_kind, purpose=purpose, reader=actor)
            return [log], None

        # Every full read by one reader appends to the same log of the day, so a reader's parallel
        # reads race each other (a script, an export, a busy screen): one reader's reads go one at
        # a time in this process, and only a race with another process is left to the retries.
        with self._reader_lock(acting.staff_id):
            return self._execute(acting, step)

    def personal_data_reads(self, readers: Iterable[str | uuid.UUID] | None, days: Iterable[date]
                            ) -> list[dict[str, Any]]:
        """The full reads of personal data on these readers' access logs (every staff member's when
        ``readers`` is None) on these days, newest first: ids, kinds and purposes only, so reading
        them is not itself a read of anyone's personal data. A log's id is derived from its reader
        and day (``access_log_id``), so the logs are found without an index: their events are read
        in one query per 500 logs, not one load per reader and day."""
        ids = [as_uuid(r, "reader") for r in readers] if readers is not None else [
            uuid.UUID(s) for s in self.staff_ids()]
        logs = {access_log_id(reader, day): (reader, day) for reader in ids for day in days}
        found: list[dict[str, Any]] = []
        roles: dict[uuid.UUID, str | None] = {}
        for stored in self._stored_events_of(list(logs)):
            event = self.mapper.to_domain_event(stored)
            if not isinstance(event, PersonalDataAccessLog.PersonalDataRead):
                continue
            reader, day = logs[event.originator_id]
            if reader not in roles:
                try:
                    roles[reader] = self._get(StaffMember, reader).role
                except NotFound:
                    roles[reader] = None
            found.append({"reader_id": str(reader), "reader_role": roles[reader], "day": day.isoformat(),
                          "subject_id": str(event.subject_id), "subject_kind": event.subject_kind,
                          "purpose": event.purpose, "at": event.occurred_at.isoformat()})
        return sorted(found, key=lambda r: r["at"], reverse=True)

    def _stored_events_of(self, record_ids: list[uuid.UUID], chunk: int = 500) -> list[StoredEvent]:
        """Every stored event of these records (any that exist), in one query per ``chunk`` ids."""
        db = self.audit.db
        table = db.table(self.audit.events_table)
        out: list[StoredEvent] = []
        for start in range(0, len(record_ids), chunk):
            part = record_ids[start:start + chunk]
            keys = [r.hex if db.backend == "sqlite" else r for r in part]
            rows = db.query(f"SELECT originator_id, originator_version, topic, state FROM {table} "  # noqa: S608
                            f"WHERE originator_id IN ({', '.join('?' for _ in keys)}) "
                            "ORDER BY originator_id, originator_version", keys)
            out.extend(StoredEvent(originator_id=uuid.UUID(str(oid)), originator_version=int(version), topic=topic,
                                   state=bytes(state)) for oid, version, topic, state in rows)
        return out

    def _reader_lock(self, reader_id: Any) -> threading.Lock:
        return self._reader_locks[hash(str(reader_id)) % len(self._reader_locks)]

    # --- listings --------------------------------------------------------------------------

    def list_property(
        self,
        acting: Acting,
        *,
        district: str,
        address: str,
        area: float,
        rooms: int,
        price: int,
        property_right_status: str,
        tenure_years: int,
        mortgage_eligible: bool,
        occurred_at: datetime | None = None,
    ) -> CommandResult:
        return self._create(acting, lambda actor: Listing.list(
            district=district, address=address, area=area, rooms=rooms, price=price,
            property_right_status=property_right_status, tenure_years=tenure_years,
            mortgage_eligible=mortgage_eligible, actor=actor, occurred_at=occurred_at,
        ))

    def _listing_command(self, acting: Acting, listing_id: str, expected_version: int | None,
                         call: Callable[[Listing, Actor], None]) -> CommandResult:
        def work(listing: Listing, actor: Actor) -> tuple[list[Any], None]:
            call(listing, actor)
            return [], None

        return self._run(acting, Listing, listing_id, expected_version, work)

    def change_listing_price(self, acting: Acting, listing_id: str, *, new_price: int, reason: str,
                             expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._listing_command(acting, listing_id, expected_version, lambda li, a: li.change_price(
            new_price=new_price, reason=reason, actor=a, occurred_at=occurred_at))

    def withdraw_listing(self, acting: Acting, listing_id: str, *, reason: str,
                         expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._listing_command(acting, listing_id, expected_version, lambda li, a: li.withdraw(
            reason=reason, actor=a, occurred_at=occurred_at))

    # --- customers -------------------------------------------------------------------------

    def receive_customer(
        self,
        acting: Acting,
        *,
        channel: str,
        reception_started_at: datetime,
        reception_ended_at: datetime,
        assigned_to: str | None = None,
        occurred_at: datetime | None = None,
    ) -> CommandResult:
        def make(actor: Actor) -> Customer:
            assignee = self._get(StaffMember, assigned_to or actor.id)
            assignee.acting_as(actor.correlation_id)  # refuses a deactivated assignee
            return Customer.receive(
                channel=channel, assigned_to=assignee.id, assignee_role=assignee.role_enum,
                team=assignee.team, reception_started_at=reception_started_at,
                reception_ended_at=reception_ended_at, actor=actor, occurred_at=occurred_at,
            )

        return self._create(acting, make)

    def record_personal_details(self, acting: Acting, customer_id: str, *, name: str, phone: str,
                                id_number: str | None = None, expected_version: int | None = None,
                                occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.record_personal_details(
            name=name, phone=phone, id_number=id_number, actor=a, occurred_at=occurred_at))

    def correct_contact_details(self, acting: Acting, customer_id: str, *, reason: str, name: str | None = None,
                                phone: str | None = None, id_number: str | None = None,
                                expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.correct_contact_details(
            reason=reason, name=name, phone=phone, id_number=id_number, actor=a, occurred_at=occurred_at))

    def record_needs(self, acting: Acting, customer_id: str, *, budget_min: int, budget_max: int,
                     area_min: float, area_max: float, rooms: int, districts: list[str], purpose: str,
                     payment_method: str, qualification: str, expected_version: int | None = None,
                     occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.record_needs(
            budget_min=budget_min, budget_max=budget_max, area_min=area_min, area_max=area_max, rooms=rooms,
            districts=districts, purpose=purpose, payment_method=payment_method,
            qualification=qualification, actor=a, occurred_at=occurred_at))

    def shortlist_listings(self, acting: Acting, customer_id: str, *, matches: list[tuple[str, int]],
                           expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        def call(customer: Customer, actor: Actor) -> None:
            checked = []
            for listing_id, score in matches:
                self._get(Listing, listing_id)  # a shortlist names real listings
                checked.append((as_uuid(listing_id, "listing_id"), score))
            customer.shortlist_listings(matches=checked, actor=actor, occurred_at=occurred_at)

        return self._customer_command(acting, customer_id, expected_version, call)

    def schedule_showing(self, acting: Acting, customer_id: str, *, listing_id: str, scheduled_for: datetime,
                         expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        def call(customer: Customer, actor: Actor) -> uuid.UUID:
            listing = self._get(Listing, listing_id)
            return customer.schedule_showing(listing_id=listing.id, listing_status=listing.status,
                                             scheduled_for=scheduled_for, actor=actor, occurred_at=occurred_at)

        return self._customer_command(acting, customer_id, expected_version, call)

    def reschedule_showing(self, acting: Acting, customer_id: str, *, showing_id: str, scheduled_for: datetime,
                           reason: str, expected_version: int | None = None,
                           occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.reschedule_showing(
            showing_id=as_uuid(showing_id, "showing_id"), scheduled_for=scheduled_for, reason=reason, actor=a,
            occurred_at=occurred_at))

    def conduct_showing(self, acting: Acting, customer_id: str, *, showing_id: str, topics_explained: list[str],
                        expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.conduct_showing(
            showing_id=as_uuid(showing_id, "showing_id"), topics_explained=topics_explained, actor=a,
            occurred_at=occurred_at))

    def cancel_showing(self, acting: Acting, customer_id: str, *, showing_id: str, reason: str,
                       expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.cancel_showing(
            showing_id=as_uuid(showing_id, "showing_id"), reason=reason, actor=a, occurred_at=occurred_at))

    def record_no_show(self, acting: Acting, customer_id: str, *, showing_id: str,
                       expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.record_no_show(
            showing_id=as_uuid(showing_id, "showing_id"), actor=a, occurred_at=occurred_at))

    def record_feedback(self, acting: Acting, customer_id: str, *, showing_id: str, interest: int,
                        objections: list[str], expected_version: int | None = None,
                        occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.record_feedback(
            showing_id=as_uuid(showing_id, "showing_id"), interest=interest, objections=objections, actor=a,
            occurred_at=occurred_at))

    def raise_request(self, acting: Acting, customer_id: str, *, subject: str,
                      expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.raise_request(
            subject=subject, actor=a, occurred_at=occurred_at))

    def respond_to_request(self, acting: Acting, customer_id: str, *, request_id: str, response: str,
                           expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.respond_to_request(
            request_id=as_uuid(request_id, "request_id"), response=response, actor=a, occurred_at=occurred_at))

    def file_complaint(self, acting: Acting, customer_id: str, *, category: str, severity: str, description: str,
                       expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.file_complaint(
            category=category, severity=severity, description=description, actor=a, occurred_at=occurred_at))

    def acknowledge_complaint(self, acting: Acting, customer_id: str, *, complaint_id: str,
                              expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.acknowledge_complaint(
            complaint_id=as_uuid(complaint_id, "complaint_id"), actor=a, occurred_at=occurred_at))

    def escalate_complaint(self, acting: Acting, customer_id: str, *, complaint_id: str, escalated_to: str,
                           reason: str, expected_version: int | None = None,
                           occurred_at: datetime | None = None) -> CommandResult:
        def call(customer: Customer, actor: Actor) -> None:
            target = self._get(StaffMember, escalated_to)
            target.acting_as(actor.correlation_id)  # escalate only to someone who can act
            customer.escalate_complaint(complaint_id=as_uuid(complaint_id, "complaint_id"), escalated_to=target.id,
                                        reason=reason, actor=actor, occurred_at=occurred_at)

        return self._customer_command(acting, customer_id, expected_version, call)

    def resolve_complaint(self, acting: Acting, customer_id: str, *, complaint_id: str, resolution: str,
                          expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.resolve_complaint(
            complaint_id=as_uuid(complaint_id, "complaint_id"), resolution=resolution, actor=a,
            occurred_at=occurred_at))

    def schedule_return_visit(self, acting: Acting, customer_id: str, *, due_at: datetime, purpose: str,
                              expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.schedule_return_visit(
            due_at=due_at, purpose=purpose, actor=a, occurred_at=occurred_at))

    def complete_return_visit(self, acting: Acting, customer_id: str, *, visit_id: str, summary: str,
                              expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.complete_return_visit(
            visit_id=as_uuid(visit_id, "visit_id"), summary=summary, actor=a, occurred_at=occurred_at))

    def answer_survey(self, acting: Acting, customer_id: str, *, scores: dict[str, int], comment: str | None = None,
                      expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.answer_survey(
            scores=scores, comment=comment, actor=a, occurred_at=occurred_at))

    def reassign_customer(self, acting: Acting, customer_id: str, *, to_staff: str, reason: str,
                          expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        def call(customer: Customer, actor: Actor) -> None:
            target = self._get(StaffMember, to_staff)
            customer.reassign(to_staff=target.id, to_role=target.role_enum, to_active=target.active,
                              to_team=target.team, reason=reason, actor=actor, occurred_at=occurred_at)

        return self._customer_command(acting, customer_id, expected_version, call)

    def mark_customer_lost(self, acting: Acting, customer_id: str, *, reason: str, note: str | None = None,
                           expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.mark_lost(
            reason=reason, note=note, actor=a, occurred_at=occurred_at))

    def reactivate_customer(self, acting: Acting, customer_id: str, *, reason: str,
                            expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.reactivate(
            reason=reason, actor=a, occurred_at=occurred_at))

    def claim_from_pool(self, acting: Acting, customer_id: str, *, claimer: str | None = None,
                        expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        """Take a customer from the team's public pool (公客池): for the caller, or (a sales manager)
        for ``claimer``, a consultant or customer manager of the customer's team."""
        def call(customer: Customer, actor: Actor) -> None:
            target = self._get(StaffMember, claimer or actor.id)
            target.acting_as(actor.correlation_id)  # refuses a deactivated claimer
            customer.claim_from_pool(claimer_id=target.id, claimer_role=target.role_enum, claimer_team=target.team,
                                     actor=actor, occurred_at=occurred_at)

        return self._customer_command(acting, customer_id, expected_version, call)

    # --- the clock's commands: service levels, the public pool, after-sales ------------------
    # Called with the system actor (``Acting.system()``) for candidates a view found. Each re-checks
    # its rule on the record and refuses a stale candidate with a stable code (already answered,
    # warned, overdue, in the pool, touched recently, scheduled...), so nothing is recorded twice
    # or early. ``now`` is the clock's reading; the event's business time is the moment its rule
    # was broken (never before the record's previous event).

    def issue_sla_warning(self, acting: Acting, customer_id: str, *, item_kind: str, item_id: str, now: datetime,
                          expected_version: int | None = None) -> CommandResult:
        """75% of an open request's 24 hours or complaint's 72 hours have passed; entity_id is the item."""
        return self._sla_command(acting, customer_id, Customer.issue_sla_warning, item_kind, item_id, now,
                                 expected_version)

    def record_sla_breach(self, acting: Acting, customer_id: str, *, item_kind: str, item_id: str, now: datetime,
                          expected_version: int | None = None) -> CommandResult:
        """An open request or complaint is past its due time; entity_id is the item."""
        return self._sla_command(acting, customer_id, Customer.record_sla_breach, item_kind, item_id, now,
                                 expected_version)

    def _sla_command(self, acting: Acting, customer_id: str, record: Callable[..., None], item_kind: str,
                     item_id: str, now: datetime, expected_version: int | None) -> CommandResult:
        def call(customer: Customer, actor: Actor) -> uuid.UUID:
            item = as_uuid(item_id, "item_id")
            record(customer, item_kind=item_kind, item_id=item, now=now, actor=actor)
            return item

        return self._customer_command(acting, customer_id, expected_version, call)

    def return_to_pool(self, acting: Acting, customer_id: str, *, now: datetime,
                       protection: timedelta = POOL_PROTECTION_PERIOD,
                       expected_version: int | None = None) -> CommandResult:
        """The holder has not touched the customer for ``protection`` (whole days): to the team's pool."""
        return self._customer_command(acting, customer_id, expected_version, lambda c, a: c.return_to_pool(
            now=now, protection=protection, actor=a))

    def schedule_return_visit_after_handover(self, acting: Acting, customer_id: str, *, deal_id: str,
                                             after: timedelta = HANDOVER_RETURN_VISIT_AFTER,
                                             expected_version: int | None = None) -> CommandResult:
        """The after-sales return visit of a deal's handover, due ``after`` it; once per deal.
        entity_id is the visit (its id derives from the deal's: ``handover_visit_id``)."""
        return self._customer_command(acting, customer_id, expected_version,
                                      lambda c, a: c.schedule_handover_return_visit(
                                          deal_id=as_uuid(deal_id, "deal_id"), after=after, actor=a))

    # --- deals (each saved with the listing and customer it moves, in one transaction) ------

    def draft_deal(self, acting: Acting, *, customer_id: str, listing_id: str, price: int, terms: str,
                   occurred_at: datetime | None = None) -> CommandResult:
        def make(actor: Actor) -> tuple[Deal, Listing, Customer]:
            customer = self._get(Customer, customer_id)
            listing = self._get(Listing, listing_id)
            deal = Deal.draft(customer_id=customer.id, listing_id=listing.id, price=price, terms=terms,
                              actor=actor, occurred_at=occurred_at)
            when = deal.last_occurred_at
            listing.open_deal(deal_id=deal.id, actor=actor, occurred_at=when)
            customer.reach_deal_milestone(deal_id=deal.id, milestone=DealMilestone.DRAFTED, actor=actor,
                                          occurred_at=when)
            return deal, listing, customer

        return self._create(acting, make)

    def _deal_command(
        self,
        acting: Acting,
        deal_id: str,
        expected_version: int | None,
        call: Callable[[Deal, Actor], Any],
        *,
        listing_move: Callable[[Listing, Deal, Actor, datetime], None] | None = None,
        milestone: DealMilestone | None = None,
    ) -> CommandResult:
        def work(deal: Deal, actor: Actor) -> tuple[list[Any], str | None]:
            created = call(deal, actor)
            when = deal.last_occurred_at
            assert when is not None
            others: list[Any] = []
            if listing_move is not None:
                listing = self._get(Listing, deal.listing_id)
                listing_move(listing, deal, actor, when)
                others.append(listing)
            if milestone is not None:
                customer = self._get(Customer, deal.customer_id)
                customer.reach_deal_milestone(deal_id=deal.id, milestone=milestone, actor=actor, occurred_at=when)
                others.append(customer)
            return others, None if created is None else str(created)

        return self._run(acting, Deal, deal_id, expected_version, work)

    def submit_deal_for_review(self, acting: Acting, deal_id: str, *, expected_version: int | None = None,
                               occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.submit_for_review(
            actor=a, occurred_at=occurred_at))

    def approve_deal(self, acting: Acting, deal_id: str, *, note: str | None = None,
                     expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.approve(
            note=note, actor=a, occurred_at=occurred_at))

    def reject_deal(self, acting: Acting, deal_id: str, *, reason: str, expected_version: int | None = None,
                    occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.reject(
            reason=reason, actor=a, occurred_at=occurred_at))

    def sign_deal(self, acting: Acting, deal_id: str, *, contract_number: str,
                  expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(
            acting, deal_id, expected_version,
            lambda d, a: d.sign(contract_number=contract_number, actor=a, occurred_at=occurred_at),
            listing_move=lambda li, d, a, t: li.reserve(deal_id=d.id, actor=a, occurred_at=t),
            milestone=DealMilestone.SIGNED,
        )

    def require_deal_documents(self, acting: Acting, deal_id: str, *, kinds: list[str],
                               expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.require_documents(
            kinds=kinds, actor=a, occurred_at=occurred_at))

    def receive_deal_document(self, acting: Acting, deal_id: str, *, kind: str,
                              expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.receive_document(
            kind=kind, actor=a, occurred_at=occurred_at))

    def verify_deal_document(self, acting: Acting, deal_id: str, *, kind: str,
                             expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.verify_document(
            kind=kind, actor=a, occurred_at=occurred_at))

    def record_payment(self, acting: Acting, deal_id: str, *, kind: str, amount: int, payer_account: str,
                       expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(acting, deal_id, expected_version, lambda d, a: d.record_payment(
            kind=kind, amount=amount, payer_account=payer_account, actor=a, occurred_at=occurred_at))

    def settle_funds(self, acting: Acting, deal_id: str, *, expected_version: int | None = None,
                     occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(
            acting, deal_id, expected_version,
            lambda d, a: d.settle_funds(actor=a, occurred_at=occurred_at),
            listing_move=lambda li, d, a, t: li.mark_sold(deal_id=d.id, price=d.price, actor=a, occurred_at=t),
        )

    def confirm_handover(self, acting: Acting, deal_id: str, *, note: str | None = None,
                         expected_version: int | None = None, occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(
            acting, deal_id, expected_version,
            lambda d, a: d.confirm_handover(note=note, actor=a, occurred_at=occurred_at),
            milestone=DealMilestone.HANDED_OVER,
        )

    def close_deal(self, acting: Acting, deal_id: str, *, expected_version: int | None = None,
                   occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(
            acting, deal_id, expected_version,
            lambda d, a: d.close(actor=a, occurred_at=occurred_at),
            milestone=DealMilestone.CLOSED,
        )

    def cancel_deal(self, acting: Acting, deal_id: str, *, reason: str, expected_version: int | None = None,
                    occurred_at: datetime | None = None) -> CommandResult:
        return self._deal_command(
            acting, deal_id, expected_version,
            lambda d, a: d.cancel(reason=reason, actor=a, occurred_at=occurred_at),
            listing_move=lambda li, d, a, t: li.release(deal_id=d.id, reason="deal cancelled", actor=a,
                                                        occurred_at=t),
            milestone=DealMilestone.CANCELLED,
        )

    # --- queries ---------------------------------------------------------------------------

    def state(self, aggregate_id: str | uuid.UUID, *, version: int | None = None,
              at: datetime | None = None) -> dict[str, Any]:
        """Current state of any aggregate; or as of a version; or as recorded at a point in time."""
        if version is not None and at is not None:
            raise InvalidValue("as_of", "give a version or a time, not both")
        if at is not None:
            if at.tzinfo is None:
                raise InvalidValue("at", "must include a time zone offset")
            version = self._version_at(aggregate_id, at)
        if version is not None and version < 1:
            raise InvalidValue("version", "must be 1 or more")
        aggregate = self._get(object, aggregate_id, version=version)
        if version is not None and aggregate.version != version:
            raise NotFound("version", f"{aggregate_id}@{version}")
        return views.describe(aggregate)

    def history(self, aggregate_id: str | uuid.UUID) -> list[dict[str, Any]]:
        agg_id = as_uuid(aggregate_id)
        events = [views.describe_event(e) for e in self.events.get(agg_id)]
        if not events:
            raise NotFound("record", agg_id)
        return events

    def _version_at(self, aggregate_id: str | uuid.UUID, at: datetime) -> int:
        agg_id = as_uuid(aggregate_id)
        version = None
        for event in self.events.get(agg_id):
            if event.timestamp > at:
                break
            version = event.originator_version
        if version is None:
            raise NotFound("record at that time", agg_id)
        return version

    def staff_member(self, staff_id: str | uuid.UUID) -> dict[str, Any]:
        return views.describe(self._get(StaffMember, staff_id))

    def log_head(self) -> int:
        """Notification id of the newest event (0 for an empty log); cheap, unlike a count."""
        return self.recorder.max_notification_id() or 0

    def event_count(self) -> int:
        """Events in the log. Not ``log_head()``: PostgreSQL sequences leave gaps on rollback."""
        recorder: Any = self.recorder
        table = recorder.events_table_name
        if self.settings.database.backend == "sqlite":
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - our own table name
                return int(cursor.fetchone()[0])
        from psycopg.sql import SQL, Identifier

        with recorder.datastore.get_connection() as conn:
            row = conn.execute(
                SQL("SELECT COUNT(*) AS n FROM {}.{}").format(
                    Identifier(recorder.datastore.schema), Identifier(table)
                )
            ).fetchone()
            return int(row["n"])

    def staff_ids(self, page: int = 5000) -> list[str]:
        """Every staff member's id, in registration order (from the log's creation events)."""
        ids: list[str] = []
        start = 1
        while True:
            batch = self.recorder.select_notifications(
                start=start, limit=page, topics=[StaffMember.Registered.TOPIC])
            ids.extend(str(n.originator_id) for n in batch)
            if len(batch) < page:
                return ids
            start = batch[-1].id + 1

    def count_by_kind(self, page: int = 5000) -> dict[str, int]:
        """Records of each kind, counted from the log's creation events (no aggregate is loaded)."""
        counts = dict.fromkeys(_CREATION_TOPICS.values(), 0)
        start = 1
        while True:
            batch = self.recorder.select_notifications(start=start, limit=page, topics=list(_CREATION_TOPICS))
            for notification in batch:
                counts[_CREATION_TOPICS[notification.topic]] += 1
            if len(batch) < page:
                return counts
            start = batch[-1].id + 1


def _withholds_personal_data(state: Any) -> bool:
    """Whether a personal field anywhere in a record's state reads as erased or restricted."""
    if isinstance(state, dict):
        names = personal_field_names()
        return any(v in (ERASED, RESTRICTED) if k in names and isinstance(v, str) else _withholds_personal_data(v)
                   for k, v in state.items())
    if isinstance(state, list | tuple):
        return any(_withholds_personal_data(v) for v in state)
    return False
