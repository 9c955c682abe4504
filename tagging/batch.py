"""Batch tag and untag: one manual tag on many customers, set-based and in one transaction.

The customers are either the selected ids or every customer of a query (the customer list's
query with its search and filters, built by the caller); either way they are cut to the
user's row scope here, whatever the caller passed.  A selected id that does not exist or lies
outside the scope refuses the whole request: nothing changes.

- tag: INSERT INTO customertag ... SELECT the customers that do not carry the tag yet (source
  manual).  A customer who already carries it, by hand or by a rule, keeps that one row.
- untag: DELETE FROM customertag WHERE id IN (the tag's *manual* rows of those customers).  Rows a
  rule added stay: manual batches never remove rule rows, and rules never remove manual ones.

Each changed customer gets an AuditLog row (action tag/untag, model customer), written by an
INSERT ... SELECT over the same set before the change, and the request one summary row
(batch-tag / batch-untag, model customertag, the tag's id, the selection, the number of rows).

`dry_run=True` counts without writing (the confirmation page).  `expected` is the number of
matched customers the user confirmed: if it has moved, the request is refused (Changed).
"""
import datetime
import json
from dataclasses import dataclass, field

from peewee import Cast, Value, fn

import access
from access.scope import scope_query
from models import AuditLog, Customer, CustomerTag, db

from . import policy
from .library import LIMIT, Changed, Refused, resolve

MAX_SELECTED = 1000  # ids a request may name; more is "every matching customer"


@dataclass
class Outcome:
    operation: str  # "tag" or "untag"
    tag: object  # the Tag
    matched: int  # customers selected (in scope)
    changed: int  # customers that gain (tag) or lose (untag) the tag
    unchanged: int  # tag: already carried it; untag: did not carry it by hand
    kept_by_rule: int = 0  # untag: customers whose row of this tag a rule added (left alone)
    over_limit: int = 0  # tag: customers that carry more than LIMIT tags afterwards
    dry_run: bool = False
    ids: list = field(default_factory=list)  # the selected ids (empty for a matching query)


def tag(name, user=None, ids=None, matching=None, expected=None, dry_run=False, ip=None, criteria=None, now=None):
    """Put manual tag `name` on the selected (ids) or matching (a query of customer ids) customers."""
    return _run("tag", name, user, ids, matching, expected, dry_run, ip, criteria, now)


def untag(name, user=None, ids=None, matching=None, expected=None, dry_run=False, ip=None, criteria=None, now=None):
    """Take manual tag `name` off the selected or matching customers (rule rows stay)."""
    return _run("untag", name, user, ids, matching, expected, dry_run, ip, criteria, now)


def _selected_ids(ids):
    wanted = []
    for value in ids:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18:
            raise Refused(f"所选客户编号无效：{text[:20]}，未做任何修改")
        wanted.append(int(text))
    wanted = sorted(set(wanted))
    if len(wanted) > MAX_SELECTED:
        raise Refused(f"一次最多勾选 {MAX_SELECTED} 位客户；更多客户请选择“当前搜索和筛选匹配的全部客户”")
    return wanted


def _targets(user, grant, ids, matching):
    """A query of the ids of the chosen customers in the user's row scope, and the selected ids."""
    if matching is None and not ids:
        raise Refused("请先勾选客户，或选择“当前搜索和筛选匹配的全部客户”")
    if matching is not None and ids:
        raise Refused("请只选择一种范围：所选客户，或匹配的全部客户")
    wanted = _selected_ids(ids) if ids else []
    chosen = Customer.select(Customer.id).where(Customer.id.in_(wanted if wanted else matching))
    if user is not None:
        chosen = scope_query(Customer, chosen, user, grant)
    return chosen, wanted


def _audit_rows(query, customer_id, at, username, action, changes, ip):
    """INSERT INTO auditlog (...) SELECT ...: one row per customer of `query`, whose column
    `customer_id` holds the customer's id."""
    columns = [AuditLog.at, AuditLog.username, AuditLog.action, AuditLog.model, AuditLog.record_id,
               AuditLog.changes, AuditLog.ip]
    source = query.select(Value(at), Value(username), Value(action), Value("customer"),
                          Cast(customer_id, "TEXT"), Value(changes), Value(ip))
    return AuditLog.insert_from(source, columns).as_rowcount().execute()


