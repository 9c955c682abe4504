"""Automatic tag rules (issue 11, part 2): a rule is a tag, a condition and an enabled flag.  Never imports Flask.

    import tagrules
    tree = tagrules.parse('{"all": [{"metric": "order_total", "days": 365, "op": ">=", "value": 100000}]}')
    tagrules.describe(tree)                                  # 近365天订单金额 ≥ 100000元
    tagrules.sweep(as_of=day)                                # run.py tag-rules; the daily job tag-rules
    tagrules.after_change([customer_id])                     # after an order, follow-up, status change, import
    tagrules.preview(tree, user, today=day, past=earlier)    # counts now and then, who gains, who loses
    tagrules.save(values, user) / tagrules.delete(rule_id, user)   # the rules screen; audited

Metrics are a registry (tagrules.metrics), conditions a small tree compiled to set-based SQL
(tagrules.conditions), episodes of each rule and customer the record of every application and removal
(tagrules.engine).  See docs/tag-rules.md.
"""
from .conditions import Invalid, describe, dumps, parse
from .editing import Refused, delete, save, set_enabled
from .engine import Result, evaluate, matching, sync_tag
from .metrics import Day, available as available_metrics
from .policy import may_edit, may_view
from .preview import Preview, preview
from .seed import SEEDED, seed_rules
from .sweep import after_change, after_import, sweep

__all__ = ["after_import", "Day", "Invalid", "Preview", "Refused", "Result", "SEEDED", "after_change", "available_metrics", "delete",
           "describe", "dumps", "evaluate", "matching", "may_edit", "may_view", "parse", "preview", "save",
           "seed_rules", "set_enabled", "sweep", "sync_tag"]
