"""Batch fix (set one field) and batch delete over the records of a finding.

Both take the finding's records in the user's row scope, either the selected ids among them or
all of them, and:

- ask the policy: the user's grant must allow `quality` edit (fix) or delete (delete), the same
  action on the records' own model, and for a fix the column must be editable for the role;
- clean the value with models.standardise (the rules of the forms and imports), so a fix cannot
  store what a form would refuse: a value it cannot clean, an empty required field, or a value
  that leaves a fixed row in a finding that is a form rule (blocks_fix: contact present, formats,
  list entries, dates) is refused with that rule's message, and nothing changes;
- run in one transaction with an AuditLog row per record (its id and the before/after values,
  sensitive and masked columns as ***) and one summary row.

`dry_run=True` answers how many rows would change without writing: the confirmation step.
user=None is the system and skips the policy (no screen or command offers that today).
"""
import datetime
import json
from dataclasses import dataclass, field

import audittrail
from access.grant import MASKED
from models import AuditLog, Customer, FollowUp, Order, db, standardise

from . import findings as registry
from .scan import SENSITIVE, context, grant_of, matching, reachable

CHUNK = 5000  # ids per statement: well under SQLite's and PostgreSQL's bound-parameter limits


def _choice(kind):
    return lambda value: standardise.choice(kind, value)


CLEANERS = {
    Customer: {"mobile": standardise.mobile, "phone": standardise.phone, "email": standardise.email,
               "industry": _choice("industry"), "region": _choice("region"), "source": _choice("source"),
               "first_contact": standardise.date},
    FollowUp: {"at": standardise.moment, "next_date": standardise.date},
    Order: {"ordered_at": standardise.moment},
}
NAMES = {"mobile": "手机号码", "phone": "电话", "email": "邮箱", "industry": "所属行业", "region": "所属地区",
         "source": "客户来源", "first_contact": "首次接触时间", "at": "跟进时间", "next_date": "下次跟进时间",
         "ordered_at": "下单时间"}


class Refused(Exception):
    """A batch action that may not run; the message is for the person who asked."""


@dataclass
class Outcome:
    finding: object
    action: str  # "fix" or "delete"
    rows: int  # rows changed (or that would change, for a dry run)
    ids: list = field(default_factory=list)
    column: str = None
    value: object = None
    dry_run: bool = False


def _chunks(ids):
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _targets(item, ctx, user, grant, ids, everything):
    """Ids of the finding's records in scope: all of them, or the selected ones among them."""
    query = matching(item, ctx, user, grant)
    if everything:
        return sorted(row[0] for row in query.tuples())
    wanted = sorted({int(i) for i in ids or () if str(i).strip().lstrip("-").isdigit()})
    found = []
    for chunk in _chunks(wanted):
        found.extend(row[0] for row in query.where(item.model.id.in_(chunk)).tuples())
    return sorted(found)


def _check(grant, item, action, column=None):
    if grant is None:
        return
    key = item.policy_key
    if not (grant.can("quality", action) and grant.can(key, action)):
        raise Refused("您没有批量删除这些记录的权限" if action == "delete" else "您没有批量修改这些记录的权限")
    if column is not None and not grant.writable(key, column):
        raise Refused(f"您不能修改“{NAMES.get(column, column)}”")


def clean(model, column, value):
    """The value as stored (models.standardise), or Refused with the standard message."""
    cleaner = CLEANERS.get(model, {}).get(column, standardise.text)
    try:
        cleaned = cleaner(value)
    except standardise.StandardError as error:
        raise Refused(str(error)) from None
    if cleaned is None and not model._meta.fields[column].null:
        raise Refused(f"“{NAMES.get(column, column)}”不能为空")
    return cleaned


def _shown(value, hide):
    if hide and value not in (None, ""):
        return "***"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return str(value)
    return value


def _hidden(grant, key, column):
    return column in SENSITIVE or (grant is not None and grant.access(key, column) == MASKED)


def _audit(username, ip, action, key, entries, summary):
    now = datetime.datetime.now()
    rows = [{"at": now, "username": username, "action": action, "model": key, "record_id": str(record_id),
             "changes": json.dumps(changes, ensure_ascii=False, default=str) if changes else None, "ip": ip}
            for record_id, changes in entries]
    for start in range(0, len(rows), 500):
        AuditLog.insert_many(rows[start:start + 500]).execute()
    AuditLog.create(at=now, username=username, action=summary["action"], model="quality", record_id=summary["key"],
                    changes=json.dumps(summary["changes"], ensure_ascii=False, default=str), ip=ip,
                    rows=len(rows))


