"""The dashboard's figures straight from the raw tables, one set-based statement per source over the viewer's
scoped customers: what the page read before the roll-ups (dashboard.rollup) and what the tests and the benchmark
hold the roll-up path to (`dashboard.build(..., sources=dashboard.DIRECT)`).  The same names and return values as
dashboard.sources; at a million customers a page of these takes seconds to minutes (docs/benchmarks.md).

    customers   status x industry: customers, created in the period, created this month
    orders      per day or month of the period: order total and count (the sales trend, the period's total)
    top         the customers with the largest order total in the period (10)
    funnel      the period's funnel from the status history (pipeline.funnel.counts, two statements)
    rule_tags   customers per rule tag of the library (0 for a tag no customer holds)
    values      the value table's top customers by LTV (valuation.top)
    tasks: live in both (dashboard.sources)
"""
import datetime

from peewee import JOIN, SQL, Case, fn

import valuation
from models import Customer, CustomerTag, Order, Tag, is_sqlite
from pipeline import funnel as pipeline_funnel

from .figures import CustomerFigures, FunnelFigures

TOP_LIMIT = 10

DIRECT = {}


def source(name):
    def register(function):
        DIRECT[name] = function
        return function
    return register


# unit -> backend -> expression of a timestamp column as its bucket key ('YYYY-MM-DD' / 'YYYY-MM')
BUCKETS = {
    "day": {"sqlite": lambda column: fn.strftime("%Y-%m-%d", column),
            "postgresql": lambda column: fn.to_char(column, "YYYY-MM-DD")},
    "month": {"sqlite": lambda column: fn.strftime("%Y-%m", column),
              "postgresql": lambda column: fn.to_char(column, "YYYY-MM")},
}


def bucket(unit, column):
    """Text, never converted back by the column's field (peewee would read 'YYYY-MM-DD' as a date)."""
    return BUCKETS[unit]["sqlite" if is_sqlite() else "postgresql"](column).coerce(False)


def _count_if(condition):
    return fn.COALESCE(fn.SUM(Case(None, [(condition, 1)], 0)), 0)


def _scoped(query, ctx, field):
    condition = ctx.scope(field)
    return query if condition is None else query.where(condition)


@source("customers")
def customers(ctx):
    """CustomerFigures: (status, industry, customers) and the customers new in the period and this month."""
    month_start = datetime.datetime.combine(ctx.today.replace(day=1), datetime.time())
    end = ctx.period.end_at
    query = (Customer
             .select(Customer.status, Customer.industry, fn.COUNT(Customer.id),
                     _count_if((Customer.created_at >= ctx.period.start_at) & (Customer.created_at < end)),
                     _count_if((Customer.created_at >= month_start) & (Customer.created_at < end)))
             .group_by(Customer.status, Customer.industry))
    rows = list(_scoped(query, ctx, Customer.id).tuples())
    return CustomerFigures([(status, industry, int(n)) for status, industry, n, _new, _month in rows],
                           sum(int(r[3]) for r in rows), sum(int(r[4]) for r in rows))


@source("orders")
def orders(ctx):
    """{bucket: (order total, orders)} of the period, buckets by its unit."""
    key = bucket(ctx.period.unit, Order.ordered_at)
    query = (Order
             .select(key.alias("bucket"), fn.SUM(Order.amount), fn.COUNT(Order.id))
             .where((Order.ordered_at >= ctx.period.start_at) & (Order.ordered_at < ctx.period.end_at))
             .group_by(SQL("1")))
    return {b: (float(total or 0), int(n)) for b, total, n in _scoped(query, ctx, Order.customer).tuples()}


@source("top")
def top(ctx):
    """[(customer id, code, name, order total, orders)] of the period, largest total first."""
    total = fn.SUM(Order.amount)
    query = (Order
             .select(Customer.id, Customer.code, Customer.name, total, fn.COUNT(Order.id))
             .join(Customer, on=(Order.customer == Customer.id))
             .where((Order.ordered_at >= ctx.period.start_at) & (Order.ordered_at < ctx.period.end_at))
             .group_by(Customer.id, Customer.code, Customer.name)
             .order_by(total.desc(), Customer.id)
             .limit(TOP_LIMIT))
    return [(cid, code, name, float(amount or 0), int(n))
            for cid, code, name, amount, n in _scoped(query, ctx, Order.customer).tuples()]


@source("rule_tags")
def rule_tags(ctx):
    """[(tag name, customers in scope)] of every rule tag in use (not retired), in name order.

    The tag rows are counted per tag first (the tag index, then the scope test per row) and joined to the tags
    after, so a narrow scope does not probe every customer of the scope once per tag."""
    in_use = (Tag.source == "rule") & Tag.retired_at.is_null()
    counted = (CustomerTag
               .select(CustomerTag.tag.alias("tag_id"), fn.COUNT(CustomerTag.id).alias("customers"))
               .where(CustomerTag.tag.in_(Tag.select(Tag.id).where(in_use)))
               .group_by(CustomerTag.tag))
    counted = _scoped(counted, ctx, CustomerTag.customer).alias("counted")
    query = (Tag
             .select(Tag.name, fn.COALESCE(counted.c.customers, 0))
             .join(counted, JOIN.LEFT_OUTER, on=(counted.c.tag_id == Tag.id))
             .where(in_use)
             .order_by(Tag.name))
    return [(name, int(n)) for name, n in query.tuples()]


@source("values")
def values(ctx):
    """valuation.top: the TOP_LIMIT customers of the value table by LTV, money columns as the grant says."""
    return valuation.top(ctx.customers(), TOP_LIMIT, ctx.grant)
