"""Demo data: a year in the life of a Shanghai brokerage, told only through the ledger's commands.

``load_demo`` registers staff, lists properties and walks customers through every stage of the
manual: reception, matching (needs, shortlists, showings and feedback), signing (drafts, reviews,
rejections and resubmissions), transaction (documents, payments, settlement) and after-sales
(handover, return visits, surveys), with lost and reactivated customers, cancelled deals,
requests and complaints answered on time or late, corrections, reassignments, training,
assessments, incentives and a consultant who leaves.

Every record is written through a command method of ``RealtyLedger`` with the acting identity of
the role the manual gives that work, so every rule of the domain is enforced: a ``DomainError``
raised here is a bug in this module, never something to swallow.

The year is simulated, not scripted record by record. Each customer, listing and staff member
is a *thread*: a generator that yields the business time of its next command. One scheduler
resumes the threads in global time order, so every record (customers, listings shared by many
customers, deals, staff) only ever moves forward in time, and a decision such as "which listing is
still free" sees the world as it was at that moment. Choices come only from
``random.Random(seed)`` and the threads run in an order fixed by the seed, so the same seed tells
the same story (the ids differ from run to run; the counts and the shape do not). All business
times fall before the start of ``now``'s day in Shanghai, so the story does not depend on the
time of day the demo is loaded.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

from domain.customer_values import Stage, id_check_character
from domain.rules import COMPLAINT_RESOLUTION_WINDOW, REQUEST_RESPONSE_WINDOW, SATISFIED_SCORES
from service.application import Acting, CommandResult, RealtyLedger

__all__ = ["DemoSummary", "load_demo"]

SHANGHAI = timezone(timedelta(hours=8), "CST")
TICK = timedelta(milliseconds=1)  # two commands never share a business time
MAX_FUTURE = timedelta(minutes=5)

# A thread yields the business time it wants to act at and is resumed with the time it got.
Thread = Generator[datetime, datetime, None]
T = TypeVar("T")
Step = Generator[datetime, datetime, T]


# --- the summary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What ``load_demo`` wrote, and where to look.

    ``showcase`` maps a label to a *customer* id (one in each stage, and a few with a telling
    history); ``records`` maps a label to the id of another record, the label starting with its
    kind (``deal``, ``listing`` or ``staff``). ``run_id`` is the prefix of the correlation id of
    every event the demo wrote (``demo-<run_id>-…``).
    """

    seed: int
    staff: int
    teams: int
    listings: int
    listings_by_status: dict[str, int]
    customers: int
    customers_by_stage: dict[str, int]
    lost_customers: int
    reactivated_customers: int
    reassignments: int
    showings: int
    deals: int
    deals_by_outcome: dict[str, int]
    requests: int
    requests_late: int
    requests_open: int
    complaints: int
    complaints_late: int
    complaints_open: int
    surveys: int
    satisfaction_rate: float
    trainings: int
    assessments: int
    incentives: int
    events: int
    earliest: datetime
    latest: datetime
    seconds: float
    run_id: str
    showcase: dict[str, str]
    records: dict[str, str]

    STAGE_LABELS: ClassVar[dict[str, str]] = {
        Stage.RECEPTION.value: "customer in reception",
        Stage.MATCHING.value: "customer in matching",
        Stage.SIGNING.value: "customer in signing",
        Stage.TRANSACTION.value: "customer in transaction",
        Stage.AFTER_SALES.value: "customer in after_sales",
        Stage.LOST.value: "customer lost",
    }

    def shape(self) -> dict[str, Any]:
        """Everything but ids, the run id and the time taken: equal for equal seeds (and ``now``)."""
        data = asdict(self)
        for volatile in ("seconds", "run_id"):
            data.pop(volatile)
        data["showcase"] = sorted(self.showcase)
        data["records"] = sorted(self.records)
        return data


# --- vocabulary --------------------------------------------------------------------------------

# district: (full name, typical price per m² in yuan, roads, resident-ID region code)
DISTRICTS: dict[str, tuple[str, int, tuple[str, ...], str]] = {
    "浦东": ("浦东新区", 68_000, ("张杨路", "世纪大道", "锦绣路", "杨高南路", "东方路", "川沙路", "金桥路"), "310115"),
    "徐汇": ("徐汇区", 92_000, ("漕溪北路", "龙华中路", "田林路", "宛平南路", "斜土路", "虹梅路"), "310104"),
    "静安": ("静安区", 98_000, ("南京西路", "延安中路", "共和新路", "江宁路", "大统路", "广中路"), "310106"),
    "闵行": ("闵行区", 58_000, ("七莘路", "莘庄路", "虹井路", "都市路", "沪闵路", "古美路"), "310112"),
    "长宁": ("长宁区", 86_000, ("天山路", "虹桥路", "仙霞路", "古北路", "哈密路", "中山西路"), "310105"),
    "普陀": ("普陀区", 62_000, ("真北路", "曹杨路", "长寿路", "金沙江路", "武宁路", "铜川路"), "310107"),
    "杨浦": ("杨浦区", 66_000, ("控江路", "黄兴路", "国权路", "邯郸路", "长阳路", "殷行路"), "310110"),
    "宝山": ("宝山区", 46_000, ("牡丹江路", "共康路", "友谊路", "淞宝路", "泰和路", "场中路"), "310113"),
    "虹口": ("虹口区", 76_000, ("四川北路", "曲阳路", "大连路", "凉城路", "广灵四路"), "310109"),
    "嘉定": ("嘉定区", 39_000, ("墨玉路", "城中路", "博乐路", "洪德路", "塔城路"), "310114"),
}
DISTRICT_NAMES = tuple(DISTRICTS)
DISTRICT_WEIGHTS = (18, 11, 8, 14, 8, 9, 9, 9, 7, 7)
OTHER_REGIONS = ("320102", "320583", "330106", "330204", "340104", "110105", "420106", "510107",
                 "370202", "410105", "360102", "350203", "430104", "230103")

SURNAMES = ("王李张刘陈杨黄赵吴周" * 3 + "徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
            "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺"
            "顾毛郝龚邵万钱严覃武戴莫孔汤施陆沈顾")
GIVEN_MALE = ("伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "斌", "浩", "鹏", "宇", "俊", "峰",
              "建国", "志强", "文博", "子轩", "浩然", "宇航", "晨阳", "思远", "嘉豪", "国华", "永康",
              "立新", "海波", "振华", "俊杰", "明哲", "天佑")
GIVEN_FEMALE = ("芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "琳", "颖", "倩", "佳怡",
                "欣怡", "雨涵", "梓涵", "思琪", "晓燕", "丽华", "美玲", "秀英", "雅琴", "慧敏", "婉清",
                "诗涵", "嘉欣", "玉兰", "春梅", "晓雯", "静怡", "若曦")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181",
                   "182", "183", "185", "186", "187", "188", "189", "191", "193", "195", "198", "199")
CARD_PREFIXES = ("622848", "622202", "621700", "622588", "621226", "622908", "623058", "621483")

TEAM_NAMES = ("浦东一组", "徐汇二组", "静安三组", "闵行四组", "长宁五组", "普陀六组")
COURSES = ("新员工入职培训", "服务礼仪与接待规范", "产权与按揭政策解读", "个人信息保护法合规",
           "投诉处理与沟通技巧", "合同签约风险防范", "房源匹配与需求分析", "资金监管与交易安全")

CHANNELS = (("walk_in", 40), ("phone", 20), ("online", 28), ("referral", 12))
PURPOSES = (("home", 45), ("upgrade", 25), ("education", 15), ("investment", 8), ("retirement", 7))
PAYMENTS = (("full", 18), ("commercial_mortgage", 45), ("provident_fund", 12), ("combined_loan", 25))
OBJECTIONS = ("价格偏高", "楼层不理想", "采光一般", "离地铁较远", "小区环境一般", "户型不方正", "装修老旧",
              "学区不符合预期", "临街噪音较大", "物业费偏高", "车位紧张", "房龄偏老")
RESCHEDULE_REASONS = ("客户临时加班，改期", "业主时间冲突，协商改期", "暴雨天气，改期看房", "客户家人同行，改到周末")
CANCEL_REASONS = ("客户临时有事取消", "业主暂不方便看房", "客户已看中其他房源", "客户预算调整，暂不看房")
# Requests and complaints fit where the customer is: (subject, response) by stage.
_EARLY_REQUESTS = (
    ("询问房源最新报价及议价空间", "已向业主确认最新报价，并告知议价空间"),
    ("咨询公积金贷款额度与流程", "已发送公积金贷款额度测算及所需材料清单"),
    ("要求提供小区对口学校信息", "已提供对口学校及近三年入学政策说明"),
    ("咨询交易税费如何计算", "已按满五唯一情况测算税费并发送明细"),
    ("希望周末安排看房", "已与业主确认周六上午的看房时间"),
    ("要求补发看房资料和户型图", "已通过邮件补发户型图及小区资料"),
)
_DEAL_REQUESTS = (
    ("询问合同审核进度", "已向销售经理确认审核进度，预计明日出具意见"),
    ("查询贷款审批进度", "已联系银行确认审批进度并告知客户"),
    ("询问交房及户口迁出时间", "已与业主确认交房及户口迁出的时间安排"),
    ("咨询资金监管账户的到账时间", "已向监管银行确认到账时间并告知客户"),
)
_AFTER_REQUESTS = (
    ("咨询装修备案流程", "已发送物业装修备案流程及所需材料"),
    ("要求协助办理水电煤过户", "已预约水电煤过户并告知所需材料"),
    ("询问不动产权证领取时间", "已向交易中心确认领证时间并告知客户"),
)
REQUESTS = {"reception": _EARLY_REQUESTS, "matching": _EARLY_REQUESTS, "lost": _EARLY_REQUESTS,
            "signing": _DEAL_REQUESTS, "transaction": _DEAL_REQUESTS, "after_sales": _AFTER_REQUESTS}
