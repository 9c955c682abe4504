"""The dashboard's queries, as a registry: each source reads the roll-ups (models.rollups, kept by dashboard.rollup)
with the viewer's row scope as `owner_id IN (...)` (access.owner_ids), or a live query that is cheap by index, and
several cards read the same source (see dashboard.cards), so a page costs one small batch of statements whatever
the cards and however many customers and orders there are.

    customers   customer_mix (status x industry, now) and customers_new (per day created): two statements
    orders      sales_day summed per day or month of the period (the sales trend, the period's total)
    top         top_customer of the period's start, merged over the owners in scope (10), with code and name
    funnel      funnel_cohort of the period's months and stage_count (流失 at the end): two statements
    rule_tags   rule_tag_count of every rule tag in use (0 for a tag no customer in scope holds)
    tasks       live: open follow-up tasks (reminders.counts, by the task index)
    values      top_value: the value table's top customers by LTV per owner, merged (valuation.top's order)

The roll-ups are the figures of their last refresh (ctx.refresh; the page shows 数据更新于 …).  The same names
with the same return values read the raw tables in dashboard.direct, which the tests compare with these.
Register another with @source("name", statements=1); STATEMENTS says how many each costs.
"""
from peewee import JOIN, Case, fn

import reminders
from models import (Customer, CustomerMix, CustomersNew, FunnelCohort, RuleTagCount, SalesDay, StageCount, Tag,
                    TopCustomer, TopValue)
from valuation import policy as value_policy

from .direct import bucket
from .figures import CustomerFigures, FunnelFigures
from .rollup import TOP_LIMIT

SOURCES = {}
STATEMENTS = {}  # source -> SQL statements it sends (the tests hold the page to their sum)


def source(name, statements=1):
    def register(function):
        SOURCES[name] = function
        STATEMENTS[name] = statements
        return function
    return register


def _owned(query, ctx, model):
    return query if ctx.owners is None else query.where(model.owner_id.in_(ctx.owners))


def _month(day):
    return day.strftime("%Y-%m")


def _count_if(condition, value):
    return fn.COALESCE(fn.SUM(Case(None, [(condition, value)], 0)), 0)


@source("customers", statements=2)
def customers(ctx):
    """CustomerFigures: (status, industry, customers) now, and the customers created in the period and this
    month (up to today)."""
    mix = (CustomerMix.select(CustomerMix.status, CustomerMix.industry, fn.SUM(CustomerMix.customers))
           .group_by(CustomerMix.status, CustomerMix.industry))
    month_start = ctx.today.replace(day=1)
    start = min(ctx.period.start, month_start)  # every period starts on or before the 1st of today's month
    new = (CustomersNew.select(_count_if(CustomersNew.day >= ctx.period.start, CustomersNew.customers),
                               _count_if(CustomersNew.day >= month_start, CustomersNew.customers))
           .where((CustomersNew.day >= start) & (CustomersNew.day <= ctx.today)))
    in_period, in_month = _owned(new, ctx, CustomersNew).tuples().first()
    return CustomerFigures([(status, industry, int(n)) for status, industry, n in _owned(mix, ctx, CustomerMix).tuples()],
                           int(in_period or 0), int(in_month or 0))


@source("orders")
def orders(ctx):
    """{bucket: (order total, orders)} of the period, buckets by its unit ('YYYY-MM-DD' or 'YYYY-MM')."""
    key = bucket(ctx.period.unit, SalesDay.day)
    query = (SalesDay.select(key.alias("bucket"), fn.SUM(SalesDay.total), fn.SUM(SalesDay.orders))
             .where((SalesDay.day >= ctx.period.start) & (SalesDay.day <= ctx.today))
             .group_by(key))
    return {b: (float(total or 0), int(n)) for b, total, n in _owned(query, ctx, SalesDay).tuples()}


