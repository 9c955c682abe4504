"""Subscriptions on real `run.py worker` processes: a worker killed in the middle of a report run
(SIGKILL, kernel included) and a restart — the interrupted occurrence is delivered exactly once,
the one already sent is not sent again, and what fell due while no worker ran is caught up once;
and two workers on a real redis-server deliver N occurrences as N mails, none twice.

The mails go to a real aiosmtpd server in this process; the database is the test's own (SQLite
file, or PostgreSQL with DATABASE_URL).  The test process also plans and enqueues, as a second
scheduler would, so nothing waits for the worker's next minute.
"""
import datetime
import os
import signal
from collections import Counter

import pytest

import jobs
import reporting
import subscriptions
from jobs import reaping
from models import Delivery, ReportRun, Subscription
from subscriptions import engine, schedule
from subscriptions.tasks import due_subscriptions
from tests.conftest import database_url
from tests.test_delivery_smtp import smtp_server  # noqa: F401 (fixture)
from tests.test_jobs_scaleout import redis_url  # noqa: F401 (fixture)
from tests.test_subscriptions_support import (backdate, delivery_header, give_emails, kill, mail_env, register_reports,
                                              wait_for, workers)


@pytest.fixture
def setting(app, reports, smtp_server, monkeypatch):  # noqa: F811
    """Users with addresses, the test reports, a mailbox, and this process's mail settings."""
    register_reports()
    mailbox = smtp_server()
    for key, value in mail_env(mailbox.port).items():
        monkeypatch.setenv(key, value)
    yield give_emails(), mailbox
    reporting.unregister("slow")
    jobs.queue.configure(None)


def subscribe(owner, name, emails, schedule_kind="weekly", **fields):
    values = {"report": "slow", "weekday": 1, "time": "08:00"} if schedule_kind == "weekly" else {"report": "slow"}
    values.update(fields)
    return subscriptions.create(owner, name=name, schedule_kind=schedule_kind, emails=emails, **values)


def due_once(subscription, now):
    """Backdate `subscription` so exactly its latest occurrence up to `now` is due."""
    latest = schedule.occurrences(subscription, now - datetime.timedelta(days=8), now)[-1]
    return backdate(subscription, latest - datetime.timedelta(minutes=1))


def finished(subscription_ids):
    rows = list(Delivery.select().where(Delivery.subscription.in_(subscription_ids)))
    return rows if rows and all(row.status in ("sent", "failed") for row in rows) else None


def planned(subscription, since):
    """The occurrences the engine planned for `subscription` after `since` (up to its planned_until)."""
    subscription = Subscription.get_by_id(subscription.id)
    return schedule.occurrences(subscription, since, subscription.planned_until)


def test_a_worker_killed_mid_run_delivers_once_after_restart_and_catches_up(app, tmp_path, setting):
    people, mailbox = setting
    manager = people["manager"]
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    app.config["QUEUE_URL"] = queue_url
    jobs.configure(app.config)
    marker = tmp_path / "slow-started"
    slow = subscribe(manager, "慢报表", "slow@example.com", parameters={"marker": str(marker), "sleep": 120.0})
    quick = due_once(subscribe(manager, "快报表", "quick@example.com"), engine.utcnow())

    with workers(tmp_path, database_url(tmp_path), queue_url, mailbox.port, name="first") as (first,):
        due_subscriptions()
        # One report run at a time per worker process (the runner's environment lock): quick first.
        wait_for(lambda: Delivery.get(Delivery.subscription == quick.id).status == "sent", "quick report sent")
        slow = due_once(slow, engine.utcnow())
        due_subscriptions()
        wait_for(marker.exists, "the slow notebook started")
        kernel = int(wait_for(lambda: marker.read_text(), "kernel pid"))
        kill(first)  # mid-run: the notebook is sleeping
        try:
            os.kill(kernel, signal.SIGKILL)  # its kernel, which a crashed machine would lose too
        except ProcessLookupError:
            pass
    interrupted = Delivery.get(Delivery.subscription == slow.id)
    assert interrupted.status == "running" and interrupted.claimed_by.endswith(f":{first.pid}")
    assert [mail.rcpt_tos for mail in mailbox.mails] == [["quick@example.com"]]

    # While no worker runs: a subscription whose three weekly occurrences fall due.
    since = engine.utcnow() - datetime.timedelta(days=21)
    missed = backdate(subscribe(manager, "补发", "missed@example.com"), since)

    ids = [slow.id, quick.id, missed.id]
    with workers(tmp_path, database_url(tmp_path), queue_url, mailbox.port, name="second"):
        due_subscriptions()
        rows = wait_for(lambda: finished(ids) if len(finished(ids) or []) >= 5 else None, "all delivered")

    assert [row.status for row in rows] == ["sent"] * len(rows)
    caught_up = planned(missed, since)
    assert len(caught_up) == 3
    assert sorted(row.scheduled_for for row in rows if row.subscription_id == missed.id) == caught_up
    received = Counter(address for mail in mailbox.mails for address in mail.rcpt_tos)
    assert received == {"quick@example.com": 1, "slow@example.com": 1, "missed@example.com": 3}
    assert sorted(int(delivery_header(mail)) for mail in mailbox.mails) == sorted(row.id for row in rows)
    redone = Delivery.get_by_id(interrupted.id)
    assert redone.attempts == 2 and redone.report_run_id != interrupted.report_run_id
    lost = ReportRun.get_by_id(interrupted.report_run_id)
    assert lost.status == "failed" and lost.error_name == reaping.LOST


def test_two_workers_deliver_every_occurrence_exactly_once(app, tmp_path, setting, redis_url):  # noqa: F811
    people, mailbox = setting
    app.config["QUEUE_URL"] = redis_url
    jobs.configure(app.config)
    since = engine.utcnow() - datetime.timedelta(days=3)
    daily = backdate(subscribe(people["manager"], "日报", "daily@example.com", schedule_kind="cron",
                               cron="0 8 * * *"), since)
    weekly = due_once(subscribe(people["admin"], "周报", "weekly@example.com"), engine.utcnow())
    with workers(tmp_path, database_url(tmp_path), redis_url, mailbox.port, count=2, threads=1) as processes:
        due_subscriptions()  # a third scheduler, beside the two workers' own
        rows = wait_for(lambda: finished([daily.id, weekly.id]) if len(finished([daily.id, weekly.id]) or [])
                        >= 4 else None, "all delivered")
    occurrences = planned(daily, since)
    assert len(occurrences) == 3 and len(rows) == len(occurrences) + 1
    assert [row.status for row in rows] == ["sent"] * len(rows)
    headers = Counter(delivery_header(mail) for mail in mailbox.mails)
    assert sorted(headers) == sorted(str(row.id) for row in rows) and set(headers.values()) == {1}
    assert all(row.attempts == 1 for row in rows)
    pids = {str(process.pid) for process in processes}
    assert {row.claimed_by.rsplit(":", 1)[1] for row in rows} <= pids
