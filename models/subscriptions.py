"""Report subscriptions (报表订阅) and their deliveries, one row per scheduled occurrence.

A Subscription names a registered report, its parameters, a schedule in its own time zone,
recipients (users and/or e-mail addresses), an owner and an enabled flag.  The engine in
the `subscriptions` package plans a Delivery for every occurrence (per recipient scope) and
a worker delivers it.  The unique index (subscription, scheduled_for, scope_key) makes a
second row for the same occurrence impossible, whichever scheduler inserts first.
"""
import datetime
import json

from peewee import (BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, SmallIntegerField,
                    TextField)

from .base import BaseModel
from .people import User
from .reports import ReportRun

SCHEDULE_KINDS = (("weekly", "每周"), ("monthly", "每月"), ("cron", "cron 表达式"))
DELIVERY_STATUSES = (("pending", "待发送"), ("running", "生成中"), ("sending", "发送中"), ("sent", "已发送"),
                     ("failed", "失败"))


class Subscription(BaseModel):
    name = CharField(max_length=120)
    report = CharField(max_length=60, index=True)
    parameters = TextField(default="{}")  # JSON, validated as for a manual run (scope parameters never here)
    schedule_kind = CharField(max_length=10, choices=SCHEDULE_KINDS, default="weekly")
    weekday = SmallIntegerField(null=True)  # weekly: 1 = Monday … 7 = Sunday
    day = SmallIntegerField(null=True)  # monthly: 1–31; a shorter month sends on its last day
    time = CharField(max_length=5, default="08:00")  # weekly/monthly: HH:MM in `timezone`
    cron = CharField(max_length=120, null=True)  # cron kind: "m h d M w" in `timezone`
    timezone = CharField(max_length=60, default="Asia/Shanghai")
    recipient_users = TextField(default="[]")  # JSON list of User ids
    recipient_emails = TextField(default="")  # addresses as typed, comma separated, normalized on save
    enabled = BooleanField(default=True, index=True)
    owner = ForeignKeyField(User, backref="subscriptions", on_delete="CASCADE")
    # The last occurrence (UTC) already planned as deliveries; catch-up starts after it.
    planned_until = DateTimeField(null=True)
    created_at = DateTimeField(default=datetime.datetime.now)
    updated_at = DateTimeField(default=datetime.datetime.now)

    def __str__(self):
        return self.name

    @property
    def params(self):
        return json.loads(self.parameters or "{}")

    @property
    def user_ids(self):
        return [int(i) for i in json.loads(self.recipient_users or "[]")]


class Delivery(BaseModel):
    subscription = ForeignKeyField(Subscription, backref="deliveries", on_delete="CASCADE")
    scheduled_for = DateTimeField(index=True)  # the occurrence, UTC (naive)
    scope_key = CharField(max_length=40, default="")  # one delivery per distinct recipient scope
    period = CharField(max_length=60, default="")  # e.g. 2026-11-23 08:00 (Asia/Shanghai)
    run_as = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")  # whose scope the run has
    parameters = TextField(default="{}")  # JSON the report runs with (as_of filled in), scope excluded
    recipients = TextField(default="[]")  # JSON list of addresses ("姓名 <a@example.com>")
    status = CharField(max_length=10, choices=DELIVERY_STATUSES, default="pending", index=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)  # UTC; a retry waits until then
    error = TextField(null=True)
    report_run = ForeignKeyField(ReportRun, null=True, backref="+", on_delete="SET NULL")
    claimed_by = CharField(max_length=120, null=True)  # host:pid of the worker working on it
    claimed_at = DateTimeField(null=True)  # UTC
    sent_at = DateTimeField(null=True)  # UTC
    created_at = DateTimeField(default=datetime.datetime.now)

    class Meta:
        indexes = ((("subscription", "scheduled_for", "scope_key"), True),)

    def __str__(self):
        return f"{self.subscription_id}@{self.scheduled_for:%Y-%m-%d %H:%M}"

    @property
    def params(self):
        return json.loads(self.parameters or "{}")

    @property
    def addresses(self):
        return list(json.loads(self.recipients or "[]"))
