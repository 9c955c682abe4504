"""Runs left "running" by a worker that was killed: failed, with the reason, so no screen shows
运行中 for ever and nobody waits for a run that will never finish.

    jobs.reaping.reap()          # the periodic job `reap-lost-runs`, and every worker at its start

A report run, job run or import run (the import wizard's, intake.runs) is lost when the worker that
claimed it (host:pid, jobs.liveness) has exited on this machine, or, claimed on another machine, when it
has run longer than its lease.  Only busy rows ("running"; an import run "checking" or "importing" once a
worker has claimed it) are touched, each with one conditional UPDATE naming the worker it saw, so a
run that finishes meanwhile keeps its outcome.  Subscription deliveries have their own recovery
(subscriptions.engine.sweep: they are retried, not just failed).
"""
import datetime
import logging
import os
from dataclasses import dataclass

from models import ImportRun, JobRun, ReportRun
from models.imports import RUN_BUSY

from . import liveness
from .registry import register

log = logging.getLogger("jobs")


def _seconds(name, default):
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class Claimed:
    """A kind of run a worker claims: its model, the time its claim was made, and its lease."""

    label: str
    model: object
    claimed_at: str  # the model's field name of the claim's time
    lease_env: str
    lease_default: float
    busy: tuple = ("running",)  # the statuses of a run under way
    error: str = "error"  # the model's field name of the reason
    note: str = ""  # what the reason adds for this kind
    claimed_only: bool = False  # busy before a worker claims it (queued): only claimed rows can be lost

    def lease(self):
        return _seconds(self.lease_env, self.lease_default)


# Longer than any run of their kind, as the subscriptions' lease (SUBSCRIPTION_LEASE_SECONDS).
CLAIMED = [
    Claimed("报表运行", ReportRun, "started_at", "REPORT_RUN_LEASE_SECONDS", 3600),
    Claimed("后台任务", JobRun, "started_at", "JOB_RUN_LEASE_SECONDS", 6 * 3600),
    # An import is one transaction: the kill rolled all of it back, so nothing of the file was written.
    Claimed("导入", ImportRun, "started_at", "IMPORT_RUN_LEASE_SECONDS", 6 * 3600, busy=RUN_BUSY, error="message",
            note="文件中的记录均未写入", claimed_only=True),
]


LOST = "后台进程中断"  # the run's 错误类型, as the run screen shows it


def message(worker, note=""):
    return f"执行它的后台进程（{worker or '未知'}）在运行中退出，未能完成{'（' + note + '）' if note else ''}；如仍需要，请重新运行"


def reap(now=None):
    """Fail every lost run; returns {label: how many}.  `now` in the runs' clock (local time)."""
    now = now or datetime.datetime.now()
    counts = {}
    for kind in CLAIMED:
        model, at = kind.model, getattr(kind.model, kind.claimed_at)
        done = 0
        busy = model.status.in_(kind.busy)
        if kind.claimed_only:
            busy &= model.worker.is_null(False)
        # Read first, then write: on SQLite an open SELECT keeps its snapshot, and a write after another
        # process's commit would fail at once ("database is locked") instead of waiting its turn.
        for row_id, worker, started in list(model.select(model.id, model.worker, at).where(busy).tuples()):
            if not liveness.lost(worker, started, now, kind.lease()):
                continue
            values = {model.status: "failed", model.finished_at: datetime.datetime.now()}
            values[getattr(model, kind.error)] = message(worker, kind.note)
            if model is ReportRun:
                values[ReportRun.error_name] = LOST
            same = model.worker.is_null() if worker is None else (model.worker == worker)
            done += (model.update(values)
                     .where((model.id == row_id) & model.status.in_(kind.busy) & same).execute())
        if done:
            log.warning("%s：%s 个运行因后台进程退出而标为失败", kind.label, done)
        counts[kind.label] = done
    return counts


def reap_lost_runs():
    reap()


register("reap-lost-runs", reap_lost_runs, "*/5 * * * *", description="把后台进程退出后遗留的“运行中”记录标为失败")
