"""One row per data-quality scan (quality.record): when, for whom, and the count per finding.

The monthly job ("quality-scan") writes one for the whole database; the 数据质量 screen shows
the latest beside the live counts.
"""
import datetime
import json

from peewee import CharField, DateField, DateTimeField, FloatField, TextField

from .base import BaseModel

QUALITY_TRIGGERS = (("schedule", "定时"), ("manual", "手动"), ("cli", "命令行"))


class QualityRun(BaseModel):
    at = DateTimeField(default=datetime.datetime.now, index=True)
    today = DateField()  # the day the rules compared dates with
    trigger = CharField(max_length=10, choices=QUALITY_TRIGGERS, default="schedule")
    username = CharField(max_length=60, null=True)  # whose row scope; None: every record
    counts = TextField()  # JSON {finding key: count}, in registry order
    duration = FloatField(null=True)  # seconds

    def count_map(self):
        return json.loads(self.counts or "{}")

    @property
    def total(self):
        return sum(self.count_map().values())
