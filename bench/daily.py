"""Daily work at scale (issue 11, part 8): the tag rules' full sweep of 20 rules beside hand-written SQL of
the same 20 matching sets, the check after one change, and the preview of a rule at a past date, on SQLite
and PostgreSQL, in one run.

    .venv/bin/python -m bench.daily                                    # 1M customers / 10M orders, SQLite
    .venv/bin/python -m bench.daily --customers 20000 --checks 200     # develop small
    DATABASE_URL=postgresql://bench:bench@127.0.0.1:5432/crm_bench .venv/bin/python -m bench.daily
    .venv/bin/python -m bench.daily --write-docs                       # also rewrite the section in docs/benchmarks.md

With DATABASE_URL=postgresql://... the same cases run on PostgreSQL too, on a scratch schema of that
database (`daily_<N>`, kept between runs like the SQLite files; --drop-schema drops it afterwards);
--backends picks (sqlite, postgresql).

The data set is made set-based, never through the ORM row by row: N customers, 10N orders, 3N follow-ups,
0.3N feedback (30 % complaints) and the status changes behind each customer's status, each table one
INSERT ... SELECT over a recursive CTE (SQLite) or generate_series (PostgreSQL), every value a fixed
integer hash of the row number and --seed, dated back from DAY (demo.fixed.REFERENCE_DAY), never from
today.  The secondary indexes are built after the load, then ANALYZE.  Orders fall on 60 % of the customers
(a few buy every week, most a few times a year), and customers whose status is 流失客户 stopped buying half a
year ago.  SQLite files are kept in bench/data/daily_<N>_s<seed>.db.

The 20 rules (RULES): the three seeded ones and 17 more over the metric registry, a mix of metrics and of
all/any trees.  Each case runs in its own process (its interpreter and imports ready before the clock starts;
the models bound as `run.py worker` binds them, without Flask):

- raw: the 20 matching sets by hand-written SQL (RAW_SQL), each one INSERT ... SELECT into a scratch table
  of (rule, customer) with a primary key; the baseline;
- raw, figures once: the same 20 sets by hand the way tagrules now evaluates them (FIGURES_SQL): one temporary
  table of per-customer figures from one grouped pass per records table with conditional aggregates, then the
  20 INSERT ... SELECT against it; the sweep's ratio is read against the faster of the two;
- sweep: tagrules.sweep for DAY from empty (every episode and rule tag row deleted first, untimed): episodes
  opened, customer tags added, the audit rows; then a second sweep with no change in the data.  The open
  episodes per rule must equal the raw SQL's rows per rule, or the bench refuses to report; then the next
  day's sweep (DAY + 1, what the daily job does every morning after the day's sweep);
- check: --checks single-customer checks (tagrules.after_change) after a change: for each of --checks
  customers spread over the ids, a new order (500 to 20,000) is inserted, the check timed, then both rolled back
  (the check runs inside the change's transaction, as in the admin);
- preview: tagrules.preview of three rules now against 90 days earlier, as the admin (every customer) and a
  manager (the team's customers: about 72 %), as the rules screen runs it.

Hooks for the value refresh (valuation) and the dashboard (dashboard) are in OPTIONAL: they run when those
packages exist.  Load average is noted at the start and the end; the machine is shared.
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from bench.timing import peak_rss_mb, progress
from bench.workspace import DATA, FIELD_KEY, RESULTS, pg_autocommit, scoped_url, write_docs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = datetime.date(2026, 12, 7)  # demo.fixed.REFERENCE_DAY: every date is fixed, never today
NOW = datetime.datetime.combine(DAY, datetime.time(23, 0))
PAST = DAY - datetime.timedelta(days=90)  # the preview's past day
PASSWORD = "bench-password"
DATA_VERSION = "daily-1"  # bump when the generated data changes, so kept files and schemas are rebuilt
SECTION = "daily"

# --- the 20 rules --------------------------------------------------------------------------------
# (rule name, tag, category, condition tree).  The first three are tagrules.seed.SEEDED.


def _c(metric, op, value, days=None):
    node = {"metric": metric, "op": op, "value": value}
    if days is not None:
        node["days"] = days
    return node


EXTRA_RULES = [
    ("大客户：员工≥1000且年消费≥5万", "大客户", "价值",
     {"all": [_c("employees", ">=", 1000), _c("order_total", ">=", 50000, 365)]}),
    ("沉睡客户：成交后180天未下单", "沉睡客户", "行为",
     {"all": [_c("status", "=", "成交客户"), _c("days_since_order", ">=", 180)]}),
    ("新客户：首次接触30天内", "新客户", "基本信息", {"all": [_c("customer_age", "<=", 30)]}),
    ("复购客户：近90天≥3单", "复购客户", "行为", {"all": [_c("order_count", ">=", 3, 90)]}),
    ("高频下单：近30天≥3单", "高频下单", "行为", {"all": [_c("order_count", ">=", 3, 30)]}),
    ("近期投诉：近90天有投诉", "近期投诉", "行为", {"all": [_c("complaint_count", ">=", 1, 90)]}),
    ("多次投诉：近一年≥3次", "多次投诉", "行为", {"all": [_c("complaint_count", ">=", 3, 365)]}),
    ("华东华南重点：年消费≥3万", "华东华南重点", "价值",
     {"all": [_c("region", "in", ["华东", "华南"]), _c("order_total", ">=", 30000, 365)]}),
    ("互联网活跃：30天内下过单", "互联网活跃", "行为",
     {"all": [_c("industry", "=", "互联网"), _c("days_since_order", "<=", 30)]}),
    ("意向待跟进：14天未跟进", "意向待跟进", "行为",
     {"all": [_c("status", "=", "意向客户"), _c("days_since_followup", ">=", 14)]}),
    ("展会潜客未转化：满180天", "展会潜客未转化", "基本信息",
     {"all": [_c("status", "=", "潜在客户"), _c("source", "in", ["展会", "转介绍"]), _c("customer_age", ">=", 180)]}),
    ("近期反馈：30天内", "近期反馈", "行为", {"all": [_c("days_since_feedback", "<=", 30)]}),
    ("小额客户：年消费不足5千", "小额客户", "价值",
     {"all": [_c("order_count", ">=", 1, 365), _c("order_total", "<", 5000, 365)]}),
    ("跟进活跃：7天内跟进过", "跟进活跃", "行为", {"all": [_c("days_since_followup", "<=", 7)]}),
    ("个人高消费：半年≥2万", "个人高消费", "价值",
     {"all": [_c("customer_type", "=", "个人"), _c("order_total", ">=", 20000, 180)]}),
    ("流失预警：成交后90天未下单或半年两次投诉", "流失预警", "价值",
     {"any": [{"all": [_c("status", "=", "成交客户"), _c("days_since_order", ">=", 90)]},
              _c("complaint_count", ">=", 2, 180)]}),
    ("重点维护：华北或金融教育且高消费或近期跟进的大企业", "重点维护", "价值",
     {"all": [{"any": [_c("region", "=", "华北"), _c("industry", "in", ["金融", "教育"])]},
              {"any": [_c("order_total", ">=", 50000, 365),
                       {"all": [_c("days_since_followup", "<=", 30), _c("employees", ">=", 500)]}]}]}),
]


def rules():
    from tagrules.seed import SEEDED

    return list(SEEDED) + EXTRA_RULES


# The same 20 matching sets, written by hand as one would in a SQL console: {rule name: WHERE over customer c}.
# {known}: customers known on DAY (first contact on or before it); {wN}: midnight of the first of the last N
# days (DAY included); {dN}: the date N days before DAY; {end}: midnight after DAY.
RAW_SQL = {
    "高价值：近365天订单金额≥10万":
        "c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w365} AND ordered_at < {end} "
        "GROUP BY customer_id HAVING SUM(amount) >= 100000)",
    "流失风险：60天无跟进且无下单":
        "c.id NOT IN (SELECT customer_id FROM follow_up WHERE at >= {w60} AND at < {end}) "
        "AND c.id NOT IN (SELECT customer_id FROM orders WHERE ordered_at >= {w60} AND ordered_at < {end}) "
        "AND (c.first_contact <= {d60} OR (c.first_contact IS NULL AND c.created_at < {w60}))",
    "近30天下单":
        "c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w30} AND ordered_at < {end})",
    "大客户：员工≥1000且年消费≥5万":
        "c.employees >= 1000 AND c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w365} "
        "AND ordered_at < {end} GROUP BY customer_id HAVING SUM(amount) >= 50000)",
    "沉睡客户：成交后180天未下单":
        "c.status = '成交客户' AND c.id NOT IN (SELECT customer_id FROM orders WHERE ordered_at >= {w180} "
        "AND ordered_at < {end})",
    "新客户：首次接触30天内":
        "(c.first_contact >= {d30} OR (c.first_contact IS NULL AND c.created_at >= {w31}))",
    "复购客户：近90天≥3单":
        "c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w90} AND ordered_at < {end} "
        "GROUP BY customer_id HAVING COUNT(*) >= 3)",
    "高频下单：近30天≥3单":
        "c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w30} AND ordered_at < {end} "
        "GROUP BY customer_id HAVING COUNT(*) >= 3)",
    "近期投诉：近90天有投诉":
        "c.id IN (SELECT customer_id FROM feedback WHERE kind = '投诉' AND created_at >= {w90} AND created_at < {end})",
    "多次投诉：近一年≥3次":
        "c.id IN (SELECT customer_id FROM feedback WHERE kind = '投诉' AND created_at >= {w365} "
        "AND created_at < {end} GROUP BY customer_id HAVING COUNT(*) >= 3)",
    "华东华南重点：年消费≥3万":
        "c.region IN ('华东', '华南') AND c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w365} "
        "AND ordered_at < {end} GROUP BY customer_id HAVING SUM(amount) >= 30000)",
    "互联网活跃：30天内下过单":
        "c.industry = '互联网' AND c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w31} "
        "AND ordered_at < {end})",
    "意向待跟进：14天未跟进":
        "c.status = '意向客户' AND c.id NOT IN (SELECT customer_id FROM follow_up WHERE at >= {w14} AND at < {end})",
    "展会潜客未转化：满180天":
        "c.status = '潜在客户' AND c.source IN ('展会', '转介绍') "
        "AND (c.first_contact <= {d180} OR (c.first_contact IS NULL AND c.created_at < {w180}))",
    "近期反馈：30天内":
        "c.id IN (SELECT customer_id FROM feedback WHERE created_at >= {w31} AND created_at < {end})",
    "小额客户：年消费不足5千":
        "c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w365} AND ordered_at < {end} "
        "GROUP BY customer_id HAVING COUNT(*) >= 1 AND SUM(amount) < 5000)",
    "跟进活跃：7天内跟进过":
        "c.id IN (SELECT customer_id FROM follow_up WHERE at >= {w8} AND at < {end})",
    "个人高消费：半年≥2万":
        "c.customer_type = '个人' AND c.id IN (SELECT customer_id FROM orders WHERE ordered_at >= {w180} "
        "AND ordered_at < {end} GROUP BY customer_id HAVING SUM(amount) >= 20000)",
    "流失预警：成交后90天未下单或半年两次投诉":
        "((c.status = '成交客户' AND c.id NOT IN (SELECT customer_id FROM orders WHERE ordered_at >= {w90} "
        "AND ordered_at < {end})) OR c.id IN (SELECT customer_id FROM feedback WHERE kind = '投诉' "
        "AND created_at >= {w180} AND created_at < {end} GROUP BY customer_id HAVING COUNT(*) >= 2))",
    "重点维护：华北或金融教育且高消费或近期跟进的大企业":
        "(c.region = '华北' OR c.industry IN ('金融', '教育')) AND (c.id IN (SELECT customer_id FROM orders "
        "WHERE ordered_at >= {w365} AND ordered_at < {end} GROUP BY customer_id HAVING SUM(amount) >= 50000) "
        "OR (c.employees >= 500 AND c.id IN (SELECT customer_id FROM follow_up WHERE at >= {w31} AND at < {end})))",
}
KNOWN = "(c.first_contact <= {day} OR (c.first_contact IS NULL AND c.created_at < {end}))"
PREVIEWED = ("流失风险：60天无跟进且无下单", "高价值：近365天订单金额≥10万", "流失预警：成交后90天未下单或半年两次投诉")


def raw_placeholders(day=DAY):
    def midnight(d):
        return f"'{d.isoformat()} 00:00:00'"

    values = {"end": midnight(day + datetime.timedelta(days=1)), "day": f"'{day.isoformat()}'"}
    for n in (8, 14, 30, 31, 60, 90, 180, 365):
        values[f"w{n}"] = midnight(day - datetime.timedelta(days=n - 1))
    for n in (30, 60, 180):
        values[f"d{n}"] = f"'{(day - datetime.timedelta(days=n)).isoformat()}'"
    return values


def raw_statement(rule_id, name, day=DAY):
    """The INSERT ... SELECT of rule `name`'s matching customers into bench_rule_match."""
    values = raw_placeholders(day)
    where = RAW_SQL[name].format(**values)
    return (f"INSERT INTO bench_rule_match (rule_id, customer_id) SELECT {int(rule_id)}, c.id FROM customer c "
            f"WHERE {KNOWN.format(**values)} AND {where}")


