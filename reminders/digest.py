"""The daily digest mail: each user's open tasks due that day and overdue, sent once per user per day through
the existing delivery (the jobs queue, a worker, SMTP via delivery.send).

    plan(day)        a TaskDigest row per user with something due: active, an e-mail address, the `task` view,
                     and at least one open task due on or before `day` in their row scope.  The unique key
                     (user, day) makes a second plan — the job again, another worker's scheduler — insert nothing.
    ready(day)       ids of digests waiting to be sent (pending, and their retry time come).
    send(id)         one worker claims the row (a conditional UPDATE: pending -> sending), builds the mail from
                     the tasks as they are now and sends it; sent, or back to pending with a backoff when the
                     server is unavailable (up to ATTEMPTS), or failed.  A digest whose worker died while sending
                     stays "sending": it may have gone out, so it is never sent again (at most once).
"""
import datetime
import html
import json
import logging
import os
import socket
from email.headerregistry import Address

from peewee import JOIN

import access
from numberformat import count
from models import AuditLog, Customer, ReminderRule, Task, TaskDigest, User, db

from . import listing, policy

log = logging.getLogger("reminders")
ATTEMPTS = 4
RETRY_SECONDS = 60.0
SHOWN = 200  # tasks listed in one mail; the counts are always complete


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def retry_seconds():
    try:
        return float(os.environ.get("DIGEST_RETRY_SECONDS") or RETRY_SECONDS)
    except ValueError:
        return RETRY_SECONDS


def address_of(user):
    """"姓名 <email>" of `user`, or None when they have no usable address."""
    from delivery import AddressError, parse_address

    if not (user.email or "").strip():
        return None
    try:
        address = parse_address(user.email, "收件人")
    except AddressError:
        log.warning("用户 %s 的邮箱地址无效，不发送任务摘要：%r", user.username, user.email)
        return None
    return str(Address(display_name=user.display_name or "", addr_spec=address.addr_spec))


def plan(day, now=None):
    """Insert the digests of `day` for every user with due or overdue tasks; returns how many this call made."""
    now = now or datetime.datetime.now()
    made = 0
    users = User.select().where((User.active == True) & User.email.is_null(False)).order_by(User.id)  # noqa: E712
    for user in users:
        if address_of(user) is None:
            continue
        grant = access.grant_for(user)
        if not policy.may_view_tasks(grant):
            continue
        scope = None if access.owner_ids(user, grant) is None else listing.scoped_customers(user, grant)
        counts = listing.counts(scope, day)
        if not counts.due:
            continue
        made += (TaskDigest.insert(user=user.id, day=day, due_count=counts.due_today, overdue_count=counts.overdue,
                                   created_at=now).on_conflict_ignore().as_rowcount().execute())
    return made


def ready(day=None, now=None):
    now = now or datetime.datetime.now()
    query = TaskDigest.select(TaskDigest.id).where(
        (TaskDigest.status == "pending") & (TaskDigest.next_attempt_at.is_null() | (TaskDigest.next_attempt_at <= now)))
    if day is not None:
        query = query.where(TaskDigest.day == day)
    return [row.id for row in query.order_by(TaskDigest.id)]


def claim(digest_id, now):
    taken = (TaskDigest.update(status="sending", claimed_by=worker_name(), claimed_at=now,
                               attempts=TaskDigest.attempts + 1)
             .where((TaskDigest.id == digest_id) & (TaskDigest.status == "pending")
                    & (TaskDigest.next_attempt_at.is_null() | (TaskDigest.next_attempt_at <= now)))
             .execute())
    return TaskDigest.get_by_id(digest_id) if taken else None


def _finish(row, status, **values):
    return bool(TaskDigest.update(status=status, **values)
                .where((TaskDigest.id == row.id) & (TaskDigest.status == "sending")
                       & (TaskDigest.claimed_by == worker_name())).execute())


def tasks_due(user, day, limit=SHOWN):
    """(rows, grant): the open tasks due on or before `day` in `user`'s row scope, oldest first."""
    grant = access.grant_for(user)
    scope = access.scope_query(Task, Task.select(Task.id), user, grant)
    Assignee = User.alias("assignee")
    query = (Task.select(Task, Customer.id, Customer.code, Customer.name, ReminderRule.id, ReminderRule.name,
                         Assignee.id, Assignee.display_name)
             .join(Customer, on=(Task.customer == Customer.id))
             .switch(Task).join(ReminderRule, JOIN.LEFT_OUTER, on=(Task.rule == ReminderRule.id))
             .switch(Task).join(Assignee, JOIN.LEFT_OUTER, on=(Task.assignee == Assignee.id))
             .where((Task.status == "open") & (Task.due_on <= day) & Task.id.in_(scope))
             .order_by(Task.due_on, Customer.code, Task.id).limit(limit))
    return list(query), grant


