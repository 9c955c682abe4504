"""One sync call: check every item, write the good ones in one transaction, record and audit what changed,
then run what an import runs after it commits (status pipeline, tag rules, follow-up tasks, dashboard).

A call that writes something is recorded as an import batch (ImportBatch, name 同步：<source>, with an
ImportChange per created or updated record), so the hooks the importer calls take the same batch and
intake.undo can take the call back like an import.  Each created or changed record also gets its own audit
entry (create / update, its fields as [old, new], and the source).  A call that changes nothing
writes nothing: no batch, no audit entry.
"""
import json
import logging
from dataclasses import dataclass, field

import peewee

from intake import bulk, kinds
from intake.engine import Context
from intake.kinds import take_turns
from models import AuditLog, ImportBatch, ImportChange, db

from . import audit
from .items import MAX_ITEMS, ItemError, errors_of, rows_of
from .writing import FollowUpWriter, OrderWriter

log = logging.getLogger("sync")


def _duplicate_key_errors():
    """A unique key refused while writing, whichever layer raised it: Peewee's statements, and the drivers' own
    for the bulk inserts, which run on the raw cursor (executemany on SQLite, COPY on PostgreSQL)."""
    import sqlite3

    errors = [peewee.IntegrityError, sqlite3.IntegrityError]
    try:
        import psycopg2
    except ImportError:  # SQLite-only installation
        return tuple(errors)
    return (*errors, psycopg2.IntegrityError)


DUPLICATE_KEY = _duplicate_key_errors()


class SyncRefused(ValueError):
    """The whole call is refused (too many items, no permission, not a list, a clash with another writer); the
    message says why, and `errors` (ItemError) names the items concerned when there are such."""

    def __init__(self, message, status=422, errors=()):
        super().__init__(message)
        self.status = status
        self.errors = list(errors)


@dataclass(frozen=True)
class SyncKind:
    name: str  # the import kind (intake.kinds)
    key: str  # the natural key every item must carry
    writer: object


# a registry: the kinds a sync call takes, by the import kind's name
KINDS = {
    "orders": SyncKind("orders", "order_no", OrderWriter()),
    "followups": SyncKind("followups", "record_no", FollowUpWriter()),
}


@dataclass
class Result:
    kind: str
    items: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # items with at least one error
    errors: list = field(default_factory=list)  # ItemError, in item order
    written: bool = False  # something was committed
    partial: bool = False
    batch_id: int = None  # the import batch recording the call (None when nothing changed)

    @property
    def ok(self):
        return self.rejected == 0

    def as_dict(self):
        return {"items": self.items, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected, "written": self.written, "partial": self.partial,
                "batch_id": self.batch_id, "errors": [error.as_dict() for error in self.errors]}


def _grant(user):
    if user is None:
        return None, None
    import access

    grant = access.grant_for(user)
    return grant, access.owner_ids(user, grant)


def upsert(kind, items, user, source, partial=False, ip=None, now=None, today=None, source_key="via"):
    """Create or update the records `items` name by their natural key, as `user` (None: the system, full
    access); `source` names the sender (the API token's name): each audit entry carries it under `source_key`
    (the API's is "api_token", as its other writes) and the batch is named 同步：<source>.  All or
    nothing unless `partial`.  `now` stamps the records, `today` is the day the hooks evaluate (default: the
    clock's; tests pass fixed ones).  Returns a Result; raises SyncRefused when the call as a whole is refused."""
    sync_kind = KINDS.get(kind)
    if sync_kind is None:
        raise SyncRefused(f"未知的同步类型：{kind}（可用：{'、'.join(KINDS)}）")
    spec = kinds.get(kind)
    if not isinstance(items, list):
        raise SyncRefused("items 应为一个数组")
    if len(items) > MAX_ITEMS:
        raise SyncRefused(f"一次最多 {MAX_ITEMS:,} 项，本次 {len(items):,} 项：请分批发送", status=413)
    grant, allowed = _grant(user)
    if grant is not None and not (grant.can(spec.policy_key, "create") or grant.can(spec.policy_key, "edit")):
        raise SyncRefused(f"您的角色（{grant.label}）不能同步{spec.label}：没有新建或修改{spec.label}的权限",
                          status=403)
    label = f"同步：{source}"[:255]
    for attempt in (1, 2):
        ctx = Context(spec, user, grant, allowed, None, getattr(user, "id", None), None, label, False)  # afresh
        if now is not None:
            ctx.now = now
        try:
            result = _attempt(sync_kind, spec, items, ctx, user, label, partial, ip, source_key, source)
            break
        except _Clash as clash:
            # Another writer (an import, a form: they do not take the sync's turn) committed some of the keys this
            # call was creating, between its check and its write (PostgreSQL; SQLite's write lock rules it out).
            # Nothing of this attempt is kept.  Once: check and write again, finding those records now; twice:
            # refused, naming the keys.
            taken = _taken(sync_kind, clash.new_keys)
            log.warning("同步 %s：第 %d 次写入与其他写入冲突（%s），已回滚", kind, attempt, "、".join(taken) or "?")
            if attempt == 2:
                raise _conflict(spec, sync_kind, clash.new_keys, taken) from None
    _after_commit(result.batch_id, user, today)
    return result


