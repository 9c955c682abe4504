"""The refresh: every customer's row of the value table, computed for a day passed in.

    valuation.refresh(datetime.date(2026, 12, 7))       # run.py refresh-values; the daily job value-refresh

Steps, each set-based or vectorised, never a query per customer:

1. aggregates  one GROUP BY over customers LEFT JOIN orders (up to the end of as_of): 年度消费额 and 订单总笔数
               over the 365 days ending on as_of (as the tag rules' 近N天订单金额 counts them), 最后下单时间;
2. summary     analytics.queries.customer_summary(as_of, unit_days=7): the BG/NBD inputs of every buyer, the
               value report's own query;
3. fit         analytics.fitting.fit_value_models once on that summary (or on a fixed-seed sample of
               FIT_SAMPLE buyers when there are more), the report's fit with its boundary refits;
4. predict     analytics.clv.predict_clv over HORIZON_MONTHS for every buyer (numpy, patterns shared);
5. tiers       valuation.tiers.assign on the LTV (or on 年度消费额 when the model cannot be fitted);
6. write       valuation.writing.replace_all: delete and bulk insert in one transaction.

Steps 1 and 2 run side by side on the analytics engine (analytics.engines): on a SQLite file DuckDB reads a
snapshot of the order and customer columns copied once, on PostgreSQL the database groups them itself.
"""
import contextlib
import datetime
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from peewee import JOIN, Case, fn

from analytics import clv, engines, fitting, queries
from models import AuditLog, Customer, Order, ValueRefresh, db

from . import tiers, writing

log = logging.getLogger("valuation")

WINDOW_DAYS = 365  # 年度消费额 and 订单总笔数: the 365 days ending on as_of, as_of included
HORIZON_MONTHS = 36  # LTV: expected discounted spend over the next three years
DISCOUNT_RATE = 0.01  # per month, as the value report's default (about 12.7 % a year)
UNIT_DAYS = 7  # the models' time unit: weeks, as the value report
FIT_SAMPLE = 100_000  # buyers the models are fitted on at most (a fixed-seed sample beyond that; docs/values.md)
SAMPLE_SEED = 20261207


@dataclass
class Outcome:
    as_of: datetime.date
    customers: int
    basis: str  # "ltv" or "annual_spend": what the tiers were ranked by
    tiers: dict  # tier -> customers
    notes: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    refresh_id: int = None

    @property
    def duration(self):
        return sum(self.timings.values())


def _midnight(day):
    return datetime.datetime.combine(day, datetime.time())


def aggregates_query(as_of):
    """Per customer: annual_spend and orders_12m (the WINDOW_DAYS days ending on as_of), last_order_at
    (up to the end of as_of); customers without orders get 0, 0 and NULL.

    The orders are grouped first and the customers joined to the groups after: half the work of grouping
    `customer LEFT JOIN orders` (ten rows per customer carried through the join), and on PostgreSQL the
    latter was planned as a merge join over the (customer, ordered_at) index, one heap page per order
    (42 s at 10M orders on an idle machine, 146 s on a busy one; docs/values.md)."""
    start = _midnight(as_of - datetime.timedelta(days=WINDOW_DAYS - 1))
    end = _midnight(as_of + datetime.timedelta(days=1))
    window = Order.ordered_at >= start
    per_buyer = (Order.select(Order.customer.alias("customer_id"),
                              fn.SUM(Case(None, [(window, Order.amount)], 0)).alias("annual_spend"),
                              fn.COUNT(Case(None, [(window, 1)])).alias("orders_12m"),
                              fn.MAX(Order.ordered_at).alias("last_order_at"))
                 .where(Order.ordered_at < end)
                 .group_by(Order.customer)
                 .alias("per_buyer"))
    return (Customer.select(Customer.id.alias("customer_id"),
                            fn.COALESCE(per_buyer.c.annual_spend, 0).alias("annual_spend"),
                            fn.COALESCE(per_buyer.c.orders_12m, 0).alias("orders_12m"),
                            per_buyer.c.last_order_at.alias("last_order_at"))
            .join(per_buyer, JOIN.LEFT_OUTER, on=(per_buyer.c.customer_id == Customer.id)))


def aggregates(as_of):
    """aggregates_query(as_of) on the analytics engine, as a frame indexed by customer id."""
    frame = engines.current().fetch(aggregates_query(as_of))
    frame = frame.set_index("customer_id")
    frame.index = frame.index.astype("int64")
    spend = pd.to_numeric(frame["annual_spend"].astype(object), errors="coerce")  # Decimal on PostgreSQL
    frame["annual_spend"] = spend.fillna(0.0).astype(float).round(2)
    frame["orders_12m"] = frame["orders_12m"].fillna(0).astype("int64")
    frame["last_order_at"] = pd.to_datetime(frame["last_order_at"].astype(object), errors="coerce")
    return frame


