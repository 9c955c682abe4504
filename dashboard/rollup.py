"""The dashboard's roll-ups (models.rollups): rebuilt for a day passed in, set-based, the same SQL on SQLite and
PostgreSQL; read by dashboard.sources.

    dashboard.refresh(datetime.date(2026, 12, 7), trigger="cli")   # run.py refresh-dashboard; job dashboard-refresh
    dashboard.rollup.latest()                                       # the last DashboardRefresh, or None

Each table is first grouped into a temporary table (INSERT ... SELECT ... GROUP BY over orders, customers, the
status history and the tag rows: reads only, so the database's writers are not held up while millions of rows
are grouped), then every roll-up is replaced in one short transaction: readers see the old figures or the new
ones.  The grouping keys are the customer's owner (0 for none), so a row scope is `owner_id IN (...)`:

    sales_day       day x owner: order total and count (every order, whatever its day; readers pick the days)
    customer_mix    owner x status x industry: customers
    customers_new   day created x owner: customers
    funnel_cohort   owner x month of a 潜在 entry x the customer's previous 潜在 month x reached 意向 / 成交 by the
                    end of as_of (pipeline.funnel's entries: the status history, and the customer's creation
                    where the history lacks it)
    stage_count     owner x status at the end of as_of (the current status rolled back through later changes)
    top_customer    per start of every period of dashboard.periods for as_of and the day after (so the night
                    between midnight and the daily refresh still finds its period), per owner: the TOP_LIMIT
                    largest order totals from that start to the end of as_of (the top 10 of several owners is
                    within the union of their top 10s: merging is exact)
    rule_tag_count  rule tag x owner: customer tag rows
    top_value       per owner: the TOP_LIMIT best rows of the value table (valuation.top's order: LTV, then
                    年度消费额, then customer), copied (the value refresh runs before this one each night)
"""
import datetime
import json
import logging
import time

from models import AuditLog, DashboardRefresh, db, is_sqlite
from models.rollups import NO_OWNER, ROLLUPS

from .periods import PERIODS

log = logging.getLogger("dashboard")

TOP_LIMIT = 10
POTENTIAL, INTERESTED, WON = "潜在客户", "意向客户", "成交客户"


def _p():
    return db.obj.param


def _value(v):
    """A param as peewee stores it: datetimes and dates as text on SQLite."""
    if is_sqlite() and isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if is_sqlite() and isinstance(v, datetime.date):
        return v.isoformat()
    return v


def _day(column):
    return f"date({column})" if is_sqlite() else f"CAST({column} AS DATE)"


def _month(column):
    return f"strftime('%Y-%m', {column})" if is_sqlite() else f"to_char({column}, 'YYYY-MM')"


OWNER = f"COALESCE(c.owner_id, {NO_OWNER})"


def _entries():
    """(cid, stage, at) of every entry to a stage before the end of as_of, as pipeline.funnel reads them: each
    status change, and the customer's creation (in the from-status of their first change, else their status)
    when no change records it.  Two params: the end, twice."""
    p = _p()
    return ("SELECT sc.customer_id AS cid, sc.to_status AS stage, sc.at AS at FROM status_change sc "
            f"WHERE sc.at < {p} "
            "UNION ALL SELECT c.id, COALESCE((SELECT COALESCE(f.from_status, f.to_status) FROM status_change f "
            "WHERE f.customer_id = c.id ORDER BY f.at, f.id LIMIT 1), c.status), c.created_at FROM customer c "
            f"WHERE c.created_at < {p} "
            "AND NOT EXISTS (SELECT 1 FROM status_change n WHERE n.customer_id = c.id AND n.from_status IS NULL)")


