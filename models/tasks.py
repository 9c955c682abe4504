"""Follow-up tasks and reminder rules (issue 11, part 3).

A Task is something a customer's owner has to do by a day: follow up as the last follow-up's 下次跟进时间
planned (origin "followup"), or what a reminder rule asks of customers carrying a tag (origin "rule": 流失风险 ->
contact within 30 days, 高价值 -> a visit every 90 days).  A task is open until a follow-up recorded at or
after its `since` (of the rule's method, if it names one) closes it, its reason goes away (the tag, the rule,
the planned date), its owner completes it by hand (完成 on 我的任务, reason "manual", with who and an optional
note), or a merge of customers finds it a duplicate of the survivor's (reason "merged").

`open_key` is set while a task is open and NULL once it is closed: "f:<customer>" for the follow-up plan,
"r<rule>:<customer>" for a rule.  Its unique index is what keeps at most one open task per customer and rule
(and one open plan per customer) on SQLite and PostgreSQL alike: NULLs never clash, so closed tasks pile up as
history while a second open one cannot be inserted, whichever sweep, retry or worker tries.

TaskDigest is one row per user and day: the daily digest mail of due and overdue tasks is planned by inserting
it (the unique key: once per user per day) and sent by the worker that claims it.
"""
import datetime

from peewee import BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .activity import FollowUp, Tag
from .base import BaseModel
from .customers import Customer
from .people import User

TASK_ORIGINS = (("followup", "跟进计划"), ("rule", "提醒规则"))
TASK_STATUSES = (("open", "待办"), ("done", "已完成"))
# why a task was closed
CLOSE_REASONS = (("followup", "已记录跟进"), ("untagged", "客户已不带该标签"), ("rule-off", "规则已停用"),
                 ("rule-deleted", "规则已删除"), ("plan-removed", "下次跟进时间已清除"), ("manual", "手动完成"),
                 ("merged", "合并客户时关闭：与保留客户的任务重复"), ("anonymised", "客户已匿名化"))
RULE_KINDS = (("within", "N天内"), ("every", "每N天"))
DIGEST_STATUSES = (("pending", "待发送"), ("sending", "发送中"), ("sent", "已发送"), ("failed", "失败"))


class ReminderRule(BaseModel):
    """A reminder tied to a tag, as data: customers carrying `tag` get a task `action`
    - within `days` days of getting the tag (kind "within"), once per time they get it, or
    - every `days` days (kind "every"), counted from their last follow-up (or from getting the tag, if later).
    A follow-up of `method` (any method when empty) after the task's start fulfils it."""

    name = CharField(max_length=60, unique=True)
    tag = ForeignKeyField(Tag, backref="reminder_rules", on_delete="CASCADE", index=True)
    action = CharField(max_length=60)  # the task's title, e.g. 联系客户, 上门拜访
    kind = CharField(max_length=8, choices=RULE_KINDS, default="within")
    days = IntegerField()
    method = CharField(max_length=8, null=True)  # 电话 / 拜访 / 邮件 / 线上会议; None: any follow-up
    enabled = BooleanField(default=True)
    description = TextField(null=True)
    created_at = DateTimeField(default=datetime.datetime.now)
    updated_at = DateTimeField(default=datetime.datetime.now)
    updated_by = CharField(max_length=64, null=True)
    last_swept_on = DateField(null=True)

    def __str__(self):
        return self.name


class Task(BaseModel):
    customer = ForeignKeyField(Customer, backref="tasks", on_delete="CASCADE", index=True)
    assignee = ForeignKeyField(User, null=True, backref="tasks", on_delete="SET NULL", index=True)
    title = CharField(max_length=120)
    origin = CharField(max_length=8, choices=TASK_ORIGINS)
    # origin followup: the follow-up whose 下次跟进时间 planned it (its deletion takes the plan with it)
    followup = ForeignKeyField(FollowUp, null=True, backref="planned_tasks", on_delete="CASCADE", index=True)
    rule = ForeignKeyField(ReminderRule, null=True, backref="tasks", on_delete="SET NULL", index=True)
    method = CharField(max_length=8, null=True)  # a follow-up of this method closes it; None: any
    due_on = DateField()
    since = DateTimeField()  # a follow-up after this moment closes it
    status = CharField(max_length=8, choices=TASK_STATUSES, default="open")
    open_key = CharField(max_length=40, null=True, unique=True)  # set while open, NULL when closed
    created_at = DateTimeField(default=datetime.datetime.now)
    created_by = CharField(max_length=16)  # followup / import / sweep / edit
    closed_at = DateTimeField(null=True)
    closed_by = ForeignKeyField(FollowUp, null=True, backref="closed_tasks", on_delete="SET NULL")
    closed_reason = CharField(max_length=16, null=True, choices=CLOSE_REASONS)
    closed_user = CharField(max_length=64, null=True)  # who completed it by hand (完成 on 我的任务)
    closed_note = TextField(null=True)  # the note they gave

    class Meta:
        indexes = ((("status", "due_on"), False),)

    def __str__(self):
        return f"{self.title} ({self.due_on})"


class TaskDigest(BaseModel):
    user = ForeignKeyField(User, backref="task_digests", on_delete="CASCADE", index=False)
    day = DateField()
    status = CharField(max_length=10, choices=DIGEST_STATUSES, default="pending", index=True)
    due_count = IntegerField(default=0)  # tasks due on `day` when planned
    overdue_count = IntegerField(default=0)  # tasks due before `day`, still open
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    claimed_by = CharField(max_length=120, null=True)
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    recipient = CharField(max_length=200, null=True)
    error = TextField(null=True)
    created_at = DateTimeField(default=datetime.datetime.now)

    class Meta:
        indexes = ((("user", "day"), True),)