# The same 20 sets the way tagrules evaluates them now, by hand: the per-customer figures once (FIGURES_TABLE,
# one grouped pass per records table over its widest window, conditional aggregates), then each rule a WHERE
# over customer c joined to its figures f.
FIGURES_TABLE = (
    "SELECT c.id, o.t365, o.t180, o.n30, o.n90, o.n365, o.last_order, u.last_followup, k.k90, k.k180, k.k365, "
    "k.last_feedback FROM customer c "
    "LEFT JOIN (SELECT customer_id, SUM(amount) AS t365, "
    "SUM(CASE WHEN ordered_at >= {w180} THEN amount ELSE 0 END) AS t180, "
    "SUM(CASE WHEN ordered_at >= {w30} THEN 1 ELSE 0 END) AS n30, "
    "SUM(CASE WHEN ordered_at >= {w90} THEN 1 ELSE 0 END) AS n90, COUNT(*) AS n365, MAX(ordered_at) AS last_order "
    "FROM orders{scan} WHERE ordered_at >= {w365} AND ordered_at < {end} GROUP BY customer_id) o ON o.customer_id = c.id "
    "LEFT JOIN (SELECT customer_id, MAX(at) AS last_followup FROM follow_up WHERE at >= {w60} AND at < {end} "
    "GROUP BY customer_id) u ON u.customer_id = c.id "
    "LEFT JOIN (SELECT customer_id, SUM(CASE WHEN kind = '投诉' AND created_at >= {w90} THEN 1 ELSE 0 END) AS k90, "
    "SUM(CASE WHEN kind = '投诉' AND created_at >= {w180} THEN 1 ELSE 0 END) AS k180, "
    "SUM(CASE WHEN kind = '投诉' THEN 1 ELSE 0 END) AS k365, MAX(created_at) AS last_feedback "
    "FROM feedback{scan} WHERE created_at >= {w365} AND created_at < {end} GROUP BY customer_id) k ON k.customer_id = c.id")
FIGURES_COLUMNS = ("t365", "t180", "n30", "n90", "n365", "last_order", "last_followup", "k90", "k180", "k365",
                   "last_feedback")
FIGURES_SQL = {
    "高价值：近365天订单金额≥10万": "f.t365 >= 100000",
    "流失风险：60天无跟进且无下单":
        "(f.last_followup IS NULL OR f.last_followup < {w60}) AND (f.last_order IS NULL OR f.last_order < {w60}) "
        "AND (c.first_contact <= {d60} OR (c.first_contact IS NULL AND c.created_at < {w60}))",
    "近30天下单": "f.n30 >= 1",
    "大客户：员工≥1000且年消费≥5万": "c.employees >= 1000 AND f.t365 >= 50000",
    "沉睡客户：成交后180天未下单": "c.status = '成交客户' AND (f.last_order IS NULL OR f.last_order < {w180})",
    "新客户：首次接触30天内": RAW_SQL["新客户：首次接触30天内"],
    "复购客户：近90天≥3单": "f.n90 >= 3",
    "高频下单：近30天≥3单": "f.n30 >= 3",
    "近期投诉：近90天有投诉": "f.k90 >= 1",
    "多次投诉：近一年≥3次": "f.k365 >= 3",
    "华东华南重点：年消费≥3万": "c.region IN ('华东', '华南') AND f.t365 >= 30000",
    "互联网活跃：30天内下过单": "c.industry = '互联网' AND f.last_order >= {w31}",
    "意向待跟进：14天未跟进": "c.status = '意向客户' AND (f.last_followup IS NULL OR f.last_followup < {w14})",
    "展会潜客未转化：满180天": RAW_SQL["展会潜客未转化：满180天"],
    "近期反馈：30天内": "f.last_feedback >= {w31}",
    "小额客户：年消费不足5千": "f.n365 >= 1 AND f.t365 < 5000",
    "跟进活跃：7天内跟进过": "f.last_followup >= {w8}",
    "个人高消费：半年≥2万": "c.customer_type = '个人' AND f.t180 >= 20000",
    "流失预警：成交后90天未下单或半年两次投诉":
        "((c.status = '成交客户' AND (f.last_order IS NULL OR f.last_order < {w90})) OR f.k180 >= 2)",
    "重点维护：华北或金融教育且高消费或近期跟进的大企业":
        "(c.region = '华北' OR c.industry IN ('金融', '教育')) AND (f.t365 >= 50000 "
        "OR (c.employees >= 500 AND f.last_followup >= {w31}))",
}


