"""What happens around a customer: follow-ups, orders, tags and feedback."""
import datetime

from peewee import (
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    TextField,
    fn,
)

from .base import BaseModel, save_numbered
from .customers import Customer
from .people import User

FOLLOW_METHODS = (("电话", "电话"), ("拜访", "拜访"), ("邮件", "邮件"), ("线上会议", "线上会议"))
# 已报价: a quote was sent; the status pipeline tags such customers 待成交 (pipeline/, docs/funnel.md).
FOLLOW_RESULTS = (("有意向", "有意向"), ("需跟进", "需跟进"), ("已报价", "已报价"), ("暂无意向", "暂无意向"))
TAG_CATEGORIES = (("基本信息", "基本信息"), ("行为", "行为"), ("价值", "价值"), ("偏好", "偏好"))
TAG_SOURCES = (("manual", "手动"), ("rule", "规则"))
FEEDBACK_KINDS = (("满意度", "满意度"), ("投诉", "投诉"), ("建议", "建议"))
FEEDBACK_STATUSES = (("待处理", "待处理"), ("处理中", "处理中"), ("已解决", "已解决"))


class FollowUp(BaseModel):
    record_no = CharField(max_length=20, unique=True)
    # Indexed with `at` (Meta.indexes): the same lookups by customer, and "a follow-up of this
    # customer since X" (the data-quality scan's stale finding) answered from the index alone.
    customer = ForeignKeyField(Customer, backref="follow_ups", on_delete="CASCADE", index=False)
    at = DateTimeField(default=datetime.datetime.now, index=True)
    method = CharField(max_length=8, choices=FOLLOW_METHODS)
    content = TextField()
    result = CharField(max_length=8, choices=FOLLOW_RESULTS, null=True)
    next_date = DateField(null=True, index=True)
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("customer", "at"), False),)

    def save(self, *args, **kwargs):
        return save_numbered(
            self, "record_no", lambda: next_record_no(self.at or datetime.datetime.now()),
            lambda: super(FollowUp, self).save(*args, **kwargs),
        )


def next_record_no(at):
    """YYYYMMDD followed by a three-digit sequence within that day, e.g. 20240320001."""
    day = at.strftime("%Y%m%d")
    last = (
        FollowUp.select(FollowUp.record_no)
        .where(FollowUp.record_no.startswith(day))
        .order_by(fn.LENGTH(FollowUp.record_no).desc(), FollowUp.record_no.desc())
        .limit(1)
        .scalar()
    )
    tail = last[len(day):] if last else ""
    return f"{day}{(int(tail) if tail.isdigit() else 0) + 1:03d}"


class Order(BaseModel):
    # Indexed with ordered_at (Meta.indexes), as FollowUp.customer is with `at`.
    customer = ForeignKeyField(Customer, backref="orders", on_delete="CASCADE", index=False)
    order_no = CharField(max_length=40, unique=True)
    ordered_at = DateTimeField(index=True)
    amount = DecimalField(max_digits=14, decimal_places=2)
    quantity = IntegerField(default=1)
    product = CharField(max_length=120, null=True)
    channel = CharField(max_length=40, null=True)

    class Meta:
        table_name = "orders"  # ORDER is an SQL keyword
        # amount is in the key so that a customer's orders over a window are totalled from the index alone: the
        # tag rules' grouped pass over a year of orders reads this narrow index in customer order instead of the
        # whole table (SQLite: 7.6 s against 33 s; PostgreSQL, an index-only scan into a sorted aggregate:
        # 6.7 s against 19 s of hashing; 4M of 10M orders, side by side on one loaded machine).  It still
        # serves every lookup of a customer's orders by time, as the two-column index it replaces did.
        indexes = ((("customer", "ordered_at", "amount"), False),)


class Tag(BaseModel):
    """A tag of the library.  `source` says who puts it on customers: staff by hand (manual) or a
    tag rule (rule); only manual tags are offered to the batch tagging of the customer list.
    A retired tag (retired_at set) is no longer offered anywhere new; the customers' rows stay."""

    name = CharField(max_length=40, unique=True)
    category = CharField(max_length=8, choices=TAG_CATEGORIES)
    source = CharField(max_length=8, choices=TAG_SOURCES, default="manual")
    retired_at = DateTimeField(null=True)

    def __str__(self):
        return self.name

    @classmethod
    def after_column_added(cls, name):
        """An existing database gets `source` as manual for every tag (models.add_missing_columns):
        a tag that only rules have put on customers is a rule tag."""
        if name == "source":
            rule_rows = CustomerTag.select(CustomerTag.tag).where(CustomerTag.source == "rule")
            manual_rows = CustomerTag.select(CustomerTag.tag).where(CustomerTag.source == "manual")
            cls.update(source="rule").where(cls.id.in_(rule_rows) & cls.id.not_in(manual_rows)).execute()


class CustomerTag(BaseModel):
    # index=False: the unique key (customer, tag) below leads with the customer and serves every lookup by
    # customer and the cascade; a second index on the customer alone only cost each insert (RETIRED_INDEXES)
    customer = ForeignKeyField(Customer, backref="tags", on_delete="CASCADE", index=False)
    tag = ForeignKeyField(Tag, backref="customers", on_delete="CASCADE", index=True)
    source = CharField(max_length=8, choices=TAG_SOURCES, default="manual")
    created_at = DateTimeField(default=datetime.datetime.now)

    class Meta:
        indexes = ((("customer", "tag"), True),)


class Feedback(BaseModel):
    customer = ForeignKeyField(Customer, backref="feedback", on_delete="CASCADE", index=True)
    kind = CharField(max_length=4, choices=FEEDBACK_KINDS)
    score = IntegerField(null=True)  # 1-5 for 满意度
    content = TextField(null=True)
    status = CharField(max_length=4, choices=FEEDBACK_STATUSES, default="待处理", index=True)
    created_at = DateTimeField(default=datetime.datetime.now, index=True)
