"""Per-customer figures, computed once per evaluation: every aggregate the rules compare (order total and
count over N days, complaints over N days, the last order, follow-up and feedback before the day's end), for
every day asked about, in ONE temporary table (customer id key, one column per figure), filled by one grouped
pass per records table with conditional aggregates:

    CREATE TEMPORARY TABLE tagrule_figures AS
    SELECT c.id, o.f0, o.f1, o.f2, u.f3, k.f4
    FROM customer c
    LEFT JOIN (SELECT customer_id AS cid,
                      SUM(amount) AS f0,                                                -- 365 days: the pass's range
                      SUM(CASE WHEN ordered_at >= '2026-11-08' THEN 1 ELSE 0 END) AS f1,  -- orders in 30 days
                      MAX(ordered_at) AS f2                                             -- the last order
               FROM orders WHERE ordered_at >= '2025-12-08' AND ordered_at < '2026-12-08'
               GROUP BY customer_id) o ON o.cid = c.id
    LEFT JOIN (... follow_up ...) u ON u.cid = c.id
    LEFT JOIN (... feedback, complaints as SUM(CASE WHEN kind = '投诉' ...) ...) k ON k.cid = c.id

A rule then reads `customer JOIN tagrule_figures` and compares columns (metrics.Need.test):
COALESCE(f0, 0) >= 100000 for an order total, f2 >= since / f2 IS NULL OR f2 < recent for days since the
last order.  Before, every comparison of every rule was its own `IN / NOT IN (SELECT customer_id FROM orders
WHERE <window> GROUP BY customer_id HAVING ...)`: a sweep of 20 rules read a year of orders six times
(bench/daily.py).

Each pass reads only the records from the earliest moment any of its figures looks at (the widest window,
or the earliest threshold of a days-since comparison: `MAX(at)` over records from that threshold on answers
"none since the threshold" exactly as the whole history does) to the latest day's end, so records dated after
the day are left out.  The last record's time comes from the same pass, not a pass of its own, and on SQLite
a pass over every customer scans the table rather than the time index (_unindexed): both measured, see
docs/tag-rules.md.

Figures are built inside the caller's transaction (engine.evaluate, preview) and dropped by it.
"""
from dataclasses import dataclass, field

from peewee import JOIN, SQL, Case, NodeList, Select, Table, Value, fn

from models import Customer, db, is_sqlite

from . import conditions
from .metrics import in_, money_total

NAME = "tagrule_figures"


@dataclass
class Figures:
    """A built figures table: `columns` maps (day, figure) to its column, `horizons` the same keys to the
    earliest `since` the column answers for."""

    name: str
    columns: dict = field(default_factory=dict)
    horizons: dict = field(default_factory=dict)
    within: object = None

    _table: object = field(default=None, repr=False)

    @property
    def table(self):
        """The table as one peewee Table (one object: peewee aliases a table in a query by its identity)."""
        if self._table is None:
            self._table = Table(self.name, ["id", *self.columns.values()])
        return self._table

    def column(self, day, need):
        """The column answering `need` on `day`, or None (not built for it: the comparison compiles alone)."""
        key = (day.as_of, need.figure)
        name = self.columns.get(key)
        if name is None or need.since < self.horizons[key]:
            return None
        return getattr(self.table, name)

    def serves(self, tree, day):
        """Whether any comparison of `tree` on `day` reads this table."""
        return any(self.column(day, need) is not None for need in conditions.needs(tree, day))

    def drop(self):
        drop(self.name)


def temp_name(name):
    return ("temp." if is_sqlite() else "pg_temp.") + name


def drop(name=NAME):
    db.execute_sql(f"DROP TABLE IF EXISTS {temp_name(name)}")


def plan(trees, days):
    """{(as_of, figure): (since, day)} of every figure the trees need on the days (since: the earliest)."""
    wanted = {}
    for day in days:
        for tree in trees:
            for need in conditions.needs(tree, day):
                key = (day.as_of, need.figure)
                if key not in wanted or need.since < wanted[key][0]:
                    wanted[key] = (need.since, day)
    return wanted


def _aggregate(figure, condition, at):
    model = figure.source.model
    if figure.aggregate == "sum":
        return money_total(getattr(model, figure.column), condition)
    if figure.aggregate == "count":
        return fn.COUNT(SQL("*")) if condition is None else fn.SUM(Case(None, [(condition, 1)], 0))
    return fn.MAX(at) if condition is None else fn.MAX(Case(None, [(condition, at)]))  # last


def _pass(model, keyed, within):
    """One grouped pass over `model`: {column name: (figure, since, day)} -> the query (cid, columns...)."""
    first = next(iter(keyed.values()))[0].source
    customer, at = first.customer, first.at
    low = min(since for _, since, _ in keyed.values())
    high = max(day.end for _, _, day in keyed.values())
    columns = []
    for name, (figure, since, day) in keyed.items():
        parts = []
        if figure.aggregate != "last" and since > low:  # `last` needs no lower bound: see the docstring
            parts.append(at >= since)
        if day.end < high:
            parts.append(at < day.end)
        if figure.source.only is not None:
            parts.append(figure.source.only())
        condition = None
        for part in parts:
            condition = part if condition is None else (condition & part)
        columns.append(_aggregate(figure, condition, at).alias(name))
    if within is not None:  # some customers' records: through the (customer, time) index
        where = (at >= low) & (at < high) & in_(customer, within)
        return model.select(customer.alias("cid"), *columns).where(where).group_by(customer)
    if is_sqlite():  # every customer's: a scan of the table (see _unindexed)
        bare = _unindexed(at)
        where = (bare >= Value(low, converter=at.db_value)) & (bare < Value(high, converter=at.db_value))
        return model.select(customer.alias("cid"), *columns).where(where).group_by(_unindexed(customer))
    return model.select(customer.alias("cid"), *columns).where((at >= low) & (at < high)).group_by(customer)


