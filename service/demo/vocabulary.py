"""The words and weights of the demo's story: places, names, texts, and how often each thing happens.

Everything here is data: districts with their typical prices and roads, the names people are
given, the subjects of requests and complaints, reasons for losses and rejections, and the
weights by which the stories choose between them. Changing a weight, or the order of a tuple,
changes which story a seed tells.
"""

from __future__ import annotations

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

