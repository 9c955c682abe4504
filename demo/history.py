"""One customer's life: courtship, orders, after-sales calls, feedback and status changes.

Purchases follow the BG/NBD story: while active, a customer buys as a Poisson process
whose rate is drawn per customer from a gamma distribution (a few buy every month,
most a few times a year), and after each purchase drops out for good with a
probability drawn per customer from a beta distribution.  Basket sizes are lognormal
around a per-customer mean, so a few customers bring most of the revenue.

Every step is dated after the one it depends on (contact, then follow-ups, then the
first order), so the status history reads in order and ends at the customer's status.
"""
import bisect
import math
from collections import namedtuple

from .names import Weighted, pick

CHURN_DAYS = 180  # after this long without an order a customer who dropped out is marked lost

# Chance that a customer ever buys, by source: referrals convert best, cold calls worst.
CONVERSION = {"转介绍": 0.72, "合作伙伴": 0.66, "展会": 0.58, "官网咨询": 0.56, "线上推广": 0.48, "电话营销": 0.38}
RATE_SHAPE, RATE_SCALE = 1.0, 6.0  # orders per active year ~ Gamma: mean 6, long right tail
DROPOUT_A, DROPOUT_B = 1.0, 10.0  # per-purchase dropout probability ~ Beta: mean 1/11

PRODUCTS = [("基础版订阅", 980), ("标准版订阅", 2980), ("专业版订阅", 6800), ("企业版订阅", 19800),
            ("增值模块", 3600), ("实施服务", 12000), ("年度维保", 8800), ("培训课程", 1500),
            ("硬件套装", 4500), ("耗材补充包", 260)]
PRODUCTS_BY_PRICE = sorted(PRODUCTS, key=lambda p: p[1])
PRICES = [price for _, price in PRODUCTS_BY_PRICE]
CHANNELS = {
    "企业": Weighted((("直销", 50), ("渠道代理", 25), ("线上商城", 20), ("电话订购", 5))),
    "个人": Weighted((("线上商城", 70), ("电话订购", 15), ("门店", 15))),
}
ALL_CHANNELS = ("直销", "渠道代理", "线上商城", "电话订购", "门店")

METHOD = Weighted((("电话", 45), ("拜访", 20), ("邮件", 15), ("线上会议", 20)))
COURTSHIP_LENGTH = Weighted(((1, 35), (2, 35), (3, 20), (4, 10)))
PROSPECT_RESULT = Weighted((("有意向", 25), ("需跟进", 45), ("暂无意向", 30)))
TOPICS = ("产品需求", "报价方案", "合同条款", "实施计划", "预算安排", "竞品对比", "试用反馈", "付款方式")
REACTIONS = {
    "有意向": ("客户认可方案，计划近期下单", "对方表示预算已批，等待走采购流程", "客户主动询问交付周期，意向明确"),
    "需跟进": ("客户需内部讨论，约定下周再联系", "决策人出差，待其回来后再沟通", "客户要求补充资料，已整理待发送",
             "对报价有疑问，需要重新核算"),
    "暂无意向": ("客户预算不足，今年暂不考虑", "已选择其他供应商", "需求不明确，暂时搁置"),
}
OPENERS = {"电话": "电话沟通", "拜访": "上门拜访，沟通", "邮件": "邮件发送", "线上会议": "线上会议讨论"}
INTENT_REASONS = {"电话": "电话沟通后确认有采购意向", "拜访": "上门拜访后确认有采购意向",
                  "邮件": "邮件往来中客户确认采购意向", "线上会议": "线上会议后确认有采购意向"}
AFTER_SALES = ("订单回访：确认到货及使用情况", "回访使用情况，客户反馈良好", "售后回访，提醒续费事宜",
               "回访培训效果，客户希望增加账号", "了解复购计划，客户考虑升级版本")
WIN_BACK = ("挽回回访：客户已改用其他产品", "挽回回访：客户业务调整，暂停采购", "挽回回访：客户表示价格偏高")