def _status_pass(keyed, within):
    """The status each customer had on a past day, from the status history, as metrics._status reads it for
    one customer: the last change before the day's end gives its new status; without one, the first change
    after gives its old status (NULL there, as for a customer with no history: the current status holds).
    One pass ranks every customer's changes (ROW_NUMBER, both databases) and keeps the deciding one.

    metrics._status asks the same with two correlated subqueries per customer; at 1M customers / 800,000
    changes a preview of a status rule at a past day spent 16-20 s there, evaluated for every customer and
    again in the WHERE (bench/daily.py)."""
    (name, (figure, _, day)), = keyed.items()
    model, customer, at = figure.source.model, figure.source.customer, figure.source.at
    key = model._meta.primary_key
    known, later = at < day.end, at >= day.end
    # the deciding change first: the known ones before the later ones, the latest known, else the first later
    order = [Case(None, [(known, 0)], 1), Case(None, [(known, at)]).desc(), Case(None, [(later, at)]),
             Case(None, [(known, key)]).desc(), Case(None, [(later, key)])]
    status = Case(None, [(known, model.to_status)], model.from_status)
    ranked = model.select(customer.alias("cid"), status.alias(name),
                          fn.ROW_NUMBER().over(partition_by=[customer], order_by=order).alias("rank_"))
    if within is not None:
        ranked = ranked.where(in_(customer, within))
    ranked = ranked.alias("ranked")
    return Select([ranked], [ranked.c.cid, getattr(ranked.c, name)]).where(ranked.c.rank_ == 1)


def _unindexed(column):
    """SQLite: `+column`, the same value, which the planner does not answer from an index.  Reading a year of
    10M orders through the ordered_at index fetches 3.3M rows from the table one by one: 39-60 s against 11 s
    for a scan of the whole table (bench data at 1M customers); a 150-day window 10 s against 5 s; a 60-day
    window of follow-ups 0.9 s against 1.2 s (the one case the index wins, by little).  PostgreSQL chooses a
    bitmap scan in time order itself."""
    return NodeList((SQL("+"), column), glue="")


def build(trees, days, within=None, name=NAME, restrict_passes=True):
    """The figures `trees` (checked condition trees) need on `days` (metrics.Day), for every customer or only
    `within` (ids or a query of ids), in the temporary table `name`; a Figures, or None when no comparison
    reads a figure.  Runs in the caller's transaction.  `restrict_passes`: the passes read only `within`'s
    records (the check after an import: a few customers' rows through the (customer, time) indexes); the
    preview's row scopes are whole teams, so it has the passes read every record of the window instead and
    only the figures' rows restricted."""
    wanted = plan(trees, days)
    if not wanted:
        return None
    by_model, figures = {}, Figures(name, within=within)
    for n, ((as_of, figure), (since, day)) in enumerate(sorted(wanted.items(), key=_order)):
        column = f"f{n}"
        figures.columns[(as_of, figure)] = column
        figures.horizons[(as_of, figure)] = since
        ranked = figure.aggregate == "status"  # a pass of its own per day: see _status_pass
        by_model.setdefault((figure.source.model, as_of) if ranked else figure.source.model, {})[column] = \
            (figure, since, day)
    query = Customer.select(Customer.id)
    selected = []
    for k, keyed in enumerate(by_model.values()):
        first = next(iter(keyed.values()))[0]
        passes = within if restrict_passes else None
        if first.aggregate == "status":
            sub = _status_pass(keyed, passes).alias(f"p{k}")
        else:
            sub = _pass(first.source.model, keyed, passes).alias(f"p{k}")
        query = query.join_from(Customer, sub, JOIN.LEFT_OUTER, on=(sub.c.cid == Customer.id))
        selected += [getattr(sub.c, column) for column in keyed]
    query = query.select(Customer.id, *selected)
    if within is not None:
        query = query.where(in_(Customer.id, within))
    sql, params = query.sql()
    drop(name)
    names = ", ".join(figures.columns.values())
    if is_sqlite():  # a rowid key: rules look customers up by it
        db.execute_sql(f"CREATE TEMPORARY TABLE {name} (id INTEGER PRIMARY KEY, {names})")
        db.execute_sql(f"INSERT INTO temp.{name} (id, {names}) {sql}", params)
    else:
        db.execute_sql(f"CREATE TEMPORARY TABLE {name} AS {sql}", params)
        db.execute_sql(f"ALTER TABLE pg_temp.{name} ADD PRIMARY KEY (id)")
        db.execute_sql(f"ANALYZE pg_temp.{name}")
    return figures


def _order(item):
    (as_of, figure), _ = item
    return (figure.source.name, figure.aggregate, figure.column, figure.days, as_of)
