"""One row per run of a background job: when, where, how long, and how it ended.

A scheduled run carries its slot ("job@2026-11-23 03:00"), unique: when several workers
run the scheduler, the first to insert the slot runs the job and the others skip it.
A run started from the admin (立即运行) is written "queued" before it is enqueued, and
the worker that takes it fills in the rest, so a run that never started still shows.
"""
import datetime

from peewee import CharField, DateTimeField, FloatField, TextField

from .base import BaseModel

JOB_STATUSES = (("queued", "排队中"), ("running", "运行中"), ("success", "成功"), ("failed", "失败"))
JOB_TRIGGERS = (("schedule", "定时"), ("manual", "手动"))


class JobRun(BaseModel):
    job = CharField(max_length=80, index=True)
    trigger = CharField(max_length=10, choices=JOB_TRIGGERS, default="schedule")
    slot = CharField(max_length=120, null=True, unique=True)
    username = CharField(max_length=60, default="system")
    status = CharField(max_length=10, choices=JOB_STATUSES, default="queued", index=True)
    worker = CharField(max_length=120, null=True)  # host:pid of the worker that ran it
    queued_at = DateTimeField(default=datetime.datetime.now, index=True)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    duration = FloatField(null=True)  # seconds
    error = TextField(null=True)

    def __str__(self):
        return f"{self.job} #{self.id}"
