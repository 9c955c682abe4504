"""Opening and closing tasks, set-based: a few INSERT ... SELECT and UPDATE statements per pass, whatever the
number of customers.

Follow-up plans (after a follow-up is saved or imported, and in the full sweep):

    -- 1. a follow-up after an open task's `since` (of its method, if it names one) closes it; a plan is
    --    not closed by the follow-up that made it
    UPDATE task SET status = 'done', open_key = NULL, closed_at = ?, closed_reason = 'followup',
                    closed_by_id = (SELECT f.id FROM follow_up f WHERE <f fulfils task> ORDER BY f.at DESC LIMIT 1)
      WHERE status = 'open' AND EXISTS (SELECT ... <f fulfils task>);
    -- 2. the latest follow-up of a customer with a 下次跟进时间 and no task yet plans one for the owner
    INSERT INTO task (customer_id, assignee_id, ..., due_on, since, status, open_key, ...)
      SELECT f.customer_id, c.owner_id, ..., f.next_date, f.at, 'open', 'f:' || f.customer_id, ...
      FROM follow_up f JOIN customer c ON ...
      WHERE f.next_date IS NOT NULL AND NOT EXISTS (<a later follow-up of the customer>)
        AND NOT EXISTS (<a task planned by f>)
      ON CONFLICT DO NOTHING;                                      -- open_key: one open plan per customer

Reminder rules (the full sweep, and when a rule is saved): for rule R of tag T

    -- the tasks of customers who no longer carry T (or of a disabled rule) close
    UPDATE task SET status = 'done', open_key = NULL, ... WHERE rule_id = R AND status = 'open'
      AND customer_id NOT IN (SELECT customer_id FROM customer_tag WHERE tag_id = T);
    -- a customer carrying T without an open task of R gets one: open_key 'r<R>:<customer>'
    INSERT INTO task (...) SELECT ... FROM customer_tag ct JOIN customer c ... WHERE ct.tag_id = T
      AND ct.customer_id NOT IN (<open tasks of R>) AND <kind> ON CONFLICT DO NOTHING;

  kind "within" N: due N days after the customer got T (customer_tag.created_at), once per time they get it:
      not if a follow-up (of the rule's method) was recorded since, nor if a task of R started since;
  kind "every" N: due N days after the latest of their last follow-up (of the method), getting T and completing a
      task of R by hand; the follow-up that closes one task starts the clock of the next, so there is always
      exactly one open.

Why nothing is made twice: the state is read from the data, and the unique `open_key` refuses a second open
task of the same customer and rule (or plan) in the database itself.  A second sweep finds every task open (no
insert) or its reason gone (closed already); a retried or crashed pass rolled back whole; two workers at once:
the later INSERT meets the earlier one's keys and inserts nothing (ON CONFLICT DO NOTHING, PostgreSQL waiting for
the first to commit).  Rows are inserted in customer order, so two concurrent inserts never deadlock.
"""
import datetime
import json
import logging
from dataclasses import dataclass

from peewee import Case, Value, fn

from models import AuditLog, Customer, CustomerTag, FollowUp, ReminderRule, Tag, Task, db

from .dates import midnight, plus_days

log = logging.getLogger("reminders")
PLAN_TITLE = "按计划跟进"
# The full sweep plans from follow-ups whose 下次跟进时间 is at most this many days past (a saved or imported
# follow-up plans whatever its date): older plans are history, not work.
STALE_PLAN_DAYS = 90


@dataclass
class Result:
    rule_id: int
    rule: str
    tag: str
    opened: int = 0
    closed: int = 0
    skipped: str = ""

    @property
    def changed(self):
        return bool(self.opened or self.closed)


# --- follow-up plans ------------------------------------------------------------------------------
def _ids(followups):
    """None (every follow-up), or a list / query of follow-up ids."""
    if followups is None or hasattr(followups, "sql"):
        return followups
    return sorted({int(i) for i in followups if i is not None})


def close_fulfilled(followups=None, now=None):
    """Close the open tasks a follow-up among `followups` (default: any) fulfils; returns how many."""
    now = now or datetime.datetime.now()
    F = FollowUp.alias("f")
    # after the task's start: a rule task's clock starts at the follow-up that closed the one before it, which
    # must not close this one too; a plan's starts at the follow-up that made it (also excluded by its id)
    later = (F.at > Task.since) | ((F.at == Task.since) & Task.followup.is_null(False) & (F.id != Task.followup))
    fulfils = (F.customer == Task.customer) & later & (Task.method.is_null() | (F.method == Task.method))
    if followups is not None:
        fulfils &= F.id.in_(followups)
    closer = F.select(F.id).where(fulfils).order_by(F.at.desc(), F.id.desc()).limit(1)
    where = (Task.status == "open") & fn.EXISTS(closer)
    if followups is not None:
        where &= Task.customer.in_(FollowUp.select(FollowUp.customer).where(FollowUp.id.in_(followups)))
    return (Task.update(status="done", open_key=None, closed_at=now, closed_reason="followup", closed_by=closer)
            .where(where).execute())