def figures_statements(rule_ids_by_name, sqlite, day=DAY):
    """The hand-written figures-once SQL: the statements that make the figures table, then one INSERT ... SELECT
    of each rule's matching customers into bench_rule_match; ([sql], [(name, sql)])."""
    values = raw_placeholders(day)
    # SQLite: a year of orders is read faster by a scan of the table than row by row through the time index
    # (11 s against 39-60 s at 1M), as tagrules.figures reads it
    select = FIGURES_TABLE.format(scan=" NOT INDEXED" if sqlite else "", **values)
    columns = ", ".join(FIGURES_COLUMNS)
    if sqlite:
        make = ["DROP TABLE IF EXISTS temp.bench_figures",
                f"CREATE TEMPORARY TABLE bench_figures (id INTEGER PRIMARY KEY, {columns})",
                f"INSERT INTO temp.bench_figures (id, {columns}) {select}"]
    else:
        make = ["DROP TABLE IF EXISTS pg_temp.bench_figures", f"CREATE TEMPORARY TABLE bench_figures AS {select}",
                "ALTER TABLE pg_temp.bench_figures ADD PRIMARY KEY (id)", "ANALYZE pg_temp.bench_figures"]
    inserts = [(name, f"INSERT INTO bench_rule_match (rule_id, customer_id) SELECT {int(rule_ids_by_name[name])}, "
                      f"c.id FROM customer c JOIN bench_figures f ON f.id = c.id WHERE {KNOWN.format(**values)} "
                      f"AND {FIGURES_SQL[name].format(**values)}") for name, *_ in rules()]
    return make, inserts


# --- the data set, set-based ---------------------------------------------------------------------
P1, P2 = 2147483647, 1000003  # primes: x * A stays below 2**63 for x < 4e9


def _h(x, k, seed):
    """A fixed integer hash in [0, P2) of the SQL integer expression x, stream k."""
    a = 1103515245 + 7919 * k
    b = (12345 + 104729 * k + 1000033 * seed) % P1
    c = 48271 + 16807 * k
    return f"(((((CAST({x} AS BIGINT) * {a} + {b}) % {P1}) * {c} + {k}) % {P2}))"


def _pick(h, values):
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE ({h}) % {len(values)} {whens} END)"


class Dialect:
    def __init__(self, sqlite):
        self.sqlite = sqlite

    def series(self, n):
        if self.sqlite:
            return f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n)}) SELECT i FROM s)"
        return f"(SELECT i FROM generate_series(1, {int(n)}) AS i)"

    def pad(self, expr, width):
        return f"printf('%0{width}d', {expr})" if self.sqlite else f"lpad(({expr})::text, {width}, '0')"

    def days_before(self, days):
        """DAY minus an integer expression of days, as a date."""
        if self.sqlite:
            return f"date('{DAY.isoformat()}', '-' || ({days}) || ' days')"
        return f"(DATE '{DAY.isoformat()}' - ({days})::int)"

    def minutes_before(self, moment, minutes):
        if self.sqlite:
            return f"datetime('{moment}', '-' || ({minutes}) || ' minutes')"
        return f"(TIMESTAMP '{moment}' - ({minutes}) * INTERVAL '1 minute')"


def _customer_exprs(i, seed):
    """SQL expressions of customer i's generated values (used again by orders and status changes)."""
    hs = _h(i, 0, seed)
    buyer = f"((({i}) - 1) % 5 < 3)"  # 60 % of the customers ever buy: ids 1, 2, 3 of every five
    status = (f"(CASE WHEN NOT {buyer} THEN (CASE WHEN {hs} % 4 = 0 THEN '意向客户' ELSE '潜在客户' END) "
              f"ELSE (CASE {hs} % 6 WHEN 0 THEN '流失客户' WHEN 1 THEN '意向客户' ELSE '成交客户' END) END)")
    churned = f"({buyer} AND {hs} % 6 = 0)"
    first_days = f"(CASE WHEN {buyer} THEN 1100 + {_h(i, 5, seed)} % 400 ELSE {_h(i, 5, seed)} % 1500 END)"
    return {"buyer": buyer, "status": status, "churned": churned, "first_days": first_days}


