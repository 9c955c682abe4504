"""Applying transitions: events inserted, then the status changes or tags that follow from them, set-based,
one transaction per transition.

For one transition on day D (optionally only for some customers, after a change to them):

    -- 1. every candidate firing of the trigger kind becomes an event, unless that very event exists
    INSERT INTO pipeline_event (transition_id, customer_id, source_id, at, recorded_at, trigger, run)
      SELECT ?, cand.* , ?, ?, ? FROM (<the kind's candidates on D>) cand
      ON CONFLICT DO NOTHING;                             -- unique (transition, customer, source_id)
    -- 2a. a status transition: the history first (from the customer's status as it is), then the status
    INSERT INTO status_change (customer_id, from_status, to_status, reason, user_id, at)
      SELECT e.customer_id, c.status, ?, ?, NULL, e.at FROM pipeline_event e JOIN customer c ... WHERE e.run = ?;
    UPDATE customer SET status = ?, updated_at = ? WHERE id IN (SELECT customer_id FROM pipeline_event WHERE run = ?);
    -- 2b. a tag transition: the tag (source rule) on the customers of the run's events who lack it, and off the
    --     customers whose open events no longer fit their status (they left the from-statuses)
    -- 3. one audit row per customer changed (username "system"), like a change made in the admin

Why this never fires twice: a status transition only finds customers still in a from-status, and their
event's key names the status change they are in; after it fired they are in another one.  A retry or a
second sweep inserts nothing (the key holds), a crash rolls the transition back whole, and two workers take
turns (the SQLite write lock; a transaction-scoped advisory lock on PostgreSQL).
"""
import datetime
import json
import logging
import uuid
from dataclasses import dataclass

from models import PipelineTransition, Tag, db, is_sqlite
from models.customers import STATUSES

from . import triggers
from .sql import Sql, in_list, insert_ignore, param, within

log = logging.getLogger("pipeline")
LOCK = "pipeline"
MAX_PASSES = 10  # a status moves forward in business time, so passes end long before this


@dataclass
class Result:
    transition_id: int
    name: str
    target: str  # 成交客户 / 标签“待成交”
    fired: int = 0  # events inserted
    changed: int = 0  # customers whose status changed, or who got the tag
    untagged: int = 0  # customers the tag came off
    skipped: str = ""  # why not evaluated (disabled is not listed at all)

    @property
    def any(self):
        return bool(self.fired or self.changed or self.untagged)


@dataclass
class Context:
    as_of: datetime.date
    day_end: datetime.datetime  # the start of the next day: records before it count
    within: object  # None (every customer), a list of ids, or a query of ids
    params: dict


def reason_of(transition, trigger, params):
    """The reason the status history shows, like a manual change's."""
    return f"自动流转：{transition.name}（{trigger.describe(params)}）"


def evaluate(as_of, transitions=None, customer_ids=None, trigger="sweep", now=None):
    """Apply the enabled `transitions` (rows or ids; default all, by position) on day `as_of` to every customer
    or only `customer_ids` (ids or a query of ids); one transaction each.  Returns (results, runs): a Result
    per transition and the runs that fired (their events name the customers changed).

    The transitions are applied again, in order, as long as one fires (a fixed point, at most MAX_PASSES):
    a later transition may make an earlier one due (a comeback order puts a 流失 customer back to 成交 whose
    180 days then ran out before the day), so one sweep leaves nothing for the next one to do."""
    now = now or datetime.datetime.now()
    if transitions is None:
        ids = [t.id for t in PipelineTransition.select(PipelineTransition.id)
               .where(PipelineTransition.enabled == True)  # noqa: E712
               .order_by(PipelineTransition.position, PipelineTransition.id)]
    else:
        ids = [getattr(t, "id", t) for t in transitions]
    if customer_ids is None or hasattr(customer_ids, "sql"):
        scope = customer_ids
    else:
        scope = sorted({int(i) for i in customer_ids if i is not None})
        if not scope:
            return [], []
    totals, runs = {}, []
    for _ in range(MAX_PASSES):
        fired = False
        for transition_id in ids:
            run = uuid.uuid4().hex
            result = apply(transition_id, as_of, scope, trigger, now, run)
            if result is None:
                continue
            if result.fired:
                fired = True
                runs.append(run)
            total = totals.setdefault(transition_id, result)
            if total is not result:
                total.fired += result.fired
                total.changed += result.changed
                total.untagged += result.untagged
        if not fired:
            break
    return [totals[i] for i in ids if i in totals], runs