def fix(key, column, value, user=None, ids=None, everything=False, today=None, stale_days=None, dry_run=False,
        ip=None):
    """Set `column` to `value` on the selected (or every) record of finding `key`; returns an Outcome."""
    item = registry.get(key)
    grant = grant_of(user)
    if not item.available() or not reachable(item, grant):
        raise Refused("无权查看此检查项")
    if column not in item.fixable:
        raise Refused(f"“{item.label}”不能批量修改“{NAMES.get(column, column)}”")
    _check(grant, item, "edit", column)
    cleaned = clean(item.model, column, value)
    ctx = context(today, stale_days, user, grant)
    model, target = item.model, getattr(item.model, column)
    changes = []
    for chunk in _chunks(_targets(item, ctx, user, grant, ids, everything)):
        changes.extend((row_id, old) for row_id, old in model.select(model.id, target).where(model.id.in_(chunk))
                       .tuples() if old != cleaned)
    outcome = Outcome(item, "fix", len(changes), [row_id for row_id, _ in changes], column, cleaned, dry_run)
    if dry_run or not changes:
        return outcome
    values = {target: cleaned}
    if model is Customer:
        values[Customer.updated_at] = datetime.datetime.now()
    blocking = [f for f in registry.available() if f.blocks_fix and f.model is model and column in f.columns]
    hide = _hidden(grant, item.policy_key, column)
    with db.atomic():
        for chunk in _chunks(outcome.ids):
            model.update(values).where(model.id.in_(chunk)).execute()
        for rule in blocking:  # the fixed rows must satisfy every form rule on this column
            for chunk in _chunks(outcome.ids):
                if rule.query(ctx).where(model.id.in_(chunk)).exists():
                    raise Refused(rule.message or f"修改后的值仍属于“{rule.label}”")
        _audit(getattr(user, "username", None) or "system", ip, "update", item.policy_key,
               [(row_id, {column: [_shown(old, hide), _shown(cleaned, hide)]}) for row_id, old in changes],
               {"action": "quality-fix", "key": key, "changes": {column: ["", _shown(cleaned, hide)]}})
    return outcome


def _delete_rows(model, ids):
    """Delete rows and what depends on them, set-based (what delete_instance(recursive=True) does)."""
    for chunk in _chunks(ids):
        for fk, child in model._meta.backrefs.items():
            if fk.null and (fk.on_delete or "").upper() == "SET NULL":
                child.update({fk: None}).where(fk.in_(chunk)).execute()
            else:
                _delete_rows(child, [row[0] for row in child.select(child.id).where(fk.in_(chunk)).tuples()])
        model.delete().where(model.id.in_(chunk)).execute()


def delete(key, user=None, ids=None, everything=False, today=None, stale_days=None, dry_run=False, ip=None):
    """Delete the selected (or every) record of finding `key` with what depends on them; returns an Outcome."""
    item = registry.get(key)
    grant = grant_of(user)
    if not item.available() or not reachable(item, grant):
        raise Refused("无权查看此检查项")
    if not item.deletable:
        raise Refused(f"“{item.label}”的记录不能批量删除")
    _check(grant, item, "delete")
    ctx = context(today, stale_days, user, grant)
    targets = _targets(item, ctx, user, grant, ids, everything)
    outcome = Outcome(item, "delete", len(targets), targets, dry_run=dry_run)
    if dry_run or not targets:
        return outcome
    model, key_name = item.model, item.policy_key
    # Every column deleted, as [value, None]; sensitive ones and those the grant does not show in clear
    # masked (audittrail.deleted_values), secrets and digests left out.
    masked = audittrail.values.masked_columns(model, key_name, SENSITIVE, grant)
    with db.atomic():
        entries = []
        for chunk in _chunks(targets):
            for row in model.select().where(model.id.in_(chunk)):
                entries.append((row.id, {c: [v, None] for c, v in audittrail.deleted_values(row, masked).items()}))
        _delete_rows(model, targets)
        _audit(getattr(user, "username", None) or "system", ip, "delete", key_name, entries,
               {"action": "quality-delete", "key": key, "changes": {"finding": [key, None]}})
    return outcome


__all__ = ["CLEANERS", "Outcome", "Refused", "clean", "delete", "fix"]
