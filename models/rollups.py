"""The dashboard's roll-ups (issue 11, part 8): small tables of pre-grouped figures, rebuilt together by
dashboard.rollup.refresh (the daily job `dashboard-refresh`, `run.py refresh-dashboard`, and after an import or
its undo) and read by the dashboard's sources instead of the raw tables.

Every table is keyed by owner: `owner_id` is the customer's owner (0 for a customer without one, which only
the "all" row scope reaches), so a viewer's row scope — always "the customers of these owners" or everyone
(access.owner_ids) — is `owner_id IN (...)` or nothing.  A refresh replaces every row of every table in one
transaction, so readers see the old figures or the new ones, never a mix; DashboardRefresh records each one
(as_of, when, how long), and the page shows the latest as 数据更新于 ….

    SalesDay        per (day, owner): order total and orders          销售额, 销售趋势
    CustomerMix     per (owner, status, industry): customers           客户状态分布, 行业分布
    CustomersNew    per (owner, day created): customers                新增客户
    FunnelCohort    per (owner, month of a 潜在 entry, the customer's previous 潜在 month, reached 意向/成交)
    StageCount      per (owner, status at the end of as_of): customers (流失 at the period's end)
    TopCustomer     per (period start, owner): the 10 largest order totals from that day to as_of
    RuleTagCount    per (tag, owner): customers carrying the tag
    TopValue        per owner: the 10 highest LTV (then 年度消费额) rows of the value table, as refreshed
"""
import datetime

from peewee import BooleanField, CharField, DateField, DateTimeField, DecimalField, FloatField, IntegerField, TextField

from .base import BaseModel

NO_OWNER = 0  # owner_id of customers nobody owns


class DashboardRefresh(BaseModel):
    at = DateTimeField(default=datetime.datetime.now, index=True)  # when the figures were computed (committed)
    as_of = DateField()  # the day they are for
    trigger = CharField(max_length=12, default="cli")  # cli / schedule / import / first-view / bench
    username = CharField(max_length=60, null=True)
    duration = FloatField(null=True)  # seconds
    timings = TextField(null=True)  # JSON {table: seconds}


class SalesDay(BaseModel):
    day = DateField(index=True)
    owner_id = IntegerField()
    total = DecimalField(max_digits=18, decimal_places=2)
    orders = IntegerField()


class CustomerMix(BaseModel):
    owner_id = IntegerField(index=True)
    status = CharField(max_length=8, null=True)
    industry = CharField(max_length=60, null=True)
    customers = IntegerField()


class CustomersNew(BaseModel):
    day = DateField(index=True)
    owner_id = IntegerField()
    customers = IntegerField()


class FunnelCohort(BaseModel):
    """Customers by the month of a 潜在 entry (their first entry to 潜在 in that month), the month of their previous
    潜在 entry before it ('' for none) and whether they reached 意向 or 成交 (`interested`) and 成交 (`won`) at or
    after that entry, by the end of as_of.  A period starting on the 1st of month S counts, per customer, the row
    with month >= S and previous < S: their first entry in the period (pipeline.funnel's cohort)."""
    owner_id = IntegerField(index=True)
    month = CharField(max_length=7)  # 'YYYY-MM'
    previous = CharField(max_length=7)  # 'YYYY-MM' or ''
    interested = BooleanField()
    won = BooleanField()
    customers = IntegerField()


class StageCount(BaseModel):
    owner_id = IntegerField(index=True)
    stage = CharField(max_length=8, null=True)
    customers = IntegerField()


class TopCustomer(BaseModel):
    start = DateField()
    owner_id = IntegerField()
    customer_id = IntegerField()
    total = DecimalField(max_digits=18, decimal_places=2)
    orders = IntegerField()

    class Meta:
        indexes = ((("start", "owner_id"), False),)


class RuleTagCount(BaseModel):
    tag_id = IntegerField()
    owner_id = IntegerField(index=True)
    customers = IntegerField()


class TopValue(BaseModel):
    """The value table's (CustomerValue) top customers per owner, by valuation.top's order; a copy of their row."""
    owner_id = IntegerField(index=True)
    customer_id = IntegerField()
    ltv = DecimalField(max_digits=14, decimal_places=2, null=True)
    annual_spend = DecimalField(max_digits=14, decimal_places=2)
    orders_12m = IntegerField()
    tier = CharField(max_length=8)
    last_order_at = DateTimeField(null=True)
    as_of = DateField()


ROLLUPS = [SalesDay, CustomerMix, CustomersNew, FunnelCohort, StageCount, TopCustomer, RuleTagCount, TopValue]