def buyers(n):
    return 3 * (n // 5) + min(n % 5, 3)


def load_data(db, customers, seed, owners, progress_to=progress):
    """Fill the empty tables: customers, orders, follow-ups, feedback, status changes; {table: seconds}."""
    from models import is_sqlite

    d = Dialect(is_sqlite())
    n = int(customers)
    i = "s.i"
    cx = _customer_exprs(i, seed)
    spent = {}

    def run(table, sql):
        progress_to(f"  loading {table}")
        started = time.perf_counter()
        with db.atomic():
            db.execute_sql(sql if d.sqlite else sql.replace("%", "%%"))  # psycopg2 formats % even without params
        spent[table] = time.perf_counter() - started

    sales1, sales2, sales3 = owners
    owner = (f"(CASE WHEN {_h(i, 6, seed)} % 100 < 38 THEN {sales1} WHEN {_h(i, 6, seed)} % 100 < 72 THEN {sales2} "
             f"WHEN {_h(i, 6, seed)} % 100 < 99 THEN {sales3} END)")
    employees = f"(CASE WHEN {_h(i, 4, seed)} % 5 = 0 THEN NULL ELSE 1 + ({_h(i, 4, seed)} * {_h(i, 4, seed)} / {P2}) % 5000 END)"
    source = f"(CASE WHEN {_h(i, 3, seed)} % 7 = 6 THEN NULL ELSE {_pick(_h(i, 3, seed), ['展会', '转介绍', '线上推广', '电话营销', '官网咨询', '合作伙伴'])} END)"
    created = d.minutes_before(f"{DAY.isoformat()} 09:00:00", f"{cx['first_days']} * 1440")
    run("customer", (
        "INSERT INTO customer (id, code, name, customer_type, contact, mobile, industry, region, source, employees, "
        "first_contact, owner_id, status, created_at, updated_at) "
        f"SELECT i, 'BC' || {d.pad(i, 8)}, '客户' || i || '有限公司', "
        f"(CASE WHEN {_h(i, 7, seed)} % 10 < 2 THEN '个人' ELSE '企业' END), '联系人' || (i % 997), "
        f"'139' || {d.pad(i, 8)}, "
        f"{_pick(_h(i, 1, seed), ['互联网', '制造', '零售', '金融', '教育', '医疗', '物流', '房地产', '餐饮', '能源'])}, "
        f"{_pick(_h(i, 2, seed), ['华北', '华东', '华南', '华中', '西南', '西北', '东北'])}, {source}, {employees}, "
        f"{d.days_before(cx['first_days'])}, {owner}, {cx['status']}, {created}, {created} "
        f"FROM {d.series(n)} AS s"))
    # Orders: order j belongs to buyer k, skewed (k = NB * u^2: the first buyers order every week, the last a
    # few times in three years); a churned customer's orders are all older than 180 days.
    nb = buyers(n)
    j = "s.i"
    u = _h(j, 10, seed)
    k = f"(({u} * {u} / {P2}) * {nb} / {P2})"
    c = f"(5 * ({k} / 3) + ({k}) % 3 + 1)"
    ccx = _customer_exprs("o.c", seed)
    days = f"(CASE WHEN {ccx['churned']} THEN 181 + {_h('o.j', 11, seed)} % 900 ELSE {_h('o.j', 11, seed)} % 1095 END)"
    ordered = d.minutes_before(f"{DAY.isoformat()} 22:00:00", f"{days} * 1440 + {_h('o.j', 12, seed)} % 600")
    run("orders", (
        "INSERT INTO orders (customer_id, order_no, ordered_at, amount, quantity, product, channel) "
        f"SELECT o.c, 'BO' || {d.pad('o.j', 10)}, {ordered}, (({_h('o.j', 13, seed)} % 1990000) + 5000) / 100.0, "
        f"1 + {_h('o.j', 14, seed)} % 5, "
        f"{_pick(_h('o.j', 15, seed), ['标准版', '专业版', '企业版', '年度服务', '实施服务', '培训课程', '硬件套装'])}, "
        f"{_pick(_h('o.j', 16, seed), ['线上', '线下', '代理商', '电话', '官网'])} "
        f"FROM (SELECT s.i AS j, {c} AS c FROM {d.series(10 * n)} AS s) AS o"))
    # Follow-ups: 3N, half uniform over the customers, half skewed to the first ids.
    fu = _h(j, 20, seed)
    fc = f"(CASE WHEN {fu} % 2 = 0 THEN 1 + {_h(j, 21, seed)} % {n} ELSE 1 + ({fu} * {fu} / {P2}) * {n} / {P2} END)"
    fcx = _customer_exprs("f.c", seed)
    fdays = f"(CASE WHEN {fcx['churned']} THEN 61 + {_h('f.j', 22, seed)} % 1000 ELSE {_h('f.j', 22, seed)} % 1095 END)"
    at = d.minutes_before(f"{DAY.isoformat()} 18:00:00", f"{fdays} * 1440 + {_h('f.j', 23, seed)} % 480")
    run("follow_up", (
        "INSERT INTO follow_up (record_no, customer_id, at, method, content, result) "
        f"SELECT 'BF' || {d.pad('f.j', 10)}, f.c, {at}, {_pick(_h('f.j', 24, seed), ['电话', '拜访', '邮件', '线上会议'])}, "
        f"'沟通客户需求与报价', {_pick(_h('f.j', 25, seed), ['有意向', '需跟进', '暂无意向'])} "
        f"FROM (SELECT s.i AS j, {fc} AS c FROM {d.series(3 * n)} AS s) AS f"))
    kind = f"(CASE WHEN {_h(j, 31, seed)} % 10 < 3 THEN '投诉' WHEN {_h(j, 31, seed)} % 10 < 7 THEN '满意度' ELSE '建议' END)"
    run("feedback", (
        "INSERT INTO feedback (customer_id, kind, score, content, status, created_at) "
        f"SELECT 1 + {_h(j, 30, seed)} % {n}, {kind}, "
        f"(CASE WHEN {_h(j, 31, seed)} % 10 BETWEEN 3 AND 6 THEN 1 + {_h(j, 32, seed)} % 5 END), '客户反馈', "
        f"{_pick(_h(j, 33, seed), ['待处理', '处理中', '已解决'])}, "
        f"{d.minutes_before(f'{DAY.isoformat()} 17:00:00', f'({_h(j, 34, seed)} % 1095) * 1440')} "
        f"FROM {d.series(max(1, (3 * n) // 10))} AS s"))
    # Status changes: 潜在客户 -> the status (流失客户 via 成交客户) some day after first contact; then 成交 -> 流失.
    reached = f"(CASE WHEN {cx['status']} = '流失客户' THEN '成交客户' ELSE {cx['status']} END)"
    changed = d.minutes_before(f"{DAY.isoformat()} 10:00:00",
                               f"({cx['first_days']} - {_h(i, 40, seed)} % ({cx['first_days']} + 1)) * 1440")
    run("status_change", (
        "INSERT INTO status_change (customer_id, from_status, to_status, reason, at) "
        f"SELECT i, '潜在客户', {reached}, '基准数据', "
        f"(CASE WHEN {cx['churned']} THEN {d.minutes_before(f'{DAY.isoformat()} 10:00:00', f'(300 + {_h(i, 41, seed)} % 700) * 1440')} "
        f"ELSE {changed} END) "
        f"FROM {d.series(n)} AS s WHERE {cx['status']} <> '潜在客户'"))
    run("status_change (流失)", (
        "INSERT INTO status_change (customer_id, from_status, to_status, reason, at) "
        f"SELECT i, '成交客户', '流失客户', '基准数据', "
        f"{d.minutes_before(f'{DAY.isoformat()} 11:00:00', f'(1 + {_h(i, 42, seed)} % 180) * 1440')} "
        f"FROM {d.series(n)} AS s WHERE {cx['churned']}"))
    return spent


SECONDARY = ("customer", "orders", "follow_up", "feedback", "status_change")


def drop_secondary_indexes(db):
    """Indexes of the loaded tables but their keys (models.create_tables makes them again after the load)."""
    from models import is_sqlite, search

    if is_sqlite():
        names = [r[0] for r in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
            f"({', '.join('?' * len(SECONDARY))})", SECONDARY)]
    else:
        names = [r[0] for r in db.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%%_pkey' "
            f"AND tablename IN ({', '.join(['%s'] * len(SECONDARY))})", SECONDARY)]
    for name in names:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    search.drop_triggers()


def create_rules():
    """The 20 rules (enabled) and their rule tags; {name: id}."""
    import tagrules
    from models import Tag, TagRule, db

    tagrules.seed_rules(enabled=True)
    with db.atomic():
        for name, tag_name, category, tree in EXTRA_RULES:
            if TagRule.select().where(TagRule.name == name).exists():
                continue
            tagrules.parse(tree)  # the registry accepts it, as the rules screen would
            tag, _ = Tag.get_or_create(name=tag_name, defaults={"category": category, "source": "rule"})
            TagRule.create(name=name, tag=tag, condition=json.dumps(tree, ensure_ascii=False), enabled=True,
                           updated_by="bench", created_at=NOW, updated_at=NOW)
    return {r.name: r.id for r in TagRule.select()}


def build(target, customers, seed):
    """Make the data set in `target` (a SQLite path or a postgresql:// URL with its search_path), in this
    process; {phase: seconds}."""
    bind(target)
    import access.defaults
    import demo
    import models
    import models.people
    import models.starter
    from models import db, is_sqlite, search

    models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # generation speed only; not measured
    started = time.perf_counter()
    models.create_tables()
    models.starter.seed_choices()
    access.defaults.seed_policy()
    users = demo.create_users(PASSWORD)
    drop_secondary_indexes(db)
    spent = load_data(db, customers, seed, [users[u].id for u in ("sales1", "sales2", "sales3")])
    progress("  indexes, search index, statistics")
    mark = time.perf_counter()
    models.create_tables()
    search.rebuild()
    search.install()
    if not is_sqlite():
        db.execute_sql("SELECT setval(pg_get_serial_sequence('customer', 'id'), (SELECT MAX(id) FROM customer))")
    create_rules()
    db.execute_sql("ANALYZE")
    spent["indexes"] = time.perf_counter() - mark
    db.execute_sql("CREATE TABLE bench_daily_meta (version VARCHAR(40), customers INTEGER, orders INTEGER, "
                   "seconds REAL)")
    orders = models.Order.select().count()
    spent["total"] = time.perf_counter() - started
    db.execute_sql("INSERT INTO bench_daily_meta VALUES (%s, %s, %s, %s)".replace("%s", "?" if is_sqlite() else "%s"),
                   (DATA_VERSION, customers, orders, spent["total"]))
    if is_sqlite():
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return spent


# --- where the data lives ------------------------------------------------------------------------

def bind(target):
    """The models bound to `target` as `run.py worker` binds them (no Flask)."""
    import base64

    import models
    from models import sealed

    sealed.configure(base64.b64decode(FIELD_KEY))
    models.bind(target if "://" in target else "sqlite:///" + target)


def sqlite_path(customers, seed):
    return os.path.join(DATA, f"daily_{customers}_s{seed}.db")


def _meta(connect):
    try:
        return connect()
    except Exception:  # noqa: BLE001 - no such table: not built, or built by an older version
        return None


def ensure_sqlite(customers, seed):
    """The SQLite file of the data set, made once (a file of another DATA_VERSION is made again); its path."""
    import sqlite3

    path = sqlite_path(customers, seed)
    if os.path.exists(path):
        def read():
            con = sqlite3.connect(path)
            try:
                return con.execute("SELECT version, orders, seconds FROM bench_daily_meta").fetchone()
            finally:
                con.close()

        meta = _meta(read)
        if meta and meta[0] == DATA_VERSION:
            return path, {"orders": meta[1], "built_s": meta[2], "reused": True}
        os.remove(path)
    os.makedirs(DATA, exist_ok=True)
    partial = path + ".partial"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(partial + suffix):
            os.remove(partial + suffix)
    progress(f"SQLite: building {customers:,} customers / {10 * customers:,} orders into {partial}")
    spent = spawn("build", partial, customers, seed)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(partial + suffix):
            os.remove(partial + suffix)
    os.replace(partial, path)
    return path, {"orders": spent["orders"], "built_s": spent["total"], "phases": spent, "reused": False}


