"""The status pipeline and the sales funnel (issue 11, part 4).  Never imports Flask.

    import pipeline
    pipeline.sweep(as_of=day)                         # run.py pipeline; the daily job pipeline
    pipeline.after_change([customer_id])              # after an order, follow-up or status change (admin)
    pipeline.after_import(batch_id)                   # after an import
    pipeline.funnel.counts(customer_query, start, end)   # 销售漏斗 and the dashboard

Transitions are data (models.PipelineTransition): a trigger kind from the registry (pipeline.triggers), the
statuses a customer must be in, and a target status or tag, with parameters such as days.  Every firing is
one PipelineEvent (unique per transition, customer and causing record), and lands in the status history
(StatusChange, with its reason) and the audit log like a manual change.  See docs/funnel.md.
"""
from . import funnel, triggers
from .editing import check
from .engine import Result, evaluate
from .policy import may_view_funnel
from .seed import PENDING_TAG, SEEDED, seed_transitions
from .sweep import after_change, after_import, sweep
from .triggers import Invalid

__all__ = ["Invalid", "PENDING_TAG", "Result", "SEEDED", "after_change", "after_import", "check", "evaluate", "funnel",
           "may_view_funnel", "seed_transitions", "sweep", "triggers"]
