"""Automatic tag rules (issue 11, part 2): a rule is a tag, a condition and an enabled flag; an episode
is one stretch of time during which a customer matched a rule.

The condition is a small JSON tree (tagrules.conditions):
    {"all": [{"metric": "order_total", "days": 365, "op": ">=", "value": 100000}]}

TagRuleEpisode is the record of every application and removal: a customer who starts matching gets
episode n+1 (n = the episodes they had of that rule), stamped `applied_at`; when they stop matching
the open episode gets `removed_at`.  The unique key (rule, customer, episode) is what makes a retry,
a sweep that crashed half-way or two workers at once harmless: the second writer of the same episode
inserts nothing (ON CONFLICT DO NOTHING), and closing an episode is an UPDATE of the open one only.
"""
import datetime

from peewee import BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .activity import Tag
from .base import BaseModel
from .customers import Customer


class TagRule(BaseModel):
    name = CharField(max_length=60, unique=True)
    tag = ForeignKeyField(Tag, backref="rules", on_delete="CASCADE", index=True)
    condition = TextField()  # JSON: the condition tree (tagrules.conditions)
    enabled = BooleanField(default=False)
    description = TextField(null=True)
    created_at = DateTimeField(default=datetime.datetime.now)
    updated_at = DateTimeField(default=datetime.datetime.now)
    updated_by = CharField(max_length=64, null=True)
    last_swept_on = DateField(null=True)  # the as-of day of the last full sweep that covered this rule

    def __str__(self):
        return self.name


class TagRuleEpisode(BaseModel):
    rule = ForeignKeyField(TagRule, backref="episodes", on_delete="CASCADE", index=False)
    customer = ForeignKeyField(Customer, backref="rule_episodes", on_delete="CASCADE", index=True)
    episode = IntegerField()  # 1, 2, ... per rule and customer
    applied_at = DateTimeField()
    applied_on = DateField()  # the as-of day of the evaluation that opened it
    applied_by = CharField(max_length=16)  # sweep / change
    # no index of its own: nearly every row's is NULL, and every read of open episodes goes through the unique
    # key (by rule) or the customer's index; the index only cost each insert of a bulk sweep (RETIRED_INDEXES)
    removed_at = DateTimeField(null=True)
    removed_on = DateField(null=True)
    removed_by = CharField(max_length=16, null=True)

    class Meta:
        indexes = ((("rule", "customer", "episode"), True),)
