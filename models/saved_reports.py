"""Saved custom reports (自定义报表): a name, an owner, the report spec as JSON, shared or private.

A template (快速报表) is a saved report with `template` set and no owner: shipped as data by
reportbuilder.templates.seed() (run.py init-db), run by anyone whose grant offers its dimensions
and measures.  The spec is validated by reportbuilder.spec before it is stored; this module only
keeps it.
"""
import datetime
import json

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, TextField

from .base import BaseModel
from .people import User


class SavedReport(BaseModel):
    name = CharField(max_length=80)
    owner = ForeignKeyField(User, null=True, backref="saved_reports", on_delete="CASCADE")  # None: a template
    spec = TextField(default="{}")  # JSON: reportbuilder.spec.Spec.as_dict()
    shared = BooleanField(default=False)  # shared: everyone who may use the builder can open and run it
    template = CharField(max_length=40, null=True, unique=True)  # key of a shipped quick report
    description = CharField(max_length=255, null=True)
    created_at = DateTimeField(default=datetime.datetime.now)
    updated_at = DateTimeField(default=datetime.datetime.now)

    class Meta:
        table_name = "saved_report"

    def __str__(self):
        return self.name

    @property
    def spec_dict(self):
        try:
            value = json.loads(self.spec or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