def ensure_postgres(url, customers, seed, schema=None):
    """The scratch schema of the data set in `url`'s database, made once; (scoped URL, info)."""
    schema = schema or f"daily_{customers}_s{seed}"
    con = pg_autocommit(url)
    try:
        cursor = con.cursor()
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")

        def read():
            cursor.execute(f"SELECT version, orders, seconds FROM {schema}.bench_daily_meta")
            return cursor.fetchone()

        meta = _meta(read)
        if meta and meta[0] == DATA_VERSION:
            return scoped_url(url, schema), {"orders": meta[1], "built_s": meta[2], "reused": True, "schema": schema}
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema}_partial CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}_partial")
    finally:
        con.close()
    progress(f"PostgreSQL: building {customers:,} customers / {10 * customers:,} orders into schema {schema}")
    spent = spawn("build", scoped_url(url, schema + "_partial"), customers, seed)
    con = pg_autocommit(url)
    try:
        con.cursor().execute(f"ALTER SCHEMA {schema}_partial RENAME TO {schema}")
    finally:
        con.close()
    return scoped_url(url, schema), {"orders": spent["orders"], "built_s": spent["total"], "phases": spent,
                                     "reused": False, "schema": schema}


def drop_schema(url, schema):
    con = pg_autocommit(url)
    try:
        con.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        con.close()


# --- the cases, each in its own process ----------------------------------------------------------

def raw_connection(target):
    """A plain connection: sqlite3 with the app's pragmas, or psycopg2 (autocommit) on the scoped URL."""
    if "://" in target:
        return pg_autocommit(target)
    import sqlite3

    from models.base import SQLITE_PRAGMAS

    con = sqlite3.connect(target, isolation_level=None)
    for name, value in SQLITE_PRAGMAS.items():
        con.execute(f"PRAGMA {name} = {value}")
    return con


def _execute(con, sql, params=()):
    if hasattr(con, "cursor") and not hasattr(con, "execute"):  # psycopg2
        cursor = con.cursor()
        cursor.execute(sql, params or None)
        return cursor
    return con.execute(sql, params)


def rule_ids(con):
    return dict(_execute(con, "SELECT name, id FROM tag_rule").fetchall())


def case_raw(target):
    """The 20 matching sets by hand-written SQL into bench_rule_match; seconds per rule, rows per rule."""
    con = raw_connection(target)
    if "://" in target:  # as tagrules.engine.room_for_sets does for the sweep: NOT IN keeps its hashed plan
        _execute(con, "SET work_mem = '256MB'")
    ids = rule_ids(con)
    _execute(con, "DROP TABLE IF EXISTS bench_rule_match")
    _execute(con, "CREATE TABLE bench_rule_match (rule_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, "
                  "PRIMARY KEY (rule_id, customer_id))")
    statements = [(name, raw_statement(ids[name], name)) for name, *_ in rules()]
    seconds = {}
    started = time.perf_counter()
    for name, sql in statements:
        mark = time.perf_counter()
        _execute(con, sql)
        seconds[name] = time.perf_counter() - mark
    total = time.perf_counter() - started
    by_id = dict(_execute(con, "SELECT rule_id, COUNT(*) FROM bench_rule_match GROUP BY rule_id").fetchall())
    counts = {name: by_id.get(ids[name], 0) for name, _ in statements}
    _execute(con, "DROP TABLE bench_rule_match")
    con.close()
    return {"seconds": total, "rules": seconds, "counts": counts, "peak_rss_mb": peak_rss_mb()}


def case_raw_figures(target):
    """The 20 matching sets by hand-written SQL, figures once (FIGURES_SQL): the figures table, then the 20
    INSERT ... SELECT; seconds in all and of the figures alone, rows per rule."""
    con = raw_connection(target)
    if "://" in target:
        _execute(con, "SET work_mem = '256MB'")
    ids = rule_ids(con)
    _execute(con, "DROP TABLE IF EXISTS bench_rule_match")
    _execute(con, "CREATE TABLE bench_rule_match (rule_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, "
                  "PRIMARY KEY (rule_id, customer_id))")
    make, inserts = figures_statements(ids, "://" not in target)
    seconds = {}
    started = time.perf_counter()
    for sql in make:
        _execute(con, sql)
    figures = time.perf_counter() - started
    for name, sql in inserts:
        mark = time.perf_counter()
        _execute(con, sql)
        seconds[name] = time.perf_counter() - mark
    total = time.perf_counter() - started
    by_id = dict(_execute(con, "SELECT rule_id, COUNT(*) FROM bench_rule_match GROUP BY rule_id").fetchall())
    counts = {name: by_id.get(ids[name], 0) for name, _ in inserts}
    _execute(con, "DROP TABLE bench_rule_match")
    con.close()
    return {"seconds": total, "figures_s": figures, "rules": seconds, "counts": counts, "peak_rss_mb": peak_rss_mb()}


def case_raw_written(target):
    """The first sweep's writes by hand: the 20 sets figures once (FIGURES_SQL), each rule's matching customers
    INSERTed as first episodes into tag_rule_episode and as rule rows into customer_tag, the same rows into
    the same tables (their keys, indexes and foreign keys) as tagrules.sweep from empty writes, in customer
    order, one transaction per rule; no audit rows, no checks of what is already there.  The baseline of what
    writing those rows costs on the database alone.  Starts from empty and leaves it empty (both untimed)."""
    reset_rules(target)
    con = raw_connection(target)
    pg = "://" in target
    if pg:
        _execute(con, "SET work_mem = '256MB'")
    ids = rule_ids(con)
    tags = dict(_execute(con, "SELECT id, tag_id FROM tag_rule").fetchall())
    make, _ = figures_statements(ids, not pg)
    values = raw_placeholders()
    now, day = f"'{NOW.isoformat(sep=' ')}'", values["day"]
    started = time.perf_counter()
    for sql in make:
        _execute(con, sql)
    figures = time.perf_counter() - started
    seconds = {}
    for name, *_ in rules():
        mark = time.perf_counter()
        _execute(con, "BEGIN" if pg else "BEGIN IMMEDIATE")
        _execute(con, "INSERT INTO tag_rule_episode (rule_id, customer_id, episode, applied_at, applied_on, applied_by) "
                      f"SELECT {int(ids[name])}, c.id, 1, {now}, {day}, 'sweep' FROM customer c JOIN bench_figures f "
                      f"ON f.id = c.id WHERE {KNOWN.format(**values)} AND {FIGURES_SQL[name].format(**values)} "
                      "ORDER BY c.id")
        _execute(con, "INSERT INTO customer_tag (customer_id, tag_id, source, created_at) "
                      f"SELECT customer_id, {int(tags[ids[name]])}, 'rule', {now} FROM tag_rule_episode "
                      f"WHERE rule_id = {int(ids[name])} ORDER BY customer_id ON CONFLICT DO NOTHING")
        _execute(con, "COMMIT")
        seconds[name] = time.perf_counter() - mark
    total = time.perf_counter() - started
    written = _execute(con, "SELECT COUNT(*) FROM tag_rule_episode").fetchone()[0]
    con.close()
    reset_rules(target)
    return {"seconds": total, "figures_s": figures, "rules": seconds, "episodes": written, "peak_rss_mb": peak_rss_mb()}


def reset_rules(target):
    """Every episode and rule tag row deleted (the sweep starts from empty); untimed."""
    con = raw_connection(target)
    if "://" in target:
        _execute(con, "DELETE FROM tag_rule_episode")
        _execute(con, "DELETE FROM customer_tag WHERE source = 'rule'")
        _execute(con, "VACUUM ANALYZE tag_rule_episode")
        _execute(con, "VACUUM ANALYZE customer_tag")
    else:
        _execute(con, "BEGIN IMMEDIATE")
        _execute(con, "DELETE FROM tag_rule_episode")
        _execute(con, "DELETE FROM customer_tag WHERE source = 'rule'")
        _execute(con, "COMMIT")
    con.close()


