"""Counting findings and listing their records, within what a user may see.

A user reaches a finding when their grant may view its model and none of its columns is hidden
for their role; the records are those of their row scope (access.scope_query).  user=None is the
system (the monthly job, the command line without --as): every record.
"""
import datetime
import json
import math
import time

import access
from access.grant import HIDDEN, MASKED
from access.scope import scope_query
from models import Customer, QualityRun

from . import findings as registry
from .findings import Context

TITLE_COLUMNS = {"customer": ("code", "name"), "followup": ("record_no", "customer"), "order": ("order_no", "customer")}
SENSITIVE = ("id_number", "bank_account")


def context(today=None, stale_days=None, user=None, grant=None):
    """The rules' Context: the day (default today), the age of "untouched", and `user`'s row scope."""
    owners = None
    if user is not None:
        found = access.owner_ids(user, grant or access.grant_for(user))
        owners = None if found is None else tuple(found)
    return Context(today=today or datetime.date.today(),
                   stale_days=registry.DEFAULT_STALE_DAYS if stale_days is None else int(stale_days), owner_ids=owners)


def grant_of(user):
    return None if user is None else access.grant_for(user)


def reachable(item, grant):
    """May the holder of `grant` (None: the system) see finding `item` at all?"""
    if grant is None:
        return True
    key = item.policy_key
    return grant.can(key, "view") and all(grant.access(key, c) != HIDDEN for c in item.columns)


def findings_for(user):
    grant = grant_of(user)
    return [item for item in registry.available() if reachable(item, grant)]


def matching(item, ctx, user, grant=None):
    """The finding's query of record ids, limited to the rows `user` may reach."""
    query = item.query(ctx)
    if user is None:
        return query
    return scope_query(item.model, query, user, grant or access.grant_for(user))


def scan(user=None, today=None, stale_days=None, skip=()):
    """{finding key: number of matching records} for every finding `user` reaches, in registry order.

    `skip`: keys of findings to leave out (bench/quality.py times the scan without dedup's
    probable duplicates, which have a benchmark of their own)."""
    grant = grant_of(user)
    ctx = context(today, stale_days, user, grant)
    return {item.key: item.count(ctx) if item.count is not None else matching(item, ctx, user, grant).count()
            for item in registry.available() if reachable(item, grant) and item.key not in skip}


# The 数据质量 screen scans on every page load only a row scope of at most this many customers; above it,
# the screen shows the last recorded scan and offers 重新扫描 (the quality-scan job).  Measured with
# bench/quality.py (docs/quality.md): about 100,000 customers a second over the whole table, 25,000-50,000
# within a row scope (its rows are read through the owner index, one by one), and a third of that when
# the machine is busy; 10,000 customers keep a page load under about a second even then.
ON_DEMAND_CUSTOMERS = 10_000


def scope_size(user=None, grant=None):
    """How many customers `user`'s row scope holds (user None: all of them); one indexed count."""
    query = Customer.select(Customer.id)
    if user is not None:
        query = scope_query(Customer, query, user, grant or access.grant_for(user))
    return query.count()


def on_demand(user=None, grant=None, limit=None):
    """Is a scan of `user`'s scope small enough to run while a page loads?"""
    return scope_size(user, grant) <= (ON_DEMAND_CUSTOMERS if limit is None else limit)


def record(user=None, today=None, stale_days=None, trigger="manual"):
    """Scan and keep the result as a QualityRun (what the screen shows as the last scan)."""
    started = time.monotonic()
    ctx = context(today, stale_days)
    counts = scan(user, ctx.today, ctx.stale_days)
    return QualityRun.create(today=ctx.today, trigger=trigger, username=getattr(user, "username", None),
                             counts=json.dumps(counts, ensure_ascii=False), duration=time.monotonic() - started)


def last_run(username=None):
    """The latest recorded scan over every record (username None) or of one user's scope."""
    query = QualityRun.select().where(QualityRun.username.is_null() if username is None
                                      else QualityRun.username == username)
    return query.order_by(QualityRun.id.desc()).first()


def shown(value, level):
    if level == MASKED:
        return access.mask(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    return "" if value is None else value


def records(key, user=None, today=None, stale_days=None, page=1, per_page=50):
    """One page of the records of finding `key` that `user` reaches.

    Returns {"finding", "total", "page", "pages", "columns", "rows"}; each row is {"id", "customer_id",
    "values": {column: shown value}} with masked columns masked and hidden ones left out.
    """
    item = registry.get(key)
    grant = grant_of(user)
    if not item.available() or not reachable(item, grant):
        raise PermissionError("无权查看此检查项")
    ctx = context(today, stale_days, user, grant)
    policy_key = item.policy_key
    columns = list(dict.fromkeys(TITLE_COLUMNS.get(policy_key, ()) + item.columns))
    if grant is not None:
        columns = [c for c in columns if grant.access(policy_key, c) != HIDDEN]
    ids = matching(item, ctx, user, grant)
    total = ids.count()
    per_page = max(1, min(int(per_page), 500))
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, int(page)), pages)
    model = item.model
    rows = list(model.select().where(model.id.in_(ids)).order_by(model.id).paginate(page, per_page))
    customers = {}
    if hasattr(model, "customer"):
        wanted = {row.customer_id for row in rows}
        customers = {c.id: c for c in Customer.select(Customer.id, Customer.code, Customer.name)
                     .where(Customer.id.in_(list(wanted)))} if wanted else {}
    listed = []
    for row in rows:
        values = {}
        for column in columns:
            level = grant.access(policy_key, column) if grant is not None else "editable"
            if column == "customer":
                customer = customers.get(row.customer_id)
                values[column] = str(customer) if customer else ""
            else:
                values[column] = shown(getattr(row, column), level)
        listed.append({"id": row.id, "customer_id": row.id if model is Customer else row.customer_id,
                       "values": values})
    return {"finding": item, "total": total, "page": page, "pages": pages, "columns": columns, "rows": listed}
