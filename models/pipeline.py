"""The status pipeline (issue 11, part 4): automatic transitions as data, and the record of each firing.

A transition is a trigger kind from the registry in pipeline/triggers.py (first order, N days without an
order, a follow-up result), the statuses a customer must be in (none: any), and what it does: move the
customer to `to_status`, or put the rule tag `to_tag` on them.  Parameters (days, follow-up results) are
JSON in `params`, checked by the trigger kind.

PipelineEvent is one firing: transition, customer and the record that caused it (`source_id`: the
follow-up, or the status change that put the customer in their current status).  The unique key
(transition, customer, source_id) is why a retry, a second sweep, a crash half-way or two workers at once
never fire twice: a second writer of the same event inserts nothing (ON CONFLICT DO NOTHING), and the
status change and tag follow from the events a run inserted, in the same transaction.
"""
import datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .activity import Tag
from .base import BaseModel
from .customers import STATUSES, Customer


class PipelineTransition(BaseModel):
    name = CharField(max_length=60, unique=True)
    trigger = CharField(max_length=30)  # a kind of pipeline.triggers.TRIGGERS
    from_statuses = CharField(max_length=60, null=True)  # comma separated; empty: any status
    to_status = CharField(max_length=8, choices=STATUSES, null=True)  # a status transition, or
    to_tag = ForeignKeyField(Tag, null=True, backref="pipeline_transitions", on_delete="SET NULL")  # a tag one
    params = TextField(null=True)  # JSON, e.g. {"days": 180} or {"results": ["已报价"]}
    enabled = BooleanField(default=True)
    position = IntegerField(default=0)  # order of evaluation (then id)
    description = TextField(null=True)
    updated_at = DateTimeField(default=datetime.datetime.now)

    def __str__(self):
        return self.name

    def statuses(self):
        return [s.strip() for s in (self.from_statuses or "").split(",") if s.strip()]


class PipelineEvent(BaseModel):
    transition = ForeignKeyField(PipelineTransition, backref="events", on_delete="CASCADE", index=False)
    customer = ForeignKeyField(Customer, backref="pipeline_events", on_delete="CASCADE", index=True)
    source_id = IntegerField()  # the follow-up, or the status change the customer was in (0: none recorded)
    at = DateTimeField()  # when it happened in business time (the order, the 180th day, the follow-up)
    recorded_at = DateTimeField(index=True)  # when the pipeline wrote it
    trigger = CharField(max_length=10)  # sweep / change / import
    run = CharField(max_length=32, index=True)  # the application that inserted it
    removed_at = DateTimeField(null=True)  # tag transitions: when the tag came off again (status left)

    class Meta:
        indexes = ((("transition", "customer", "source_id"), True),)
