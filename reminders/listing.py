"""我的任务: the open tasks a user may see (their row scope: a rep's own customers, a manager's team's, everyone's
for the `all` scope), in three groups — overdue, due today, upcoming — with counts per group.

    counts(scope, today)              # Counts(due_today, overdue, upcoming) of open tasks among `scope`
    board(user, today)                # Board: counts, rows per group (masked as the grant says), assignees,
                                      # and the tasks completed by hand lately (for a grant with task edit)

`scope` is a query of customer ids (access.scope_query over Customer) or None for every customer; the dashboard's
"follow-ups due and overdue" card calls counts() with its viewer's scope.  Each is one grouped query.
"""
import datetime
from dataclasses import dataclass, field

from peewee import JOIN, Case, fn

import access
from access.scope import scope_query
from models import Customer, FollowUp, ReminderRule, Task, User

from . import policy

UPCOMING_DAYS = 14  # "upcoming": due within this many days after today
LIMIT = 100  # rows listed per group
GROUPS = ("overdue", "today", "upcoming")
RECENT_DAYS = 7  # 最近手动完成: tasks completed by hand this many days back, listed to reopen
RECENT_LIMIT = 20


@dataclass(frozen=True)
class Counts:
    due_today: int = 0
    overdue: int = 0
    upcoming: int = 0

    @property
    def due(self):
        """Due today or overdue: what the digest mail lists."""
        return self.due_today + self.overdue


def scoped_customers(user, grant=None):
    """A query of the ids of the customers `user` may reach (row scope of the grant)."""
    grant = grant or access.grant_for(user)
    return scope_query(Customer, Customer.select(Customer.id), user, grant)


def _one(condition):
    return fn.COALESCE(fn.SUM(Case(None, [(condition, 1)], 0)), 0)


def counts(scope, today, upcoming_days=UPCOMING_DAYS, assignee=None):
    """Open tasks due on `today`, before it, and within `upcoming_days` after it, among the customers of `scope`
    (a query of customer ids; None: every customer), optionally only `assignee`'s.  One grouped query."""
    horizon = today + datetime.timedelta(days=upcoming_days)
    query = Task.select(_one(Task.due_on == today), _one(Task.due_on < today), _one(Task.due_on > today)).where(
        (Task.status == "open") & (Task.due_on <= horizon))
    if scope is not None:
        query = query.where(Task.customer.in_(scope))
    if assignee is not None:
        query = query.where(Task.assignee == assignee)
    due_today, overdue, upcoming = query.tuples().first() or (0, 0, 0)
    return Counts(int(due_today), int(overdue), int(upcoming))


@dataclass
class Board:
    today: datetime.date
    counts: Counts
    groups: dict = field(default_factory=dict)  # group -> [row dicts]
    assignees: list = field(default_factory=list)  # (id, display name) of the people whose tasks are in scope
    assignee: int = None  # the filter in force
    limit: int = LIMIT
    team: bool = False  # the viewer sees other people's tasks (shows the 负责人 column and filter)
    can_edit: bool = False  # the grant may complete and reopen tasks by hand (task edit)
    done: list = field(default_factory=list)  # tasks completed by hand lately, newest first (to reopen)


def _where(group, today, upcoming_days):
    if group == "overdue":
        return Task.due_on < today
    if group == "today":
        return Task.due_on == today
    return (Task.due_on > today) & (Task.due_on <= today + datetime.timedelta(days=upcoming_days))


