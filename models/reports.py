"""One row per report run: what ran, for whom, on which code and data, and what came out.

The row is written before the kernel starts (status "queued", then "running") so a run
that dies half-way still leaves a trace; the runner counts executed cells into it as it
goes (progress for the admin) and fills in the rest when it finishes.
"""
import datetime
import json

from peewee import CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, TextField

from .base import BaseModel
from .people import User

RUN_STATUSES = (("queued", "排队中"), ("running", "运行中"), ("success", "成功"), ("failed", "失败"))
FINISHED = ("success", "failed")


class ReportRun(BaseModel):
    run_id = CharField(max_length=40, unique=True)  # 20261123-012345-a1b2c3, also the output file name
    report = CharField(max_length=60, index=True)
    parameters = TextField(default="{}")  # JSON of what the notebook received, scope included
    # Kept as text too: the run stays attributable after the account is deleted.
    user = ForeignKeyField(User, null=True, backref="report_runs", on_delete="SET NULL")
    username = CharField(max_length=60, default="system")
    code_version = CharField(max_length=80, default="")
    watermark = TextField(default="{}")  # JSON: row counts and latest timestamps per table
    status = CharField(max_length=10, choices=RUN_STATUSES, default="queued", index=True)
    cells_done = IntegerField(default=0)
    cells_total = IntegerField(default=0)
    error_name = CharField(max_length=120, null=True)
    error = TextField(null=True)
    started_at = DateTimeField(default=datetime.datetime.now, index=True)
    finished_at = DateTimeField(null=True)
    duration = FloatField(null=True)  # seconds
    worker = CharField(max_length=120, null=True)  # host:pid of the worker running it (jobs.liveness)
    notebook_path = CharField(max_length=500, null=True)
    html_path = CharField(max_length=500, null=True)
    # What readers never see: warnings, errors and stray values of the run (reporting.outputs).
    log_path = CharField(max_length=500, null=True)
    chart_path = CharField(max_length=500, null=True)  # the report's key chart (PNG), inline in mails
    results = TextField(default="{}")  # JSON: what the notebook published (analytics.publish.results)

    def __str__(self):
        return f"{self.report} {self.run_id}"

    @property
    def finished(self):
        return self.status in FINISHED

    @property
    def percent(self):
        return 100 if self.finished else int(100 * self.cells_done / self.cells_total) if self.cells_total else 0

    @property
    def params(self):
        return json.loads(self.parameters or "{}")

    @property
    def published(self):
        """{name: values} the notebook published with analytics.publish.results (e.g. value_models)."""
        return json.loads(self.results or "{}")

    @property
    def data_watermark(self):
        return json.loads(self.watermark or "{}")