def case_sweep(target):
    """tagrules.sweep for DAY from empty, then again with no change; seconds per rule of the first."""
    reset_rules(target)
    bind(target)
    import tagrules
    from models import TagRule, TagRuleEpisode
    from peewee import fn
    from tagrules import engine, figures

    names = {r.id: r.name for r in TagRule.select()}
    per_rule, built = {}, []
    apply_rule, build_figures = engine.apply_rule, figures.build

    def timed_figures(*args, **kwargs):  # the per-customer figures, built once per sweep
        mark = time.perf_counter()
        try:
            return build_figures(*args, **kwargs)
        finally:
            built.append(time.perf_counter() - mark)

    def timed(rule_id, *args, **kwargs):  # each rule's own transaction, timed inside the shipped sweep
        mark = time.perf_counter()
        try:
            return apply_rule(rule_id, *args, **kwargs)
        finally:
            per_rule[names.get(rule_id, rule_id)] = time.perf_counter() - mark

    engine.apply_rule, figures.build = timed, timed_figures
    started = time.perf_counter()
    first = tagrules.sweep(as_of=DAY, today=DAY, now=NOW)
    seconds = time.perf_counter() - started
    first_rules = dict(per_rule)
    started = time.perf_counter()
    second = tagrules.sweep(as_of=DAY, today=DAY, now=NOW)
    again = time.perf_counter() - started
    engine.apply_rule, figures.build = apply_rule, build_figures
    open_ = dict(TagRuleEpisode.select(TagRuleEpisode.rule, fn.COUNT(TagRuleEpisode.id))
                 .where(TagRuleEpisode.removed_at.is_null()).group_by(TagRuleEpisode.rule).tuples())
    counts = {names[i]: open_.get(i, 0) for i in names}
    skipped = [r.rule for r in first if r.skipped]
    following = DAY + datetime.timedelta(days=1)  # the next morning's sweep, as the daily job runs it
    started = time.perf_counter()
    nxt = tagrules.sweep(as_of=following, today=following, now=NOW + datetime.timedelta(days=1))
    next_s = time.perf_counter() - started
    return {"seconds": seconds, "again_s": again, "rules": first_rules, "counts": counts, "skipped": skipped,
            "applied": sum(r.applied for r in first), "tagged": sum(r.tagged for r in first),
            "again_changed": sum(1 for r in second if r.changed), "figures_s": built[:2], "next_s": next_s,
            "next_applied": sum(r.applied for r in nxt), "next_removed": sum(r.removed for r in nxt),
            "peak_rss_mb": peak_rss_mb()}


def sample_ids(customers, count):
    """`count` customer ids spread over 1..customers (heavy and light buyers, every status)."""
    step = 7919 if customers > 7919 else 7
    return [1 + (k * step) % customers for k in range(count)]


def case_check(target, customers, checks, warmup=20):
    """after_change for one customer after a new order, `checks` times; median, p95, max in ms."""
    bind(target)
    import tagrules
    from models import Order, db

    samples, changed = [], 0
    ids = sample_ids(customers, checks + warmup)
    for n, customer_id in enumerate(ids):
        with db.atomic() as transaction:
            amount = 500 + (n * 7919) % 19500  # an everyday order: 500 to 20,000
            Order.insert(customer=customer_id, order_no=f"BENCH-CHECK-{n:06d}", amount=amount, quantity=1,
                         ordered_at=datetime.datetime.combine(DAY, datetime.time(11, 0))).execute()
            mark = time.perf_counter()
            results = tagrules.after_change([customer_id], today=DAY, now=NOW)
            elapsed = (time.perf_counter() - mark) * 1000
            transaction.rollback()
        if len(results) != len(rules()):
            raise RuntimeError(f"the check of customer {customer_id} evaluated {len(results)} rules, not "
                               f"{len(rules())} (a failing check is only logged: see the log above)")
        if n >= warmup:
            samples.append(elapsed)
            changed += any(r.changed for r in results)
    samples.sort()
    return {"checks": len(samples), "median_ms": statistics.median(samples), "p95_ms": _pct(samples, 0.95),
            "max_ms": samples[-1], "changed": changed, "peak_rss_mb": peak_rss_mb()}


def _pct(values, q):
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def case_preview(target, runs):
    """tagrules.preview of PREVIEWED now vs PAST, as admin and as manager; seconds (median of runs)."""
    bind(target)
    import models
    import tagrules
    from models import Customer, TagRule, User

    models.create_tables()  # columns a newer version added (e.g. User's), on a data set made before, as init-db does
    out = []
    users = {u: User.get(User.username == u) for u in ("admin", "manager")}
    for name in PREVIEWED:
        condition = TagRule.get(TagRule.name == name).condition
        for username, user in users.items():
            samples, result = [], None
            for _ in range(runs):
                mark = time.perf_counter()
                result = tagrules.preview(condition, user, today=DAY, past=PAST)
                samples.append(time.perf_counter() - mark)
            out.append({"rule": name, "user": username, "seconds": statistics.median(samples),
                        "now": result.now_count, "past": result.past_count, "gained": result.gained_count,
                        "lost": result.lost_count})
    return {"previews": out, "customers": Customer.select().count(), "peak_rss_mb": peak_rss_mb()}


VALUE_RAW = ("CREATE TABLE bench_value_raw AS SELECT customer_id, SUM(amount) AS annual_spend, COUNT(*) AS orders_12m, "
             "MAX(ordered_at) AS last_order_at FROM orders WHERE ordered_at >= {w365} AND ordered_at < {end} "
             "GROUP BY customer_id")


def case_values(target):
    """valuation.refresh for DAY as the daily job runs it (no Flask), beside the raw SQL of its one aggregate
    (12-month spend, orders and last order per customer into a scratch table)."""
    con = raw_connection(target)
    _execute(con, "DROP TABLE IF EXISTS bench_value_raw")
    mark = time.perf_counter()
    _execute(con, VALUE_RAW.format(**raw_placeholders()))
    raw = time.perf_counter() - mark
    raw_rows = _execute(con, "SELECT COUNT(*) FROM bench_value_raw").fetchone()[0]
    _execute(con, "DROP TABLE bench_value_raw")
    con.close()
    bind(target)
    import models
    import valuation

    models.create_tables()  # the value table, on a data set made before it existed (as run.py init-db does)
    mark = time.perf_counter()
    outcome = valuation.refresh(DAY, trigger="bench", now=NOW)
    seconds = time.perf_counter() - mark
    record = models.ValueRefresh.select().order_by(models.ValueRefresh.id.desc()).first()
    return {"seconds": seconds, "raw_s": raw, "raw_rows": raw_rows, "customers": record.customers,
            "timings": json.loads(record.timings or "{}"), "basis": record.basis, "outcome": str(outcome)[:300],
            "peak_rss_mb": peak_rss_mb()}


DASHBOARD_USERS = ("admin", "manager", "sales1")  # everyone, a manager's team, a sales rep's own customers


DASHBOARD_PAGES = {"home": ("首页 /admin/", "/admin/"),
                   "data": ("period 近3个月 (dashboard-data)", "/admin/dashboard-data?period=3m")}


def dashboard_raw():
    """Seconds of the roll-ups' GROUP BY statements alone (each SELECT counted, nothing written): the raw SQL beside
    the refresh (in the app's context: the database bound)."""
    from dashboard import rollup
    from models import db

    mark = time.perf_counter()
    for _table, _columns, select, params in rollup.statements(DAY):
        db.execute_sql(f"SELECT COUNT(*) FROM ({select}) x", [rollup._value(v) for v in params]).fetchone()
    return time.perf_counter() - mark


def case_dashboard(target, runs, warmup=3, pages="home,data", users=DASHBOARD_USERS):
    """The dashboard's server time, warm: GET /admin/ (the page with every card's data) and the period
    selector's /admin/dashboard-data, through the WSGI app as each user, `runs` timed loads after three
    warm-up ones; and the SQL statements one load sends.  First (timed on its own line) the refresh of the
    roll-ups the page reads, as the daily job runs it, beside its GROUP BYs alone."""
    import logging

    import flask_login

    from web import create_app

    url = target if "://" in target else "sqlite:///" + target
    app = create_app({"CRM_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench", "FIELD_KEY": FIELD_KEY,
                      "DASHBOARD_TODAY": DAY})
    app.test_client_class = flask_login.FlaskLoginClient
    import models

    with app.app_context():
        if not all(models.db.table_exists(m._meta.table_name) for m in models.ALL_MODELS):
            models.create_tables()  # (it takes the write lock: not while a sweep beside it holds it)
        import dashboard

        raw_s = dashboard_raw()
        mark = time.perf_counter()
        record = dashboard.refresh(DAY, trigger="bench", now=NOW)
        refresh = {"seconds": time.perf_counter() - mark, "raw_s": raw_s, "timings": json.loads(record.timings)}
        users = {u: models.User.get(models.User.username == u) for u in users}
        scope = {}
        for username, user in users.items():
            import access

            owners = access.owner_ids(user, access.grant_for(user))
            query = models.Customer.select()
            scope[username] = (query if owners is None else query.where(models.Customer.owner.in_(list(owners)))).count()
    sent = []

    class Count(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple):
                sent.append(record.msg[0])

    logger = logging.getLogger("peewee")
    out = []
    for username, user in users.items():
        client = app.test_client(user=user)
        for label, path in (DASHBOARD_PAGES[p] for p in pages.split(",")):
            for _ in range(warmup):
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} as {username}: HTTP {response.status_code}")
            samples = []
            for _ in range(runs):
                mark = time.perf_counter()
                client.get(path)
                samples.append((time.perf_counter() - mark) * 1000)
            handler = Count()
            sent.clear()
            logger.addHandler(handler)
            level = logger.level
            logger.setLevel(logging.DEBUG)
            try:
                client.get(path)
            finally:
                logger.removeHandler(handler)
                logger.setLevel(level)
            samples.sort()
            out.append({"user": username, "customers": scope[username], "page": label, "runs": runs, "warmup": warmup,
                        "median_ms": statistics.median(samples), "p95_ms": _pct(samples, 0.95),
                        "statements": len(sent)})
    return {"loads": out, "refresh": refresh, "peak_rss_mb": peak_rss_mb()}