@source("top")
def top(ctx):
    """[(customer id, code, name, order total, orders)] of the period, largest total first: the top 10 of each
    owner in scope, merged (exact: the scope's top 10 is within the union of its owners' top 10s)."""
    query = (TopCustomer
             .select(Customer.id, Customer.code, Customer.name, TopCustomer.total, TopCustomer.orders)
             .join(Customer, on=(TopCustomer.customer_id == Customer.id))
             .where(TopCustomer.start == ctx.period.start)
             .order_by(TopCustomer.total.desc(), TopCustomer.customer_id)
             .limit(TOP_LIMIT))
    return [(cid, code, name, float(amount or 0), int(n))
            for cid, code, name, amount, n in _owned(query, ctx, TopCustomer).tuples()]


@source("tasks")
def tasks(ctx):
    """reminders.Counts(due_today, overdue, upcoming) of the open tasks of the scope (one grouped query, live)."""
    return reminders.counts(ctx.scoped, ctx.today)


@source("funnel", statements=2)
def funnel(ctx):
    """FunnelFigures of the period: of the customers whose first 潜在 entry in it falls in one of its months (and
    before the end of today), those who reached 意向 (or 成交) and 成交 by the refresh's day; 流失 at its end."""
    first, last = _month(ctx.period.start), _month(ctx.today)
    query = (FunnelCohort
             .select(fn.COALESCE(fn.SUM(FunnelCohort.customers), 0),
                     _count_if(FunnelCohort.interested == True, FunnelCohort.customers),  # noqa: E712
                     _count_if(FunnelCohort.won == True, FunnelCohort.customers))  # noqa: E712
             .where((FunnelCohort.month >= first) & (FunnelCohort.month <= last)
                    & ((FunnelCohort.previous == "") | (FunnelCohort.previous < first))))
    potential, interested, won = _owned(query, ctx, FunnelCohort).tuples().first()
    lost = (StageCount.select(fn.COALESCE(fn.SUM(StageCount.customers), 0))
            .where(StageCount.stage == "流失客户"))
    return FunnelFigures(int(potential or 0), int(interested or 0), int(won or 0),
                         int(_owned(lost, ctx, StageCount).scalar() or 0))


@source("values")
def values(ctx):
    """valuation.top's answer from the top_value roll-up: the TOP_LIMIT customers of the value table by LTV (then
    年度消费额) among the owners in scope, money columns only where the grant shows them (valuation.policy)."""
    order = (fn.COALESCE(TopValue.ltv, -1).desc(), TopValue.annual_spend.desc(), TopValue.customer_id)
    query = (TopValue
             .select(TopValue.customer_id, Customer.code, Customer.name, TopValue.tier, TopValue.orders_12m,
                     TopValue.last_order_at, TopValue.as_of, TopValue.annual_spend, TopValue.ltv)
             .join(Customer, on=(TopValue.customer_id == Customer.id))
             .order_by(*order)
             .limit(TOP_LIMIT))
    hidden = {c for c in value_policy.MONEY_COLUMNS
              if ctx.grant is not None and not ctx.grant.visible(value_policy.POLICY_KEY, c)}
    keys = ("customer_id", "code", "name", "tier", "orders_12m", "last_order_at", "as_of", "annual_spend", "ltv")
    found = []
    for row in _owned(query, ctx, TopValue).tuples():
        item = dict(zip(keys, row))
        for column in hidden:
            item.pop(column)
        found.append(item)
    return found


@source("rule_tags")
def rule_tags(ctx):
    """[(tag name, customers in scope)] of every rule tag in use (not retired), in name order."""
    in_use = (Tag.source == "rule") & Tag.retired_at.is_null()
    counted = (RuleTagCount
               .select(RuleTagCount.tag_id, fn.SUM(RuleTagCount.customers).alias("customers"))
               .group_by(RuleTagCount.tag_id))
    counted = _owned(counted, ctx, RuleTagCount).alias("counted")
    query = (Tag
             .select(Tag.name, fn.COALESCE(counted.c.customers, 0))
             .join(counted, JOIN.LEFT_OUTER, on=(counted.c.tag_id == Tag.id))
             .where(in_use)
             .order_by(Tag.name))
    return [(name, int(n)) for name, n in query.tuples()]