def replan(followups, now=None):
    """An edited follow-up moves the open task it planned to its new 下次跟进时间, or closes it when cleared."""
    now = now or datetime.datetime.now()
    planned = (Task.status == "open") & Task.followup.in_(followups)
    next_date = FollowUp.select(FollowUp.next_date).where(FollowUp.id == Task.followup)
    cleared = Task.update(status="done", open_key=None, closed_at=now, closed_reason="plan-removed").where(
        planned & Task.followup.in_(FollowUp.select(FollowUp.id).where(FollowUp.next_date.is_null()))).execute()
    moved = Task.update(due_on=next_date).where(
        planned & Task.followup.in_(FollowUp.select(FollowUp.id).where(FollowUp.next_date.is_null(False)))
        & (Task.due_on != next_date)).execute()
    return cleared, moved


def open_plans(followups=None, now=None, trigger="followup", not_before=None):
    """Tasks from the latest follow-up of each customer that has a 下次跟进时间 and planned nothing yet."""
    now = now or datetime.datetime.now()
    Later, Planned = FollowUp.alias("later"), Task.alias("planned")
    later = Later.select(Later.id).where((Later.customer == FollowUp.customer) & (
        (Later.at > FollowUp.at) | ((Later.at == FollowUp.at) & (Later.id > FollowUp.id))))
    planned = Planned.select(Planned.id).where(Planned.followup == FollowUp.id)
    key = Value("f:").concat(FollowUp.customer.cast("text"))
    source = (FollowUp.select(FollowUp.customer, Customer.owner, Value(PLAN_TITLE), Value("followup"), FollowUp.id,
                              FollowUp.next_date, FollowUp.at, Value("open"), key, Value(now), Value(trigger))
              .join(Customer, on=(FollowUp.customer == Customer.id))
              .where(FollowUp.next_date.is_null(False) & ~fn.EXISTS(later) & ~fn.EXISTS(planned))
              .order_by(FollowUp.customer))
    if followups is not None:
        source = source.where(FollowUp.id.in_(followups))
    if not_before is not None:
        source = source.where(FollowUp.next_date >= not_before)
    return (Task.insert_from(source, [Task.customer, Task.assignee, Task.title, Task.origin, Task.followup,
                                      Task.due_on, Task.since, Task.status, Task.open_key, Task.created_at,
                                      Task.created_by])
            .on_conflict_ignore().as_rowcount().execute())


def after_followups(followups, now=None, trigger="followup", user=None):
    """After follow-ups were saved or imported (ids, or a query of ids): the tasks they fulfil close, an edited
    one's plan moves, and the latest follow-up's 下次跟进时间 opens a task for the customer's owner.
    Runs inside the caller's transaction when there is one (the admin's save); returns (opened, closed)."""
    ids = _ids(followups)
    if ids is not None and not hasattr(ids, "sql") and not ids:
        return 0, 0
    now = now or datetime.datetime.now()
    with db.atomic():
        cleared, _ = replan(ids, now)
        closed = close_fulfilled(ids, now) + cleared
        opened = open_plans(ids, now, trigger)
        if opened or closed:
            changes = {"opened": opened, "closed": closed, "trigger": trigger}
            if isinstance(ids, list):
                changes["followups"] = ids[:50]
            AuditLog.create(at=now, username=getattr(user, "username", None) or "system", action="task-sync",
                            model="task", changes=json.dumps(changes, ensure_ascii=False), rows=opened + closed)
    return opened, closed


# --- reminder rules -------------------------------------------------------------------------------
def _close_rule_tasks(rule, reason, now, only_untagged=True):
    where = (Task.rule == rule.id) & (Task.status == "open")
    if only_untagged:
        where &= Task.customer.not_in(CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == rule.tag_id))
    return Task.update(status="done", open_key=None, closed_at=now, closed_reason=reason).where(where).execute()