def apply(transition_id, as_of, scope, trigger, now, run):
    """One transition in one transaction; None if it is gone or disabled."""
    with db.atomic():
        if not is_sqlite():
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK,))
        transition = PipelineTransition.get_or_none(PipelineTransition.id == transition_id)
        if transition is None or not transition.enabled:
            return None
        try:
            kind = triggers.get(transition.trigger)
            params = triggers.parse_params(kind, transition.params)
            check_target(transition, kind)
        except triggers.Invalid as invalid:
            log.error("状态流转“%s”无效，已跳过：%s", transition.name, invalid)
            return Result(transition.id, transition.name, "", skipped=str(invalid))
        tag = Tag.get_or_none(Tag.id == transition.to_tag_id) if transition.to_tag_id else None
        result = Result(transition.id, transition.name,
                        transition.to_status if kind.target == "status" else f"标签“{tag.name}”")
        day_end = datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time())
        ctx = Context(as_of, day_end, scope, params)
        head, tail = insert_ignore("pipeline_event", ["transition_id", "customer_id", "source_id", "at",
                                                      "recorded_at", "trigger", "run"])
        insert = (Sql(head + "SELECT ") + param(transition.id) + ", cand.* , " + param(now) + ", "
                  + param(trigger) + ", " + param(run) + " FROM (" + kind.candidates(transition, ctx)
                  + ") cand WHERE 1 = 1" + tail)
        result.fired = insert.execute().rowcount
        reason = reason_of(transition, kind, params)
        if kind.target == "status":
            if result.fired:
                result.changed = _move(transition, reason, now, run)
        else:
            if result.fired:
                result.changed = _tag(transition, tag, reason, now, run)
            result.untagged = _untag(transition, tag, scope, now)
    if result.any:
        log.info("状态流转“%s”：触发 %s，变更 %s，移除标签 %s（%s）", transition.name, result.fired, result.changed,
                 result.untagged, trigger)
    return result


def check_target(transition, kind):
    """A status kind moves to a status, a tag kind puts a rule tag on; raises triggers.Invalid otherwise."""
    if kind.target == "status":
        if not transition.to_status:
            raise triggers.Invalid(f"“{kind.label}”是状态流转，请选择目标状态")
        names = [name for name, _ in STATUSES]
        if transition.to_status not in names:  # the form offers only these; a file or the CLI may not
            raise triggers.Invalid(f"目标状态“{str(transition.to_status)[:20]}”无效，可选：{'、'.join(names)}")
        if transition.to_tag_id:
            raise triggers.Invalid(f"“{kind.label}”是状态流转，不能同时设置目标标签")
        if transition.to_status in transition.statuses():
            raise triggers.Invalid("目标状态不能同时是起始状态")
    else:
        if not transition.to_tag_id:
            raise triggers.Invalid(f"“{kind.label}”给客户打标签，请选择目标标签")
        if transition.to_status:
            raise triggers.Invalid(f"“{kind.label}”给客户打标签，不能同时设置目标状态")


def _events(run, transition_id):
    return Sql("SELECT e.customer_id FROM pipeline_event e WHERE e.run = ") + param(run) + \
        " AND e.transition_id = " + param(transition_id)


