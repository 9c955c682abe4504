"""Every SQL query behind the analyses: aggregates grouped in the database, returned as pandas.

Orders can number in the millions, so nothing here fetches order rows: each query groups by
customer (and day or month) in SQL and pandas receives one row per customer or per cell.
The same code runs on SQLite, DuckDB and PostgreSQL; the few expressions that differ between
them (truncating a timestamp to its day or month, days between two days) come from the DIALECTS
registry.  Which engine executes a query is analytics.engines' choice: on a SQLite file DuckDB
runs it over the file (SQLite's own GROUP BY takes 30-45 s over 10M orders, DuckDB 1-2 s), on
PostgreSQL the database itself.  status_counts reads an index of the customer table and always
runs on the database.
"""
import datetime

import pandas as pd
from peewee import JOIN, SQL, Case, fn

from models import Customer, CustomerTag, Order, StatusChange, Tag
from models.customers import STATUSES

from . import engines

# Dialect -> how to truncate a timestamp column to its calendar day / month (a value pandas
# parses as a date: 'YYYY-MM-DD' text on SQLite, a date on PostgreSQL and DuckDB), and whole
# days between two such days.
_STANDARD = {
    "day": lambda column: column.cast("date"),
    # 'month' inline, not a parameter: DuckDB matches GROUP BY expressions by their text, and
    # two placeholders are two different expressions to it.
    "month": lambda column: fn.date_trunc(SQL("'month'"), column).cast("date"),
    "days_between": lambda start, end: end - start,  # date - date is a whole number of days
    # An aggregate of `value` at the row with the least `order`, where the engine has one;
    # without it a ROW_NUMBER window numbers the rows (a sort of every purchase day).
    "value_at_first": None,
}
DIALECTS = {
    "sqlite": {
        "value_at_first": None,
        "day": lambda column: fn.date(column),
        "month": lambda column: fn.strftime("%Y-%m-01", column),
        "days_between": lambda start, end: (fn.julianday(end) - fn.julianday(start)).cast("INTEGER"),
    },
    "postgresql": _STANDARD,
    # DuckDB reads the SQLite file's DATETIME text as TIMESTAMP; arg_min spares the customer
    # summary its window over ten million purchase days (~30 % of the query).
    "duckdb": {**_STANDARD, "value_at_first": fn.arg_min},
}


def dialect(engine=None):
    return DIALECTS[(engine or engines.current()).dialect]


SUMMARY_COLUMNS = [
    "first_purchase", "last_purchase", "orders", "revenue", "purchase_days",
    "frequency", "recency", "T", "monetary_value", "recency_days",
]


def _as_date(value):
    return value.date() if isinstance(value, datetime.datetime) else value


def _customer_ids(owner_ids=None, regions=None, industries=None, tag=None):
    """Subquery of the customers the filters keep, or None when there is no filter."""
    conditions = []
    # owner_ids is the access scope: an empty list means no customers. An empty region,
    # industry or tag filter (a notebook's default) means no filter.
    if owner_ids is not None:
        conditions.append(Customer.owner.in_(list(owner_ids)))
    if regions:
        conditions.append(Customer.region.in_(list(regions)))
    if industries:
        conditions.append(Customer.industry.in_(list(industries)))
    if tag:
        tagged = CustomerTag.select(CustomerTag.customer).join(Tag).where(Tag.name == tag)
        conditions.append(Customer.id.in_(tagged))
    return _where(Customer.select(Customer.id), conditions) if conditions else None


def _order_conditions(as_of, start=None, **filters):
    """Orders up to and including the day `as_of`, from the day `start`, of the filtered customers."""
    # Compare with midnight of the next day so orders placed during the as_of day count.
    conditions = [Order.ordered_at < _day_ends(as_of)]
    if start is not None:
        conditions.append(Order.ordered_at >= datetime.datetime.combine(_as_date(start), datetime.time()))
    customers = _customer_ids(**filters)
    if customers is not None:
        conditions.append(Order.customer.in_(customers))
    return conditions


def _where(query, conditions):
    for condition in conditions:
        query = query.where(condition)
    return query


def _day_ends(as_of):
    """Midnight after the day `as_of`: orders before it were placed on or before that day."""
    return datetime.datetime.combine(_as_date(as_of), datetime.time()) + datetime.timedelta(days=1)


