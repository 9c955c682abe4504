"""The metrics tag-rule conditions compare, as a registry: name -> Metric (a label, a kind, and how one
comparison becomes SQL over Customer.id).  A new metric is one `register(...)` call, not a branch.

Every comparison compiles to a condition on Customer.id answered set-based in the database, usually
`Customer.id IN / NOT IN (SELECT customer_id FROM <records> WHERE <window> GROUP BY ... HAVING ...)`, read
through the (customer, time) indexes of orders and follow-ups.  Nothing here reads the clock: the day a
condition is evaluated for (`Day.as_of`) is a parameter, and every record dated after that day is left out,
so the same condition gives the customers it would have tagged on a past day (the preview).

Kinds:
- number: order total, order count, complaint count, employees (ops >= > <= < = !=);
- days: days since an event, or since first contact (ops >= > <= <); a customer with no such event counts
  as "never", i.e. more days than any number;
- choice: status, region, industry, source, customer type (ops = != in not_in).

Status on a past day comes from the status history (the last change up to that day); region, industry and
the other fields have no history and are read as they are now.

Aggregate metrics (order total and count, complaint count, days since an order, follow-up or feedback) also
name the per-customer figure they compare (`Metric.figure`): a `Need` of a `Figure` (a source, sum / count
over the last N days, or the latest time) and the test of that figure's column.  A sweep or a preview
computes every figure its rules need once, in one grouped pass per table (tagrules.figures), and compares
all rules against it; `build` stays the answer for one comparison alone, and both give the same customers
(tests/test_tagrules_figures.py).
"""
import datetime
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from peewee import OP, SQL, Case, Cast, Expression, Value, fn, multi_types

from models import Customer, CustomerValue, Feedback, FollowUp, Order, StatusChange, is_sqlite
from models.customers import CUSTOMER_TYPES, STATUSES
from models.values import TIERS

KINDS = {
    "number": (">=", ">", "<=", "<", "=", "!="),
    "days": (">=", ">", "<=", "<"),
    "choice": ("=", "!=", "in", "not_in"),
}
OP_LABELS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "等于", "!=": "不等于", "in": "属于", "not_in": "不属于"}
_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "=": operator.eq,
            "!=": operator.ne}
MAX_DAYS = 3650


class _In(Expression):
    """column IN / NOT IN (a subquery or a list), rendered once.  peewee's Expression renders a right-hand side
    that is not a list a second time only to see whether it comes out as "()" (`_is_rhs_empty`), so IN
    subqueries nested d deep were rendered 2**d times: the check after one change spent most of its time
    building SQL text (bench/daily.py)."""

    def _is_rhs_empty(self, rhs, ctx):
        if isinstance(rhs, multi_types):
            return not rhs
        if isinstance(rhs, Value):
            return rhs.multi and not rhs.values
        return False  # a query: never the empty list


def in_(column, rhs):
    """`column.in_(rhs)` (values converted as peewee converts them) that renders its subquery once."""
    expression = column.in_(rhs)
    return _In(expression.lhs, OP.IN, expression.rhs, expression.flat)


def not_in(column, rhs):
    expression = column.not_in(rhs)
    return _In(expression.lhs, OP.NOT_IN, expression.rhs, expression.flat)


@dataclass(frozen=True)
class Day:
    """The day a condition is evaluated for.  `live` says the customers' current fields are their values
    on that day (a sweep for today); otherwise status is read from the status history."""

    as_of: datetime.date
    live: bool = True
    # Only these customers (ids or a query of ids) are asked about: the check after a change pushes them
    # into every subquery, so one customer's check reads that customer's rows, not every customer's.
    within: object = field(default=None, compare=False)

    def only(self, customer):
        """`customer` (a records table's customer column) restricted to `within`, or None."""
        return None if self.within is None else in_(customer, self.within)

    @property
    def end(self):
        """Midnight after as_of: records at or after it are not yet known on as_of."""
        return midnight(self.as_of + datetime.timedelta(days=1))

    def start_of_window(self, days):
        """Midnight of the first of the last `days` days (as_of included)."""
        return midnight(self.as_of - datetime.timedelta(days=days - 1))