FEEDBACK_COUNT = Weighted(((0, 65), (1, 27), (2, 8)))
FEEDBACK_KIND = Weighted((("满意度", 65), ("建议", 20), ("投诉", 15)))
SCORE = Weighted(((5, 45), (4, 35), (3, 12), (2, 5), (1, 3)))
RECENT_FEEDBACK_STATUS = Weighted((("待处理", 50), ("处理中", 30), ("已解决", 20)))
FEEDBACK_TEXT = {
    "建议": ("希望增加移动端功能", "建议报表支持自定义字段", "希望提供更多培训视频", "建议优化导入速度"),
    "投诉": ("到货延迟三天", "发票开具错误", "客服电话长时间无人接听", "实施人员更换频繁"),
}
# 满意度 comments by score, so a 1 never reads "会推荐给朋友"
SCORE_TEXT = {
    5: ("非常满意，会推荐给朋友", "产品稳定，服务周到"),
    4: ("整体满意，响应及时", "产品好用，个别功能待完善"),
    3: ("服务一般，希望加快响应", "基本满足需求"),
    2: ("问题处理较慢，不太满意", "操作复杂，培训不到位"),
    1: ("多次反映问题未解决，非常不满", "与宣传不符，考虑退款"),
}

Order = namedtuple("Order", "t day stamp amount quantity product channel")


class History:
    __slots__ = ("status", "orders", "follow_ups", "changes", "feedback", "total", "last_order_t")

    def __init__(self):
        self.orders = []
        self.follow_ups = []  # (day, stamp, method, content, result, next_date)
        self.changes = []  # (stamp, from_status, to_status, reason, by_owner)
        self.feedback = []  # (kind, score, content, status, stamp)
        self.total = 0.0
        self.last_order_t = None


def live(rng, timeline, customer, orders_scale=1.0):
    """The history of `customer` (a dict made by demo.builder); also sets its created_at.

    `orders_scale` makes every customer buy that many times as often over the same active
    lifetime (purchase rate times the scale, per-purchase dropout divided by it), for benchmarks
    that need more orders per customer; 1.0 is the demo's data, unchanged.
    """
    tl = timeline
    h = History()
    today = tl.days - 1
    day0, created = tl.work_stamp(rng, customer["first_t"])
    customer["created_at"] = created
    customer["dropped"] = False
    h.changes.append((created, None, "潜在客户", f"新建客户（来源：{customer['source'] or '未知'}）", True))
    h.status = "潜在客户"

    first_order_t = None
    if rng.random() < CONVERSION.get(customer["source"], 0.5):
        first_order_t = _purchases(rng, tl, customer, h, customer["first_t"] + 2 + rng.expovariate(1 / 30),
                                   orders_scale)

    if first_order_t is not None:
        first_day = int(first_order_t)
        _court(rng, tl, h, day0, first_day - 1, converts=True)
        first = h.orders[0]
        h.changes.append((first.stamp, h.status, "成交客户", f"首次下单成交，金额 ¥{first.amount:,.2f}", True))
        h.status = "成交客户"
        _after_sales(rng, tl, h)
        _feedback(rng, tl, h)
        last_day = h.orders[-1].day
        if customer["dropped"] and last_day + CHURN_DAYS < today:
            _, stamp = tl.work_stamp(rng, last_day + CHURN_DAYS + rng.random() * 7)
            h.changes.append((stamp, "成交客户", "流失客户", f"超过{CHURN_DAYS}天未再下单，判定流失", False))
            h.status = "流失客户"
            if rng.random() < 0.5:
                _follow(rng, tl, h, int(last_day + CHURN_DAYS + rng.random() * 20), METHOD(rng),
                        pick(rng, WIN_BACK), "暂无意向", None)
    else:
        _court(rng, tl, h, day0, min(today, day0 + 150), converts=False)
    return h


def _purchases(rng, tl, customer, h, start_t, orders_scale=1.0):
    """Record the orders of the active period; returns the first recorded order's time or None."""
    rate = rng.gammavariate(RATE_SHAPE, RATE_SCALE) * (1.3 if customer["customer_type"] == "企业" else 1.0)
    rate *= orders_scale
    dropout = rng.betavariate(DROPOUT_A, DROPOUT_B) / orders_scale
    basket = customer["basket"]
    preferred = CHANNELS.get(customer["customer_type"], CHANNELS["企业"])
    t = start_t
    busy_days_per_order = 365.25 / max(rate, 0.02)
    while t <= tl.now_t and len(h.orders) < 240:
        # Orders before the window are not on record. Nobody drops out there either, or a
        # customer who bought would show no order to account for the status.
        if t >= tl.order_start:
            day, stamp = tl.order_stamp(rng, t, h.orders[-1].stamp if h.orders else "")
            h.orders.append(_order(rng, tl, t, day, stamp, basket, preferred))
            if rng.random() < dropout:
                customer["dropped"] = True
                break
        t = tl.after_busy_days(t, rng.expovariate(1.0) * busy_days_per_order)
    if not h.orders:
        return None
    h.total = sum(o.amount for o in h.orders)
    h.last_order_t = h.orders[-1].t
    return h.orders[0].t