_EARLY_COMPLAINTS = (
    ("服务态度", "顾问两次带看迟到且未提前告知"),
    ("信息不实", "房源实际楼层与挂牌介绍不符"),
    ("看房安排", "带看时间多次变更，耽误了客户的工作安排"),
    ("隐私保护", "客户接到陌生推销电话，怀疑个人信息被泄露"),
)
_DEAL_COMPLAINTS = (
    ("合同条款", "对补充条款中的违约金比例有异议"),
    ("收费争议", "对中介服务费的收取标准有疑问"),
    ("服务态度", "签约当天顾问解释付款节点不耐心"),
)
_AFTER_COMPLAINTS = (
    ("交房质量", "交房时发现厨房渗水，业主迟迟未处理"),
    ("收费争议", "交房后发现物业费未按约定结清"),
)
COMPLAINTS = {"reception": _EARLY_COMPLAINTS, "matching": _EARLY_COMPLAINTS, "lost": _EARLY_COMPLAINTS,
              "signing": _DEAL_COMPLAINTS, "transaction": _DEAL_COMPLAINTS, "after_sales": _AFTER_COMPLAINTS}
RESOLUTIONS = ("已向客户当面致歉并调整服务安排，客户表示接受", "已核实情况并书面说明，客户认可处理结果",
               "已协调业主维修并减免部分服务费，客户满意", "已加强顾问培训并更换对接人，客户同意继续合作")
LOSSES = (
    ("price", "预算与挂牌价差距较大，暂缓购房", 22),
    ("location", "更倾向于离工作地点近的区域", 12),
    ("competitor", "已通过其他中介机构成交", 20),
    ("financing", "贷款资格未通过审核", 10),
    ("no_response", "多次电话、微信联系均未回复", 22),
    ("service", "对带看安排不满意，不再继续合作", 6),
    ("other", "家庭计划变化，购房计划推迟", 8),
)
REJECTIONS = ("购房资格证明缺失，请补充后重新提交", "补充条款中违约金比例不符合公司标准",
              "付款节点与资金监管要求不一致", "房屋抵押情况未在合同中披露")
APPROVAL_NOTES = ("资料齐全，条款符合规范", "已核实产权与资金监管安排", "复核通过，可安排签约")
HANDOVER_NOTES = ("钥匙两把、门禁卡两张，水电煤读数已确认", "钥匙三把，物业交割单已签署", "户口已迁出，交房验收无异议")
VISIT_SUMMARIES = ("入住顺利，对交易过程满意", "客户反馈物业服务良好，暂无售后需求", "客户咨询装修备案流程，已解答",
                   "客户对小区停车管理有意见，已转告物业", "客户有意推荐亲友购房")
GOOD_COMMENTS = ("顾问专业耐心，流程清楚", "服务及时，资料准备很细致", "交易过程透明，很放心", None, None)
BAD_COMMENTS = ("带看安排比较混乱", "回复不够及时", "费用说明不够清楚")


# --- what the demo keeps track of (never the aggregates themselves) ----------------------------


@dataclass(eq=False)
class _Team:
    name: str
    managers: list[_Staff] = field(default_factory=list)
    consultants: list[_Staff] = field(default_factory=list)
    customer_managers: list[_Staff] = field(default_factory=list)
    services: list[_Staff] = field(default_factory=list)


@dataclass(eq=False)
class _Staff:
    idx: int
    id: str
    name: str
    role: str
    team: _Team | None
    registered_at: datetime
    active: bool = True
    away_until: datetime | None = None  # on leave or leaving: given no new customers
    customers: dict[int, _Customer] = field(default_factory=dict)  # held, by customer number
    signed_at: list[datetime] = field(default_factory=list)
    promoted: bool = False
    incentives: int = 0


@dataclass(eq=False)
class _Listing:
    idx: int
    id: str
    district: str
    area: float
    rooms: int
    price: int
    status: str = "available"
    open_deal: _Deal | None = None
    held_for: _Customer | None = None  # listed for one buyer, who drafts on it next
    price_changes: int = 0


@dataclass(eq=False)
class _Deal:
    id: str
    customer: _Customer
    listing: _Listing
    price: int
    drafter: _Staff
    by_manager: bool
    status: str = "drafted"
    rejected: bool = False
    paid: int = 0


@dataclass(eq=False)
class _Customer:
    idx: int
    outcome: str
    arrival: datetime
    team: _Team
    channel: str
    id: str = ""
    owner: _Staff | None = None  # the holder of the record (consultant, later customer manager)
    sales: _Staff | None = None  # the consultant who does the selling
    name: str = ""
    male: bool = True
    phone: str = ""
    id_number: str | None = None
    account: str = ""
    needs: dict[str, Any] | None = None
    shortlist: list[_Listing] = field(default_factory=list)
    showings: int = 0
    deals: dict[str, str] = field(default_factory=dict)  # deal id -> latest milestone
    lost: bool = False
    tags: list[str] = field(default_factory=list)  # what makes the record worth showing
    events: int = 0
    threads: int = 0

    @property
    def stage(self) -> str:
        # The same derivation as domain.customer.Customer.stage, from what the demo wrote.
        if self.lost:
            return Stage.LOST.value
        milestones = set(self.deals.values())
        if milestones & {"handed_over", "closed"}:
            return Stage.AFTER_SALES.value
        if "signed" in milestones:
            return Stage.TRANSACTION.value
        if "drafted" in milestones:
            return Stage.SIGNING.value
        if self.needs or self.shortlist or self.showings or self.deals:
            return Stage.MATCHING.value
        return Stage.RECEPTION.value


@dataclass(frozen=True)
class _DealPlan:
    stop: str  # drafted, in_review, rejected, approved, documents, payments, settled, handed_over, closed
    reject_first: bool = False
    cancel_at: str | None = None  # drafted, approved or signed
    by_manager: bool = False


# Final outcome of a customer's story, and its share of the customers.
OUTCOMES = (
    ("reception", 0.08),
    ("matching", 0.37),
    ("lost", 0.13),
    ("reactivated", 0.04),
    ("cancelled", 0.05),
    ("signing", 0.07),
    ("transaction", 0.08),
    ("after_sales", 0.18),
)
# How long before the end of the story each outcome's customers arrive (days).
ARRIVAL_DAYS = {
    "reception": (1, 20), "matching": (4, 150), "lost": (30, 365), "reactivated": (150, 365),
    "cancelled": (75, 330), "signing": (50, 140), "transaction": (90, 200), "after_sales": (170, 365),
}


# --- the loader ----------------------------------------------------------------------------------