def _open_rule_tasks(rule, now, trigger):
    CT = CustomerTag
    F = FollowUp.alias("f")

    def counts(condition):  # a follow-up counts when it is of the rule's method (any, without one)
        return condition & (F.method == rule.method) if rule.method else condition

    open_ = Task.select(Task.customer).where((Task.rule == rule.id) & (Task.status == "open"))
    if rule.kind == "within":
        since = CT.created_at
        Earlier = Task.alias("earlier")
        contacted = F.select(F.id).where(counts((F.customer == CT.customer) & (F.at >= CT.created_at)))
        started = Earlier.select(Earlier.id).where((Earlier.rule == rule.id) & (Earlier.customer == CT.customer)
                                                   & (Earlier.since >= CT.created_at))
        extra = ~fn.EXISTS(contacted) & ~fn.EXISTS(started)
    else:
        last = F.select(fn.MAX(F.at)).where(counts(F.customer == CT.customer))
        since = Case(None, [(last > CT.created_at, last)], CT.created_at)
        # a task of the rule completed by hand (完成 on 我的任务) starts the clock too, as a follow-up would
        Done = Task.alias("done")
        by_hand = Done.select(fn.MAX(Done.closed_at)).where((Done.rule == rule.id) & (Done.customer == CT.customer)
                                                            & (Done.closed_reason == "manual"))
        since = Case(None, [(by_hand > since, by_hand)], since)
        extra = None
    key = Value(f"r{rule.id}:").concat(CT.customer.cast("text"))
    # an anonymised customer (privacy.erase) keeps its rule tags but nobody is to contact it: no new tasks
    where = (CT.tag == rule.tag_id) & CT.customer.not_in(open_) & Customer.anonymised_at.is_null()
    if extra is not None:
        where &= extra
    source = (CT.select(CT.customer, Customer.owner, Value(rule.action), Value("rule"), Value(rule.id),
                        Value(rule.method), plus_days(since, rule.days), since, Value("open"), key, Value(now),
                        Value(trigger))
              .join(Customer, on=(CT.customer == Customer.id)).where(where).order_by(CT.customer))
    return (Task.insert_from(source, [Task.customer, Task.assignee, Task.title, Task.origin, Task.rule, Task.method,
                                      Task.due_on, Task.since, Task.status, Task.open_key, Task.created_at,
                                      Task.created_by])
            .on_conflict_ignore().as_rowcount().execute())


def apply_rule(rule_id, today, now=None, trigger="sweep"):
    """One reminder rule, one transaction: tasks opened and closed as the module's docstring says; None if the
    rule is gone."""
    now = now or datetime.datetime.now()
    with db.atomic():
        rule = ReminderRule.select(ReminderRule, Tag).join(Tag).where(ReminderRule.id == rule_id).first()
        if rule is None:
            return None
        result = Result(rule.id, rule.name, rule.tag.name)
        if not rule.enabled:
            result.closed = _close_rule_tasks(rule, "rule-off", now, only_untagged=False)
        else:
            result.closed = _close_rule_tasks(rule, "untagged", now)
            result.opened = _open_rule_tasks(rule, now, trigger)
        ReminderRule.update(last_swept_on=today).where(ReminderRule.id == rule.id).execute()
        if result.changed:
            AuditLog.create(at=now, username="system", action="reminder-apply", model="reminderrule",
                            record_id=str(rule.id), rows=result.opened + result.closed,
                            changes=json.dumps({"rule": rule.name, "tag": rule.tag.name, "opened": result.opened,
                                                "closed": result.closed, "as_of": today.isoformat(),
                                                "trigger": trigger}, ensure_ascii=False))
    if result.changed:
        log.info("提醒规则“%s”：新建任务 %s，关闭 %s（%s）", rule.name, result.opened, result.closed, trigger)
    return result


def reassign(now=None):
    """Open tasks follow their customer's owner (a customer handed to another rep takes its tasks along)."""
    owner = Customer.select(Customer.owner).where(Customer.id == Task.customer)
    return Task.update(assignee=owner).where(
        (Task.status == "open") & fn.EXISTS(Customer.select(Customer.id).where(
            (Customer.id == Task.customer) & Customer.owner.is_null(False)
            & (Task.assignee.is_null() | (Customer.owner != Task.assignee))))).execute()


@dataclass
class Sweep:
    today: datetime.date
    plans_opened: int = 0
    plans_closed: int = 0
    reassigned: int = 0
    rules: list = None

    @property
    def opened(self):
        return self.plans_opened + sum(r.opened for r in self.rules or [])

    @property
    def closed(self):
        return self.plans_closed + sum(r.closed for r in self.rules or [])


def sweep(today=None, now=None, rules=None):
    """The full pass (`run.py reminders`, the daily job `reminders`): follow-up plans the hooks may have missed,
    every reminder rule (or `rules`), open tasks to their customers' current owners.  A second sweep with no
    change in the data changes nothing."""
    today = today or datetime.date.today()
    now = now or datetime.datetime.now()
    result = Sweep(today)
    with db.atomic():
        result.plans_closed = close_fulfilled(None, now)
        result.plans_opened = open_plans(None, now, "sweep",
                                         not_before=today - datetime.timedelta(days=STALE_PLAN_DAYS))
        if result.plans_opened or result.plans_closed:
            AuditLog.create(at=now, username="system", action="task-sync", model="task",
                            rows=result.plans_opened + result.plans_closed,
                            changes=json.dumps({"opened": result.plans_opened, "closed": result.plans_closed,
                                                "trigger": "sweep", "as_of": today.isoformat()}))
    ids = [r.id for r in ReminderRule.select(ReminderRule.id).order_by(ReminderRule.id)] if rules is None else [
        getattr(r, "id", r) for r in rules]
    result.rules = [r for r in (apply_rule(rule_id, today, now) for rule_id in ids) if r is not None]
    result.reassigned = reassign(now)
    return result


__all__ = ["Result", "Sweep", "after_followups", "apply_rule", "close_fulfilled", "midnight", "open_plans",
           "reassign", "replan", "sweep"]