def _purchase_days(conditions, engine, numbered=True, cutoffs=()):
    """(customer_id, day, orders, revenue[, day_no][, within_0, ...]) per customer and purchase day;
    day_no 1 is the first; within_i is 1 when the day is before cutoffs[i] (a midnight, so all of a
    day's orders are on the same side of it)."""
    day_expr = dialect(engine)["day"](Order.ordered_at)
    columns = [Order.customer.alias("customer_id"), day_expr.alias("day"),
               fn.COUNT(SQL("*")).alias("orders"), fn.SUM(Order.amount).alias("revenue")]
    if numbered:
        # A window over the grouped rows numbers each customer's purchase days in order.
        columns.append(fn.ROW_NUMBER().over(partition_by=[Order.customer], order_by=[day_expr]).alias("day_no"))
    for number, cutoff in enumerate(cutoffs):
        columns.append(fn.MAX(Case(None, [(Order.ordered_at < cutoff, 1)], 0)).alias(f"within_{number}"))
    return _where(Order.select(*columns), conditions).group_by(Order.customer, day_expr)


_PER_DAY_TOTALS = ("last_purchase", "orders", "revenue", "purchase_days")


def customer_summary(as_of, start=None, owner_ids=None, regions=None, industries=None, tag=None,
                     unit_days=1):
    """One row per customer who ordered in the window, with the BG/NBD inputs lifetimes expects.

    Orders on the same calendar day count as one purchase.  frequency = purchase days - 1,
    recency = days from first to last purchase and T = days from first purchase to as_of, both
    divided by unit_days (7 for weeks), monetary_value = mean revenue of the repeat purchase days
    (0 without repeats), recency_days = days since the last purchase (for RFM).

    >>> customer_summary(datetime.date(2024, 3, 31))              # doctest: +SKIP
                 first_purchase last_purchase  orders  revenue  purchase_days  frequency  recency     T  monetary_value  recency_days
    customer_id
    1                2024-01-01    2024-01-10       3    350.0              2          1      9.0  90.0           150.0            81
    2                2024-02-01    2024-02-01       1    100.0              1          0      0.0  59.0             0.0            59
    """
    return customer_summaries([as_of], start, owner_ids, regions, industries, tag, unit_days)[_as_date(as_of)]


def customer_summaries(as_ofs, start=None, owner_ids=None, regions=None, industries=None, tag=None,
                       unit_days=1):
    """{as_of: customer_summary(as_of, start, ...)} for several as_of days, in one pass over the orders.

    Reports compare now with an earlier day (segmentation's migration, lifecycle's flows, value's
    calibration period): grouping 10M orders by customer and day twice cost seconds.  With the same
    start the earlier summary is the later one's purchase days up to the earlier day, and a
    customer's first purchase day (and its revenue) is the same in both.
    """
    days_wanted = sorted({_as_date(as_of) for as_of in as_ofs})
    if not days_wanted:
        return {}
    filters = dict(owner_ids=owner_ids, regions=regions, industries=industries, tag=tag)
    engine = engines.current()
    value_at_first = dialect(engine)["value_at_first"]
    earlier = days_wanted[:-1]  # the latest day needs no flag: every grouped day is within it
    days = _purchase_days(_order_conditions(days_wanted[-1], start, **filters), engine,
                          numbered=value_at_first is None, cutoffs=[_day_ends(day) for day in earlier]).alias("days")
    first_day_revenue = (value_at_first(days.c.revenue, days.c.day) if value_at_first
                         else fn.SUM(Case(None, [(days.c.day_no == 1, days.c.revenue)], 0)))
    columns = [days.c.customer_id, fn.MIN(days.c.day).alias("first_purchase"),
               first_day_revenue.alias("first_day_revenue")]
    for number in range(len(days_wanted)):
        if number == len(earlier):
            columns += [fn.MAX(days.c.day), fn.SUM(days.c.orders), fn.SUM(days.c.revenue), fn.COUNT(days.c.day)]
        else:
            within = getattr(days.c, f"within_{number}") == 1
            columns += [fn.MAX(Case(None, [(within, days.c.day)])), fn.SUM(Case(None, [(within, days.c.orders)], 0)),
                        fn.SUM(Case(None, [(within, days.c.revenue)], 0)), fn.COUNT(Case(None, [(within, days.c.day)]))]
        columns[-4:] = [column.alias(f"{name}_{number}") for column, name in zip(columns[-4:], _PER_DAY_TOTALS)]
    per_customer = Order.select(*columns).from_(days).group_by(days.c.customer_id).order_by(days.c.customer_id)
    fetched = engine.fetch(per_customer)
    result = {}
    for number, day in enumerate(days_wanted):
        own = {f"{name}_{number}": name for name in _PER_DAY_TOTALS}
        frame = fetched[fetched[f"purchase_days_{number}"] > 0] if len(fetched) else fetched
        frame = frame[["customer_id", "first_purchase", "first_day_revenue", *own]].rename(columns=own)
        result[day] = _summary_frame(frame.reset_index(drop=True), day, unit_days)
    return result