def compose(user, day, sender, to):
    """The digest mail of `user` for `day` (an EmailMessage) and its counts."""
    import delivery

    rows, grant = tasks_due(user, day)
    scope = None if access.owner_ids(user, grant) is None else listing.scoped_customers(user, grant)
    counts = listing.counts(scope, day)
    team = access.owner_ids(user, grant) is None or len(access.owner_ids(user, grant)) > 1
    subject = f"【我的任务】{day.isoformat()}：今天到期 {count(counts.due_today)} 项，已逾期 {count(counts.overdue)} 项"
    lines, cells = [], []
    for task in rows:
        code = listing._shown(grant, "code", task.customer.code)
        name = listing._shown(grant, "name", task.customer.name)
        late = (day - task.due_on).days
        state = "今天到期" if late == 0 else f"逾期 {count(late)} 天"
        origin = task.rule.name if task.rule_id else "跟进计划"
        who = task.assignee.display_name if team and task.assignee_id else ""
        lines.append(f"- {task.due_on.isoformat()}（{state}）{name}（{code}）：{task.title} · {origin}"
                     + (f" · 负责人 {who}" if who else ""))
        cells.append([task.due_on.isoformat(), state, f"{name}（{code}）", task.title, origin] + ([who] if team else []))
    more = counts.due - len(rows)
    intro = f"{user.display_name}，您好：截至 {day.isoformat()}，您数据范围内有 {count(counts.due)} 项待办任务到期或逾期。"
    text = intro + "\n\n" + "\n".join(lines) + (f"\n\n另有 {count(more)} 项未列出，请在平台的“我的任务”中查看。" if more > 0 else "")
    text += "\n\n记录一次跟进即可完成对应任务。"
    head = ["到期日", "状态", "客户", "任务", "来源"] + (["负责人"] if team else [])
    table = ("<table style=\"border-collapse:collapse\"><tr>"
             + "".join(f"<th style=\"text-align:left;padding:4px 8px;border-bottom:1px solid #ccc\">{h}</th>" for h in head)
             + "</tr>"
             + "".join("<tr>" + "".join(f"<td style=\"padding:4px 8px\">{html.escape(str(c))}</td>" for c in row) + "</tr>"
                       for row in cells)
             + "</table>")
    body = (f"<p>{html.escape(intro)}</p>{table}"
            + (f"<p>另有 {count(more)} 项未列出，请在平台的“我的任务”中查看。</p>" if more > 0 else "")
            + "<p>记录一次跟进即可完成对应任务。</p>")
    message = delivery.build_message(sender, [to], subject, text, body)
    return message, counts


def send(digest_id, now=None):
    """Send digest `digest_id` if this worker wins its claim; returns the TaskDigest afterwards, or None."""
    import delivery

    now = now or datetime.datetime.now()
    row = claim(digest_id, now)
    if row is None:
        log.info("任务摘要 %s 不归本 worker（已被领取、已发送或未到重试时间），跳过", digest_id)
        return None
    user = row.user
    to = address_of(user) if user.active else None
    if to is None:
        _finish(row, "failed", error="用户已停用或没有有效的邮箱地址")
        return TaskDigest.get_by_id(row.id)
    try:
        settings = delivery.from_env()
        message, counts = compose(user, row.day, settings.sender, to)
        message["X-CRM-Digest"] = str(row.id)
        result = delivery.send(message, settings)
    except Exception as error:  # noqa: BLE001 - recorded on the row, retried when temporary
        retryable = getattr(error, "retryable", not isinstance(error, ValueError))
        attempts = TaskDigest.get_by_id(row.id).attempts
        if retryable and attempts < ATTEMPTS:
            delay = retry_seconds() * 2 ** (attempts - 1)
            log.warning("任务摘要 %s 第 %s 次发送失败，%s 秒后重试：%s", row.id, attempts, delay, error)
            _finish(row, "pending", error=f"第 {attempts} 次尝试失败：{error}",
                    next_attempt_at=now + datetime.timedelta(seconds=delay))
        else:
            log.error("任务摘要 %s 发送失败：%s", row.id, error)
            _finish(row, "failed", error=str(error) or type(error).__name__)
        return TaskDigest.get_by_id(row.id)
    with db.atomic():
        _finish(row, "sent", sent_at=datetime.datetime.now(), recipient=to, error=None,
                due_count=counts.due_today, overdue_count=counts.overdue)
        AuditLog.create(username="system", action="digest", model="task", record_id=str(row.id), rows=counts.due,
                        changes=json.dumps({"user": user.username, "day": row.day.isoformat(),
                                            "to": list(result.accepted), "due_today": counts.due_today,
                                            "overdue": counts.overdue}, ensure_ascii=False))
    log.info("任务摘要 %s 已发送给 %s", row.id, to)
    return TaskDigest.get_by_id(row.id)