def _run(operation, name, user, ids, matching, expected, dry_run, ip, criteria, now):
    grant = None if user is None else access.grant_for(user)
    policy.check(grant, operation)
    chosen_tag = resolve(name, operation)
    username = getattr(user, "username", None) or "system"
    now = now or datetime.datetime.now()
    with db.atomic():
        chosen, wanted = _targets(user, grant, ids, matching)
        matched = chosen.count()
        if wanted and matched != len(wanted):
            raise Refused(f"所选客户中有 {len(wanted) - matched} 位不存在或不在您的数据范围内，未做任何修改")
        if not matched:
            raise Refused("没有符合条件的客户，未做任何修改")
        if expected is not None and int(expected) != matched:
            raise Changed(f"确认之后，符合条件的客户数有变化（确认时 {int(expected):,} 位，现在 {matched:,} 位），"
                          f"未做任何修改，请核对后重新确认")
        carrying = CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == chosen_tag.id)
        if operation == "tag":
            outcome = _plan_tag(chosen_tag, chosen, carrying, matched, dry_run, wanted)
        else:
            outcome = _plan_untag(chosen_tag, chosen, matched, dry_run, wanted)
        if dry_run or not outcome.changed:
            return outcome
        change = json.dumps({"tags": [None, chosen_tag.name] if operation == "tag" else [chosen_tag.name, None]},
                            ensure_ascii=False)
        if operation == "tag":
            gaining = chosen.where(Customer.id.not_in(carrying))
            audited = _audit_rows(gaining, Customer.id, now, username, "tag", change, ip)
            written = (CustomerTag.insert_from(
                gaining.select(Customer.id, Value(chosen_tag.id), Value("manual"), Value(now)),
                [CustomerTag.customer, CustomerTag.tag, CustomerTag.source, CustomerTag.created_at])
                .on_conflict_ignore().as_rowcount().execute())
        else:
            losing = _manual_rows(chosen_tag, chosen)
            audited = _audit_rows(losing, CustomerTag.customer, now, username, "untag", change, ip)
            written = CustomerTag.delete().where(CustomerTag.id.in_(losing.select(CustomerTag.id))).execute()
        if written != audited or written != outcome.changed:
            raise Refused("客户标签在操作过程中被同时修改，未做任何修改，请重试")
        summary = {"tag": chosen_tag.name, "selection": "selected" if wanted else "matching",
                   "matched": matched, "changed": written}
        if wanted:
            summary["ids"] = wanted
        if criteria:
            summary["criteria"] = criteria
        AuditLog.create(at=now, username=username, action="batch-" + operation, model="customertag",
                        record_id=str(chosen_tag.id), changes=json.dumps(summary, ensure_ascii=False, default=str),
                        ip=ip, rows=written)
    return outcome


def _manual_rows(chosen_tag, chosen):
    return CustomerTag.select(CustomerTag.id).where(
        (CustomerTag.tag == chosen_tag.id) & (CustomerTag.source == "manual") & CustomerTag.customer.in_(chosen))


def _plan_tag(chosen_tag, chosen, carrying, matched, dry_run, wanted):
    gaining = chosen.where(Customer.id.not_in(carrying))
    changed = gaining.count()
    crowded = (CustomerTag.select(CustomerTag.customer).where(CustomerTag.customer.in_(gaining))
               .group_by(CustomerTag.customer).having(fn.COUNT(CustomerTag.id) >= LIMIT))
    over = gaining.where(Customer.id.in_(crowded)).count() if changed else 0
    return Outcome("tag", chosen_tag, matched, changed, matched - changed, over_limit=over, dry_run=dry_run,
                   ids=wanted)


def _plan_untag(chosen_tag, chosen, matched, dry_run, wanted):
    changed = _manual_rows(chosen_tag, chosen).count()
    by_rule = CustomerTag.select().where((CustomerTag.tag == chosen_tag.id) & (CustomerTag.source != "manual")
                                         & CustomerTag.customer.in_(chosen)).count()
    return Outcome("untag", chosen_tag, matched, changed, matched - changed - by_rule, kept_by_rule=by_rule,
                   dry_run=dry_run, ids=wanted)
