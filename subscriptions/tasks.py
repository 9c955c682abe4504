"""The worker side: the "due-subscriptions" job (every minute) and the deliver task.

Listed in jobs.MODULES.  Imports only what the worker has already loaded; the engine (and with
it papermill) is imported when there is something to do.
"""
import datetime
import logging

import jobs
from jobs import tasks as job_tasks
from jobs.queue import queue

log = logging.getLogger("subscriptions")


@queue.task(name="subscriptions.deliver")
def deliver_task(delivery_id):
    """Deliver occurrence `delivery_id` on a worker; a temporary failure schedules the retry."""
    from models import db

    from . import engine

    with db.connection_context():
        row = engine.deliver(delivery_id, config=dict(job_tasks._settings))
    if row is not None and row.status == "pending" and row.next_attempt_at is not None:
        delay = max(1.0, (row.next_attempt_at - engine.utcnow()).total_seconds())
        deliver_task.schedule(args=(delivery_id,), delay=delay)  # the minute job would find it too
    return row.status if row is not None else None


def due_subscriptions(now=None):
    """Plan every occurrence due by now (catching up what fell due while no worker ran), fail the
    deliveries lost mid-send, and enqueue every delivery that is ready; returns the ids enqueued."""
    from . import engine

    engine.plan(now)
    ids = engine.sweep(now) + engine.ready(now)
    for delivery_id in ids:
        deliver_task(delivery_id)
    if ids:
        log.info("报表订阅：%s 个发送任务已加入队列", len(ids))
    return ids


jobs.register("due-subscriptions", due_subscriptions, "* * * * *", description="生成并发送到期的报表订阅")
