"""The archive's year: service files (服务档案, manual ch. 7) for closed deals and lost customers, and
the customers of the predecessor system whose retention period has ended.

**The predecessor system.** Before the ledger, the brokerage kept its customers in another system.
A few customers it had received and lost more than three years ago came over with their history:
a customer manager recorded each one's reception, personal details and loss at the business times
they happened (commands accept back-dated business times; nothing is ever dated ahead of the
clock), before the year's story starts. Their files — the ID copy and the old registration form,
scanned — are taken in by the archivist in the first weeks of the year, checked, filed and sealed.
A customer file's retention clock runs from the last contact with a lost customer (3 years, see
``archive/default_retention.toml``), so these files are due for disposition now: the retention-due
list is not empty. The compliance officer places a legal hold on the first of them (a court's
request for evidence) and keeps it, and places and later releases one on the second, so a hold's
whole life is on file.

**The year's files.** Once a week the archivist makes a round: every deal closed since the last
round gets its deal file (contract, ID copy, receipt — the deal file's checklist), brought in by
whoever handled the deal, and every customer lost since gets a customer file (the ID copy). Some
contracts get a second version with the reason for it; some files are checked before the receipt
is in, found incomplete, and checked again once it is; a few are reopened after sealing (with the
reason) for a new version and filed and sealed again. The archivist checks, files (archive
number) and seals. A round near the end of the story may leave a file open: the story stops there.

Documents are small but real: a one-page PDF or a tiny greyscale PNG, each different, which the
document store accepts (``archive.content_types``) and encrypts like any other.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timedelta

from service.application import CommandResult
from service.demo import people
from service.demo.notes import _Customer, _Deal, _Staff
from service.demo.scheduler import Step, Thread
from service.demo.vocabulary import CHANNELS, LOSSES
from service.demo.world import DemoWorld

# A customer file runs 3 years from the last contact with a lost customer: the predecessor's
# customers were lost at least this long ago, so their files are due by a margin.
PREDECESSOR_LOST_BEFORE = timedelta(days=3 * 366 + 25)
PREDECESSOR_ARRIVED = (1230, 1660)  # days before today
VERSION_REASONS = ("客户补签补充协议第三页，替换原扫描件", "原扫描件不清晰，重新扫描归档", "金额大写笔误，双方确认后重新签署")
REOPEN_REASONS = ("客户补交收据原件，补充新版本后重新归档", "财务更正收据编号，补充更正后的收据")
RESCAN_REASON = "旧系统扫描件分辨率不足，按原件重新扫描"
HOLD_KEPT = "法院调查令：原客户与业主房屋买卖纠纷一案调取证据，暂停销毁"
HOLD_PLACED = "监管部门来函核查旧系统客户信息处理情况，核查期间暂停销毁"
HOLD_RELEASED = "监管核查已结束，未发现问题，解除保全"


def predecessor_customers(n: int) -> int:
    """How many of ``n`` demo customers come from the predecessor system (none in a tiny demo)."""
    if n < 5:
        return 0
    if n < 12:
        return 2
    return min(3 + (n - 12) // 60, 8)


class ArchiveStories(DemoWorld):
    """The archive's part of the story (see the module doc); needs the staff and customer stories."""

    # --- the predecessor system's customers -------------------------------------------------------

    def _import_predecessor_customers(self, count: int) -> None:
        """Record each customer's old history at its own business times, outside the year's
        scheduler (it lies years before the year's first command); their files come later."""
        for i in range(count):
            team = self.teams[i % len(self.teams)]
            keeper = team.customer_managers[0]
            days = self.rng.uniform(*PREDECESSOR_ARRIVED)
            arrival = self._office((self.today - timedelta(days=days)).replace(
                hour=self.rng.randint(9, 18), minute=self.rng.randrange(60), second=0, microsecond=0))
            c = _Customer(len(self.customers), "predecessor", arrival, team, self._pick(CHANNELS))
            self.customers.append(c)
            self.predecessors.append(c)
            ended = arrival + timedelta(minutes=self.rng.randint(15, 30))
            result = self.app.receive_customer(self._as(keeper), channel=c.channel, reception_started_at=arrival,
                                               reception_ended_at=ended, assigned_to=keeper.id, occurred_at=arrival)
            self._wrote(1, c, 1)
            c.id, c.owner, c.sales = result.id, keeper, keeper
            c.male = self.rng.random() < 0.5
            c.name, c.phone = people.name(self.rng, c.male), people.mobile(self.rng)
            c.id_number = people.id_number(self.rng, c.male, arrival.year)
            self._customer_cmd("record_personal_details", c, keeper, ended + timedelta(minutes=3), name=c.name,
                               phone=c.phone, id_number=c.id_number)
            lost_at = self._office(arrival + timedelta(days=self.rng.uniform(10, 90)))
            assert lost_at <= self.today - PREDECESSOR_LOST_BEFORE  # so that the file is due today
            reason = self._pick([(r, w) for r, _, w in LOSSES])
            note = next(text for r, text, _ in LOSSES if r == reason)
            self._customer_cmd("mark_customer_lost", c, keeper, lost_at, reason=reason, note=note)
            c.lost = True
            c.tags.append("predecessor")
            assert self.earliest is not None
            self.earliest = min(self.earliest, arrival)
            self.scheduler.story_told()

    # --- the archive's threads --------------------------------------------------------------------

    def _plan_archive(self) -> None:
        self._filed_deals: set[str] = set()
        self._filed_customers: set[int] = set()
        archivist = self._archivist = next(s for s in self.staff if s.role == "archivist")
        compliance = next(s for s in self.staff if s.role == "compliance_officer")
        migration = self._office(self.start + timedelta(days=self.rng.uniform(6, 14)))
        for i, c in enumerate(self.predecessors):
            self.scheduler.spawn(self._predecessor_file(c, archivist, compliance, migration + timedelta(hours=i * 3),
                                                        i))
        first_round = self.start + timedelta(days=(4 - self.start.weekday()) % 7 + 7)  # a Friday
        self.scheduler.spawn(self._rounds(archivist, first_round.replace(hour=15, minute=0)))

    def _predecessor_file(self, c: _Customer, archivist: _Staff, compliance: _Staff, start: datetime,
                          i: int) -> Thread:
        t = yield start
        file_id = self._open_file(archivist, "customer", c.id, "customer_file", t)
        t = yield t + timedelta(minutes=self.rng.randint(5, 20))
        id_copy = self._upload(archivist, file_id, t, scan(f"{file_id} id_copy 1"), kind="id_copy")
        t = yield t + timedelta(minutes=self.rng.randint(3, 10))
        self._upload(archivist, file_id, t, paper(f"{file_id} other 1", "Predecessor system registration form"),
                     kind="other")
        if i % 2 == 1:
            t = yield t + timedelta(minutes=self.rng.randint(10, 40))
            self._upload(archivist, file_id, t, scan(f"{file_id} id_copy 2"), document_id=id_copy,
                         reason=RESCAN_REASON)
        t = yield from self._check_file_seal(archivist, file_id, t)
        if i == 0:  # a court asks for evidence: the hold stays
            t = yield self._office(self.today - timedelta(days=self.rng.uniform(20, 60)))
            self._file_cmd("place_hold", compliance, file_id, t, reason=HOLD_KEPT)
            self.archive_counts["holds"] += 1
            c.tags.append("file on legal hold")
        elif i == 1:  # a regulator's enquiry: held, then released once it is over
            t = yield self._office(self.start + timedelta(days=self.rng.uniform(60, 120)))
            hold_id = self._file_cmd("place_hold", compliance, file_id, t, reason=HOLD_PLACED).entity_id
            self.archive_counts["holds"] += 1
            t = yield self._days(t, 20, 40)
            self._file_cmd("release_hold", compliance, file_id, t, hold_id=hold_id, reason=HOLD_RELEASED)

    def _rounds(self, archivist: _Staff, first: datetime) -> Thread:
        """Every Friday afternoon: files for the deals closed and the customers lost since last time."""
        t = first
        while True:
            t = yield t
            for deal in self.deals:
                if deal.status == "closed" and deal.id not in self._filed_deals:
                    self._filed_deals.add(deal.id)
                    self.scheduler.spawn(self._deal_file(deal, archivist, self._hours(t, 0.1, 2)))
            for c in self.customers:
                if c.lost and c.id and c.idx not in self._filed_customers and c.outcome != "predecessor":
                    self._filed_customers.add(c.idx)
                    self.scheduler.spawn(self._customer_file(c, archivist, self._hours(t, 0.1, 2)))
            t = (t + timedelta(days=7)).replace(hour=15, minute=0)

    def _deal_file(self, deal: _Deal, archivist: _Staff, start: datetime) -> Thread:
        rng = self.rng
        handler = deal.drafter if deal.by_manager else deal.customer.sales
        bringer = handler if handler is not None and handler.active else archivist
        t = yield start
        file_id = self._open_file(bringer, "deal", deal.id, "deal_file", t)
        t = yield t + timedelta(minutes=rng.randint(2, 15))
        contract = self._upload(bringer, file_id, t, paper(f"{file_id} contract 1", "Brokerage service contract"),
                                kind="contract")
        t = yield t + timedelta(minutes=rng.randint(2, 10))
        self._upload(bringer, file_id, t, scan(f"{file_id} id_copy 1"), kind="id_copy")
        if rng.random() < 0.3:
            t = yield self._hours(t, 2, 48)
            self._upload(bringer, file_id, t, paper(f"{file_id} contract 2", "Brokerage service contract, signed"),
                         document_id=contract, reason=rng.choice(VERSION_REASONS))
        late_receipt = rng.random() < 0.2
        if late_receipt:  # checked before the receipt is in: incomplete, checked again once it is
            t = yield self._hours(t, 4, 72)
            self._file_cmd("check_completeness", archivist, file_id, t)
            t = yield self._days(t, 1, 4)
        else:
            t = yield t + timedelta(minutes=rng.randint(2, 10))
        receipt = self._upload(bringer, file_id, t, paper(f"{file_id} receipt 1", "Receipt"), kind="receipt")
        t = yield from self._check_file_seal(archivist, file_id, t)
        if rng.random() < 0.1:  # reopened with the reason, a new version, filed and sealed again
            t = yield self._days(t, 3, 30)
            self._file_cmd("reopen", archivist, file_id, t, reason=rng.choice(REOPEN_REASONS))
            t = yield self._hours(t, 1, 24)
            self._upload(archivist, file_id, t, paper(f"{file_id} receipt 2", "Receipt, corrected"),
                         document_id=receipt, reason="更正后的收据")
            t = yield from self._check_file_seal(archivist, file_id, t)

    def _customer_file(self, c: _Customer, archivist: _Staff, start: datetime) -> Thread:
        t = yield start
        file_id = self._open_file(archivist, "customer", c.id, "customer_file", t)
        t = yield t + timedelta(minutes=self.rng.randint(2, 15))
        self._upload(archivist, file_id, t, scan(f"{file_id} id_copy 1"), kind="id_copy")
        t = yield from self._check_file_seal(archivist, file_id, t)

    def _check_file_seal(self, archivist: _Staff, file_id: str, t: datetime) -> Step[datetime]:
        """The archivist's part (归档流程 7.2): check completeness, file (archive number), seal."""
        t = yield self._hours(t, 1, 72)
        self._file_cmd("check_completeness", archivist, file_id, t)
        t = yield t + timedelta(minutes=self.rng.randint(2, 20))
        self._file_cmd("file", archivist, file_id, t)
        t = yield self._hours(t, 1, 48)
        self._file_cmd("seal", archivist, file_id, t)
        self.archive_counts["sealed"] += 1
        return t

    # --- commands -----------------------------------------------------------------------------------

    def _still(self, staff: _Staff) -> _Staff:
        """Whoever brings papers in, if still with us; else the archivist takes them in."""
        return staff if staff.active else self._archivist

    def _open_file(self, staff: _Staff, owner_kind: str, owner_id: str, record_class: str, t: datetime) -> str:
        result = self.app.open_service_file(self._as(self._still(staff)), owner_kind=owner_kind, owner_id=owner_id,
                                            record_class=record_class, occurred_at=t)
        self._wrote(1)
        self.archive_counts["service_files"] += 1
        return str(result.id)

    def _upload(self, staff: _Staff, file_id: str, t: datetime, content: bytes, *, kind: str | None = None,
                document_id: str | None = None, reason: str | None = None) -> str:
        result = self.app.upload_document(self._as(self._still(staff)), file_id, content=content, kind=kind,
                                          document_id=document_id, reason=reason, occurred_at=t)
        self._wrote(1)
        self.archive_counts["versions"] += 1
        if document_id is None:
            self.archive_counts["documents"] += 1
        return str(result.entity_id)

    def _file_cmd(self, action: str, staff: _Staff, file_id: str, t: datetime, **kwargs: object) -> CommandResult:
        result: CommandResult = self.app.file_command(self._as(staff), file_id, action, occurred_at=t, **kwargs)
        self._wrote(1)
        return result


# --- small real documents -----------------------------------------------------------------------------


def paper(label: str, title: str) -> bytes:
    """A one-page PDF whose text names the document (no personal data: ids and a title only)."""
    text = f"BT /F1 11 Tf 36 150 Td (Realty Ledger demo - {title}) Tj 0 -16 Td ({label}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def scan(label: str) -> bytes:
    """A tiny greyscale PNG, a "scan" whose pixels are drawn from the label (so each one differs)."""
    width, height = 24, 16
    seed = zlib.crc32(label.encode())
    rows = b"".join(b"\x00" + bytes((seed >> (x % 24) ^ x * 7 ^ y * 13) & 0xFF for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
