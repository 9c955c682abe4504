"""The full sweep (`run.py tag-rules`, the daily job `tag-rules`) and the check after a change.

    tagrules.sweep(as_of=datetime.date(2026, 12, 7))      # every rule, every customer
    tagrules.after_change([customer.id])                  # every rule, those customers, today

The day is always a parameter of the engine; these two entry points are where "today" is read.
"""
import datetime
import logging

from models import FollowUp, ImportChange, Order, StatusChange, TagRule

from . import engine

log = logging.getLogger("tagrules")


def sweep(as_of=None, today=None, rules=None, now=None):
    """Evaluate every rule (or `rules`) for every customer on `as_of` (default today); returns the Results.
    A second sweep with no change in the data changes nothing."""
    today = today or datetime.date.today()
    as_of = as_of or today
    results = engine.evaluate(as_of, today=today, rules=rules, trigger="sweep", now=now)
    done = [r.rule_id for r in results if not r.skipped]
    if done:
        TagRule.update(last_swept_on=as_of).where(TagRule.id.in_(done)).execute()
    return results


def after_change(customer_ids, today=None, now=None):
    """Evaluate every rule for the customers just changed (an order, a follow-up, a status change, an
    import), on today.  Never raises: the change itself is already saved, and the next sweep catches up
    with whatever this check could not do."""
    ids = [i for i in (customer_ids or []) if i is not None]
    if not ids or not TagRule.select().exists():
        return []
    try:
        return engine.evaluate(today or datetime.date.today(), customer_ids=ids, trigger="change", now=now)
    except Exception:  # noqa: BLE001 - logged; the daily sweep repairs
        log.exception("标签规则：变更后的检查失败（客户 %s），将由每日全量检查补上", ids[:10])
        return []


def import_customers(batch_id):
    """A query of the ids of the customers an import batch created or changed, or whose orders, follow-ups
    or status changes it added (from the batch's ImportChange rows)."""
    def records(name):
        return ImportChange.select(ImportChange.record_id).where((ImportChange.batch == batch_id)
                                                                 & (ImportChange.model == name))

    return (records("customer")
            | Order.select(Order.customer).where(Order.id.in_(records("order")))
            | FollowUp.select(FollowUp.customer).where(FollowUp.id.in_(records("followup")))
            | StatusChange.select(StatusChange.customer).where(StatusChange.id.in_(records("statuschange"))))


def after_import(batch_id, today=None, now=None):
    """Evaluate every rule for the customers import batch `batch_id` touched (set-based, whatever its size).
    Never raises, like after_change."""
    if not TagRule.select().exists():
        return []
    try:
        return engine.evaluate(today or datetime.date.today(), customer_ids=import_customers(batch_id),
                               trigger="import", now=now)
    except Exception:  # noqa: BLE001 - logged; the daily sweep repairs
        log.exception("标签规则：导入后的检查失败（导入批次 %s），将由每日全量检查补上", batch_id)
        return []
