"""Customer merges, kept so that each can be undone (dedup.merge).

A merge deletes the merged-away customers, so lists, search, exports and reports need no filter to
leave them out; this record keeps everything needed to put them back: their full rows (encrypted
columns still encrypted), the survivor's values before the merge, and the ids of the follow-ups,
orders, feedback, status changes and tags that moved (and the tag rows the survivor already had).
"""
import datetime

from peewee import CharField, DateTimeField, FloatField, IntegerField, TextField

from .base import BaseModel


class MergeRecord(BaseModel):
    survivor_id = IntegerField(index=True)  # not a foreign key: the record outlives a later deletion
    survivor_code = CharField(max_length=32)
    merged_codes = CharField(max_length=255)  # comma separated, for lists and the audit trail
    data = TextField()  # JSON: see dedup.merge
    username = CharField(max_length=60, null=True)
    created_at = DateTimeField(default=datetime.datetime.now, index=True)
    undone_at = DateTimeField(null=True)
    undone_by = CharField(max_length=60, null=True)

    @property
    def undone(self):
        return self.undone_at is not None


class DuplicateScan(BaseModel):
    """The last full duplicate scans (dedup.tasks): the 重复客户 screen shows the newest instead of scanning
    a large database on every page load.  `groups` is JSON: [{ids, codes, names, reason, score, reasons}]."""
    at = DateTimeField(default=datetime.datetime.now, index=True)
    trigger = CharField(max_length=10, default="schedule")  # schedule / manual / cli
    username = CharField(max_length=60, null=True)  # who queued it (None: the schedule)
    customers = IntegerField(default=0)
    count = IntegerField(default=0)  # groups
    duration = FloatField(null=True)  # seconds
    groups = TextField()