# Later parts (issue 11, parts 5 and 6): a case runs when its package exists.  name -> (package, label).
OPTIONAL = {
    "values": ("valuation", "value refresh (客户价值表)"),
    "dashboard": ("dashboard", "dashboard (首页仪表盘)"),
}


def optional_available(name):
    import importlib.util

    return importlib.util.find_spec(OPTIONAL[name][0]) is not None


def run_case(case, target, customers, checks, runs, seed, options=None):
    if case == "build":
        return build(target, customers, seed) | {"orders": _orders(target)}
    if case == "raw":
        return case_raw(target)
    if case == "raw_figures":
        return case_raw_figures(target)
    if case == "raw_written":
        return case_raw_written(target)
    if case == "sweep":
        return case_sweep(target)
    if case == "check":
        return case_check(target, customers, checks)
    if case == "preview":
        return case_preview(target, runs)
    if case == "values":
        return case_values(target)
    if case == "dashboard":
        options = options or {}
        return case_dashboard(target, runs, warmup=options.get("warmup", 3), pages=options.get("pages", "home,data"),
                              users=options.get("users") or DASHBOARD_USERS)
    raise ValueError(f"unknown case {case}")


def _orders(target):
    con = raw_connection(target)
    try:
        return _execute(con, "SELECT COUNT(*) FROM orders").fetchone()[0]
    finally:
        con.close()


def spawn(case, target, customers, seed=1, checks=0, runs=1, extra=()):
    """run_case in a fresh interpreter; its result (the last line of its output, JSON)."""
    command = [sys.executable, "-m", "bench.daily", "--case", case, "--target", target, "--customers", str(customers),
               "--seed", str(seed), "--checks", str(checks), "--runs", str(runs), *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-6000:]}")
    if done.stderr.strip():
        sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


CASES = ("raw", "sweep", "check", "preview", "values", "dashboard")


def run_backend(backend, target, customers, seed, rounds, checks, preview_runs, info, dashboard_runs=20, cases=CASES,
                save=None, dashboard_warmup=3, dashboard_pages="home,data", dashboard_users=None):
    """The `cases` on one database; a dict of its results, saved (`save(result)`) after every case, so a case
    stopped by hand leaves the others' results."""
    hooks = {name: "not built yet" for name in OPTIONAL if not optional_available(name)}
    out = {"backend": backend, "customers": customers, "orders": info["orders"], "built_s": info["built_s"],
           "reused": info["reused"], "hooks": hooks}
    save = save or (lambda result: None)
    if "raw" in cases or "sweep" in cases:
        raw, sweep = out.setdefault("raw", []), out.setdefault("sweep", [])
        once, written = out.setdefault("raw_figures", []), out.setdefault("raw_written", [])
        for round_no in range(rounds):  # raw and sweep interleaved, so load on the machine lands on both
            progress(f"{backend}: raw SQL of the 20 rules, round {round_no + 1}/{rounds}")
            raw.append(spawn("raw", target, customers, seed))
            progress(f"{backend}: raw SQL of the 20 rules, figures once, round {round_no + 1}/{rounds}")
            once.append(spawn("raw_figures", target, customers, seed))
            progress(f"{backend}: the first sweep's rows written by hand, round {round_no + 1}/{rounds}")
            written.append(spawn("raw_written", target, customers, seed))
            progress(f"{backend}: the full sweep from empty and again, round {round_no + 1}/{rounds}")
            sweep.append(spawn("sweep", target, customers, seed))
            save(out)
        for r, f, s in zip(raw, once, sweep):
            if f["counts"] != r["counts"]:
                wrong = {k: (r["counts"][k], f["counts"].get(k)) for k in r["counts"] if r["counts"][k] != f["counts"].get(k)}
                raise RuntimeError(f"{backend}: the two raw SQLs disagree (per rule, figures once): {wrong}")
            if r["counts"] != s["counts"]:
                wrong = {k: (r["counts"][k], s["counts"].get(k)) for k in r["counts"] if r["counts"][k] != s["counts"].get(k)}
                raise RuntimeError(f"{backend}: the sweep and the raw SQL disagree (raw, sweep): {wrong}")
            for w in written:
                if w["episodes"] != s["applied"]:
                    raise RuntimeError(f"{backend}: the sweep opened {s['applied']} episodes, by hand {w['episodes']}")
            if s["skipped"] or s["again_changed"]:
                raise RuntimeError(f"{backend}: rules skipped {s['skipped']}, second sweep changed {s['again_changed']}")
    if "check" in cases:
        progress(f"{backend}: {checks} checks after one change")
        out["check"] = spawn("check", target, customers, seed, checks=checks)
        save(out)
    if "preview" in cases:
        progress(f"{backend}: previews at {PAST}")
        out["preview"] = spawn("preview", target, customers, seed, runs=preview_runs)
        save(out)
    if "values" in cases and "values" not in hooks:
        progress(f"{backend}: the value refresh")
        out["values"] = spawn("values", target, customers, seed)
        save(out)
    if "dashboard" in cases and "dashboard" not in hooks:
        progress(f"{backend}: the dashboard, {dashboard_runs} warm loads per page and user")
        out["dashboard"] = spawn("dashboard", target, customers, seed, runs=dashboard_runs,
                                 extra=["--dashboard-warmup", str(dashboard_warmup), "--dashboard-pages", dashboard_pages,
                                        "--dashboard-users", ",".join(dashboard_users or DASHBOARD_USERS)])
        save(out)
    return out


def _median(values):
    return statistics.median(values)


def table(results, load_start, load_end, rounds):
    busy = " (the machine was busy with other work: times are pessimistic)" if max(load_start, load_end) > 1.5 else ""
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {load_start:.2f} at the start and {load_end:.2f} "
             f"at the end{busy}; raw SQL and sweep: median of {rounds} interleaved round(s), each case in its own "
             f"process; data for {DAY} (`bench/daily.py`).", "",
             "| database | customers | orders | case | time | raw SQL | ÷ raw | target | met |",
             "|---|---:|---:|---|---:|---:|---:|---|---|"]
    for r in results:
        db, n, o = r["backend"], f"{r['customers']:,}", f"{r['orders']:,}"
        if r.get("raw") and r.get("sweep"):
            _sweep_rows(lines, r, db, n, o)
        c = r.get("check")
        if c:
            lines.append(f"| {db} | {n} | {o} | check after one change: p95 of {c['checks']:,} (median "
                         f"{c['median_ms']:.1f}, max {c['max_ms']:.0f}; {c['changed']:,} changed a tag) | "
                         f"{c['p95_ms']:.1f} ms | — | — | p95 < 50 ms | {_yes(c['p95_ms'] < 50)} |")
        for p in (r.get("preview") or {}).get("previews", []):
            lines.append(f"| {db} | {n} | {o} | preview {p['rule'].split('：')[0]} as {p['user']}, now vs {PAST} "
                         f"({p['now']:,} now, {p['past']:,} then, +{p['gained']:,} −{p['lost']:,}) | "
                         f"{p['seconds']:.1f} s | — | — | < 10 s | {_yes(p['seconds'] < 10)} |")
        _later_rows(lines, r, db, n, o)
    lines += ["", "Per rule (first round): customers matched, hand-written SQL and the rule's share of the sweep "
                  "(its transaction: episodes, tag rows, audit).", "",
              "| database | customers | rule | matched | raw SQL s | sweep s | ÷ raw |", "|---|---:|---|---:|---:|---:|---:|"]
    for r in results:
        if not (r.get("raw") and r.get("sweep")):
            continue
        raw, sweep = r["raw"][0], r["sweep"][0]
        for name in raw["rules"]:
            a, b = raw["rules"][name], sweep["rules"].get(name, 0)
            lines.append(f"| {r['backend']} | {r['customers']:,} | {name} | {raw['counts'][name]:,} | {a:.2f} | "
                         f"{b:.2f} | {b / a if a else 0:.1f} |")
    return "\n".join(lines)


