"""What a custom report can group by (dimensions) and count (measures): two registries, no if-chains.

Each entry declares the policy columns it reads, as (policy key, column) pairs of the access policy, so
reportbuilder.policy can offer only what a grant may see: a measure on a hidden column (客服专员 never sees
order amounts or LTV) is not offered, not computed and not exported.  Each entry also says how it is
written in SQL, as peewee expressions over the query reportbuilder.compute builds:

    customer c  [LEFT] JOIN o (orders of the period grouped per customer[, time bucket])
                LEFT JOIN customer_value v, LEFT JOIN user u (owner), JOIN customer_tag/tag (标签)

`o` has columns cid, n (orders), s (amount) and, for an order-time dimension, bucket.
"""
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from peewee import SQL, Case, fn

from models import Customer, CustomerValue, Tag
from models.customers import STATUSES
from models.values import TIERS

# --- dialect: the few expressions that differ between SQLite, PostgreSQL and DuckDB ------------------------
# A time bucket is written in two steps: TRUNCATE, evaluated per order (cheap: a timestamp on DuckDB and
# PostgreSQL, which group it fast), and LABEL, evaluated per group afterwards ("2026-03", "2026-Q1").  Formatting
# ten million order dates as text before grouping cost DuckDB more than the grouping itself.  Formats are inline
# literals (SQL), not parameters: DuckDB matches GROUP BY expressions by their text.
_SQLITE_QUARTER = lambda column: fn.strftime(SQL("'%Y'"), column).concat(SQL("'-Q'")).concat(  # noqa: E731
    (fn.strftime(SQL("'%m'"), column).cast("INTEGER") + 2) / 3)
TRUNCATE = {
    "sqlite": {"month": lambda column: fn.strftime(SQL("'%Y-%m'"), column), "quarter": _SQLITE_QUARTER},
    "postgresql": {"month": lambda column: fn.date_trunc(SQL("'month'"), column),
                   "quarter": lambda column: fn.date_trunc(SQL("'quarter'"), column)},
    "duckdb": {"month": lambda column: fn.date_trunc(SQL("'month'"), column),
               "quarter": lambda column: fn.date_trunc(SQL("'quarter'"), column)},
}
LABEL = {
    "sqlite": {"month": lambda bucket: bucket, "quarter": lambda bucket: bucket},
    "postgresql": {"month": lambda bucket: fn.to_char(bucket, SQL("'YYYY-MM'")),
                   "quarter": lambda bucket: fn.to_char(bucket, SQL("'YYYY-\"Q\"Q'"))},
    "duckdb": {"month": lambda bucket: fn.strftime(bucket, SQL("'%Y-%m'")),
               "quarter": lambda bucket: fn.year(bucket).cast("VARCHAR").concat(SQL("'-Q'")).concat(
                   fn.quarter(bucket).cast("VARCHAR"))},
}


def bucket_label(dialect, bucket, column):
    """The label of `column` (a date or time) in `bucket` (month / quarter), as one expression."""
    return LABEL[dialect][bucket](TRUNCATE[dialect][bucket](column))


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    reads: tuple  # ((policy key, column), ...)
    # "customer": a customer column (or a table joined to the customer); "order_time": the orders' bucket;
    # "first_contact": the customer's first contact date, bucketed
    kind: str
    expression: Callable = None  # expression(dialect, o) -> the group label, for kind customer
    joins: tuple = ()  # "value", "owner", "tag"
    bucket: str = None  # month / quarter, for the time kinds
    order: tuple = ()  # labels in their natural order (statuses, tiers); else by the first measure
    filterable: bool = False
    empty_label: str = "未填写"
    choices: Callable = None  # choices() -> [(value, label)] offered as filter values (None: not filterable)
    condition: Callable = None  # condition(values) -> a WHERE over the customer, for filters
    needs_limit: bool = False  # one row per customer: only the top N
    # what the rows are grouped by, when not the label itself: the customer's id (a number hashes faster than a
    # "code name" text, and two customers never merge), with the columns the label is made of
    group_by: Callable = None

    @property
    def is_time(self):
        return self.kind in ("order_time", "first_contact")


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    reads: tuple
    parts: tuple  # names of PARTS aggregated in SQL
    value: Callable  # value(parts: dict) -> the number shown
    format: str  # count / money / percent / number
    needs: frozenset = field(default_factory=frozenset)  # "orders", "value"
    additive: bool = True  # a sum over groups means something (a pie of it is a mix)


def _o(o, name):
    return getattr(o.c, name)


# Aggregates over the joined rows: name -> expression(o)
PARTS = {
    "customers": lambda o: fn.COUNT(SQL("*")),
    "orders": lambda o: fn.COALESCE(fn.SUM(_o(o, "n")), 0),
    "revenue": lambda o: fn.COALESCE(fn.SUM(_o(o, "s")), 0),
    "buyers": lambda o: fn.SUM(Case(None, [(_o(o, "n") >= 1, 1)], 0)),
    "repeaters": lambda o: fn.SUM(Case(None, [(_o(o, "n") >= 2, 1)], 0)),
    "ltv_sum": lambda o: fn.SUM(CustomerValue.ltv),
    "ltv_count": lambda o: fn.COUNT(CustomerValue.ltv),
}