class _Clash(Exception):
    """A unique key refused while the call wrote: {key value: item index} of the records it was creating."""

    def __init__(self, new_keys):
        super().__init__(sorted(new_keys))
        self.new_keys = new_keys


def _attempt(sync_kind, spec, items, ctx, user, label, partial, ip, source_key, source):
    """Check and write the call in one transaction; a Result, or _Clash with nothing written."""
    result = Result(kind=sync_kind.name, items=len(items), partial=partial)
    new_keys = {}
    try:
        with db.atomic() as transaction:
            take_turns(f"sync.{sync_kind.name}")  # PostgreSQL: two calls of a kind check and write one after the other
            rows = rows_of(spec, items, ctx, sync_kind.key)
            result.errors = errors_of(rows)
            result.rejected = sum(1 for row in rows if row.errors)
            valid = [row for row in rows if not row.errors]
            if result.rejected and not partial:
                transaction.rollback()
                return result
            new_keys = {row.values[sync_kind.key]: row.row_no for row in valid if row.existing is None}
            changes = sync_kind.writer.write(valid, ctx) if valid else None
            for row in valid:
                setattr(result, row.outcome, getattr(result, row.outcome) + 1)
            if changes is None or not (changes.created or changes.updated):
                return result
            result.batch_id = _record(sync_kind, spec, changes, result, user, label, partial, ip, ctx.now,
                                      {source_key: source})
            result.written = True
    except DUPLICATE_KEY:
        raise _Clash(new_keys) from None
    return result


def _taken(sync_kind, new_keys):
    """Which of the keys the call was creating exist now (written by the other writer), in item order."""
    model, column = sync_kind.writer.model, getattr(sync_kind.writer.model, sync_kind.key)
    found = set()
    keys = list(new_keys)
    for start in range(0, len(keys), 500):
        found.update(value for (value,) in model.select(column).where(column.in_(keys[start:start + 500])).tuples())
    return sorted(found, key=new_keys.get)


SHOWN_KEYS = 20  # keys the message names; every one is in the errors


def _conflict(spec, sync_kind, new_keys, taken):
    label = spec.field(sync_kind.key).label
    if taken:
        named = "、".join(taken[:SHOWN_KEYS]) + (f" 等 {len(taken):,} 个" if len(taken) > SHOWN_KEYS else "")
        message = (f"其他写入（导入或表单）同时新建了相同{label}的记录：{named}。已重试一次仍冲突，本次未写入任何数据，"
                   f"请重新发送（这些记录将按{label}更新）")
    else:
        message = f"其他写入同时新建了相同{label}的记录，已重试一次仍冲突，本次未写入任何数据，请重新发送"
    errors = [ItemError(new_keys[key], sync_kind.key, key, f"{label} {key} 已由其他写入同时新建")
              for key in taken]
    return SyncRefused(message, status=409, errors=errors)


def _record(sync_kind, spec, changes, result, user, label, partial, ip, now, stamp):
    """The import batch, its ImportChange rows and the audit entries of what the call changed; the batch id."""
    source = next(iter(stamp.values()))
    username = getattr(user, "username", None) or "system"
    writer = sync_kind.writer
    counts = {"rows": result.items, "created": result.created, "updated": result.updated,
              "unchanged": result.unchanged, "rejected": result.rejected}
    batch = ImportBatch.create(kind=spec.name, user=getattr(user, "id", None), username=getattr(user, "username", None),
                               filename=label, mapping=None, options={"source": source, "partial": partial},
                               status="done", created_at=now, **counts)
    bulk.record_created(batch.id, writer.model_key, writer.model, changes.created, writer.NEW)
    if changes.updated:
        bulk.insert(ImportChange, ["batch", "model", "record_id", "action", "before", "after"],
                    [(batch.id, writer.model_key, record_id, "updated", before, after)
                     for record_id, before, after in changes.updated])
    audit.created(writer.model, writer.model_key, writer.NEW, changes.created, now, username, stamp, ip)
    audit.updated(writer.model_key, changes.updated, now, username, stamp, ip)
    AuditLog.create(at=now, username=username, action="sync", model=spec.policy_key, record_id=str(batch.id),
                    rows=result.created + result.updated, ip=ip,
                    changes=json.dumps({**stamp, "kind": spec.name, "batch": batch.id, **counts},
                                       ensure_ascii=False))
    return batch.id


def _after_commit(batch_id, user, today=None):
    """What an import runs after it commits, for the records the call wrote (set-based over its batch): status
    transitions first (a status they move is an input of the tag rules), tag rules, follow-up tasks, and a
    queued refresh of the dashboard's roll-ups.  Each never raises; the daily sweeps catch up."""
    if batch_id is None:
        return
    import pipeline
    import reminders
    import tagrules
    from dashboard.tasks import queue_refresh
    from reportbuilder.tasks import queue_build

    pipeline.after_import(batch_id, today=today)
    tagrules.after_import(batch_id, today=today)
    reminders.after_import(batch_id)
    queue_refresh(username=getattr(user, "username", None) or "system")
    queue_build(username=getattr(user, "username", None) or "system")  # the builder's copy, large databases only
