"""Schedules of subscriptions: weekly, monthly or cron, in the subscription's own time zone.

Weekly (day 1 = Monday … 7 = Sunday, HH:MM) compiles to a cron expression and runs through
the job registry's cron search (jobs.registry.Job.next_run, huey's crontab).  Monthly on day
29, 30 or 31 sends on the LAST day of a month that is shorter (day 31 → 30 April, 28/29
February): a monthly report is never skipped.  Cron expressions ("m h d M w", Sunday = 0)
are taken as they are: "0 8 31 * *" only fires in months with 31 days.

Occurrences are computed on the local wall clock of the time zone and stored in UTC (naive).
A local time that does not exist (a DST gap) is taken as the moment zoneinfo maps it to;
Asia/Shanghai has no DST.  Only imports what the worker already has (no papermill).
"""
import calendar
import datetime
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.registry import Job, parse_schedule

DEFAULT_TIMEZONE = "Asia/Shanghai"
WEEKDAYS = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
UTC = datetime.timezone.utc


class ScheduleError(ValueError):
    """A schedule or time zone that cannot work; str() says why in Chinese, `field` names the input
    at fault (timezone, time, weekday, day, cron or schedule_kind), so a form can show it there."""

    def __init__(self, message, field="schedule_kind"):
        super().__init__(message)
        self.field = field


def zone(name):
    try:
        return ZoneInfo(str(name or "").strip())
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(f"时区 {name!r} 无效（应为 IANA 时区名，如 Asia/Shanghai）", "timezone") from None


def parse_time(text):
    found = TIME_RE.match(str(text or "").strip())
    if not found:
        raise ScheduleError(f"时间 {text!r} 无效（应为 HH:MM，如 08:00）", "time")
    return int(found.group(1)), int(found.group(2))


def check(kind, weekday=None, day=None, time=None, cron=None, timezone=DEFAULT_TIMEZONE):
    """Raise ScheduleError unless the schedule can fire; returns (kind, weekday, day, "HH:MM", cron) normalized."""
    zone(timezone)
    if kind == "weekly":
        try:
            weekday = int(weekday)
        except (TypeError, ValueError):
            weekday = None
        if weekday not in WEEKDAYS:
            raise ScheduleError("每周订阅需要星期几：1（周一）到 7（周日）", "weekday")
        hour, minute = parse_time(time)
        return kind, weekday, None, f"{hour:02d}:{minute:02d}", None
    if kind == "monthly":
        try:
            day = int(day)
        except (TypeError, ValueError):
            day = None
        if day is None or not 1 <= day <= 31:
            raise ScheduleError("每月订阅需要日期：1 到 31（小月取当月最后一天）", "day")
        hour, minute = parse_time(time)
        return kind, None, day, f"{hour:02d}:{minute:02d}", None
    if kind == "cron":
        text = " ".join(str(cron or "").split())
        try:
            due = parse_schedule(text)
        except ValueError as error:
            raise ScheduleError(str(error), "cron") from None
        probe = Job(name="subscription", task=lambda: None, schedule=text, due=due)
        if probe.next_run(datetime.datetime(2027, 1, 1), horizon_days=4 * 366) is None:
            raise ScheduleError(f"计划 {text!r} 永远不会执行", "cron")
        return kind, None, None, None, text
    raise ScheduleError(f"计划类型 {kind!r} 无效：应为 weekly（每周）、monthly（每月）或 cron")


def cron_of(subscription):
    """The cron expression a weekly or cron subscription fires on (None for monthly)."""
    if subscription.schedule_kind == "cron":
        return subscription.cron
    if subscription.schedule_kind == "weekly":
        hour, minute = parse_time(subscription.time)
        return f"{minute} {hour} * * {subscription.weekday % 7}"
    return None


def describe(subscription, with_zone=True):
    """The schedule in words: 每周一 08:00（Asia/Shanghai）; without the zone where it is shown beside."""
    kind = subscription.schedule_kind
    zone_text = f"{subscription.timezone}" if with_zone else ""
    if kind == "weekly":
        text, note = f"每{WEEKDAYS[subscription.weekday]} {subscription.time}", ""
    elif kind == "monthly":
        text, note = f"每月 {subscription.day} 日 {subscription.time}", "小月取最后一天"
    else:
        text, note = f"cron {subscription.cron}", ""
    notes = "；".join(part for part in (zone_text, note) if part)
    return f"{text}（{notes}）" if notes else text


def _monthly(day, hour, minute, after):
    """Local datetimes after `after` on `day` of each month (clamped to the month's last day)."""
    year, month = after.year, after.month
    while True:
        last = calendar.monthrange(year, month)[1]
        moment = datetime.datetime(year, month, min(day, last), hour, minute)
        if moment > after:
            yield moment
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _cron(expression, after):
    job = Job(name="subscription", task=lambda: None, schedule=expression, due=parse_schedule(expression))
    while True:
        after = job.next_run(after)
        if after is None:
            return
        yield after


def to_utc(local, tz):
    """A naive local wall-clock time in `tz` -> naive UTC."""
    return local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def to_local(utc, tz):
    return utc.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def occurrences(subscription, after, until, limit=None):
    """Occurrences (naive UTC) with after < t <= until, oldest first; `after`/`until` naive UTC."""
    tz = zone(subscription.timezone)
    local_after = to_local(after, tz)
    if subscription.schedule_kind == "monthly":
        hour, minute = parse_time(subscription.time)
        moments = _monthly(subscription.day, hour, minute, local_after)
    else:
        moments = _cron(cron_of(subscription), local_after)
    found = []
    for local in moments:
        moment = to_utc(local, tz)
        if moment > until or (limit is not None and len(found) >= limit):
            break
        if moment > after:
            found.append(moment)
    return found


def period_label(subscription, moment):
    """How a delivery names its occurrence: 2026-11-23 08:00（Asia/Shanghai）."""
    local = to_local(moment, zone(subscription.timezone))
    return f"{local:%Y-%m-%d %H:%M}（{subscription.timezone}）"


def local_date(subscription, moment):
    return to_local(moment, zone(subscription.timezone)).date()