def midnight(day):
    return datetime.datetime.combine(day, datetime.time())


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # Chinese, as the screens show it
    kind: str  # number / days / choice
    build: Callable = field(repr=False)  # build(day, op, value, days) -> condition on Customer.id
    window: int = 0  # default N for metrics over the last N days; 0: no N
    unit: str = ""
    choices: Callable = None  # () -> allowed values of a choice metric
    help: str = ""
    # figure(day, op, value, days) -> Need (the per-customer figure the comparison reads and its test), or
    # None where the comparison needs no figure (a constant, or a metric that is not an aggregate)
    figure: Callable = field(default=None, repr=False)

    @property
    def ops(self):
        return KINDS[self.kind]


_registry = {}


def register(metric):
    _registry[metric.name] = metric
    return metric


def get(name):
    return _registry.get(name)


def available():
    return list(_registry.values())


# --- building blocks ------------------------------------------------------------------------------
def _restricted(day, customer, where):
    only = day.only(customer)
    return where if only is None else (where & only)


def _having(day, model, customer, aggregate, where, op, value, empty):
    """Customers whose `aggregate` over their rows of `model` matching `where` compares `op value`; a customer
    without such rows has the value `empty` (0 for sums and counts)."""
    grouped = model.select(customer).where(_restricted(day, customer, where)).group_by(customer)
    test = _COMPARE[op](aggregate, value)
    if _COMPARE[op](empty, value):  # customers without rows match too: everyone but those who fail
        return not_in(Customer.id, grouped.having(~test))
    return in_(Customer.id, grouped.having(test))


def money_total(column, condition=None):
    """SUM of a money column (NUMERIC with `decimal_places`), over the rows where `condition` holds, exact to
    the cent on both databases, so a threshold compares as the amounts say (33,333.33 + 33,333.33 + 33,333.34
    is 100,000.00, which is >= 100000).

    SQLite keeps amounts as floating point, whose sum can land a hair off (ten 0.01s add up to
    0.09999999999999999): the total is rounded to the column's places, once per customer.  PostgreSQL's
    NUMERIC sum is exact; it is taken as whole cents, CAST(amount * 100 AS BIGINT), divided by 100 once per
    customer: the same total, but each customer's running sum is a 128-bit integer instead of a NUMERIC,
    which a grouped pass over a year of orders spends most of its time adding and keeping (4M orders into
    550,000 customers: 12.0 s against 17.9 s, measured in one session).  A column of more than 18 digits is
    added up as it is (a BIGINT cannot hold it)."""
    places = getattr(column, "decimal_places", None)
    digits = getattr(column, "max_digits", None) or 0

    def total(value):
        return fn.SUM(value if condition is None else Case(None, [(condition, value)], 0))

    if places is None:
        return total(column)
    if is_sqlite():
        return fn.ROUND(total(column), places)
    if digits > 18:
        return total(column)
    scale = 10 ** places
    return total(Cast(column * scale, "BIGINT")) / Value(scale)


def _number(value):
    """A bound parameter both drivers take (sqlite3 cannot bind a Decimal)."""
    value = Decimal(str(value))
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class Source:
    """Records a figure aggregates: a model, its customer and time columns, and which of its rows count."""

    name: str
    model: object = field(compare=False, repr=False)
    customer: object = field(compare=False, repr=False)
    at: object = field(compare=False, repr=False)
    only: Callable = field(default=None, compare=False, repr=False)  # () -> condition on a row, or None


ORDERS = Source("orders", Order, Order.customer, Order.ordered_at)
FOLLOW_UPS = Source("follow_ups", FollowUp, FollowUp.customer, FollowUp.at)
FEEDBACK = Source("feedback", Feedback, Feedback.customer, Feedback.created_at)
COMPLAINTS = Source("complaints", Feedback, Feedback.customer, Feedback.created_at, only=lambda: Feedback.kind == "投诉")


STATUS_HISTORY = Source("status_history", StatusChange, StatusChange.customer, StatusChange.at)


@dataclass(frozen=True)
class Figure:
    """A per-customer figure of a source's records known on a day (dated before its end): `sum` of `column`
    or `count` over the last `days` days (the day included), `last`, the latest record's time, or `status`,
    the status the status history gives for the day (NULL: the history has none; the current one holds)."""

    source: Source
    aggregate: str  # sum / count / last / status
    column: str = ""  # the summed field
    days: int = 0  # the window of sum and count


@dataclass(frozen=True)
class Need:
    """What one comparison reads: `figure` on `day`, whose records from `since` on it looks at (the window's
    first midnight; for `last`, the threshold), and `test(column)`, the comparison on the figure's column.
    A customer without records has NULL there (sum and count: COALESCE to 0; last: never)."""

    figure: Figure
    since: datetime.datetime
    test: Callable = field(compare=False, repr=False)


