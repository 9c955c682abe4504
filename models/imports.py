"""Imports as records: each run of the import engine (intake/) and every row it changed.

An ImportBatch says who imported which file of which kind, with which column mapping and options,
and what came of it (counts, the file of rejected rows).  ImportChange rows list each record the
batch created or updated, with the values it replaced, so intake.undo() can take the batch back.
Sensitive columns are never kept in clear: a sealed column's earlier value is kept sealed.
ImportMapping remembers the column mapping a user chose for a set of headers.
"""
import datetime
import json

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import BaseModel
from .people import User

BATCH_STATUSES = (("done", "已导入"), ("rejected", "有错误，未写入"), ("undone", "已撤销"))
CHANGE_ACTIONS = (("created", "新建"), ("updated", "更新"))


class JSONText(TextField):
    """A JSON document in a text column (SQLite and PostgreSQL alike)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False, default=str)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class ImportBatch(BaseModel):
    kind = CharField(max_length=20, index=True)
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    username = CharField(max_length=60, null=True)  # text, so the record survives the user's deletion
    filename = CharField(max_length=255)
    mapping = JSONText(null=True)  # {file header: field}
    options = JSONText(null=True)  # skip_invalid, key, owner, sheet, value maps
    rows = IntegerField(default=0)
    created = IntegerField(default=0)
    updated = IntegerField(default=0)
    unchanged = IntegerField(default=0)
    rejected = IntegerField(default=0)
    status = CharField(max_length=10, choices=BATCH_STATUSES, index=True)
    error_file = CharField(max_length=500, null=True)
    created_at = DateTimeField(default=datetime.datetime.now, index=True)
    undone_at = DateTimeField(null=True)
    undone_by = CharField(max_length=60, null=True)

    def __str__(self):
        return f"#{self.id} {self.kind} {self.filename}"


class ImportChange(BaseModel):
    batch = ForeignKeyField(ImportBatch, backref="changes", on_delete="CASCADE", index=True)
    model = CharField(max_length=40)  # customer / followup / order / user / statuschange
    record_id = IntegerField()
    action = CharField(max_length=8, choices=CHANGE_ACTIONS)
    before = JSONText(null=True)  # updated: the earlier values of the fields the import changed
    after = JSONText(null=True)  # the values the import wrote (sealed columns: their digest only)


class ImportMapping(BaseModel):
    """The mapping last used for a file of `kind` with these headers (header_signature: their hash)."""

    kind = CharField(max_length=20)
    header_signature = CharField(max_length=64)
    mapping = JSONText()  # {file header: field or ""}
    updated_at = DateTimeField(default=datetime.datetime.now)

    class Meta:
        indexes = ((("kind", "header_signature"), True),)


RUN_STATUSES = (("uploaded", "已上传"), ("checking", "正在检查"), ("checked", "已检查"), ("importing", "正在导入"),
                ("done", "已完成"), ("refused", "无法导入"), ("failed", "出错"))
RUN_BUSY = ("checking", "importing")


class ImportRun(BaseModel):
    """One pass through the import wizard: the uploaded file, the choices made on it, and what the
    background job that checked or imported it reported (intake.runs).  The engine's own record of
    what was written is the ImportBatch (batch_id), which is what undo works on."""

    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    username = CharField(max_length=60, null=True)
    kind = CharField(max_length=20, index=True)
    filename = CharField(max_length=255)
    path = CharField(max_length=500)  # the upload, kept under instance/imports/uploads/
    options = JSONText(null=True)  # mapping, value_maps, key, owner, skip_invalid, sheet
    status = CharField(max_length=10, choices=RUN_STATUSES, default="uploaded", index=True)
    stage = CharField(max_length=10, null=True)  # validate / write, while busy
    done = IntegerField(default=0)
    total = IntegerField(null=True)
    report = JSONText(null=True)  # the last check's or import's report (intake.runs.summary)
    message = TextField(null=True)  # why it was refused or failed
    batch_id = IntegerField(null=True)
    created_at = DateTimeField(default=datetime.datetime.now, index=True)
    finished_at = DateTimeField(null=True)
    # Who runs it (host:pid) and since when: a worker killed mid-import leaves the run busy, and
    # jobs.reaping fails it by these, as it does report and job runs (the import itself rolled back).
    worker = CharField(max_length=120, null=True)
    started_at = DateTimeField(null=True)

    def __str__(self):
        return f"#{self.id} {self.kind} {self.filename}"

    @property
    def busy(self):
        return self.status in RUN_BUSY

    @property
    def percent(self):
        """0-100 while the second pass (writing, or its rehearsal in a check) runs; None during the
        first pass, which reads the file without knowing yet how many rows it has."""
        if not self.busy:
            return 100
        if self.stage != "write" or not self.total:
            return None
        return min(100, int(100 * self.done / self.total))
