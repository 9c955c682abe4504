"""The sales funnel, read from the status history, set-based (docs/funnel.md has the definitions).

    from pipeline import funnel
    numbers = funnel.counts(customer_query, datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    numbers.stages        # [Stage("潜在客户", at_end=.., entered=..), 意向, 成交, 流失]
    numbers.conversions   # [Step("潜在客户", "意向客户", entered=.., reached=..), ...]
    numbers.chart         # [("潜在客户", n), ("意向客户", m), ("成交客户", k)]: the period's cohort

`customer_query` is any peewee query of customers (the viewer's row scope and the screen's filters); only
its ids are used.  Two queries in all, whatever the number of customers.

- A customer *enters* a stage at each status change to it; the record that created the customer is one
  (older data without it: the customer entered their first recorded status at created_at).
- **at_end**: customers in the stage at the end of the period: their status now, rolled back through the
  changes made since (the from-status of their first change after the period); customers created later are
  not counted.
- **entered**: customers who entered the stage during the period.
- **conversion X → Y**: of the customers who entered X during the period, those who reached Y at or after
  their first entry to X in the period and by its end.  Reaching 成交 counts as reaching 意向 (a customer who
  signs at once skipped it); 成交 → 流失 is the churn of the period's new customers.
- **chart**: the cohort of the period: customers who entered 潜在 in it, those of them who reached 意向 (or
  成交), and those who reached 成交, by the period's end.
"""
import datetime
from dataclasses import dataclass, field

from models import Customer

from .sql import Sql, p, param

POTENTIAL, INTERESTED, WON, LOST = "潜在客户", "意向客户", "成交客户", "流失客户"
STAGES = (POTENTIAL, INTERESTED, WON, LOST)
# (step, from, to, what counts as reaching it)
STEPS = (
    (1, POTENTIAL, INTERESTED, (INTERESTED, WON)),
    (2, INTERESTED, WON, (WON,)),
    (3, WON, LOST, (LOST,)),
    (4, POTENTIAL, WON, (WON,)),  # the whole funnel
)


@dataclass
class Stage:
    status: str
    at_end: int = 0
    entered: int = 0

    @property
    def label(self):
        return self.status[:2]


@dataclass
class Step:
    from_status: str
    to_status: str
    entered: int = 0
    reached: int = 0

    @property
    def rate(self):
        """reached / entered, or None when nobody entered."""
        return self.reached / self.entered if self.entered else None


@dataclass
class Funnel:
    start: datetime.date
    end: datetime.date
    stages: list = field(default_factory=list)
    conversions: list = field(default_factory=list)  # steps 1-3: stage to next stage
    overall: Step = None  # 潜在 → 成交
    chart: list = field(default_factory=list)

    def stage(self, status):
        return next(s for s in self.stages if s.status == status)

    def as_dict(self):
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "stages": [{"status": s.status, "at_end": s.at_end, "entered": s.entered} for s in self.stages],
                "conversions": [{"from": c.from_status, "to": c.to_status, "entered": c.entered,
                                 "reached": c.reached, "rate": c.rate} for c in self.conversions + [self.overall]],
                "chart": [{"name": name, "value": value} for name, value in self.chart]}


def _bounds(start, end):
    if end < start:
        raise ValueError("结束日期不能早于开始日期")
    return (datetime.datetime.combine(start, datetime.time()),
            datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time()))


def _scoped(customer_query):
    return Sql.of(customer_query.select(Customer.id).order_by())


def _entries(scoped, since, until):
    """(cid, stage, at) of every entry to a stage during [since, until), for the scoped customers.  Only
    entries within the period matter: conversions count entries at or after an entry in the period."""
    return (Sql("SELECT sc.customer_id AS cid, sc.to_status AS stage, sc.at AS at FROM status_change sc "
                "WHERE sc.customer_id IN (") + scoped + ") AND sc.at >= " + param(since) + " AND sc.at < " + param(until)
            + " UNION ALL SELECT c.id, COALESCE((SELECT COALESCE(f.from_status, f.to_status) FROM status_change f "
              "WHERE f.customer_id = c.id ORDER BY f.at, f.id LIMIT 1), c.status), c.created_at FROM customer c "
              "WHERE c.id IN (" + scoped + ") AND c.created_at >= " + param(since) + " AND c.created_at < " + param(until)
            + " AND NOT EXISTS (SELECT 1 FROM status_change n WHERE n.customer_id = c.id AND n.from_status IS NULL)")


def _at_end(scoped, until):
    """(stage, customers) at `until`: the current status, rolled back through the changes since then (the status
    a customer had is the from-status of their first change after it); customers created later are not counted."""
    later = (Sql("SELECT y.customer_id, y.from_status FROM (SELECT sc.customer_id, sc.from_status, ROW_NUMBER() OVER "
                 "(PARTITION BY sc.customer_id ORDER BY sc.at, sc.id) AS n FROM status_change sc WHERE sc.at >= ")
             + param(until) + ") y WHERE y.n = 1")  # every customer's: the index on `at` reads only those
    return (Sql("SELECT CASE WHEN a.customer_id IS NULL THEN c.status ELSE a.from_status END AS stage, COUNT(*) "
                "FROM customer c LEFT JOIN (") + later + ") a ON a.customer_id = c.id WHERE c.id IN (" + scoped
            + ") AND c.created_at < " + param(until) + " GROUP BY 1")


def counts(customer_query, start, end):
    """The funnel of the customers of `customer_query` for the days start..end (inclusive).  Raises ValueError
    (with a Chinese message) when end is before start."""
    since, until = _bounds(start, end)
    scoped = _scoped(customer_query)
    result = Funnel(start, end, stages=[Stage(s) for s in STAGES])
    by_status = {s.status: s for s in result.stages}

    for stage, count in _at_end(scoped, until).execute().fetchall():
        if stage in by_status:
            by_status[stage].at_end = count

    values = ", ".join("(" + ", ".join(["%d" % step, "{p}", "{p}"]) + ")" for step, _, _, targets in STEPS
                       for _ in targets)
    step_params = [v for step, frm, _, targets in STEPS for target in targets for v in (frm, target)]
    steps = Sql(values.replace("{p}", p()), step_params)
    query = (Sql("WITH entries AS (") + _entries(scoped, since, until) + "), "
             "firsts AS (SELECT cid, stage, MIN(at) AS at FROM entries GROUP BY cid, stage), steps (step, from_stage, to_stage) AS (VALUES " + steps + ") "
             "SELECT 0, f.stage, COUNT(*) FROM firsts f GROUP BY f.stage "
             "UNION ALL SELECT s.step, NULL, COUNT(DISTINCT f.cid) FROM firsts f JOIN steps s ON s.from_stage = f.stage "
             "WHERE EXISTS (SELECT 1 FROM entries e WHERE e.cid = f.cid AND e.stage = s.to_stage AND e.at >= f.at) "
             "GROUP BY s.step")
    reached = {}
    for step, stage, count in query.execute().fetchall():
        if step == 0:
            if stage in by_status:
                by_status[stage].entered = count
        else:
            reached[step] = count
    made = {step: Step(frm, to, by_status[frm].entered, reached.get(step, 0)) for step, frm, to, _ in STEPS}
    result.conversions = [made[1], made[2], made[3]]
    result.overall = made[4]
    result.chart = [(POTENTIAL, by_status[POTENTIAL].entered), (INTERESTED, made[1].reached), (WON, made[4].reached)]
    return result