def _windowed(source, aggregate, column="", number=int):
    """figure() of a sum or count over the last N days: the same customers as _having with empty 0."""

    def figure(day, op, value, days):
        bound, compare = number(value), _COMPARE[op]
        return Need(Figure(source, aggregate, column, days), day.start_of_window(days),
                    lambda col: compare(fn.COALESCE(col, 0), bound))

    return figure


def _last(source):
    """figure() of days since the last record: `last >= since` for "within the last n days", `last IS NULL OR
    last < recent` for "none in the last n days" (never: more days than any number), as _days_since."""

    def figure(day, op, value, days):
        least, most = _days_bounds(op, int(value))
        if most is not None:
            if most < 0:
                return None  # build: nobody
            since = midnight(day.as_of - datetime.timedelta(days=most))
            return Need(Figure(source, "last"), since, lambda col: col >= since)
        if least <= 0:
            return None  # build: everyone
        recent = midnight(day.as_of - datetime.timedelta(days=least - 1))
        return Need(Figure(source, "last"), recent, lambda col: col.is_null() | (col < recent))

    return figure


def _order_total(day, op, value, days):
    where = (Order.ordered_at >= day.start_of_window(days)) & (Order.ordered_at < day.end)
    return _having(day, Order, Order.customer, money_total(Order.amount), where, op, _number(value), 0)


def _order_count(day, op, value, days):
    where = (Order.ordered_at >= day.start_of_window(days)) & (Order.ordered_at < day.end)
    return _having(day, Order, Order.customer, fn.COUNT(Order.id), where, op, int(value), 0)


def _complaint_count(day, op, value, days):
    where = ((Feedback.kind == "投诉") & (Feedback.created_at >= day.start_of_window(days))
             & (Feedback.created_at < day.end))
    return _having(day, Feedback, Feedback.customer, fn.COUNT(Feedback.id), where, op, int(value), 0)


def _days_bounds(op, n):
    """days-since op n as (at least, at most) whole days; None for no bound."""
    return {">=": (n, None), ">": (n + 1, None), "<=": (None, n), "<": (None, n - 1)}[op]


def _days_since(model, customer, at):
    """Days since the customer's last record of `model` (its time column `at`), "never" when none."""

    def build(day, op, value, days):
        least, most = _days_bounds(op, int(value))
        if most is not None:  # the last one lies within the last `most` days: one exists since then
            if most < 0:
                return SQL("1 = 0")
            since = midnight(day.as_of - datetime.timedelta(days=most))
            return in_(Customer.id, model.select(customer).where(_restricted(day, customer, (at >= since) & (at < day.end))))
        # none in the last `least` days (never counts as more days than any number)
        if least <= 0:
            return SQL("1 = 1")
        recent = midnight(day.as_of - datetime.timedelta(days=least - 1))
        return not_in(Customer.id, model.select(customer).where(_restricted(day, customer, (at >= recent) & (at < day.end))))

    return build


def _customer_age(day, op, value, days):
    """Days since first contact (or, without one, since the record was created)."""
    least, most = _days_bounds(op, int(value))
    if most is not None:
        since = day.as_of - datetime.timedelta(days=most)
        return ((Customer.first_contact.is_null(False) & (Customer.first_contact >= since))
                | (Customer.first_contact.is_null() & (Customer.created_at >= midnight(since))))
    latest = day.as_of - datetime.timedelta(days=least)
    return ((Customer.first_contact.is_null(False) & (Customer.first_contact <= latest))
            | (Customer.first_contact.is_null() & (Customer.created_at < midnight(latest + datetime.timedelta(days=1)))))


def _field_number(column):
    def build(day, op, value, days):
        return column.is_null(False) & _COMPARE[op](column, _number(value))

    return build


def _choice_test(expression, op, value):
    values = value if isinstance(value, list) else [value]
    if op in ("=", "in"):
        return expression.in_(values)
    return expression.is_null() | expression.not_in(values)


def _field_choice(column):
    def build(day, op, value, days):
        return _choice_test(column, op, value)

    return build


