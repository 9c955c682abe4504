"""Usage of the tag library, for the quarterly review, and retiring a tag.

    review.usage(user, today=datetime.date(2026, 12, 7))
    # [{"tag": <Tag 价格敏感>, "customers": 120, "manual": 120, "rule": 0,
    #   "last_applied": datetime(2026, 11, 2, 9, 30), "recent": 14, "unused": False}, ...]
    review.retire(tag_id, user)      # audited; the tag is no longer offered, customers keep their rows
    review.restore(tag_id, user)

Counts are of the customers in the user's row scope (user=None: every customer), one grouped
query over customertag for the whole library.
"""
import datetime
import json

from peewee import Case, fn

import access
from access.scope import scope_query
from models import AuditLog, Customer, CustomerTag, Tag, db
from models.activity import TAG_CATEGORIES

from . import conditions, policy
from .library import LIMIT, Refused

RECENT_DAYS = 90  # a quarter: "applied lately" on the review screen


def _grant(user):
    return None if user is None else access.grant_for(user)


def _scoped_rows(query, user, grant):
    return query if user is None else scope_query(CustomerTag, query, user, grant)


def usage(user=None, today=None, tag_ids=None, recent_days=RECENT_DAYS):
    """One entry per tag of the library (or of `tag_ids`), in category order, with its use in scope."""
    grant = _grant(user)
    today = today or datetime.date.today()
    since = datetime.datetime.combine(today - datetime.timedelta(days=recent_days), datetime.time())
    counted = (CustomerTag.select(
        CustomerTag.tag, fn.COUNT(CustomerTag.id).alias("customers"),
        fn.SUM(Case(None, [(CustomerTag.source == "manual", 1)], 0)).alias("manual"),
        fn.SUM(Case(None, [(CustomerTag.source == "rule", 1)], 0)).alias("rule"),
        fn.MAX(CustomerTag.created_at).alias("last_applied"),
        fn.SUM(Case(None, [(CustomerTag.created_at >= since, 1)], 0)).alias("recent"))
        .group_by(CustomerTag.tag))
    tags = Tag.select()
    if tag_ids is not None:
        counted = counted.where(CustomerTag.tag.in_(list(tag_ids)))
        tags = tags.where(Tag.id.in_(list(tag_ids)))
    counts = {row["tag"]: row for row in _scoped_rows(counted, user, grant).dicts()}
    order = [c for c, _ in TAG_CATEGORIES]
    entries = []
    for tag in tags:
        row = counts.get(tag.id, {})
        customers = int(row.get("customers") or 0)
        entries.append({"tag": tag, "customers": customers, "manual": int(row.get("manual") or 0),
                        "rule": int(row.get("rule") or 0), "last_applied": _moment(row.get("last_applied")),
                        "recent": int(row.get("recent") or 0),
                        "unused": tag.retired_at is None and customers == 0})
    entries.sort(key=lambda e: (order.index(e["tag"].category) if e["tag"].category in order else len(order),
                                e["tag"].name))
    return entries


def _moment(value):
    """MAX() of a datetime column: SQLite answers with text."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value))


def crowded(user=None):
    """How many customers in scope carry more than LIMIT tags."""
    grant = _grant(user)
    query = Customer.select(Customer.id).where(conditions.more_than(LIMIT))
    if user is not None:
        query = scope_query(Customer, query, user, grant)
    return query.count()


def tags_of(customer_ids):
    """{customer id: [(name, category, source, retired)]} for the given customers, one query."""
    found = {}
    if not customer_ids:
        return found
    rows = (CustomerTag.select(CustomerTag.customer, Tag.name, Tag.category, CustomerTag.source, Tag.retired_at)
            .join(Tag).where(CustomerTag.customer.in_(list(customer_ids))).order_by(Tag.category, Tag.name).tuples())
    for customer_id, name, category, source, retired in rows:
        found.setdefault(customer_id, []).append((name, category, source, retired is not None))
    return found


def _tag(tag_id):
    text = str(tag_id).strip()
    tag = Tag.get_or_none(Tag.id == int(text)) if text.isdigit() and len(text) <= 18 else None
    if tag is None:
        raise Refused("标签不存在")
    return tag


def _check(user):
    grant = _grant(user)
    if grant is not None and not policy.may_retire(grant):
        raise Refused("您没有停用或恢复标签的权限")


def retire(tag_id, user=None, ip=None, now=None):
    """Mark a tag retired (audited): no longer offered for tagging; customers keep their rows."""
    _check(user)
    tag = _tag(tag_id)
    now = now or datetime.datetime.now()
    with db.atomic():
        if Tag.update(retired_at=now).where((Tag.id == tag.id) & Tag.retired_at.is_null()).execute() != 1:
            raise Refused(f"标签“{tag.name}”已经停用")
        carried = CustomerTag.select().where(CustomerTag.tag == tag.id).count()
        _audit(user, ip, now, "retire", tag, {"retired_at": [None, now], "name": tag.name, "customers": carried})
    access.bump_version()  # the list's tag filters label the tag 已停用 (their options live in the view variants)
    return Tag.get_by_id(tag.id)


def restore(tag_id, user=None, ip=None, now=None):
    """Undo a retirement (audited)."""
    _check(user)
    tag = _tag(tag_id)
    now = now or datetime.datetime.now()
    with db.atomic():
        if Tag.update(retired_at=None).where((Tag.id == tag.id) & Tag.retired_at.is_null(False)).execute() != 1:
            raise Refused(f"标签“{tag.name}”没有停用")
        _audit(user, ip, now, "restore", tag, {"retired_at": [tag.retired_at, None], "name": tag.name})
    access.bump_version()
    return Tag.get_by_id(tag.id)


def _audit(user, ip, now, action, tag, changes):
    AuditLog.create(at=now, username=getattr(user, "username", None) or "system", action=action, model="tag",
                    record_id=str(tag.id), changes=json.dumps(changes, ensure_ascii=False, default=str), ip=ip)
