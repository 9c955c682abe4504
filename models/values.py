"""The customer value table (客户价值分析表, issue 11 part 5): one row per customer, rebuilt by each refresh.

CustomerValue holds what valuation.refresh computed for the day `as_of`: 年度消费额 and 订单总笔数 over the
365 days ending on as_of, the 3-year CLV (客户生命周期价值 LTV) from the BG/NBD + Gamma-Gamma model, the tier
(客户分层) and the last order.  A refresh replaces every row in one transaction, so readers see either the
old table or the new one.  ValueRefresh records each refresh: the day, what the tiers were ranked by, the
model's notes and how long it took; the screen shows the latest.
"""
import datetime

from peewee import (CharField, DateField, DateTimeField, DecimalField, FloatField, ForeignKeyField, IntegerField,
                    TextField)

from .base import BaseModel
from .customers import Customer

# Highest first; the same names as analytics.clv.TIERS (the value report's tiers).
TIERS = ("高价值客户", "潜力客户", "普通客户", "低价值客户")
TIER_CHOICES = tuple((tier, tier) for tier in TIERS)
BASES = (("ltv", "客户生命周期价值"), ("annual_spend", "年度消费额"))


class CustomerValue(BaseModel):
    customer = ForeignKeyField(Customer, backref="value_rows", on_delete="CASCADE", unique=True)
    annual_spend = DecimalField(max_digits=14, decimal_places=2, default=0)  # 年度消费额: last 365 days
    orders_12m = IntegerField(default=0)  # 订单总笔数: orders in the last 365 days
    # 3-year CLV; None: no model.  Indexed: the list sorts by it
    ltv = DecimalField(max_digits=14, decimal_places=2, null=True, index=True)
    tier = CharField(max_length=8, choices=TIER_CHOICES)  # no index: every write would pay for it; scans are cheap
    last_order_at = DateTimeField(null=True)  # 最后下单时间, up to as_of
    as_of = DateField()
    refreshed_at = DateTimeField()


class ValueRefresh(BaseModel):
    at = DateTimeField(default=datetime.datetime.now, index=True)
    as_of = DateField()
    trigger = CharField(max_length=10, default="cli")  # cli / schedule / manual
    username = CharField(max_length=60, null=True)
    customers = IntegerField(default=0)
    basis = CharField(max_length=16, choices=BASES, default="ltv")  # what the tiers were ranked by
    notes = TextField(null=True)  # the model fit's notes (penalised fit, q <= 1, not enough data), one per line
    duration = FloatField(null=True)  # seconds
    timings = TextField(null=True)  # JSON {step: seconds}
