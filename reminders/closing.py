"""完成 and 重新打开 on 我的任务: a task closed (or reopened) by hand, within the user's row scope and with the
policy's `task` edit (policy.may_edit_tasks), audited; anything else is Refused with a Chinese message and
changes nothing.

    task = closing.complete(task_id, user, note="客户来电已确认")   # status done, reason manual, who and note
    task = closing.reopen(task_id, user)                           # only a task completed by hand

Both are one conditional UPDATE: of two clicks at once (two tabs, two people) one completes the task and the
other is told it is closed already.  A reopened task takes its open_key back, so it is refused when the customer
has another open task of the same rule (or plan) meanwhile — at most one open task per customer and rule.
"""
import datetime
import json

from peewee import fn

import access
from access.scope import scope_query
from models import AuditLog, Customer, Task, db

from . import policy

NOTE_MAX = 500


class Refused(ValueError):
    """A task that may not be completed or reopened by this user now; the message says why (Chinese)."""


def open_key(task):
    """The key an open `task` holds: "f:<customer>" for a plan, "r<rule>:<customer>" for a rule's task."""
    if task.origin == "rule":
        return f"r{task.rule_id}:{task.customer_id}"
    return f"f:{task.customer_id}"


def _task(task_id, user):
    grant = access.grant_for(user)
    if not policy.may_edit_tasks(grant):
        raise PermissionError("您没有完成任务的权限")
    task_id = _int(task_id)
    task = None
    if task_id is not None:
        task = scope_query(Task, Task.select(), user, grant).where(Task.id == task_id).first()
    if task is None:
        raise Refused("任务不存在或不在您的数据范围内")
    return task


def _int(value):
    value = str(value if value is not None else "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def _audit(user, action, task, changes, ip, now):
    code = Customer.select(Customer.code).where(Customer.id == task.customer_id).scalar()
    AuditLog.create(at=now, username=getattr(user, "username", None) or "system", action=action, model="task",
                    record_id=str(task.id), ip=ip, rows=1,
                    changes=json.dumps({"customer": code, "title": task.title, "due_on": str(task.due_on), **changes},
                                       ensure_ascii=False))


def complete(task_id, user, note=None, ip=None, now=None):
    """Close open task `task_id` by hand (reason manual); returns the task as it is now."""
    now = now or datetime.datetime.now()
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise Refused(f"备注过长：最多 {NOTE_MAX} 个字符")
    with db.atomic():
        task = _task(task_id, user)
        done = (Task.update(status="done", open_key=None, closed_at=now, closed_reason="manual", closed_by=None,
                            closed_user=getattr(user, "username", None), closed_note=note or None)
                .where((Task.id == task.id) & (Task.status == "open")).execute())
        if not done:
            raise Refused(f"任务“{task.title}”已完成（{task.closed_at:%Y-%m-%d %H:%M}），无需再次完成")
        _audit(user, "task-done", task, {"note": note or None}, ip, now)
    return Task.get_by_id(task.id)


def reopen(task_id, user, ip=None, now=None):
    """Reopen a task completed by hand; refused when the customer has another open task of the same rule (or
    plan), or the task was closed otherwise (a follow-up, the rule, a merge: the engine would close it again)."""
    now = now or datetime.datetime.now()
    with db.atomic():
        task = _task(task_id, user)
        if task.status == "open":
            raise Refused(f"任务“{task.title}”尚未完成，无需重新打开")
        if task.closed_reason != "manual":
            reason = dict(Task.closed_reason.choices).get(task.closed_reason, task.closed_reason or "")
            raise Refused(f"任务“{task.title}”因“{reason}”关闭，只能重新打开手动完成的任务")
        if task.origin == "rule" and task.rule_id is None:
            raise Refused(f"任务“{task.title}”的提醒规则已删除，不能重新打开")
        key = open_key(task)
        Other = Task.alias("other")
        held = Other.select(Other.id).where(Other.open_key == key)
        done = (Task.update(status="open", open_key=key, closed_at=None, closed_reason=None, closed_user=None,
                            closed_note=None)
                .where((Task.id == task.id) & (Task.status == "done") & (Task.closed_reason == "manual")
                       & ~fn.EXISTS(held)).execute())
        if not done:
            raise Refused(f"该客户已有同一来源的未完成任务，不能重新打开“{task.title}”")
        _audit(user, "task-reopen", task, {"closed_by": task.closed_user, "note": task.closed_note}, ip, now)
    return Task.get_by_id(task.id)


__all__ = ["NOTE_MAX", "Refused", "complete", "open_key", "reopen"]
