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
