"""The dashboard's queries, as a registry: each source is set-based SQL over the viewer's scoped customers
(one statement, two for the funnel), and several cards read the same source (see dashboard.cards), so a page
costs one batch of statements per source in use, however many cards there are; nothing is read row by row.

    customers   status x industry: customers, created in the period, created this month
    orders      per day or month of the period: order total and count (the sales trend, the period's total)
    top         the customers with the largest order total in the period (10)
    tasks       open follow-up tasks (reminders.counts): overdue, due today, upcoming
    funnel      the period's funnel from the status history (pipeline.funnel.counts, two statements)
    values      the top customers of the value table by LTV (valuation.top; money columns as the grant says)
    rule_tags   customers per rule tag of the library (0 for a tag no customer holds)

A source takes the Context (today, the period, the scope, the grant) and returns plain Python values; the few
expressions that differ between SQLite and PostgreSQL (a timestamp's day or month as text) come from
BUCKETS.  Register another with @source("name", statements=1); STATEMENTS says how many each costs.
"""
import datetime

from peewee import JOIN, SQL, Case, fn

import reminders
import valuation
from models import Customer, CustomerTag, Order, Tag, is_sqlite
from pipeline import funnel as pipeline_funnel

TOP_LIMIT = 10

SOURCES = {}
STATEMENTS = {}  # source -> SQL statements it sends (the tests hold the page to their sum)


def source(name, statements=1):
    def register(function):
        SOURCES[name] = function
        STATEMENTS[name] = statements
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
    """[(status, industry, customers, new in the period, new this month)], grouped in the database."""
    month_start = datetime.datetime.combine(ctx.today.replace(day=1), datetime.time())
    end = ctx.period.end_at
    query = (Customer
             .select(Customer.status, Customer.industry, fn.COUNT(Customer.id),
                     _count_if((Customer.created_at >= ctx.period.start_at) & (Customer.created_at < end)),
                     _count_if((Customer.created_at >= month_start) & (Customer.created_at < end)))
             .group_by(Customer.status, Customer.industry))
    return [(status, industry, int(n), int(new), int(month))
            for status, industry, n, new, month in _scoped(query, ctx, Customer.id).tuples()]


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


@source("tasks")
def tasks(ctx):
    """reminders.Counts(due_today, overdue, upcoming) of the open tasks of the scope (one grouped query)."""
    return reminders.counts(ctx.scoped, ctx.today)


@source("funnel", statements=2)
def funnel(ctx):
    """pipeline.funnel.Funnel of the period: the cohort that entered 潜在 in it and how far it got, and the
    customers per stage at its end (read from the status history, two statements)."""
    return pipeline_funnel.counts(ctx.customers(), ctx.period.start, ctx.period.end)


@source("values")
def values(ctx):
    """valuation.top: the TOP_LIMIT customers of the value table by LTV, money columns only where the grant
    shows them (one query)."""
    return valuation.top(ctx.customers(), TOP_LIMIT, ctx.grant)


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