def _order(rng, tl, t, day, stamp, basket, preferred):
    wanted = basket * math.exp(rng.gauss(0.0, 0.45))
    affordable = bisect.bisect_right(PRICES, wanted) or 1  # any product the basket can buy one of
    product, price = PRODUCTS_BY_PRICE[int(rng.random() * affordable)]
    quantity = max(1, min(200, round(wanted / price)))
    discount = 0.85 if tl.promo[day] else (1.0 if rng.random() < 0.7 else 0.95)
    channel = preferred(rng) if rng.random() < 0.8 else pick(rng, ALL_CHANNELS)
    return Order(t, day, stamp, round(price * quantity * discount, 2), quantity, product, channel)


def _follow(rng, tl, h, day, method, content, result, next_day):
    if day > tl.days - 1:
        return False
    _, stamp = tl.work_stamp(rng, day)
    h.follow_ups.append((day, stamp, method, content, result, None if next_day is None else tl.iso(next_day)))
    return True


def _court(rng, tl, h, day0, last_day, converts):
    """Sales follow-ups between first contact and the first order (or for up to five months)."""
    first_day = day0 + 1
    if last_day < first_day:
        return
    count = COURTSHIP_LENGTH(rng)
    span = last_day - first_day
    if span <= 120:
        days = sorted(first_day + int(rng.random() * (span + 1)) for _ in range(count))
    else:  # a long courtship: an early burst, then a renewed contact shortly before buying
        days = sorted(first_day + int(rng.random() * 90) for _ in range(count - 1))
        days.append(last_day - int(rng.random() * min(14, span)))
    days = sorted(set(days))
    for position, day in enumerate(days):
        final = position == len(days) - 1
        if converts:
            result = "有意向" if final or rng.random() < 0.3 else "需跟进"
        else:
            result = PROSPECT_RESULT(rng)
        if not final:
            next_day = days[position + 1]
        elif result == "暂无意向":
            next_day = None
        else:
            next_day = day + 3 + int(rng.random() * 18)
        method = METHOD(rng)
        content = f"{OPENERS[method]}{pick(rng, TOPICS)}，{pick(rng, REACTIONS[result])}"
        recorded = _follow(rng, tl, h, day, method, content, result, next_day)
        if recorded and result == "有意向" and h.status == "潜在客户":
            h.changes.append((h.follow_ups[-1][1], "潜在客户", "意向客户", INTENT_REASONS[method], True))
            h.status = "意向客户"


def _after_sales(rng, tl, h):
    for order in h.orders:
        if rng.random() < 0.2:
            result = "有意向" if rng.random() < 0.4 else "需跟进"
            day = order.day + 2 + int(rng.random() * 18)
            next_day = day + 30 + int(rng.random() * 60) if rng.random() < 0.5 else None
            _follow(rng, tl, h, day, "电话", pick(rng, AFTER_SALES), result, next_day)


def _feedback(rng, tl, h):
    count = FEEDBACK_COUNT(rng)
    today = tl.days - 1
    for _ in range(count):
        order = h.orders[int(rng.random() * len(h.orders))]
        day = min(today, order.day + 1 + int(rng.random() * 30))
        _, stamp = tl.work_stamp(rng, day)
        kind = FEEDBACK_KIND(rng)
        score = SCORE(rng) if kind == "满意度" else None
        text = pick(rng, SCORE_TEXT[score] if score else FEEDBACK_TEXT[kind])
        if today - day > 30:
            status = "已解决" if rng.random() < 0.9 else "处理中"
        else:
            status = RECENT_FEEDBACK_STATUS(rng)
        h.feedback.append((kind, score, text, status, stamp))


def basket_mean(rng, customer_type):
    """A customer's typical order value: lognormal, companies spend about ten times more."""
    if customer_type == "企业":
        return math.exp(rng.gauss(math.log(6000), 0.9))
    return math.exp(rng.gauss(math.log(700), 0.7))
