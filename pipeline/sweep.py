"""The daily sweep (`run.py pipeline`, the daily job `pipeline`) and the check right after a change.

    pipeline.sweep(as_of=datetime.date(2026, 12, 7))   # every enabled transition, every customer
    pipeline.after_change([customer.id])               # after an order, follow-up, status change in the admin
    pipeline.after_import(batch_id)                    # after an import, for the customers it touched

The day is a parameter of the engine; these entry points are where "today" is read.  Status changes the
pipeline makes are inputs of the tag rules (the status metric): the sweep re-checks those customers' rule
tags; after a change or an import the caller's own tag-rule check follows (admin/secured.py, intake/engine.py).
"""
import datetime
import logging

from models import PipelineEvent, PipelineTransition, TagRule

from . import engine

log = logging.getLogger("pipeline")


def _moved(runs):
    """A query of the customers the runs' events name (their status or tags changed)."""
    return PipelineEvent.select(PipelineEvent.customer).where(PipelineEvent.run.in_(runs))


def sweep(as_of=None, today=None, now=None):
    """Apply every enabled transition to every customer on `as_of` (default today); returns the Results.
    A second sweep with no change in the data changes nothing."""
    today = today or datetime.date.today()
    as_of = as_of or today
    results, fired = engine.evaluate(as_of, trigger="sweep", now=now)
    if fired and TagRule.select().exists():
        import tagrules

        tagrules.evaluate(as_of, today=today, customer_ids=_moved(fired), trigger="change", now=now)
    return results


def after_change(customer_ids, today=None, now=None):
    """Apply every enabled transition to the customers just changed, on today.  Never raises: the change
    itself is saved, and the daily sweep catches up with whatever this check could not do."""
    ids = [i for i in (customer_ids or []) if i is not None]
    if not ids or not PipelineTransition.select().where(PipelineTransition.enabled == True).exists():  # noqa: E712
        return []
    try:
        return engine.evaluate(today or datetime.date.today(), customer_ids=ids, trigger="change", now=now)[0]
    except Exception:  # noqa: BLE001 - logged; the daily sweep repairs
        log.exception("状态流转：变更后的检查失败（客户 %s），将由每日检查补上", ids[:10])
        return []


def after_import(batch_id, today=None, now=None):
    """Apply every enabled transition to the customers import batch `batch_id` touched (set-based).  Never
    raises, like after_change."""
    if not PipelineTransition.select().where(PipelineTransition.enabled == True).exists():  # noqa: E712
        return []
    from tagrules.sweep import import_customers

    try:
        return engine.evaluate(today or datetime.date.today(), customer_ids=import_customers(batch_id),
                               trigger="import", now=now)[0]
    except Exception:  # noqa: BLE001 - logged; the daily sweep repairs
        log.exception("状态流转：导入后的检查失败（导入批次 %s），将由每日检查补上", batch_id)
        return []
