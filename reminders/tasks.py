"""The worker side (listed in jobs.MODULES): the daily sweep `reminders`, the daily digest `task-digest` and
the queue task that sends one digest."""
import datetime
import logging

import jobs
from jobs.queue import queue

log = logging.getLogger("reminders")
SWEEP_JOB = "reminders"
DIGEST_JOB = "task-digest"


@queue.task(name="reminders.send_digest")
def send_digest_task(digest_id):
    """Send digest `digest_id` on a worker; a temporary failure schedules its retry."""
    from models import db

    from . import digest

    with db.connection_context():
        row = digest.send(digest_id)
    if row is not None and row.status == "pending" and row.next_attempt_at is not None:
        delay = max(1.0, (row.next_attempt_at - datetime.datetime.now()).total_seconds())
        send_digest_task.schedule(args=(digest_id,), delay=delay)  # the next day's job would find it too
    return row.status if row is not None else None


def daily_sweep(today=None):
    from .engine import sweep

    result = sweep(today=today)
    log.info("提醒：新建任务 %s，关闭 %s", result.opened, result.closed)
    return result


def daily_digest(day=None):
    """Plan the digests of `day` (default today) and enqueue every one waiting; returns the ids enqueued."""
    from . import digest

    day = day or datetime.date.today()
    digest.plan(day)
    ids = digest.ready(day)
    for digest_id in ids:
        send_digest_task(digest_id)
    if ids:
        log.info("任务摘要：%s 封邮件已加入队列", len(ids))
    return ids


jobs.register(SWEEP_JOB, daily_sweep, "45 3 * * *", description="每日按跟进计划和提醒规则生成、关闭任务")
jobs.register(DIGEST_JOB, daily_digest, "0 8 * * *", description="每日发送到期和逾期任务的摘要邮件")