def _dates(values):
    """Days as datetime64[ns], from 'YYYY-MM-DD' text (SQLite), dates (PostgreSQL) or timestamps (DuckDB)."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values.astype(str))
    return values.astype("datetime64[ns]")


def _summary_frame(frame, as_of, unit_days):
    if frame.empty:
        frame = pd.DataFrame(columns=SUMMARY_COLUMNS)
        frame.index.name = "customer_id"
        return frame
    frame = frame.set_index("customer_id")
    frame.index = frame.index.astype("int64")
    for column in ("first_purchase", "last_purchase"):
        frame[column] = _dates(frame[column])
    frame["orders"] = frame["orders"].astype(int)
    frame["purchase_days"] = frame["purchase_days"].astype(int)
    frame["revenue"] = frame["revenue"].astype(float)
    repeat_revenue = frame["revenue"] - frame.pop("first_day_revenue").astype(float)
    frame["frequency"] = frame["purchase_days"] - 1
    frame["recency"] = (frame["last_purchase"] - frame["first_purchase"]).dt.days / unit_days
    as_of = pd.Timestamp(as_of)
    frame["T"] = (as_of - frame["first_purchase"]).dt.days / unit_days
    frame["monetary_value"] = (repeat_revenue / frame["frequency"].where(frame["frequency"] > 0)).fillna(0.0)
    frame["recency_days"] = (as_of - frame["last_purchase"]).dt.days
    return frame[SUMMARY_COLUMNS]


def cohort_activity(as_of, start=None, owner_ids=None, regions=None, industries=None, tag=None):
    """Customers active per (cohort month, activity month); the cohort is the month of the first order.

    Both months are the first day of the month.  Only orders in the window count, so with
    `start` a customer's cohort is the month of their first order on/after start.

    >>> cohort_activity(datetime.date(2024, 3, 31))              # doctest: +SKIP
      cohort_month activity_month  customers
    0   2024-01-01     2024-01-01          3
    1   2024-01-01     2024-02-01          2
    2   2024-02-01     2024-02-01          4
    """
    conditions = _order_conditions(as_of, start, owner_ids=owner_ids, regions=regions,
                                   industries=industries, tag=tag)
    engine = engines.current()
    month_expr = dialect(engine)["month"](Order.ordered_at)
    active = _where(
        Order.select(Order.customer.alias("customer_id"), month_expr.alias("month")), conditions,
    ).group_by(Order.customer, month_expr).alias("active")
    firsts = _where(
        Order.select(Order.customer.alias("customer_id"), fn.MIN(month_expr).alias("cohort")), conditions,
    ).group_by(Order.customer).alias("firsts")
    query = (
        Order.select(firsts.c.cohort, active.c.month, fn.COUNT(active.c.customer_id).alias("customers"))
        .from_(active)
        .join(firsts, on=(active.c.customer_id == firsts.c.customer_id))
        .group_by(firsts.c.cohort, active.c.month)
        .order_by(firsts.c.cohort, active.c.month)
    )
    frame = engine.fetch(query)
    frame.columns = ["cohort_month", "activity_month", "customers"]
    for column in ("cohort_month", "activity_month"):
        frame[column] = _dates(frame[column])
    frame["customers"] = frame["customers"].astype(int)
    return frame


def second_purchase_gaps(as_of, start=None, owner_ids=None, regions=None, industries=None, tag=None):
    """How many customers made their second purchase day N days after their first, counted in SQL.

    Customers with a single purchase day are left out (they have no second purchase yet).

    >>> second_purchase_gaps(datetime.date(2024, 3, 31))         # doctest: +SKIP
       days  customers
    0     7          2
    1    30          1
    """
    conditions = _order_conditions(as_of, start, owner_ids=owner_ids, regions=regions,
                                   industries=industries, tag=tag)
    engine = engines.current()
    days = _purchase_days(conditions, engine).alias("days")
    pairs = (
        Order.select(
            days.c.customer_id,
            fn.MAX(Case(None, [(days.c.day_no == 1, days.c.day)])).alias("first_day"),
            fn.MAX(Case(None, [(days.c.day_no == 2, days.c.day)])).alias("second_day"),
        )
        .from_(days)
        .where(days.c.day_no <= 2)
        .group_by(days.c.customer_id)
        .alias("pairs")
    )
    gap = dialect(engine)["days_between"](pairs.c.first_day, pairs.c.second_day)
    query = (
        Order.select(gap.alias("days"), fn.COUNT(pairs.c.customer_id).alias("customers"))
        .from_(pairs)
        .where(pairs.c.second_day.is_null(False))
        .group_by(gap)
        .order_by(gap)
    )
    frame = engine.fetch(query)
    frame.columns = ["days", "customers"]
    return frame.astype({"days": int, "customers": int})


def first_order_date(owner_ids=None, regions=None, industries=None, tag=None):
    """The day of the earliest order of the filtered customers (datetime.date), None without orders.

    Lets a report say why a window has no orders (an as_of before the first order) instead of
    only that it has none.
    """
    engine = engines.current()
    day_expr = dialect(engine)["day"](fn.MIN(Order.ordered_at))
    conditions = []
    customers = _customer_ids(owner_ids=owner_ids, regions=regions, industries=industries, tag=tag)
    if customers is not None:
        conditions.append(Order.customer.in_(customers))
    frame = engine.fetch(_where(Order.select(day_expr.alias("day")), conditions))
    if frame.empty or pd.isna(frame.iloc[0, 0]):
        return None
    return _dates(frame.iloc[:, 0]).iloc[0].date()


def status_counts(owner_ids=None, regions=None, industries=None, tag=None):
    """Customers per status, in the funnel's order, statuses without customers shown as 0.

    >>> status_counts()                                           # doctest: +SKIP
    status
    潜在客户    120
    意向客户     45
    成交客户     30
    流失客户      5
    Name: customers, dtype: int64
    """
    query = Customer.select(Customer.status, fn.COUNT(Customer.id)).group_by(Customer.status)
    customers = _customer_ids(owner_ids=owner_ids, regions=regions, industries=industries, tag=tag)
    if customers is not None:
        query = query.where(Customer.id.in_(customers))
    counts = dict(query.tuples())
    order = [value for value, _ in STATUSES]
    order += sorted(status for status in counts if status not in order)
    series = pd.Series([int(counts.get(status, 0)) for status in order], index=order, name="customers")
    series.index.name = "status"
    return series


# Funnel stages a customer can reach, in order; 流失客户 is an exit, not a further stage.
FUNNEL = ("潜在客户", "意向客户", "成交客户")


def status_conversion(as_of, start=None, owner_ids=None, regions=None, industries=None, tag=None):
    """Customers per (month of first contact, furthest funnel stage reached by as_of).

    Every customer starts at 潜在客户 (stage 1); a status change to 意向客户 or 成交客户 on or
    before the as_of day moves them to stage 2 or 3, whatever happened afterwards (a customer
    who was won and later lost still converted).  A customer whose status never changed (an
    import, say) has been at their current status all along.  Customers without a
    first-contact date, or first contacted outside [start, as_of], are not counted.

    >>> status_conversion(datetime.date(2024, 3, 31))             # doctest: +SKIP
           month  reached  customers
    0 2024-01-01        1          4
    1 2024-01-01        3          2
    """
    end = datetime.datetime.combine(_as_date(as_of), datetime.time()) + datetime.timedelta(days=1)
    engine = engines.current()
    month_expr = dialect(engine)["month"](Customer.first_contact)
    stages = [(status, stage) for stage, status in enumerate(FUNNEL, 1) if stage > 1]
    ever_changed = StatusChange.select(StatusChange.customer).where(StatusChange.customer == Customer.id)
    start_stage = Case(None, [(~fn.EXISTS(ever_changed), fn.COALESCE(Case(Customer.status, stages, None), 1))], 1)
    reached = fn.MAX(fn.COALESCE(Case(StatusChange.to_status, stages, None), start_stage))
    conditions = [Customer.first_contact.is_null(False), Customer.first_contact <= _as_date(as_of)]
    if start is not None:
        conditions.append(Customer.first_contact >= _as_date(start))
    customers = _customer_ids(owner_ids=owner_ids, regions=regions, industries=industries, tag=tag)
    if customers is not None:
        conditions.append(Customer.id.in_(customers))
    per_customer = _where(
        Customer.select(Customer.id.alias("customer_id"), month_expr.alias("month"), reached.alias("reached"))
        .join(StatusChange, JOIN.LEFT_OUTER, on=((StatusChange.customer == Customer.id) & (StatusChange.at < end))),
        conditions,
    ).group_by(Customer.id, Customer.status, month_expr).alias("per_customer")
    query = (
        Customer.select(per_customer.c.month, per_customer.c.reached, fn.COUNT(per_customer.c.customer_id))
        .from_(per_customer)
        .group_by(per_customer.c.month, per_customer.c.reached)
        .order_by(per_customer.c.month, per_customer.c.reached)
    )
    frame = engine.fetch(query)
    frame.columns = ["month", "reached", "customers"]
    frame["month"] = _dates(frame["month"])
    return frame.astype({"reached": int, "customers": int})
