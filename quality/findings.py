"""The findings of the data-quality scan, as a registry.

Each finding is one entry: a key, a Chinese label and description, the model and columns it
concerns, the columns a batch fix may set, and `select(ctx)`: a peewee query of the matching
record ids whose WHERE clauses run in the database (no Python loop over the records).  "Now"
comes in `ctx.today`; no rule reads the clock, so tests and benchmarks pass fixed days.

Add a finding with the decorator:

    @finding("missing-email", "缺少邮箱", "...", Customer, ("email",), fixable=("email",))
    def _missing_email(ctx):
        return Customer.select(Customer.id).where(blank(Customer.email))

`blocks_fix=True` marks a finding that is a rule of the forms (a value the forms would refuse):
a batch fix that would leave a fixed row in such a finding is refused with `message`.
"""
import datetime
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Callable, Optional

from peewee import SQL, Expression, fn

from models import Choice, Customer, FollowUp, Order
from models import validation as rules

from .sql import (EARLIEST, blank, day_of, filled, has_full_width, start_of, valid_email, valid_mobile,
                  valid_phone)

DEFAULT_STALE_DAYS = 365
GROUPS = (("missing", "信息缺失"), ("format", "格式错误"), ("list", "不在列表中"), ("date", "日期不合理"),
          ("width", "全角字符"), ("stale", "长期未更新"), ("duplicate", "疑似重复"))


@dataclass(frozen=True)
class Context:
    """What the rules compare with: the day of the scan and how old "untouched" is."""

    today: datetime.date
    stale_days: int = DEFAULT_STALE_DAYS
    owner_ids: Optional[tuple] = None  # the scan's row scope, for rules whose engine scopes itself (dedup)

    @property
    def tomorrow(self):
        """Midnight after `today`: timestamps from here on are in the future."""
        return start_of(self.today + datetime.timedelta(days=1))

    @property
    def stale_since(self):
        return start_of(self.today - datetime.timedelta(days=self.stale_days))


@dataclass(frozen=True)
class Finding:
    key: str
    label: str
    description: str
    model: type
    columns: tuple
    select: Callable = field(repr=False)  # select(ctx) -> peewee query of model ids
    fixable: tuple = ()  # columns a batch fix may set
    group: str = "format"
    blocks_fix: bool = False
    message: str = ""  # why a fix that leaves a row here is refused
    available: Callable[[], bool] = field(repr=False, default=lambda: True)  # False: not built yet
    deletable: bool = True  # may the finding's records be deleted in batch?
    # count(ctx) -> int, for a finding whose ids are at hand in Python and already within ctx.owner_ids:
    # the scan takes their number instead of counting select(ctx) in SQL (None: count the query)
    count: Optional[Callable] = field(repr=False, default=None)

    @property
    def policy_key(self):
        return self.model.__name__.lower()

    def query(self, ctx):
        return self.select(ctx)


REGISTRY = {}


def finding(key, label, description, model, columns, **options):
    """Decorator: register `select(ctx)` as finding `key`."""

    def register(select):
        REGISTRY[key] = Finding(key=key, label=label, description=description, model=model, columns=tuple(columns),
                                select=select, **options)
        return select

    return register


def get(key):
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"未知的数据质量检查项：{key}") from None


def available():
    """The findings that can run here, in registry order."""
    return [f for f in REGISTRY.values() if f.available()]


def pending():
    """Findings registered but not runnable yet (their engine is missing)."""
    return [f for f in REGISTRY.values() if not f.available()]


# --- missing contact details -------------------------------------------------------------
@finding("missing-contact", "缺少联系电话", "手机号码和电话都没有填写：这位客户无法电话联系，表单也不允许这样保存。",
         Customer, ("mobile", "phone"), fixable=("mobile", "phone"), group="missing", blocks_fix=True,
         message=rules.check_contact_present(None, None))