def lifetime_values(summary, fit_sample=FIT_SAMPLE):
    """(3-year CLV per buyer of `summary`, notes), or (None, [why]) when the model cannot be fitted."""
    if summary.empty:
        return None, ["没有订单，无法拟合客户价值模型；客户分层按年度消费额。"]
    fitted_on = summary
    notes = []
    if fit_sample and len(summary) > fit_sample:
        fitted_on = summary.sample(n=fit_sample, random_state=SAMPLE_SEED)
        notes.append(f"模型在 {fit_sample:,} 位有购买记录的客户（固定随机种子抽样，共 {len(summary):,} 位）上拟合，"
                     "预测覆盖全部客户。")
    try:
        value_models = fitting.fit_value_models(fitted_on)
    except fitting.NotEnoughData as error:
        return None, [f"{error} 客户分层按年度消费额。"]
    notes += value_models.notes
    values = clv.predict_clv(summary, HORIZON_MONTHS, DISCOUNT_RATE, UNIT_DAYS,
                             bgnbd=value_models.bgnbd.model, gamma_gamma=value_models.gamma_gamma.model)
    return values["clv"].astype(float), notes


# What the two aggregates read (aggregates_query, queries.customer_summary without filters): no more is copied.
SNAPSHOT = {Order: ("customer", "ordered_at", "amount"), Customer: ("id",)}


def _own_connection(function, *args, **kwargs):
    """function(*args, **kwargs) in this thread on a pooled connection of its own, given back afterwards."""
    with db.connection_context():
        return function(*args, **kwargs)


@contextlib.contextmanager
def _snapshot():
    """On a SQLite file, both aggregates read one DuckDB copy of the columns they need (SNAPSHOT, through
    analytics.engines.take_snapshot) instead of scanning the file twice; elsewhere nothing to do."""
    taken = engines.take_snapshot(tables=SNAPSHOT, postgresql=True)
    try:
        yield
    finally:
        if taken:
            engines.drop_snapshot()


def compute(as_of, fit_sample=FIT_SAMPLE, timings=None):
    """The table's rows for `as_of` as a frame (columns of valuation.writing.FIELDS but the two stamps),
    with the basis of the tiers and the notes; nothing written."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(step):
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    with _snapshot():
        lap("snapshot")
        # The two aggregates side by side, each on a connection of its own: on PostgreSQL each is one backend's
        # scan of the orders, and the machine has two cores.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="valuation") as pool:
            summary_job = pool.submit(_own_connection, queries.customer_summary, as_of, unit_days=UNIT_DAYS)
            frame = aggregates(as_of)
            lap("aggregates")
            summary = summary_job.result()
        lap("summary")
    ltv, notes = lifetime_values(summary, fit_sample)
    lap("model")
    if ltv is None:
        frame["ltv"] = np.nan
        basis = "annual_spend"
        frame["tier"] = tiers.assign(frame["annual_spend"])
    else:
        frame["ltv"] = ltv.reindex(frame.index).fillna(0.0).clip(lower=0).round(2)
        basis = "ltv"
        frame["tier"] = tiers.assign(frame["ltv"])
    lap("tiers")
    return frame, basis, notes


def refresh(as_of, trigger="cli", username=None, fit_sample=FIT_SAMPLE, now=None):
    """Rebuild the value table for the day `as_of` (a date; nothing here reads the clock for it) and record
    the refresh (ValueRefresh, and an AuditLog row).  Running it again on the same data writes the same rows.
    Returns an Outcome."""
    if not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        raise TypeError("as_of 应为日期（datetime.date）")
    timings = {}
    frame, basis, notes = compute(as_of, fit_sample, timings)
    started = time.perf_counter()
    stamp = (now or datetime.datetime.now()).replace(microsecond=0)
    rows = pd.DataFrame({
        "customer": frame.index.to_numpy(dtype="int64"),
        "annual_spend": frame["annual_spend"].to_numpy(dtype=float),
        "orders_12m": frame["orders_12m"].to_numpy(dtype="int64"),
        "ltv": frame["ltv"].to_numpy(dtype=float),
        "tier": frame["tier"].to_numpy(dtype=object),
        "last_order_at": frame["last_order_at"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object),
        "as_of": as_of.isoformat(),
        "refreshed_at": stamp.strftime("%Y-%m-%d %H:%M:%S"),
    })
    counts = {tier: int(n) for tier, n in frame["tier"].value_counts().reindex(tiers.TIERS, fill_value=0).items()}
    timings["prepare"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    with writing.replacing() as write:
        write(rows)
        timings["write"] = round(time.perf_counter() - started, 3)
        record = ValueRefresh.create(at=stamp, as_of=as_of, trigger=trigger, username=username,
                                     customers=len(rows), basis=basis, notes="\n".join(notes) or None,
                                     duration=round(sum(timings.values()), 3), timings=json.dumps(timings))
        AuditLog.create(at=stamp, username=username or "system", action="refresh", model="customervalue",
                        record_id=str(record.id), rows=len(rows),
                        changes=json.dumps({"as_of": as_of.isoformat(), "basis": basis, "tiers": counts,
                                            "trigger": trigger}, ensure_ascii=False))
    outcome = Outcome(as_of, len(rows), basis, counts, notes, timings, record.id)
    log.info("客户价值表：%s 位客户（%s），用时 %.1f 秒 %s", outcome.customers, as_of, outcome.duration, timings)
    return outcome


def latest():
    """The last ValueRefresh, or None."""
    return ValueRefresh.select().order_by(ValueRefresh.id.desc()).first()