def _sweep_rows(lines, r, db, n, o):
    raw = _median([x["seconds"] for x in r["raw"]])
    once = [x["seconds"] for x in r.get("raw_figures") or []]
    if once:  # the sweep is read against the faster hand-written way
        fig = _median(once)
        made = _median([x["figures_s"] for x in r["raw_figures"]])
        lines.append(f"| {db} | {n} | {o} | raw SQL, figures once (the figures table {made:.1f} s, then the 20 sets; "
                     f"÷ raw: against the raw SQL per rule) | {fig:.1f} s | {raw:.1f} s | {fig / raw:.2f} | — | — |")
        raw = min(raw, fig)
    first = _median([x["seconds"] for x in r["sweep"]])
    again = _median([x["again_s"] for x in r["sweep"]])
    episodes = r["sweep"][0]["applied"]
    built = r["sweep"][0].get("figures_s") or []
    figures = f"; figures {built[0]:.1f} s" if built else ""
    if r.get("raw_written"):  # the same rows into the same tables by hand: the raw SQL of the same work
        by_hand = _median([x["seconds"] for x in r["raw_written"]])
        lines.append(f"| {db} | {n} | {o} | raw SQL of the first sweep's work: the same rows written by hand (figures "
                     f"once, then per rule INSERT the episodes and tag rows into the real tables, with their keys "
                     f"and foreign keys) | {by_hand:.1f} s | {raw:.1f} s | {by_hand / raw:.2f} | — | — |")
        lines.append(f"| {db} | {n} | {o} | full sweep of 20 rules from empty ({episodes:,} episodes opened{figures}; "
                     f"÷ the aggregates alone {first / raw:.2f}) | {first:.1f} s | {by_hand:.1f} s | "
                     f"{first / by_hand:.2f} | < 60 s, ≤ 2× raw | {_yes(first < 60 and first <= 2 * by_hand)} |")
    else:
        lines.append(f"| {db} | {n} | {o} | full sweep of 20 rules from empty ({episodes:,} episodes opened{figures}) | "
                     f"{first:.1f} s | {raw:.1f} s | {first / raw:.2f} | < 60 s, ≤ 2× raw | "
                     f"{_yes(first < 60 and first <= 2 * raw)} |")
    lines.append(f"| {db} | {n} | {o} | the sweep again, nothing changed | {again:.1f} s | {raw:.1f} s | "
                 f"{again / raw:.2f} | < 60 s, ≤ 2× raw | {_yes(again < 60 and again <= 2 * raw)} |")
    if "next_s" in r["sweep"][0]:
        nxt = _median([x["next_s"] for x in r["sweep"]])
        s = r["sweep"][0]
        lines.append(f"| {db} | {n} | {o} | the next day's sweep ({s['next_applied']:,} episodes opened, "
                     f"{s['next_removed']:,} closed) | {nxt:.1f} s | {raw:.1f} s | {nxt / raw:.2f} | < 60 s, ≤ 2× raw | "
                     f"{_yes(nxt < 60 and nxt <= 2 * raw)} |")


def _later_rows(lines, r, db, n, o):
    v = r.get("values")
    if v:
        phases = ", ".join(f"{k} {float(t):.1f}" for k, t in v["timings"].items())
        lines.append(f"| {db} | {n} | {o} | value refresh of {v['customers']:,} customers ({phases} s; raw SQL: the "
                     f"12-month aggregate alone) | {v['seconds']:.1f} s | {v['raw_s']:.1f} s | "
                     f"{v['seconds'] / v['raw_s']:.1f} | < 2 min | {_yes(v['seconds'] < 120)} |")
    refresh = (r.get("dashboard") or {}).get("refresh")
    if refresh:
        steps = ", ".join(f"{k} {float(t):.1f}" for k, t in refresh["timings"].items())
        lines.append(f"| {db} | {n} | {o} | dashboard roll-ups refresh, the daily job ({steps} s; raw SQL: its GROUP "
                     f"BYs alone) | {refresh['seconds']:.1f} s | {refresh['raw_s']:.1f} s | "
                     f"{refresh['seconds'] / refresh['raw_s']:.2f} | — | — |")
    for load in (r.get("dashboard") or {}).get("loads", []):
        lines.append(f"| {db} | {n} | {o} | dashboard {load['page']} as {load['user']} ({load['customers']:,} "
                     f"customers; {load['statements']} SQL statements; median {load['median_ms']:,.0f} ms) | "
                     f"p95 {load['p95_ms']:,.0f} ms | — | — | < 300 ms warm, one batch | "
                     f"{_yes(load['p95_ms'] < 300)} |")
    for name, why in r["hooks"].items():
        lines.append(f"| {db} | {n} | {o} | {OPTIONAL[name][1]} | — | — | — | — | {why} |")


def _yes(ok):
    return "yes" if ok else "**no**"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="N: N customers, 10N orders")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of raw SQL and sweep")
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each preview")
    parser.add_argument("--dashboard-runs", type=int, default=20, help="timed warm loads of each dashboard page")
    parser.add_argument("--dashboard-warmup", type=int, default=3, help="loads of each page before the timed ones")
    parser.add_argument("--dashboard-pages", default="home,data", help="home (/admin/), data (/admin/dashboard-data)")
    parser.add_argument("--dashboard-users", default=None, help=f"default: {','.join(DASHBOARD_USERS)}")
    parser.add_argument("--cases", default=",".join(CASES), help=f"some of {','.join(CASES)}")
    parser.add_argument("--save-as", default=None, help="results file name in bench/results (default: per backend)")
    parser.add_argument("--backends", default=None,
                        help="sqlite,postgresql (default: sqlite, and postgresql when DATABASE_URL names it)")
    parser.add_argument("--drop-schema", action="store_true", help="drop the PostgreSQL scratch schema afterwards")
    parser.add_argument("--schema", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--combine", default=None,
                        help="write the table (and --write-docs) from these results files, comma-separated, "
                             "of runs made side by side (e.g. one per backend)")
    args = parser.parse_args(argv)
    if args.combine:
        runs = [json.load(open(path)) for path in args.combine.split(",")]
        merged = {}  # the cases of one database and size from several runs (e.g. the dashboard run apart)
        for run in runs:
            for r in run["results"]:
                into = merged.setdefault((r["backend"], r["customers"]), {})
                into.update({k: v for k, v in r.items() if v or k not in into})
        results = list(merged.values())
        markdown = table(results, max(run["load_start"] for run in runs), max(run["load_end"] for run in runs),
                         runs[0]["rounds"])
        print(markdown)
        if args.write_docs:
            write_docs(markdown, section=SECTION)
        return results
    if args.case:
        options = {"warmup": args.dashboard_warmup, "pages": args.dashboard_pages,
                   "users": args.dashboard_users.split(",") if args.dashboard_users else None}
        print(json.dumps(run_case(args.case, args.target, args.customers, args.checks, args.runs, args.seed, options),
                         ensure_ascii=False, default=str))
        return None
    url = os.environ.get("DATABASE_URL", "")
    backends = (args.backends or ("sqlite,postgresql" if url.startswith("postgres") else "sqlite")).split(",")
    load_start = os.getloadavg()[0]
    results = []
    os.makedirs(RESULTS, exist_ok=True)
    name = args.save_as or ("daily.json" if len(backends) > 1 else f"daily_{backends[0]}.json")

    def save(partial):
        with open(os.path.join(RESULTS, name), "w") as handle:
            json.dump({"results": results + [partial], "load_start": load_start, "load_end": os.getloadavg()[0],
                       "rounds": args.rounds}, handle, ensure_ascii=False, indent=1, default=str)

    for backend in backends:
        if backend == "sqlite":
            target, info = ensure_sqlite(args.customers, args.seed)
        elif backend == "postgresql":
            if not url.startswith("postgres"):
                raise SystemExit("postgresql: set DATABASE_URL=postgresql://... (the bench makes a scratch schema there)")
            target, info = ensure_postgres(url, args.customers, args.seed, args.schema)
        else:
            raise SystemExit(f"unknown backend {backend}")
        try:
            results.append(run_backend("SQLite" if backend == "sqlite" else "PostgreSQL", target, args.customers,
                                       args.seed, args.rounds, args.checks, args.runs, info, args.dashboard_runs,
                                       args.cases.split(","), save, args.dashboard_warmup, args.dashboard_pages,
                                       args.dashboard_users.split(",") if args.dashboard_users else None))
        finally:
            if backend == "postgresql" and args.drop_schema:
                drop_schema(url, info["schema"])
    load_end = os.getloadavg()[0]
    markdown = table(results, load_start, load_end, args.rounds)
    print(markdown)
    with open(os.path.join(RESULTS, name), "w") as handle:
        json.dump({"results": results, "load_start": load_start, "load_end": load_end, "rounds": args.rounds},
                  handle, ensure_ascii=False, indent=1, default=str)
    if args.write_docs:
        write_docs(markdown, section=SECTION)
    return results


if __name__ == "__main__":
    main()