def _audit(action, run_ids, changes, now):
    """One audit row per customer of `run_ids` (an Sql of customer ids), as a change in the admin writes."""
    (Sql("INSERT INTO audit_log (at, username, action, model, record_id, changes, rows) SELECT ")
     + param(now) + ", 'system', " + param(action) + ", 'customer', CAST(x.customer_id AS VARCHAR(40)), "
     + param(json.dumps(changes, ensure_ascii=False)) + ", 1 FROM (" + run_ids + ") x").execute()


def _move(transition, reason, now, run):
    """The status history and the status of the customers the run's events name."""
    (Sql("INSERT INTO status_change (customer_id, from_status, to_status, reason, user_id, at) "
         "SELECT e.customer_id, c.status, ") + param(transition.to_status) + ", " + param(reason)
     + ", NULL, e.at FROM pipeline_event e JOIN customer c ON c.id = e.customer_id WHERE e.run = " + param(run)
     + " AND e.transition_id = " + param(transition.id)).execute()
    moved = (Sql("UPDATE customer SET status = ") + param(transition.to_status) + ", updated_at = " + param(now)
             + " WHERE id IN (" + _events(run, transition.id) + ")").execute().rowcount
    _audit("auto-status", _events(run, transition.id),
           {"status": [", ".join(transition.statuses()) or None, transition.to_status], "reason": reason,
            "transition": transition.name}, now)
    return moved


def _tag(transition, tag, reason, now, run):
    """The tag on the customers of the run's events who do not carry it yet (source rule)."""
    gaining = (Sql("SELECT DISTINCT e.customer_id FROM pipeline_event e WHERE e.run = ") + param(run)
               + " AND e.transition_id = " + param(transition.id)
               + " AND e.customer_id NOT IN (SELECT ct.customer_id FROM customer_tag ct WHERE ct.tag_id = "
               + param(tag.id) + ")")
    head, tail = insert_ignore("customer_tag", ["customer_id", "tag_id", "source", "created_at"])
    added = (Sql(head + "SELECT g.customer_id, ") + param(tag.id) + ", 'rule', " + param(now)
             + " FROM (" + gaining + ") g WHERE 1 = 1" + tail).execute().rowcount
    if added:
        # the rows just added are the ones created at `now` for these customers
        _audit("auto-tag", Sql("SELECT ct.customer_id FROM customer_tag ct WHERE ct.tag_id = ") + param(tag.id)
               + " AND ct.created_at = " + param(now) + " AND ct.customer_id IN (" + _events(run, transition.id) + ")",
               {"tag": [None, tag.name], "reason": reason, "transition": transition.name}, now)
    return added


def _untag(transition, tag, scope, now):
    """Customers who left the from-statuses lose the tag their open events put on (rule rows only); the
    events are closed.  Nothing happens for a transition without from-statuses."""
    statuses = transition.statuses()
    if not statuses or tag is None:
        return 0
    closed = (Sql("UPDATE pipeline_event SET removed_at = ") + param(now) + " WHERE transition_id = "
              + param(transition.id) + " AND removed_at IS NULL AND customer_id IN (SELECT c.id FROM customer c "
              "WHERE c.status NOT IN " + in_list(statuses) + within("c.id", scope) + ")").execute().rowcount
    if not closed:
        return 0
    leaving = (Sql("SELECT ct.customer_id FROM customer_tag ct WHERE ct.tag_id = ") + param(tag.id)
               + " AND ct.source = 'rule' AND ct.customer_id IN (SELECT e.customer_id FROM pipeline_event e "
               "WHERE e.transition_id = " + param(transition.id) + " AND e.removed_at = " + param(now) + ")")
    _audit("auto-untag", leaving,
           {"tag": [tag.name, None], "reason": f"自动流转：{transition.name}（客户已不在{'、'.join(statuses)}）",
            "transition": transition.name}, now)
    return (Sql("DELETE FROM customer_tag WHERE tag_id = ") + param(tag.id) + " AND source = 'rule' AND customer_id IN ("
            + leaving + ")").execute().rowcount