def _status(day, op, value, days):
    if day.live:
        return _choice_test(Customer.status, op, value)
    before = (StatusChange.select(StatusChange.to_status)
              .where((StatusChange.customer == Customer.id) & (StatusChange.at < day.end))
              .order_by(StatusChange.at.desc(), StatusChange.id.desc()).limit(1))
    after = (StatusChange.select(StatusChange.from_status)
             .where((StatusChange.customer == Customer.id) & (StatusChange.at >= day.end))
             .order_by(StatusChange.at, StatusChange.id).limit(1))
    return _choice_test(fn.COALESCE(before, after, Customer.status), op, value)


# A status figure looks at the whole history: no window, so every status column answers for any comparison
EVER = datetime.datetime(1900, 1, 1)


def _status_figure(day, op, value, days):
    """figure() of the status on a past day: the figure is the history's answer (tagrules.figures computes it
    in one ranked pass over the status changes), the test falls back to the current status as _status does.
    On a live day the current status is the answer and no figure is needed."""
    if day.live:
        return None
    return Need(Figure(STATUS_HISTORY, "status"), EVER,
                lambda col: _choice_test(fn.COALESCE(col, Customer.status), op, value))


def _value_tier(day, op, value, days):
    """客户分层 from the value table (valuation.refresh): its latest refresh, whatever the day; a customer the
    refresh has not covered has no tier (matches != and not_in only)."""
    values = value if isinstance(value, list) else [value]
    tiered = CustomerValue.select(CustomerValue.customer).where(
        _restricted(day, CustomerValue.customer, CustomerValue.tier.in_(values)))
    return in_(Customer.id, tiered) if op in ("=", "in") else not_in(Customer.id, tiered)


def _choice_names(kind):
    def names():
        from models import Choice

        return Choice.names(kind)

    return names


def existing(day):
    """Customers known on `day`: first contact on or before it (without one: created before its end)."""
    return ((Customer.first_contact.is_null(False) & (Customer.first_contact <= day.as_of))
            | (Customer.first_contact.is_null() & (Customer.created_at < day.end)))


register(Metric("order_total", "近N天订单金额", "number", _order_total, window=365, unit="元",
                help="最近 N 天（含当天）订单金额合计；没有订单为 0",
                figure=_windowed(ORDERS, "sum", "amount", _number)))
register(Metric("order_count", "近N天订单数", "number", _order_count, window=30, unit="笔",
                help="最近 N 天（含当天）的订单笔数", figure=_windowed(ORDERS, "count")))
register(Metric("days_since_order", "距最近下单天数", "days", _days_since(Order, Order.customer, Order.ordered_at),
                unit="天", help="从未下单视为无限大", figure=_last(ORDERS)))
register(Metric("days_since_followup", "距最近跟进天数", "days",
                _days_since(FollowUp, FollowUp.customer, FollowUp.at), unit="天", help="从未跟进视为无限大",
                figure=_last(FOLLOW_UPS)))
register(Metric("days_since_feedback", "距最近反馈天数", "days",
                _days_since(Feedback, Feedback.customer, Feedback.created_at), unit="天", help="从未反馈视为无限大",
                figure=_last(FEEDBACK)))
register(Metric("complaint_count", "近N天投诉次数", "number", _complaint_count, window=365, unit="次",
                help="最近 N 天类型为“投诉”的反馈条数", figure=_windowed(COMPLAINTS, "count")))
register(Metric("customer_age", "距首次接触天数", "days", _customer_age, unit="天",
                help="没有首次接触时间时按创建时间"))
register(Metric("employees", "员工人数", "number", _field_number(Customer.employees), unit="人",
                help="未填写的客户不符合"))
register(Metric("status", "客户状态", "choice", _status, choices=lambda: [s for s, _ in STATUSES],
                help="过去日期按状态变更记录", figure=_status_figure))
register(Metric("region", "所属地区", "choice", _field_choice(Customer.region), choices=_choice_names("region"),
                help="按当前值"))
register(Metric("industry", "所属行业", "choice", _field_choice(Customer.industry),
                choices=_choice_names("industry"), help="按当前值"))
register(Metric("source", "客户来源", "choice", _field_choice(Customer.source), choices=_choice_names("source"),
                help="按当前值"))
register(Metric("customer_type", "客户类型", "choice", _field_choice(Customer.customer_type),
                choices=lambda: [t for t, _ in CUSTOMER_TYPES], help="按当前值"))
register(Metric("value_tier", "客户分层", "choice", _value_tier, choices=lambda: list(TIERS),
                help="客户价值分析表最近一次刷新的分层（过去日期也按最近一次刷新）"))