def money(value):
    """An amount rounded to the cent, half up (as people round money), as a float; None stays None."""
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP))


def _average(total, count):
    """A money average, to the cent; None without anything to average."""
    return None if not count else money(Decimal(str(total)) / Decimal(str(count)))


def _ratio(top, bottom):
    return None if not bottom else float(top) / float(bottom)


CENT = Decimal("0.01")
MEASURES = {}
DIMENSIONS = {}


def register_measure(measure):
    MEASURES[measure.key] = measure
    return measure


def register_dimension(dimension):
    DIMENSIONS[dimension.key] = dimension
    return dimension


register_measure(Measure("customers", "客户数", (("customer", "id"),), ("customers",),
                         lambda p: int(p["customers"] or 0), "count"))
register_measure(Measure("revenue", "消费额", (("order", "amount"),), ("revenue",),
                         lambda p: money(p["revenue"] or 0), "money", frozenset({"orders"})))
register_measure(Measure("orders", "订单数", (("order", "id"),), ("orders",),
                         lambda p: int(p["orders"] or 0), "count", frozenset({"orders"})))
register_measure(Measure("aov", "客单价", (("order", "amount"), ("order", "id")), ("revenue", "orders"),
                         lambda p: _average(p["revenue"], p["orders"]),
                         "money", frozenset({"orders"}), additive=False))
register_measure(Measure("ltv", "LTV（平均）", (("customervalue", "ltv"),), ("ltv_sum", "ltv_count"),
                         lambda p: _average(p["ltv_sum"], p["ltv_count"]),
                         "money", frozenset({"value"}), additive=False))
register_measure(Measure("repeat_rate", "复购率", (("order", "id"),), ("repeaters", "buyers"),
                         lambda p: _ratio(p["repeaters"] or 0, p["buyers"] or 0), "percent", frozenset({"orders"}),
                         additive=False))


def _names(kind):
    from models import Choice

    return lambda: [(name, name) for name in Choice.names(kind)]


def _column_dimension(key, label, column_name, kind_of_choices=None, order=(), choices=None):
    column = getattr(Customer, column_name)
    return Dimension(key, label, (("customer", column_name),), "customer",
                     expression=lambda dialect, o: column, filterable=True,
                     choices=choices or _names(kind_of_choices), order=order,
                     condition=lambda values: column.in_(list(values)))


register_dimension(Dimension(
    "tier", "客户分层", (("customervalue", "tier"),), "customer",
    expression=lambda dialect, o: CustomerValue.tier, joins=("value",), order=tuple(TIERS), filterable=True,
    empty_label="未分层", choices=lambda: [(t, t) for t in TIERS],
    condition=lambda values: Customer.id.in_(CustomerValue.select(CustomerValue.customer)
                                             .where(CustomerValue.tier.in_(list(values))))))
register_dimension(_column_dimension("industry", "行业", "industry", "industry"))
register_dimension(_column_dimension("region", "地区", "region", "region"))


def _owner_choices():
    from models import User

    return [(str(u.id), u.display_name or u.username) for u in User.select().order_by(User.username)]


def _owner_label(dialect, o):
    from .compute import OwnerUser

    return fn.COALESCE(fn.NULLIF(OwnerUser.display_name, SQL("''")), OwnerUser.username)


register_dimension(Dimension(
    "owner", "负责人", (("customer", "owner"),), "customer", expression=_owner_label, joins=("owner",),
    filterable=True, empty_label="未分配", choices=_owner_choices,
    condition=lambda values: Customer.owner.in_([int(v) for v in values])))
register_dimension(_column_dimension("status", "客户状态", "status", order=tuple(s for s, _ in STATUSES),
                                     choices=lambda: list(STATUSES)))
register_dimension(Dimension(
    "tag", "标签", (("customertag", "tag"),), "customer", expression=lambda dialect, o: Tag.name, joins=("tag",),
    filterable=True, choices=lambda: [(t.name, t.name) for t in Tag.select(Tag.name).order_by(Tag.name)],
    condition=lambda values: Customer.id.in_(_tagged(values))))
register_dimension(_column_dimension("source", "客户来源", "source", "source"))
register_dimension(Dimension("first_contact_month", "首次接触月份", (("customer", "first_contact"),), "first_contact",
                             bucket="month", empty_label="未记录"))
register_dimension(Dimension("first_contact_quarter", "首次接触季度", (("customer", "first_contact"),),
                             "first_contact", bucket="quarter", empty_label="未记录"))
register_dimension(Dimension("order_month", "下单月份", (("order", "ordered_at"),), "order_time", bucket="month"))
register_dimension(Dimension("order_quarter", "下单季度", (("order", "ordered_at"),), "order_time", bucket="quarter"))
register_dimension(Dimension(
    "customer", "客户", (("customer", "code"), ("customer", "name")), "customer",
    expression=lambda dialect, o: Customer.code.concat(SQL("' '")).concat(Customer.name), needs_limit=True,
    group_by=lambda: [Customer.id, Customer.code, Customer.name]))


def _tagged(names):
    from models import CustomerTag

    return (CustomerTag.select(CustomerTag.customer).join(Tag, on=(Tag.id == CustomerTag.tag))
            .where(Tag.name.in_(list(names))))