def statements(as_of):
    """[(table, columns, SELECT, params)]: what each roll-up holds for `as_of`."""
    p = _p()
    end = datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time())
    tomorrow = as_of + datetime.timedelta(days=1)
    starts = sorted({kind.starts(day) for kind in PERIODS.values() for day in (as_of, tomorrow)})
    out = [
        ("sales_day", "day, owner_id, total, orders",
         f"SELECT {_day('o.ordered_at')} AS day, {OWNER} AS owner_id, SUM(o.amount) AS total, COUNT(*) AS orders "
         "FROM orders o JOIN customer c ON c.id = o.customer_id GROUP BY 1, 2", []),
        ("customer_mix", "owner_id, status, industry, customers",
         f"SELECT {OWNER} AS owner_id, c.status, c.industry, COUNT(*) AS customers FROM customer c GROUP BY 1, 2, 3",
         []),
        ("customers_new", "day, owner_id, customers",
         f"SELECT {_day('c.created_at')} AS day, {OWNER} AS owner_id, COUNT(*) AS customers FROM customer c "
         "GROUP BY 1, 2", []),
        ("funnel_cohort", "owner_id, month, previous, interested, won, customers",
         f"WITH entries AS ({_entries()}), "
         f"marked AS (SELECT cid, stage, at, MAX(CASE WHEN stage IN ({p}, {p}) THEN at END) OVER (PARTITION BY cid) "
         f"AS interested_at, MAX(CASE WHEN stage = {p} THEN at END) OVER (PARTITION BY cid) AS won_at FROM entries), "
         f"months AS (SELECT cid, {_month('at')} AS month, MIN(at) AS first_at, MAX(interested_at) AS interested_at, "
         f"MAX(won_at) AS won_at FROM marked WHERE stage = {p} GROUP BY cid, 2), "
         "cohort AS (SELECT cid, month, LAG(month) OVER (PARTITION BY cid ORDER BY month) AS previous, first_at, "
         "interested_at, won_at FROM months) "
         f"SELECT {OWNER} AS owner_id, k.month, COALESCE(k.previous, '') AS previous, "
         "CASE WHEN k.interested_at >= k.first_at THEN TRUE ELSE FALSE END AS interested, "
         "CASE WHEN k.won_at >= k.first_at THEN TRUE ELSE FALSE END AS won, COUNT(*) AS customers "
         "FROM cohort k JOIN customer c ON c.id = k.cid GROUP BY 1, 2, 3, 4, 5",
         [end, end, INTERESTED, WON, WON, POTENTIAL]),
        ("stage_count", "owner_id, stage, customers",
         f"SELECT {OWNER} AS owner_id, CASE WHEN a.customer_id IS NULL THEN c.status ELSE a.from_status END AS stage, "
         "COUNT(*) AS customers FROM customer c LEFT JOIN (SELECT y.customer_id, y.from_status FROM ("
         "SELECT sc.customer_id, sc.from_status, ROW_NUMBER() OVER (PARTITION BY sc.customer_id ORDER BY sc.at, sc.id) "
         f"AS n FROM status_change sc WHERE sc.at >= {p}) y WHERE y.n = 1) a ON a.customer_id = c.id "
         f"WHERE c.created_at < {p} GROUP BY 1, 2", [end, end]),
        ("rule_tag_count", "tag_id, owner_id, customers",
         f"SELECT ct.tag_id, {OWNER} AS owner_id, COUNT(*) AS customers FROM customer_tag ct "
         "JOIN tag t ON t.id = ct.tag_id JOIN customer c ON c.id = ct.customer_id WHERE t.source = 'rule' "
         "GROUP BY 1, 2", []),
    ]
    out.append(("top_value", "owner_id, customer_id, ltv, annual_spend, orders_12m, tier, last_order_at, as_of",
                "SELECT r.owner_id, r.customer_id, r.ltv, r.annual_spend, r.orders_12m, r.tier, r.last_order_at, r.as_of "
                f"FROM (SELECT {OWNER} AS owner_id, v.customer_id, v.ltv, v.annual_spend, v.orders_12m, v.tier, "
                f"v.last_order_at, v.as_of, ROW_NUMBER() OVER (PARTITION BY {OWNER} ORDER BY COALESCE(v.ltv, -1) DESC, "
                "v.annual_spend DESC, v.customer_id) AS n FROM customer_value v JOIN customer c ON c.id = v.customer_id) r "
                f"WHERE r.n <= {TOP_LIMIT}", []))
    # one scan of the orders since the earliest start: per customer, the total and count from each start
    sums = ", ".join(f"SUM(CASE WHEN o.ordered_at >= {p} THEN o.amount END) AS t{i}, "
                     f"SUM(CASE WHEN o.ordered_at >= {p} THEN 1 ELSE 0 END) AS n{i}" for i in range(len(starts)))
    per = " UNION ALL ".join(f"SELECT {p} AS start, customer_id, t{i} AS total, n{i} AS orders FROM sums WHERE n{i} > 0"
                             for i in range(len(starts)))
    top = (f"WITH sums AS (SELECT o.customer_id, {sums} FROM orders o WHERE o.ordered_at >= {p} AND o.ordered_at < {p} "
           f"GROUP BY o.customer_id), per AS ({per}), "
           f"ranked AS (SELECT per.start, {OWNER} AS owner_id, per.customer_id, per.total, per.orders, ROW_NUMBER() "
           f"OVER (PARTITION BY per.start, {OWNER} ORDER BY per.total DESC, per.customer_id) AS n "
           "FROM per JOIN customer c ON c.id = per.customer_id) "
           f"SELECT start, owner_id, customer_id, total, orders FROM ranked WHERE n <= {TOP_LIMIT}")
    midnights = [datetime.datetime.combine(start, datetime.time()) for start in starts]
    params = ([v for m in midnights for v in (m, m)] + [midnights[0], end] + list(starts))
    out.append(("top_customer", "start, owner_id, customer_id, total, orders", top, params))
    return out