def board(user, today=None, assignee=None, limit=LIMIT, upcoming_days=UPCOMING_DAYS):
    """What 我的任务 shows `user`; raises PermissionError when their grant has no `task` view."""
    grant = access.grant_for(user)
    if not policy.may_view_tasks(grant):
        raise PermissionError("您没有查看任务的权限")
    today = today or datetime.date.today()
    scope = scope_query(Task, Task.select(Task.id), user, grant)
    ids = access.owner_ids(user, grant)
    team = ids is None or len(ids) > 1
    people = (User.select(User.id, User.display_name).where(User.id.in_(
        Task.select(Task.assignee).where((Task.status == "open") & Task.id.in_(scope)))).order_by(User.id))
    result = Board(today=today, counts=Counts(), assignee=assignee, limit=limit, team=team,
                   assignees=[(u.id, u.display_name) for u in people])
    customers = None if ids is None else scoped_customers(user, grant)
    result.counts = counts(customers, today, upcoming_days, assignee)
    Assignee = User.alias("assignee")
    for group in GROUPS:
        # the joined rows' ids too: a joined row without its id would leave task.rule_id and the like None
        query = (Task.select(Task, Customer.id, Customer.code, Customer.name, ReminderRule.id, ReminderRule.name,
                             FollowUp.id, FollowUp.content, FollowUp.record_no, Assignee.id, Assignee.display_name)
                 .join(Customer, on=(Task.customer == Customer.id))
                 .switch(Task).join(ReminderRule, JOIN.LEFT_OUTER, on=(Task.rule == ReminderRule.id))
                 .switch(Task).join(FollowUp, JOIN.LEFT_OUTER, on=(Task.followup == FollowUp.id))
                 .switch(Task).join(Assignee, JOIN.LEFT_OUTER, on=(Task.assignee == Assignee.id))
                 .where((Task.status == "open") & _where(group, today, upcoming_days) & Task.id.in_(scope)))
        if assignee is not None:
            query = query.where(Task.assignee == assignee)
        query = query.order_by(Task.due_on, Customer.code, Task.id).limit(limit)
        result.groups[group] = [_row(task, today, grant) for task in query]
    result.can_edit = policy.may_edit_tasks(grant)
    if result.can_edit:
        since = datetime.datetime.combine(today - datetime.timedelta(days=RECENT_DAYS), datetime.time())
        query = (Task.select(Task, Customer.id, Customer.code, Customer.name, ReminderRule.id, ReminderRule.name,
                             FollowUp.id, FollowUp.content, FollowUp.record_no, Assignee.id, Assignee.display_name)
                 .join(Customer, on=(Task.customer == Customer.id))
                 .switch(Task).join(ReminderRule, JOIN.LEFT_OUTER, on=(Task.rule == ReminderRule.id))
                 .switch(Task).join(FollowUp, JOIN.LEFT_OUTER, on=(Task.followup == FollowUp.id))
                 .switch(Task).join(Assignee, JOIN.LEFT_OUTER, on=(Task.assignee == Assignee.id))
                 .where((Task.status == "done") & (Task.closed_reason == "manual") & (Task.closed_at >= since)
                        & Task.id.in_(scope)))
        if assignee is not None:
            query = query.where(Task.assignee == assignee)
        done = list(query.order_by(Task.closed_at.desc(), Task.id.desc()).limit(RECENT_LIMIT))
        names = dict(User.select(User.username, User.display_name)
                     .where(User.username.in_({t.closed_user for t in done if t.closed_user})).tuples()) if done else {}
        result.done = [dict(_row(task, today, grant), closed_at=task.closed_at, closed_note=task.closed_note or "",
                            closed_user=names.get(task.closed_user) or task.closed_user or "") for task in done]
    return result


def _shown(grant, column, value):
    level = grant.access("customer", column)
    if level == "hidden":
        return ""
    return access.mask(value) if level == "masked" else value


def _row(task, today, grant):
    customer = task.customer
    if task.origin == "rule":
        origin = f"提醒规则：{task.rule.name}" if task.rule_id else "提醒规则（已删除）"
        note = ""
    else:
        origin = f"跟进计划：{task.followup.record_no}" if task.followup_id else "跟进计划"
        note = (task.followup.content or "")[:80] if task.followup_id else ""
    assignee = getattr(task, "assignee", None) if task.assignee_id else None
    return {"id": task.id, "due_on": task.due_on, "days": (today - task.due_on).days, "customer_id": customer.id,
            "code": _shown(grant, "code", customer.code), "name": _shown(grant, "name", customer.name),
            "title": task.title, "origin": origin, "note": note, "method": task.method,
            "assignee": assignee.display_name if assignee is not None else ""}