def _missing_contact(ctx):
    # an anonymised customer (privacy.erase) has no contact by design; a batch delete would take its orders along
    return Customer.select(Customer.id).where(blank(Customer.mobile) & blank(Customer.phone)
                                              & Customer.anonymised_at.is_null())


@finding("missing-email", "缺少邮箱", "没有邮箱：报表、通知和营销邮件发不到这位客户。",
         Customer, ("email",), fixable=("email",), group="missing")
def _missing_email(ctx):
    return Customer.select(Customer.id).where(blank(Customer.email) & Customer.anonymised_at.is_null())


# --- invalid formats ---------------------------------------------------------------------
@finding("invalid-mobile", "手机号码格式错误", "手机号码不是以 13–19 开头的 11 位数字（全角数字、少位、多位）：短信和搜索都找不到它。",
         Customer, ("mobile",), fixable=("mobile",), blocks_fix=True,
         message="手机号码格式不正确：应为 11 位数字，以 13–19 开头（可带空格、横线或 +86）")
def _invalid_mobile(ctx):
    return Customer.select(Customer.id).where(filled(Customer.mobile) & ~valid_mobile(Customer.mobile))


@finding("invalid-email", "邮箱格式错误", "邮箱不是 name@example.com 的形式：邮件会被退回。",
         Customer, ("email",), fixable=("email",), blocks_fix=True, message="邮箱格式不正确，例如 name@example.com")
def _invalid_email(ctx):
    return Customer.select(Customer.id).where(filled(Customer.email) & ~valid_email(Customer.email))


@finding("invalid-phone", "电话格式错误", "电话含字母或其他字符，或位数不对：无法拨打。",
         Customer, ("phone",), fixable=("phone",), blocks_fix=True,
         message="电话格式不正确：只能包含数字、括号、横线和 +，例如 010-62345678")
def _invalid_phone(ctx):
    return Customer.select(Customer.id).where(filled(Customer.phone) & ~valid_phone(Customer.phone))


# --- values outside the managed lists ----------------------------------------------------
def _outside_list(kind, label):
    column = getattr(Customer, kind)

    @finding(f"unlisted-{kind}", f"{label}不在列表中", f"{label}不是选项列表中的条目（可能是旧名称或手写的同义词）："
             f"按{label}筛选和统计时会漏掉这些客户。",
             Customer, (kind,), fixable=(kind,), group="list", blocks_fix=True, message=f"{label}必须是选项列表中的条目")
    def _select(ctx):
        names = Choice.select(Choice.name).where(Choice.kind == kind)
        return Customer.select(Customer.id).where(filled(column) & column.not_in(names))

    return _select


for _kind, _label in (("industry", "所属行业"), ("region", "所属地区"), ("source", "客户来源")):
    _outside_list(_kind, _label)


# --- future or impossible dates ----------------------------------------------------------
@finding("first-contact-date", "首次接触时间不合理", f"首次接触时间在未来或早于 {EARLIEST:%Y} 年：客户生命周期和新客统计会算错。",
         Customer, ("first_contact",), fixable=("first_contact",), group="date", blocks_fix=True,
         message=f"首次接触时间不能在未来，也不能早于 {EARLIEST:%Y-%m-%d}")
def _first_contact(ctx):
    column = Customer.first_contact
    return Customer.select(Customer.id).where(column.is_null(False) & ((column > ctx.today) | (column < EARLIEST)))


@finding("followup-future", "跟进时间在未来", "跟进记录的时间晚于今天：还没发生的跟进被记成了已发生。",
         FollowUp, ("at",), fixable=("at",), group="date", blocks_fix=True, message="跟进时间不能在未来")
def _followup_future(ctx):
    return FollowUp.select(FollowUp.id).where(FollowUp.at >= ctx.tomorrow)