def _execute(sql, params):
    return db.execute_sql(sql, [_value(v) for v in params])


def refresh(as_of, trigger="cli", username=None, now=None):
    """Rebuild every roll-up for `as_of` (a date); returns the DashboardRefresh recorded (with an AuditLog row)."""
    if not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        raise TypeError("as_of 应为日期（datetime.date）")
    timings = {}
    started = time.perf_counter()
    plan = statements(as_of)
    try:  # one connection throughout: the temporary tables are its own
        for table, _columns, select, params in plan:  # grouped outside the write transaction
            mark = time.perf_counter()
            _execute(f"DROP TABLE IF EXISTS tmp_{table}", [])
            _execute(f"CREATE TEMPORARY TABLE tmp_{table} AS {select}", params)
            timings[table] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        with db.atomic():
            if not is_sqlite():  # two refreshes at once swap in turn (SQLite's write lock does the same)
                _execute("SELECT pg_advisory_xact_lock(hashtext('dashboard.rollup'))", [])
            rows = {}
            for table, columns, _select, _params in plan:
                _execute(f"DELETE FROM {table}", [])
                rows[table] = _execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM tmp_{table}",
                                       []).rowcount
            timings["replace"] = round(time.perf_counter() - mark, 3)
            duration = time.perf_counter() - started
            at = now or datetime.datetime.now()
            record = DashboardRefresh.create(at=at, as_of=as_of, trigger=trigger, username=username,
                                             duration=duration, timings=json.dumps(timings))
            AuditLog.create(at=at, username=username or "system", action="refresh", model="dashboard",
                            record_id=str(record.id), rows=sum(rows.values()),
                            changes=json.dumps({"as_of": as_of.isoformat(), "trigger": trigger, "rows": rows},
                                               ensure_ascii=False))
    finally:
        for table, _columns, _select, _params in plan:
            _execute(f"DROP TABLE IF EXISTS tmp_{table}", [])
    log.info("首页数据：%s 刷新完成，用时 %.1f 秒 %s", as_of, duration, timings)
    return record


def latest():
    """The last refresh (DashboardRefresh), or None when the roll-ups were never computed."""
    return DashboardRefresh.select().order_by(DashboardRefresh.id.desc()).first()


def tables():
    return [model._meta.table_name for model in ROLLUPS]
