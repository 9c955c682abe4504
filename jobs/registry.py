"""The periodic jobs: name -> callable, default schedule, enabled.

A capability registers itself in one line, in a module listed in jobs.MODULES:

    jobs.register("due-subscriptions", send_due_subscriptions, "*/5 * * * *",
                  description="发送到期的报表订阅")

The callable takes no arguments and runs on a worker inside its own database
connection (see jobs.tasks.run_job); it reads what it needs by id from the database.
Schedules are cron expressions, "minute hour day month day-of-week" in the worker's
local time (day of week 0 = Sunday), checked with huey's crontab.
"""
import datetime
from dataclasses import dataclass, field
from typing import Callable

from huey import crontab

_registry = {}


@dataclass(frozen=True)
class Job:
    name: str
    task: Callable[[], object]
    schedule: str
    enabled: bool = True
    description: str = ""
    due: Callable = field(repr=False, compare=False, default=None)  # huey crontab test of a datetime

    def is_due(self, moment):
        return self.due(moment.replace(second=0, microsecond=0))

    def next_run(self, after=None, horizon_days=366):
        """The first minute after `after` (default now) the schedule matches; None if disabled or never."""
        if not self.enabled:
            return None
        minute, hour, day, month, weekday = self.schedule.split()
        on_day = crontab("*", "*", day, month, weekday)  # the same schedule, any time of day
        in_hour = crontab("*", hour, day, month, weekday)
        start = (after or datetime.datetime.now()).replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        midnight = start.replace(hour=0, minute=0)
        for days in range(horizon_days + 1):  # day by day, then hour by hour, then minute by minute
            date = midnight + datetime.timedelta(days=days)
            if not on_day(date):
                continue
            for hours in range(24):
                top = date + datetime.timedelta(hours=hours)
                if top + datetime.timedelta(minutes=59) < start or not in_hour(top):
                    continue
                for minutes in range(60):
                    moment = top + datetime.timedelta(minutes=minutes)
                    if moment >= start and self.due(moment):
                        return moment
        return None


def parse_schedule(schedule):
    """'m h d M w' -> huey crontab test; raises ValueError on anything else."""
    fields = str(schedule).split()
    if len(fields) != 5:
        raise ValueError(f"计划 {schedule!r} 应为 5 段 cron 表达式：分 时 日 月 星期")
    try:
        return crontab(*fields)
    except (ValueError, TypeError) as error:
        raise ValueError(f"计划 {schedule!r} 无效：{error}") from None


def register(name, task, schedule, enabled=True, description=""):
    """Register (or replace) periodic job `name`; returns the Job."""
    if not callable(task):
        raise TypeError(f"job {name!r}: task must be callable")
    job = Job(name=name, task=task, schedule=schedule, enabled=enabled, description=description,
              due=parse_schedule(schedule))
    _registry[name] = job
    return job


def unregister(name):
    _registry.pop(name, None)


def get(name):
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "（无）"
        raise KeyError(f"未知的后台任务 {name!r}；已注册：{known}") from None


def available():
    """Every registered job, by name."""
    return [_registry[name] for name in sorted(_registry)]


def due(moment):
    """The enabled jobs whose schedule matches `moment` (to the minute)."""
    return [job for job in available() if job.enabled and job.is_due(moment)]