@finding("followup-next-before", "下次跟进早于本次", "下次跟进时间早于这次跟进的日期：提醒永远不会按时出现。",
         FollowUp, ("at", "next_date"), fixable=("next_date",), group="date", blocks_fix=True,
         message="下次跟进时间不能早于本次跟进的日期")
def _next_before(ctx):
    return FollowUp.select(FollowUp.id).where(FollowUp.next_date.is_null(False)
                                              & (FollowUp.next_date < day_of(FollowUp.at)))


@finding("order-future", "订单日期在未来", "下单时间晚于今天：销售额和客户价值分析会把它算进去。",
         Order, ("ordered_at",), fixable=("ordered_at",), group="date", blocks_fix=True, message="下单时间不能在未来")
def _order_future(ctx):
    return Order.select(Order.id).where(Order.ordered_at >= ctx.tomorrow)


# --- full-width characters ---------------------------------------------------------------
WIDTH_COLUMNS = ("name", "contact", "mobile", "phone", "email", "address")


@finding("full-width", "含全角字符", "名称、联系人、电话、邮箱或地址里有全角字母、数字、标点或全角空格：搜索和去重对不上"
         "（在编辑页重新保存即按标准转为半角）。",
         Customer, WIDTH_COLUMNS, group="width")
def _full_width(ctx):
    condition = None
    for name in WIDTH_COLUMNS:
        part = has_full_width(getattr(Customer, name))
        condition = part if condition is None else (condition | part)
    return Customer.select(Customer.id).where(condition)


# --- records untouched for a long time ---------------------------------------------------
@finding("stale", "长期未更新", "资料超过设定天数（默认 365 天）没有更新，期间也没有订单和跟进：联系方式可能已失效。",
         Customer, ("updated_at",), group="stale")
def _stale(ctx):
    since = ctx.stale_since
    orders = Order.select(SQL("1")).where((Order.customer == Customer.id) & (Order.ordered_at >= since))
    follow_ups = FollowUp.select(SQL("1")).where((FollowUp.customer == Customer.id) & (FollowUp.at >= since))
    return Customer.select(Customer.id).where((Customer.updated_at < since) & ~fn.EXISTS(orders)
                                              & ~fn.EXISTS(follow_ups) & Customer.anonymised_at.is_null())


# --- probable duplicates (the dedup package's scan) --------------------------------------
def _dedup_scan():
    """dedup.scan, or None while the duplicate scan (issue 10, part 3) is not in this installation."""
    if importlib.util.find_spec("dedup") is None:
        return None
    return getattr(importlib.import_module("dedup"), "scan", None)


def _duplicate_ids(ctx):
    """The ids of every customer in a group of probable duplicates within the scan's row scope (as
    `run.py duplicates --as` finds them), sorted."""
    owners = None if ctx.owner_ids is None else list(ctx.owner_ids)
    return sorted({int(customer_id) for group in _dedup_scan()(owner_ids=owners) for customer_id in group.ids})


@finding("probable-duplicates", "疑似重复客户", "与其他客户的手机、邮箱、证件号相同，或名称相近且有共同联系方式："
         "请在“重复客户”页面核对并合并（合并可撤销），不要直接删除。",
         Customer, ("name", "mobile", "email"), group="duplicate", available=lambda: _dedup_scan() is not None,
         deletable=False, count=lambda ctx: len(_duplicate_ids(ctx)))  # not COUNT over 239,068 literal ids at 1M: 2.5 s
def _duplicates(ctx):
    # dedup.scan (issue 10, part 3) compares customers in Python (names by pinyin and characters), so this
    # one finding is not a single SQL query: the ids of its groups' customers become the query.
    ids = _duplicate_ids(ctx)
    if not ids:
        return Customer.select(Customer.id).where(Customer.id.in_([]))
    # Integers written into the statement: a bound parameter per id would pass SQLite's limit of 32,766.
    return Customer.select(Customer.id).where(Expression(Customer.id, "IN", SQL("(" + ",".join(map(str, ids)) + ")")))