def load_demo(
    app: RealtyLedger,
    *,
    customers: int = 200,
    seed: int = 2026,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write a year of deterministic demo history through ``app``'s commands; see the module doc.

    ``progress(k)`` is called each time another customer's story is complete (k = 1 … customers).
    ``now`` (default: the clock) fixes the end of the story: every business time is before the
    start of that day in Shanghai. The same ``seed`` and ``now`` give the same story.
    """
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError("customers must be a whole number of at least 1")
    clock = datetime.now(UTC)
    now = clock if now is None else now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must include a time zone offset")
    if now > clock + MAX_FUTURE:
        raise ValueError("now must not be in the future")
    return _Demo(app, customers=customers, seed=seed, now=now, progress=progress).run()


class _Demo:
    def __init__(self, app: RealtyLedger, *, customers: int, seed: int, now: datetime,
                 progress: Callable[[int], None] | None) -> None:
        self.app = app
        self.n_customers = customers
        self.seed = seed
        self.rng = random.Random(seed)
        self.progress = progress
        local_now = now.astimezone(SHANGHAI)
        self.today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.horizon = self.today  # nothing happens from today on
        self.start = self.today - timedelta(days=365)
        self.run_id = uuid.uuid4().hex[:12]  # correlation ids only; never a choice
        self._correlation = itertools.count(1)
        # the scheduler
        self._heap: list[tuple[datetime, int, Thread, _Customer | None]] = []
        self._seq = itertools.count()
        self.clock: datetime | None = None
        self.earliest: datetime | None = None
        # the world as written so far
        self.staff: list[_Staff] = []
        self.teams: list[_Team] = []
        self.admin: _Staff | None = None
        self.listings: list[_Listing] = []
        self.customers: list[_Customer] = []
        self.deals: list[_Deal] = []
        self.events = 0
        self.done = 0
        self.counts = dict.fromkeys(
            ("reassignments", "showings", "trainings", "assessments", "incentives", "reactivated"), 0)
        self.requests: list[tuple[datetime, datetime | None]] = []
        self.complaints: list[tuple[datetime, datetime | None]] = []
        self.surveys: list[int] = []
        self.contracts = itertools.count(1)
        self.records: dict[str, str] = {}
        self._complaint_plan: dict[int, str] = {}
        self._staff_names: set[str] = set()

    # --- scheduler -------------------------------------------------------------------------

    def spawn(self, thread: Thread, owner: _Customer | None = None) -> None:
        if owner is not None:
            owner.threads += 1
        self._resume(thread, owner, None)

    def _resume(self, thread: Thread, owner: _Customer | None, when: datetime | None) -> None:
        try:
            wanted = thread.send(when)  # type: ignore[arg-type]  # None starts a thread
        except StopIteration:
            self._thread_done(owner)
            return
        if wanted >= self.horizon:  # the rest of this thread lies in the future: it stops here
            thread.close()
            self._thread_done(owner)
            return
        heapq.heappush(self._heap, (wanted, next(self._seq), thread, owner))

    def _thread_done(self, owner: _Customer | None) -> None:
        if owner is None:
            return
        owner.threads -= 1
        if owner.threads == 0:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done)

    def _run_threads(self) -> None:
        while self._heap:
            wanted, _, thread, owner = heapq.heappop(self._heap)
            # Strictly increasing business time across all commands, hence within every record.
            when = wanted if self.clock is None or wanted > self.clock else self.clock + TICK
            self.clock = when
            self._resume(thread, owner, when)

    # --- commands: every write goes through the application, and is counted -----------------

    def _as(self, staff: _Staff | None) -> Acting:
        correlation = f"demo-{self.run_id}-{next(self._correlation):07d}"
        if staff is None:
            return Acting.system(correlation)
        assert staff.active, f"{staff.name} is no longer active"  # a bug in this module
        return Acting(staff.id, correlation_id=correlation)

    def _wrote(self, events: int, customer: _Customer | None = None, customer_events: int = 0) -> None:
        self.events += events
        if customer is not None:
            customer.events += customer_events

    def _customer_cmd(self, command: str, c: _Customer, staff: _Staff, t: datetime, **kwargs: Any) -> CommandResult:
        result: CommandResult = getattr(self.app, command)(self._as(staff), customer_id=c.id, occurred_at=t, **kwargs)
        self._wrote(1, c, 1)
        return result

    # Events each deal command writes: the deal's own, and its mirrors on the listing and customer.
    _DEAL_MIRRORS = {"sign_deal": (2, 1), "settle_funds": (1, 0), "confirm_handover": (1, 1),
                     "close_deal": (1, 1), "cancel_deal": (2, 1)}

    def _deal_cmd(self, command: str, deal: _Deal, staff: _Staff, t: datetime, **kwargs: Any) -> CommandResult:
        result: CommandResult = getattr(self.app, command)(self._as(staff), deal_id=deal.id, occurred_at=t, **kwargs)
        extra, on_customer = self._DEAL_MIRRORS.get(command, (0, 0))
        self._wrote(1 + extra, deal.customer, on_customer)
        return result

    def _staff_cmd(self, command: str, target: _Staff, actor: _Staff | None, t: datetime,
                   **kwargs: Any) -> CommandResult:
        result: CommandResult = getattr(self.app, command)(self._as(actor), staff_id=target.id, occurred_at=t,
                                                           **kwargs)
        self._wrote(1)
        return result

    # --- time and chance -------------------------------------------------------------------

    def _pick(self, pairs: Sequence[tuple[T, int]]) -> T:
        items = [p[0] for p in pairs]
        weights = [p[1] for p in pairs]
        return self.rng.choices(items, weights)[0]

    def _office(self, dt: datetime) -> datetime:
        """The same moment if within office hours (09:00-20:00 Shanghai), else the next opening."""
        local = dt.astimezone(SHANGHAI)
        if 9 <= local.hour < 20:
            return local
        if local.hour >= 20:
            local += timedelta(days=1)
        return local.replace(hour=9, minute=self.rng.randrange(60), second=self.rng.randrange(60), microsecond=0)

    def _hours(self, t: datetime, low: float, high: float, office: bool = True) -> datetime:
        dt = (t + timedelta(seconds=self.rng.uniform(low, high) * 3600)).replace(microsecond=0)
        return self._office(dt) if office else dt.astimezone(SHANGHAI)

    def _days(self, t: datetime, low: float, high: float) -> datetime:
        return self._hours(t, low * 24, high * 24)

    def _before(self, t: datetime, appointment: datetime) -> datetime:
        """A moment in office hours between now and an appointment at least a day ahead."""
        moment = self._office((t + (appointment - t) * self.rng.uniform(0.2, 0.8)).replace(microsecond=0))
        return min(moment, appointment - timedelta(hours=1))

    def _slot(self, t: datetime, low_days: int, high_days: int) -> datetime:
        """An appointment: a whole day or more ahead, between 10:00 and 18:00."""
        day = t.astimezone(SHANGHAI) + timedelta(days=self.rng.randint(low_days, high_days))
        return day.replace(hour=self.rng.randint(10, 17), minute=self.rng.choice((0, 15, 30, 45)), second=0,
                           microsecond=0)

    # --- people and numbers ------------------------------------------------------------------

    def _name(self, male: bool) -> str:
        given = self.rng.choice(GIVEN_MALE if male else GIVEN_FEMALE)
        return self.rng.choice(SURNAMES) + given

    def _mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + "".join(str(self.rng.randrange(10)) for _ in range(8))

    def _id_number(self, male: bool, region: str | None = None) -> str:
        if region is None:
            shanghai = self.rng.random() < 0.6
            region = self.rng.choice([d[3] for d in DISTRICTS.values()]) if shanghai else self.rng.choice(OTHER_REGIONS)
        age = self.rng.randint(24, 66)
        birth = date(self.today.year - age, 1, 1) + timedelta(days=self.rng.randrange(365))
        order = self.rng.randrange(100) * 10 + self.rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
        first17 = f"{region}{birth:%Y%m%d}{order:03d}"
        return first17 + id_check_character(first17)

    def _card(self) -> str:
        """A UnionPay-style card number of 16-19 digits with a Luhn check digit."""
        length = self.rng.choice((16, 19, 19, 19, 17, 18))
        body = self.rng.choice(CARD_PREFIXES)
        body += "".join(str(self.rng.randrange(10)) for _ in range(length - len(body) - 1))
        total = 0
        for i, ch in enumerate(reversed(body)):
            d = int(ch)
            if i % 2 == 0:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        return body + str((10 - total % 10) % 10)

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> DemoSummary:
        began = time.perf_counter()
        self._register_founding_staff()
        self._plan_listings()
        self._plan_customers()
        self._plan_staff_changes()
        for staff in list(self.staff):
            self.spawn(self._staff_year(staff))
        self.spawn(self._incentives())
        self._run_threads()
        return self._summary(time.perf_counter() - began)

    # --- staff -------------------------------------------------------------------------------

    def _register(self, by: _Staff | None, t: datetime, name: str, role: str, team: _Team | None,
                  team_name: str) -> _Staff:
        result = self.app.register_staff(self._as(by), name=name, role=role, team=team_name, occurred_at=t)
        self._wrote(1)
        staff = _Staff(len(self.staff), result.id, name, role, team, t)
        self.staff.append(staff)
        if team is not None:
            {"sales_manager": team.managers, "property_consultant": team.consultants,
             "customer_manager": team.customer_managers, "customer_service": team.services}[role].append(staff)
        return staff

    def _register_founding_staff(self) -> None:
        n = self.n_customers
        n_teams = 2 if n < 150 else 3 if n < 600 else 4 if n < 1500 else 5
        per_team = max(2, min(10, round(n / n_teams / 45)))
        t = self._office(self.start - timedelta(days=45)).replace(hour=9, minute=30, second=0)
        self.earliest = t
        # The system registers the administrator, who registers everyone else.
        self.admin = self._register(None, t, self._unique_name(), "administrator", None, "行政部")
        for role, dept in (("compliance_officer", "合规部"), ("archivist", "档案室")):
            t += timedelta(minutes=self.rng.randint(2, 6))
            self._register(self.admin, t, self._unique_name(), role, None, dept)
        for team_name in TEAM_NAMES[:n_teams]:
            team = _Team(team_name)
            self.teams.append(team)
            big = per_team >= 6
            roles = (["sales_manager"] * 2 + ["property_consultant"] * per_team
                     + ["customer_manager"] * (2 if big else 1) + ["customer_service"] * (2 if big else 1))
            for role in roles:
                t += timedelta(minutes=self.rng.randint(2, 6))
                self._register(self.admin, t, self._unique_name(), role, team, team_name)
        self.clock = t

    def _staff_year(self, s: _Staff) -> Thread:
        """Training through the year and quarterly assessments (manual ch. 6)."""
        rng = self.rng
        plan: list[tuple[datetime, str, str]] = []
        if s.registered_at > self.start:  # a new hire starts with onboarding
            plan.append((self._days(s.registered_at, 1, 3), "training", COURSES[0]))
        for course in rng.sample(COURSES[1:], rng.randint(1, 3)):
            plan.append((self._days(max(s.registered_at, self.start), 5, 330), "training", course))
        if s.role != "administrator":
            for q_start, q_end, label in self._quarters():
                if s.registered_at < q_end - timedelta(days=30):
                    plan.append((self._days(q_end, 4, 15), "assessment", label))
        plan.sort(key=lambda item: item[0])
        for when, kind, what in plan:
            t = yield when
            if not s.active:
                return
            if kind == "training":
                score = max(60, min(100, round(rng.gauss(85, 8))))
                trainer = self.admin if s is not self.admin else None
                self._staff_cmd("record_training", s, trainer, t, course=what, score=score)
                self.counts["trainings"] += 1
            else:
                if s.role in ("sales_manager", "compliance_officer", "archivist") or s.team is None:
                    assessor = self.admin
                else:
                    assessor = s.team.managers[0]
                score = max(55, min(99, round(rng.gauss(82, 8))))
                self._staff_cmd("record_assessment", s, assessor, t, period=what, score=score)
                self.counts["assessments"] += 1

    def _quarters(self) -> list[tuple[datetime, datetime, str]]:
        """The last four complete calendar quarters: (start, end, label)."""
        end = self.today.replace(month=3 * ((self.today.month - 1) // 3) + 1, day=1)
        out = []
        for _ in range(4):
            month, year = end.month - 3, end.year
            if month < 1:
                month, year = month + 12, year - 1
            start = end.replace(year=year, month=month)
            out.append((start, end, f"{year}-Q{(month - 1) // 3 + 1}"))
            end = start
        return out[::-1]

    def _incentives(self) -> Thread:
        """Quarterly bonuses for the consultant with most contracts signed (考核与激励)."""
        for q_start, q_end, label in self._quarters()[-2:]:
            t = yield self._days(q_end, 10, 20)
            best: tuple[int, int] | None = None
            winner = None
            for s in self.staff:
                if s.role != "property_consultant" or not s.active:
                    continue
                signed = sum(1 for at in s.signed_at if q_start <= at < q_end)
                if signed and (best is None or (signed, -s.idx) > best):
                    best, winner = (signed, -s.idx), s
            if winner is not None and best is not None:
                amount = 3000 + 1500 * best[0]
                self._staff_cmd("award_incentive", winner, self.admin, t, kind="季度销冠奖金", amount=amount,
                                reason=f"{label} 签约 {best[0]} 单，位列第一")
            else:  # a quiet quarter still has its service star
                winner = next(s for s in self.staff if s.role == "customer_service" and s.active)
                self._staff_cmd("award_incentive", winner, self.admin, t, kind="服务之星", amount=2000,
                                reason=f"{label} 客户满意度评分最高")
            winner.incentives += 1
            self.counts["incentives"] += 1
            self.records.setdefault("staff with an incentive", winner.id)

    def _plan_staff_changes(self) -> None:
        rng = self.rng
        # A consultant leaves: customers handed over first, then deactivated, then a new hire.
        leaver = rng.choice(self.teams[0].consultants)
        leave_at = self._slot(self.today - timedelta(days=rng.randint(55, 100)), 0, 0).replace(hour=17)
        self.spawn(self._departure(leaver, leave_at))
        # Another goes on two weeks' leave: their open customers go to colleagues meanwhile.
        on_leave = rng.choice(self.teams[1].consultants)
        self.spawn(self._leave(on_leave, self._slot(self.today - timedelta(days=rng.randint(150, 210)), 0, 0)))
        # A senior consultant of the last team is promoted to sales manager, if the team can spare one.
        candidates = [s for s in self.teams[-1].consultants if s is not on_leave]
        if len(self.teams[-1].consultants) >= 3:
            promoted = rng.choice(candidates)
            self.spawn(self._promotion(promoted, self._slot(self.today - timedelta(days=rng.randint(20, 45)), 0, 0)))

    def _hand_over(self, leaving: _Staff, t: datetime, reason: str, *, keep_lost: bool = False) -> None:
        """The team's sales manager reassigns everything ``leaving`` holds, in one moment."""
        team = leaving.team
        assert team is not None
        manager = team.managers[0]
        successors = [s for s in team.consultants if s is not leaving and self._available(s, t)]
        if not successors:  # nobody free in the team: colleagues of other teams take over
            successors = [s for tm in self.teams for s in tm.consultants
                          if s is not leaving and self._available(s, t)]
        for i, c in enumerate(list(leaving.customers.values())):
            if keep_lost and c.lost:
                continue
            to = successors[i % len(successors)]
            self._reassign(c, to, manager, t, reason)
        for c in self.customers:  # deals in after-sales still need a consultant to close them
            if c.sales is leaving and c.owner is not leaving:
                c.sales = successors[c.idx % len(successors)]

    def _departure(self, leaver: _Staff, when: datetime) -> Thread:
        t = yield when
        leaver.away_until = self.horizon + timedelta(days=1)
        taken = list(leaver.customers.values())
        self._hand_over(leaver, t, "hand_over")
        for c in taken:
            c.tags.append("taken over")
        self._staff_cmd("deactivate_staff", leaver, self.admin, t, reason="离职：个人发展原因，客户已全部交接")
        leaver.active = False
        self.records["staff deactivated"] = leaver.id
        t = yield self._days(t, 4, 8)
        assert leaver.team is not None
        name = self._unique_name()
        hire = self._register(self.admin, t, name, "property_consultant", leaver.team, leaver.team.name)
        self.spawn(self._staff_year(hire))

    def _unique_name(self) -> str:
        while True:
            candidate = self._name(self.rng.random() < 0.5)
            if candidate not in self._staff_names:
                self._staff_names.add(candidate)
                return candidate

    def _leave(self, staff: _Staff, when: datetime) -> Thread:
        t = yield when
        staff.away_until = t + timedelta(days=14)
        self._hand_over(staff, t, "leave", keep_lost=True)

    def _promotion(self, staff: _Staff, when: datetime) -> Thread:
        t = yield when
        team = staff.team
        assert team is not None
        if staff.active and sum(1 for s in team.consultants if self._available(s, t)) >= 3:
            staff.away_until = self.horizon + timedelta(days=1)
            self._hand_over(staff, t, "hand_over")
            t = yield t + timedelta(minutes=self.rng.randint(5, 30))
            self._staff_cmd("change_staff_role", staff, self.admin, t, role="sales_manager")
            team.consultants.remove(staff)
            team.managers.append(staff)
            staff.role, staff.promoted = "sales_manager", True
            self.records["staff promoted"] = staff.id

    def _available(self, s: _Staff, t: datetime) -> bool:
        return s.active and (s.away_until is None or s.away_until <= t)

    def _pick_consultant(self, team: _Team, t: datetime) -> _Staff:
        here = [s for s in team.consultants if self._available(s, t)]
        if here:
            return self.rng.choice(here)
        anywhere = [s for tm in self.teams for s in tm.consultants if self._available(s, t)]
        return self.rng.choice(anywhere)

    def _reassign(self, c: _Customer, to: _Staff, by: _Staff, t: datetime, reason: str) -> None:
        self._customer_cmd("reassign_customer", c, by, t, to_staff=to.id, reason=reason)
        assert c.owner is not None
        c.owner.customers.pop(c.idx, None)
        to.customers[c.idx] = c
        if to.role == "property_consultant":
            c.sales = to  # a customer manager takes over the relationship, not the selling
        c.owner = to
        self.counts["reassignments"] += 1

    # --- listings ------------------------------------------------------------------------------

    def _plan_listings(self) -> None:
        n = max(10, self.n_customers // 3)
        stock = n * 45 // 100  # on offer before the year starts
        withdrawn = set(self.rng.sample(range(n), max(1, n // 16)))
        for i in range(n):
            if i < stock:
                at = self._office(self.start - timedelta(days=self.rng.uniform(1, 40)))
            else:
                at = self._office(self.start + timedelta(days=self.rng.uniform(0, 330)))
            self.spawn(self._listing_life(at, i in withdrawn, self.rng.random() < 0.25))

    def _new_listing(self, lister: _Staff, t: datetime, needs: dict[str, Any] | None = None) -> _Listing:
        rng = self.rng
        if needs:
            district = rng.choice(needs["districts"])
            area = round(rng.uniform(needs["area_min"], needs["area_max"]), 1)
        else:
            district = rng.choices(DISTRICT_NAMES, DISTRICT_WEIGHTS)[0]
            area = round(rng.triangular(38, 180, 85), 1)
        full, unit, roads, _ = DISTRICTS[district]
        rooms = 1 if area < 55 else 2 if area < 90 else 3 if area < 135 else 4
        price = round(area * unit * rng.uniform(0.82, 1.18) / 10_000) * 10_000
        if needs:
            price = min(max(price, needs["budget_min"]), needs["budget_max"])
        floor = rng.randint(1, 28)
        address = (f"上海市{full}{rng.choice(roads)}{rng.randint(1, 199) * 10 + rng.randint(0, 9)}弄"
                   f"{rng.randint(1, 40)}号{floor}{rng.randint(1, 6):02d}室")
        right = self._pick((("clear", 85), ("mortgaged", 12), ("shared", 3)))
        tenure = self._pick(((70, 75), (50, 10), (rng.randint(40, 69), 15)))
        result = self.app.list_property(
            self._as(lister), district=district, address=address, area=area, rooms=rooms, price=price,
            property_right_status=right, tenure_years=tenure, mortgage_eligible=right != "shared" and tenure >= 40,
            occurred_at=t,
        )
        self._wrote(1)
        listing = _Listing(len(self.listings), result.id, district, area, rooms, price)
        self.listings.append(listing)
        return listing

    def _listing_life(self, at: datetime, withdraw: bool, reprice: bool) -> Thread:
        t = yield at
        lister = self._pick_consultant(self.rng.choice(self.teams), t)
        listing = self._new_listing(lister, t)
        for _ in range(self.rng.randint(1, 2) if reprice else 0):
            t = yield self._days(t, 20, 110)
            if listing.status == "available" and listing.open_deal is None and listing.held_for is None:
                factor = self.rng.choice((0.95, 0.96, 0.97, 0.98, 0.98, 1.03))
                new_price = round(listing.price * factor / 10_000) * 10_000
                if new_price != listing.price:
                    reason = "业主上调报价" if factor > 1 else self.rng.choice(("业主降价促销", "根据市场行情调整"))
                    self._listing_cmd("change_listing_price", listing, t, new_price=new_price, reason=reason)
                    listing.price = new_price
                    listing.price_changes += 1
                    self.records.setdefault("listing repriced", listing.id)
        if withdraw:
            for _ in range(6):
                t = yield self._days(t, 10, 45)
                if listing.status == "available" and listing.open_deal is None and listing.held_for is None:
                    reason = self.rng.choice(("业主暂停出售", "业主决定自住", "产权人意见不一致，暂缓出售"))
                    self._listing_cmd("withdraw_listing", listing, t, reason=reason)
                    listing.status = "withdrawn"
                    self.records.setdefault("listing withdrawn", listing.id)
                    return

    def _listing_cmd(self, command: str, listing: _Listing, t: datetime, **kwargs: Any) -> None:
        lister = self._pick_consultant(self.rng.choice(self.teams), t)
        getattr(self.app, command)(self._as(lister), listing_id=listing.id, occurred_at=t, **kwargs)
        self._wrote(1)

    def _score(self, listing: _Listing, needs: dict[str, Any]) -> int:
        score = 35 if listing.district in needs["districts"] else 5
        low, high = needs["budget_min"], needs["budget_max"]
        if low <= listing.price <= high:
            score += 30
        else:
            miss = (low - listing.price if listing.price < low else listing.price - high) / high
            score += max(0, round(30 - 100 * miss))
        if needs["area_min"] <= listing.area <= needs["area_max"]:
            score += 20
        else:
            gap = min(abs(listing.area - needs["area_min"]), abs(listing.area - needs["area_max"]))
            score += max(0, round(20 - gap))
        score += 10 if listing.rooms == needs["rooms"] else 5 if abs(listing.rooms - needs["rooms"]) == 1 else 0
        return min(score, 100)

    def _free(self, listing: _Listing, c: _Customer) -> bool:
        return listing.status == "available" and listing.open_deal is None and listing.held_for in (None, c)

    def _rank(self, c: _Customer) -> list[tuple[int, _Listing]]:
        assert c.needs is not None
        ranked = [(self._score(li, c.needs), li) for li in self.listings if self._free(li, c)]
        ranked.sort(key=lambda pair: (-pair[0], pair[1].idx))
        return ranked

    # --- customers: planning -------------------------------------------------------------------

    def _plan_customers(self) -> None:
        n = self.n_customers
        quotas = _quotas(n, OUTCOMES)
        outcomes = [name for name, count in quotas for _ in range(count)]
        self.rng.shuffle(outcomes)
        planned = []
        for outcome in outcomes:
            low, high = ARRIVAL_DAYS[outcome]
            day = self.today - timedelta(days=self.rng.uniform(low, high))
            arrival = day.replace(hour=self.rng.randint(9, 19), minute=self.rng.randrange(60),
                                  second=self.rng.randrange(60), microsecond=0)
            arrival = max(arrival, self._office(self.start + timedelta(hours=self.rng.uniform(0, 48))))
            planned.append((arrival, outcome))
        planned.sort(key=lambda p: p[0])
        for idx, (arrival, outcome) in enumerate(planned):
            c = _Customer(idx, outcome, arrival, self.rng.choice(self.teams), self._pick(CHANNELS))
            self.customers.append(c)
        # Complaints go to customers who have been with us for a while; a few stay open.
        eligible = [c for c in self.customers if c.arrival <= self.horizon - timedelta(days=14)]
        complainants = self.rng.sample(eligible, min(len(eligible), max(2, round(n * 0.06))))
        n_open = max(1, round(len(complainants) * 0.08))
        n_late = max(1, round(len(complainants) * 0.12))
        self._complaint_plan = {c.idx: ("open" if i < n_open else "late" if i < n_open + n_late else "on_time")
                                for i, c in enumerate(complainants)}
        for c in self.customers:
            self.spawn(self._customer_story(c), owner=c)

    # --- customers: the story ------------------------------------------------------------------

    def _customer_story(self, c: _Customer) -> Thread:
        rng = self.rng
        t = yield c.arrival
        t = yield from self._reception(c, t)
        self._side_stories(c, t)
        if c.outcome == "reception":
            return
        t = yield from self._record_needs(c, t)
        if c.outcome == "matching":
            depth = rng.random()
            if depth < 0.2:
                return
            t, _ = yield from self._matching(c, t, showings=0 if depth < 0.45 else rng.randint(1, 4))
            if rng.random() < 0.15:
                t = yield from self._service_survey(c, t)
            return
        if c.outcome in ("lost", "reactivated"):
            if rng.random() < 0.8:
                t, _ = yield from self._matching(c, t, showings=rng.randint(0, 3))
            t = yield from self._lose(c, t)
            if c.outcome == "reactivated":
                t = yield self._days(t, 20, 80)
                reason = rng.choice(("客户主动来电，预算已调整，重新启动购房", "客户家庭计划明确，重新委托找房"))
                assert c.sales is not None
                self._customer_cmd("reactivate_customer", c, c.sales, t, reason=reason)
                c.lost = False
                c.tags.append("reactivated")
                self.counts["reactivated"] += 1
                t = yield from self._record_needs(c, self._days(t, 0.5, 3))
                t, _ = yield from self._matching(c, t, showings=rng.randint(1, 3))
            return
        # Buyers: look, like, and go as far with a deal as their outcome says.
        t, best = yield from self._matching(c, t, showings=rng.randint(1, 3), want_deal=True)
        t = yield from self._deal(c, t, best, self._deal_plan(c.outcome))
        if c.outcome == "cancelled":
            if rng.random() < 0.5:
                t, _ = yield from self._matching(c, t, showings=rng.randint(1, 2))
            else:
                t = yield from self._lose(c, t, reason="financing")

    def _reception(self, c: _Customer, t: datetime) -> Step[datetime]:
        """First contact (客户首次接触): greeting, identity, information, first conversation."""
        rng = self.rng
        consultant = self._pick_consultant(c.team, t)
        c.team = consultant.team or c.team
        receiver = consultant
        if c.channel == "walk_in" and rng.random() < 0.1:
            receiver = c.team.managers[0]  # the manager on duty greets and assigns
        roll = rng.random()
        minutes = (rng.uniform(15, 30) if roll < 0.88 else rng.uniform(6, 14) if roll < 0.94
                   else rng.uniform(35, 95))
        ended = t + timedelta(minutes=round(minutes, 1))
        result = self.app.receive_customer(
            self._as(receiver), channel=c.channel, reception_started_at=t, reception_ended_at=ended,
            assigned_to=consultant.id, occurred_at=t,
        )
        self._wrote(1, c, 1)
        c.id = result.id
        c.owner = c.sales = consultant
        consultant.customers[c.idx] = c
        t = yield t + timedelta(minutes=rng.uniform(2, max(3, minutes * 0.7)))
        c.male = rng.random() < 0.5
        c.name = self._name(c.male)
        c.phone = self._mobile()
        c.id_number = self._id_number(c.male) if rng.random() < 0.7 else None
        c.account = self._card()
        assert c.sales is not None  # not ``consultant``: a hand-over may have happened meanwhile
        self._customer_cmd("record_personal_details", c, c.sales, t, name=c.name, phone=c.phone,
                           id_number=c.id_number)
        return max(t, ended)

    def _side_stories(self, c: _Customer, t: datetime) -> None:
        rng = self.rng
        if rng.random() < 0.35:
            self.spawn(self._requests(c, self._days(t, 1, 50), rng.choice((1, 1, 1, 2))), owner=c)
        plan = self._complaint_plan.get(c.idx)
        if plan is not None:
            room = max(1.0, (self.horizon - t).total_seconds() / 86400 - 9)
            start = self._days(t, 0.5, min(room, 120.0)) if plan != "open" else self._days(
                t, 0.5, max(1.0, (self.horizon - t).total_seconds() / 86400 - 1))
            self.spawn(self._complaint(c, start, plan), owner=c)
        if rng.random() < 0.05 or c.idx % 97 == 3:
            self.spawn(self._correction(c, self._days(t, 1, 30)), owner=c)

    def _record_needs(self, c: _Customer, t: datetime) -> Step[datetime]:
        """Needs analysis (需求分析): budget, area, layout, location, purpose, payment method."""
        rng = self.rng
        if c.channel != "walk_in" and c.needs is None:
            t = self._days(t, 0.5, 3)  # a follow-up call after an online or phone contact
        t = yield t
        home = rng.choices(DISTRICT_NAMES, DISTRICT_WEIGHTS)[0]
        others = [d for d in DISTRICT_NAMES if d != home]
        districts = [home, *rng.sample(others, rng.choice((0, 0, 1, 1, 2)))]
        area = rng.triangular(45, 160, 85)
        rooms = 1 if area < 55 else 2 if area < 90 else 3 if area < 135 else 4
        target = area * DISTRICTS[home][1] * rng.uniform(0.9, 1.1)
        buyer = c.outcome in ("cancelled", "signing", "transaction", "after_sales")
        qualification = "qualified" if buyer else self._pick(
            (("qualified", 80), ("pending", 15), ("not_qualified", 5)))
        needs = {
            "budget_min": int(round(target * 0.85 / 10_000) * 10_000),
            "budget_max": int(round(target * 1.12 / 10_000) * 10_000),
            "area_min": float(round(area * 0.85)),
            "area_max": float(round(area * 1.2)),
            "rooms": rooms,
            "districts": districts,
            "purpose": self._pick(PURPOSES),
            "payment_method": self._pick(PAYMENTS),
            "qualification": qualification,
        }
        assert c.sales is not None
        self._customer_cmd("record_needs", c, c.sales, t, **needs)
        c.needs = needs
        return t

    def _shortlist(self, c: _Customer, t: datetime) -> bool:
        """Listing screening (房源筛选): the best free listings for the needs, with scores."""
        ranked = self._rank(c)
        if not ranked:
            return False
        top = ranked[: self.rng.randint(3, 6)]
        matches = [(li.id, max(0, min(100, score + self.rng.randint(-3, 3)))) for score, li in top]
        assert c.sales is not None
        self._customer_cmd("shortlist_listings", c, c.sales, t, matches=matches)
        c.shortlist = [li for _, li in top]
        return True

    def _matching(self, c: _Customer, t: datetime, *, showings: int,
                  want_deal: bool = False) -> Step[tuple[datetime, _Listing | None]]:
        rng = self.rng
        t = yield self._hours(t, 2, 72)
        if not self._shortlist(c, t):
            return t, None
        best: _Listing | None = None
        best_interest = 0
        shown: list[_Listing] = []
        attempts = 0
        while (len(shown) < showings or (want_deal and best is None)) and attempts < showings + 5:
            attempts += 1
            candidates = [li for li in c.shortlist if li.status == "available" and li not in shown]
            if not candidates:
                t = yield self._hours(t, 4, 48)
                if not self._shortlist(c, t):
                    break
                continue
            listing = candidates[0] if rng.random() < 0.6 else rng.choice(candidates)
            must_like = want_deal and len(shown) + 1 >= showings
            t, interest = yield from self._showing(c, t, listing, must_like)
            if interest is not None:
                shown.append(listing)
                if interest >= 4 and interest > best_interest:
                    best, best_interest = listing, interest
        if (
            c.owner is c.sales and c.sales is not None and rng.random() < 0.04
            and c.sales.team is not None
        ):
            t = yield self._hours(t, 2, 48)
            team = c.sales.team
            others = [s for s in team.consultants if s is not c.sales and self._available(s, t)]
            if others:
                lightest = min(others, key=lambda s: (len(s.customers), s.idx))
                self._reassign(c, lightest, team.managers[0], t, "workload")
                c.tags.append("reassigned for workload")
        return t, best

    def _showing(self, c: _Customer, t: datetime, listing: _Listing,
                 must_like: bool) -> Step[tuple[datetime, int | None]]:
        """Schedule, maybe reschedule, then conduct, cancel or miss one showing (带看)."""
        rng = self.rng
        t = yield self._hours(t, 2, 96)
        if listing.status != "available":
            return t, None
        when = self._slot(t, 1, 5)
        assert c.sales is not None
        result = self._customer_cmd("schedule_showing", c, c.sales, t, listing_id=listing.id, scheduled_for=when)
        showing = result.entity_id
        c.showings += 1
        self.counts["showings"] += 1
        if rng.random() < 0.14:
            t = yield self._before(t, when)
            when = self._slot(when, 1, 3)
            self._customer_cmd("reschedule_showing", c, c.sales, t, showing_id=showing, scheduled_for=when,
                               reason=rng.choice(RESCHEDULE_REASONS))
        roll = 1.0 if must_like else rng.random()
        if roll < 0.11:
            t = yield self._before(t, when)
            self._customer_cmd("cancel_showing", c, c.sales, t, showing_id=showing, reason=rng.choice(CANCEL_REASONS))
            return t, None
        if roll < 0.19:
            t = yield when + timedelta(minutes=rng.randint(20, 45))
            self._customer_cmd("record_no_show", c, c.sales, t, showing_id=showing)
            return t, None
        t = yield when + timedelta(minutes=rng.randint(40, 100))
        if listing.status != "available":
            self._customer_cmd("cancel_showing", c, c.sales, t, showing_id=showing,
                               reason="房源已被预订或下架，本次带看取消")
            return t, None
        topics = ["property_rights", "tenure", "mortgage_policy"]
        if rng.random() < 0.2:
            topics = rng.sample(topics, rng.randint(1, 2))
        self._customer_cmd("conduct_showing", c, c.sales, t, showing_id=showing, topics_explained=topics)
        if not must_like and rng.random() < 0.1:
            return t, 0  # no feedback given
        t = yield self._hours(t, 1, 30)
        interest = rng.choice((4, 5, 5)) if must_like else self._pick(((1, 8), (2, 17), (3, 35), (4, 28), (5, 12)))
        objections = [] if interest == 5 and rng.random() < 0.5 else rng.sample(OBJECTIONS, rng.randint(1, 3))
        self._customer_cmd("record_feedback", c, c.sales, t, showing_id=showing, interest=interest,
                           objections=objections)
        return t, interest

    def _lose(self, c: _Customer, t: datetime, reason: str | None = None) -> Step[datetime]:
        """Customer loss (客户流失), with the reason chapter 8 analyses."""
        rng = self.rng
        t = yield self._days(t, 3, 45)
        if reason is None:
            reason = self._pick([(r, w) for r, _, w in LOSSES])
        note = next(n for r, n, _ in LOSSES if r == reason)
        assert c.sales is not None
        self._customer_cmd("mark_customer_lost", c, c.sales, t, reason=reason, note=note)
        c.lost = True
        if reason == "service" and rng.random() < 0.6:
            t = yield self._days(t, 1, 5)
            self._survey(c, t, low=True)
        return t

    # --- deals ---------------------------------------------------------------------------------

    def _deal_plan(self, outcome: str) -> _DealPlan:
        rng = self.rng
        by_manager = rng.random() < 0.08
        reject = rng.random() < 0.15
        if outcome == "signing":
            stop = self._pick((("drafted", 20), ("in_review", 30), ("rejected", 15), ("approved", 35)))
            return _DealPlan(stop, reject or stop == "rejected", None, by_manager)
        if outcome == "transaction":
            return _DealPlan(self._pick((("documents", 40), ("payments", 30), ("settled", 30))), reject, None,
                             by_manager)
        if outcome == "cancelled":
            cancel_at = self._pick((("drafted", 35), ("approved", 35), ("signed", 30)))
            return _DealPlan("closed", reject, cancel_at, by_manager)
        return _DealPlan("closed" if rng.random() < 0.85 else "handed_over", reject, None, by_manager)

    def _deal(self, c: _Customer, t: datetime, best: _Listing | None, plan: _DealPlan) -> Step[datetime]:
        """Draft, signing review (签约审核), signing, documents, payments, settlement, handover."""
        rng = self.rng
        t = yield self._hours(t, 4, 72)
        listing = best if best is not None and self._free(best, c) else None
        if listing is None:
            listing = next((li for li in c.shortlist if self._free(li, c)), None)
        if listing is None:
            ranked = self._rank(c)
            listing = ranked[0][1] if ranked and ranked[0][0] >= 50 else None
        if listing is None:  # nothing suitable is free: a consultant takes on a listing for this buyer
            assert c.sales is not None
            listing = self._new_listing(c.sales, t, c.needs)
            listing.held_for = c
            t = yield self._hours(t, 2, 48)
        team = c.team
        drafter = team.managers[0] if plan.by_manager else c.sales
        assert drafter is not None and c.needs is not None
        price = int(round(listing.price * (1 - rng.uniform(0, 0.04)) / 1000) * 1000)
        method = c.needs["payment_method"]
        terms = {
            "full": "全款支付：首期五成于签约后七日内支付，余款于过户前付清",
            "commercial_mortgage": "首付三成五，余款商业贷款，银行放款至资金监管账户",
            "provident_fund": "首付三成，余款公积金贷款，资金全程监管",
            "combined_loan": "首付三成五，余款公积金与商业组合贷款，资金全程监管",
        }[method]
        terms = f"成交总价人民币{price}元；{terms}；交房前结清物业及水电煤费用；税费按国家规定各自承担"
        result = self.app.draft_deal(self._as(drafter), customer_id=c.id, listing_id=listing.id, price=price,
                                     terms=terms, occurred_at=t)
        self._wrote(3, c, 1)
        deal = _Deal(result.id, c, listing, price, drafter, plan.by_manager)
        self.deals.append(deal)
        listing.open_deal, listing.held_for = deal, None
        c.deals[deal.id] = "drafted"

        def handler() -> _Staff:
            # The drafting manager sees their own deal through; otherwise the customer's consultant.
            staff = deal.drafter if deal.by_manager else c.sales
            assert staff is not None
            return staff

        if rng.random() < 0.5:
            t = yield self._hours(t, 1, 48)
            deposit = rng.choice((20_000, 50_000, 100_000))
            self._deal_cmd("record_payment", deal, handler(), t, kind="deposit", amount=deposit,
                           payer_account=c.account)
            deal.paid += deposit
        if plan.cancel_at == "drafted":
            return (yield from self._cancel(deal, t, "客户与业主就付款方式未达成一致，协商终止"))
        if plan.stop == "drafted":
            return t
        t = yield self._hours(t, 2, 48)
        self._deal_cmd("submit_deal_for_review", deal, handler(), t)
        deal.status = "in_review"
        if plan.stop == "in_review" and not plan.reject_first:
            return t
        t = yield self._hours(t, 3, 40)
        if plan.reject_first:
            self._deal_cmd("reject_deal", deal, self._reviewer(deal), t, reason=rng.choice(REJECTIONS))
            deal.status, deal.rejected = "rejected", True
            if plan.stop == "rejected":
                return t
            t = yield self._days(t, 1, 4)
            self._deal_cmd("submit_deal_for_review", deal, handler(), t)
            deal.status = "in_review"
            if plan.stop == "in_review":
                return t
            t = yield self._hours(t, 3, 40)
        self._deal_cmd("approve_deal", deal, self._reviewer(deal), t, note=rng.choice(APPROVAL_NOTES))
        deal.status = "approved"
        if plan.cancel_at == "approved":
            t = yield self._days(t, 1, 5)
            return (yield from self._cancel(deal, t, "业主临时提价，双方协商解除"))
        if plan.stop == "approved":
            return t
        t = yield self._days(t, 1, 6)
        year = t.astimezone(SHANGHAI).year
        self._deal_cmd("sign_deal", deal, handler(), t, contract_number=f"HT-{year}-{next(self.contracts):05d}")
        deal.status = "signed"
        listing.status = "reserved"
        c.deals[deal.id] = "signed"
        handler().signed_at.append(t)

        # Transaction execution: documents, down payment, the rest of the money, settlement.
        loan = method != "full"
        kinds = ["id_card", "purchase_qualification", "property_certificate"]
        if loan:
            kinds += ["income_proof", "loan_approval"]
        if rng.random() < 0.4:
            kinds.append("marriage_certificate")
        t = yield self._hours(t, 1, 6)
        self._deal_cmd("require_deal_documents", deal, handler(), t, kinds=kinds)
        t = yield self._days(t, 1, 5)
        ratio = {"full": 0.5, "commercial_mortgage": 0.35, "provident_fund": 0.3, "combined_loan": 0.35}[method]
        down = int(round(price * ratio / 1000) * 1000) - deal.paid
        self._deal_cmd("record_payment", deal, handler(), t, kind="down_payment", amount=down,
                       payer_account=c.account)
        deal.paid += down
        stop_docs = rng.randrange(len(kinds)) if plan.stop == "documents" else None
        cancel_docs = rng.randrange(1, len(kinds)) if plan.cancel_at == "signed" else None
        rng.shuffle(kinds)
        if "loan_approval" in kinds:  # the bank decides last
            kinds.remove("loan_approval")
            kinds.append("loan_approval")
        for i, kind in enumerate(kinds):
            if cancel_docs is not None and i == cancel_docs:
                t = yield self._days(t, 1, 6)
                return (yield from self._cancel(deal, t, "买方贷款审批未通过，双方协商解约"))
            t = yield self._days(t, 0.3, 8 if kind == "loan_approval" else 4)
            self._deal_cmd("receive_deal_document", deal, handler(), t, kind=kind)
            if stop_docs is not None and i == stop_docs:
                return t
            t = yield self._days(t, 0.1, 2)
            self._deal_cmd("verify_deal_document", deal, handler(), t, kind=kind)
        if plan.stop == "payments":
            return t
        t = yield self._days(t, 3, 20)
        if loan:
            self._deal_cmd("record_payment", deal, handler(), t, kind="loan_disbursement", amount=price - deal.paid,
                           payer_account=self._card())  # the lending bank's account
        else:
            self._deal_cmd("record_payment", deal, handler(), t, kind="balance", amount=price - deal.paid,
                           payer_account=c.account)
        deal.paid = price
        t = yield self._days(t, 1, 3)
        self._deal_cmd("settle_funds", deal, handler(), t)
        deal.status = "settled"
        listing.status = "sold"
        self.records.setdefault("listing sold", listing.id)
        if plan.stop == "settled":
            return t
        t = yield self._days(t, 5, 25)
        self._deal_cmd("confirm_handover", deal, handler(), t, note=rng.choice(HANDOVER_NOTES))
        deal.status = "handed_over"
        c.deals[deal.id] = "handed_over"
        return (yield from self._after_sales(c, deal, t, close=plan.stop == "closed"))

    def _reviewer(self, deal: _Deal) -> _Staff:
        """A sales manager of the team other than whoever drafted the deal (two-person review)."""
        managers = [m for m in deal.customer.team.managers if m is not deal.drafter]
        return self.rng.choice(managers)

    def _cancel(self, deal: _Deal, t: datetime, reason: str) -> Step[datetime]:
        staff = deal.drafter if deal.by_manager else deal.customer.sales
        assert staff is not None
        t = yield t
        self._deal_cmd("cancel_deal", deal, staff, t, reason=reason)
        deal.status = "cancelled"
        deal.listing.status, deal.listing.open_deal = "available", None
        deal.customer.deals[deal.id] = "cancelled"
        self.records.setdefault("deal cancelled", deal.id)
        return t

    def _after_sales(self, c: _Customer, deal: _Deal, t: datetime, *, close: bool) -> Step[datetime]:
        """Handover done: the customer manager takes over; return visits (回访) and a survey."""
        rng = self.rng
        keeper = c.owner
        if c.team.customer_managers and rng.random() < 0.85:
            t = yield self._days(t, 1, 3)
            keeper = rng.choice(c.team.customer_managers)
            self._reassign(c, keeper, c.team.managers[0], t, "hand_over")
        visitor = keeper if keeper is not None and keeper.role == "customer_manager" else rng.choice(c.team.services)
        t = yield self._hours(t, 1, 6)
        handed_over = t
        due = self._slot(t, 6, 8)
        visit = self._customer_cmd("schedule_return_visit", c, visitor, t, due_at=due,
                                   purpose="交房后首次回访：入住情况与物业交接").entity_id
        if close:
            t = yield self._days(t, 1, 4)
            staff = deal.drafter if deal.by_manager else c.sales
            assert staff is not None
            self._deal_cmd("close_deal", deal, staff, t)
            deal.status = "closed"
            c.deals[deal.id] = "closed"
            self.records.setdefault("deal closed", deal.id)
            if deal.rejected:
                self.records.setdefault("deal rejected then approved", deal.id)
        t = yield self._office(due + timedelta(hours=rng.uniform(-20, 30)))
        self._customer_cmd("complete_return_visit", c, visitor, t, visit_id=visit, summary=rng.choice(VISIT_SUMMARIES))
        if rng.random() < 0.9:
            t = yield self._hours(t, 2, 48)
            self._survey(c, t)
        if rng.random() < 0.7:
            t = yield self._hours(t, 1, 4)
            due = self._slot(handed_over, 29, 32)
            visit = self._customer_cmd("schedule_return_visit", c, visitor, t, due_at=due,
                                       purpose="交房后一个月回访：居住体验与售后需求").entity_id
            t = yield self._office(due + timedelta(hours=rng.uniform(-20, 48)))
            self._customer_cmd("complete_return_visit", c, visitor, t, visit_id=visit,
                               summary=rng.choice(VISIT_SUMMARIES))
        return t

    # --- surveys, requests, complaints, corrections -------------------------------------------

    def _survey(self, c: _Customer, t: datetime, *, low: bool = False) -> None:
        """Satisfaction survey (满意度调查), by the team's customer-service specialist."""
        rng = self.rng
        if low:
            overall = rng.choice((1, 2, 2, 3))
        else:
            overall = self._pick(((5, 55), (4, 36), (3, 5), (2, 3), (1, 1)))
        scores = {"overall": overall}
        dims = ("attitude", "professionalism", "responsiveness", "accuracy")
        for dim in dims if rng.random() < 0.7 else rng.sample(dims, 2):
            scores[dim] = max(1, min(5, overall + rng.choice((-1, 0, 0, 0, 1))))
        comment = rng.choice(GOOD_COMMENTS) if overall >= 4 else rng.choice(BAD_COMMENTS)
        self._customer_cmd("answer_survey", c, rng.choice(c.team.services), t, scores=scores, comment=comment)
        self.surveys.append(overall)

    def _service_survey(self, c: _Customer, t: datetime) -> Step[datetime]:
        t = yield self._days(t, 1, 7)
        self._survey(c, t)
        return t

    def _requests(self, c: _Customer, start: datetime, count: int) -> Thread:
        """Requests get a response within 24 hours (服务标准), mostly."""
        rng = self.rng
        t = yield start
        for _ in range(count):
            subject, response = rng.choice(REQUESTS[c.stage])
            raiser = rng.choice(c.team.services)
            request = self._customer_cmd("raise_request", c, raiser, t, subject=subject).entity_id
            raised = t
            self.requests.append((raised, None))
            slot = len(self.requests) - 1
            late = rng.random() < 0.1
            t = yield (self._hours(t, 26, 60) if late else self._hours(t, 0.3, 8))
            responder = c.sales if c.sales is not None and rng.random() < 0.3 else rng.choice(c.team.services)
            self._customer_cmd("respond_to_request", c, responder, t, request_id=request, response=response)
            self.requests[slot] = (raised, t)
            if t - raised > REQUEST_RESPONSE_WINDOW:
                c.tags.append("late request")
            t = yield self._days(t, 5, 40)

    def _complaint(self, c: _Customer, start: datetime, plan: str) -> Thread:
        """Complaints are handled within 72 hours (服务标准): acknowledge, maybe escalate, resolve."""
        rng = self.rng
        t = yield start
        category, description = rng.choice(COMPLAINTS[c.stage])
        severity = self._pick((("low", 40), ("medium", 40), ("high", 20)))
        service = rng.choice(c.team.services)
        complaint = self._customer_cmd("file_complaint", c, service, t, category=category, severity=severity,
                                       description=description).entity_id
        filed = t
        self.complaints.append((filed, None))
        slot = len(self.complaints) - 1
        t = yield self._hours(t, 0.5, 6)
        self._customer_cmd("acknowledge_complaint", c, service, t, complaint_id=complaint)
        resolver = service
        if severity == "high" or rng.random() < 0.2:
            t = yield self._hours(t, 1, 12)
            resolver = c.team.managers[0]
            self._customer_cmd("escalate_complaint", c, service, t, complaint_id=complaint, escalated_to=resolver.id,
                               reason="涉及金额或服务质量，需销售经理协调处理" if severity == "high" else "客户要求主管处理")
        if plan == "open":
            c.tags.append("open complaint")
            return
        window = (75, 150) if plan == "late" else (2, 55)  # office hours add at most 14 hours
        t = yield max(t + timedelta(minutes=30), self._hours(filed, *window))
        self._customer_cmd("resolve_complaint", c, resolver, t, complaint_id=complaint,
                           resolution=rng.choice(RESOLUTIONS))
        self.complaints[slot] = (filed, t)
        if t - filed > COMPLAINT_RESOLUTION_WINDOW:
            c.tags.append("late complaint")

    def _correction(self, c: _Customer, start: datetime) -> Thread:
        """Contact details are corrected by a new event that says why (manual 7.4)."""
        rng = self.rng
        t = yield start
        kind = rng.choice(("phone", "name", "id_number"))
        staff = rng.choice(c.team.services)
        if kind == "phone":
            c.phone = self._mobile()
            self._customer_cmd("correct_contact_details", c, staff, t, reason="客户更换手机号码", phone=c.phone)
        elif kind == "name":
            c.name = c.name[0] + self.rng.choice(GIVEN_MALE if c.male else GIVEN_FEMALE)
            self._customer_cmd("correct_contact_details", c, staff, t, reason="姓名录入有误，按身份证更正",
                               name=c.name)
        else:
            reason = "身份证号录入有误，核对原件后更正" if c.id_number else "客户补充提供身份证号"
            c.id_number = self._id_number(c.male)
            self._customer_cmd("correct_contact_details", c, staff, t, reason=reason, id_number=c.id_number)
        c.tags.append("details corrected")

    # --- the summary -----------------------------------------------------------------------------

    def _summary(self, seconds: float) -> DemoSummary:
        stages = dict.fromkeys((s.value for s in Stage), 0)
        for c in self.customers:
            stages[c.stage] += 1
        deal_statuses = ("drafted", "in_review", "rejected", "approved", "signed", "settled", "handed_over",
                         "closed", "cancelled")
        deals = dict.fromkeys(deal_statuses, 0)
        for d in self.deals:
            deals[d.status] += 1
        listing_statuses = dict.fromkeys(("available", "reserved", "sold", "withdrawn"), 0)
        for li in self.listings:
            listing_statuses[li.status] += 1
        late_requests = sum(1 for r, a in self.requests if a is not None and a - r > REQUEST_RESPONSE_WINDOW)
        late_complaints = sum(1 for f, r in self.complaints if r is not None and r - f > COMPLAINT_RESOLUTION_WINDOW)
        satisfied = sum(1 for s in self.surveys if s in SATISFIED_SCORES)

        showcase: dict[str, str] = {}
        shown: set[int] = set()

        def richest(group: list[_Customer]) -> str:
            # The richest history, preferring a customer not shown under another label.
            best = max(group, key=lambda c: (c.idx not in shown, c.events, -c.idx))
            shown.add(best.idx)
            return best.id

        for stage, label in DemoSummary.STAGE_LABELS.items():
            in_stage = [c for c in self.customers if c.stage == stage]
            if in_stage:
                showcase[label] = richest(in_stage)
        for tag, label in (("reactivated", "customer reactivated"), ("open complaint", "customer, complaint open"),
                           ("late complaint", "customer, complaint late"), ("late request", "customer, request late"),
                           ("details corrected", "customer, details corrected"),
                           ("taken over", "customer of a leaver"),
                           ("reassigned for workload", "customer, workload moved")):
            tagged = [c for c in self.customers if tag in c.tags]
            if tagged:
                showcase[label] = richest(tagged)
        assert self.earliest is not None and self.clock is not None
        return DemoSummary(
            seed=self.seed,
            staff=len(self.staff),
            teams=len(self.teams),
            listings=len(self.listings),
            listings_by_status=listing_statuses,
            customers=len(self.customers),
            customers_by_stage=stages,
            lost_customers=stages[Stage.LOST.value],
            reactivated_customers=self.counts["reactivated"],
            reassignments=self.counts["reassignments"],
            showings=self.counts["showings"],
            deals=len(self.deals),
            deals_by_outcome=deals,
            requests=len(self.requests),
            requests_late=late_requests,
            requests_open=sum(1 for _, a in self.requests if a is None),
            complaints=len(self.complaints),
            complaints_late=late_complaints,
            complaints_open=sum(1 for _, r in self.complaints if r is None),
            surveys=len(self.surveys),
            satisfaction_rate=round(satisfied / len(self.surveys), 3) if self.surveys else 0.0,
            trainings=self.counts["trainings"],
            assessments=self.counts["assessments"],
            incentives=self.counts["incentives"],
            events=self.events,
            earliest=self.earliest.astimezone(UTC),
            latest=self.clock.astimezone(UTC),
            seconds=round(seconds, 3),
            run_id=self.run_id,
            showcase=showcase,
            records={label: self.records[label] for label in sorted(self.records)},
        )


def _quotas(n: int, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """Split ``n`` by ``shares`` (largest remainder), giving every outcome at least one when n allows."""
    exact = [(name, n * share) for name, share in shares]
    counts = {name: int(x) for name, x in exact}
    if n >= len(shares):
        for name in counts:
            counts[name] = max(1, counts[name])
    order = sorted(exact, key=lambda p: (-(p[1] - int(p[1])), [s[0] for s in shares].index(p[0])))
    i = 0
    while sum(counts.values()) < n:
        counts[order[i % len(order)][0]] += 1
        i += 1
    biggest = max(counts, key=lambda k: counts[k])
    while sum(counts.values()) > n:
        counts[biggest] -= 1
    return [(name, counts[name]) for name, _ in shares]
