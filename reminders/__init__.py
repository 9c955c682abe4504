"""Follow-up tasks and reminders (issue 11, part 3).  Never imports Flask.

    import reminders
    reminders.after_followups([followup.id])           # after a follow-up is saved or imported: plans and closes
    reminders.sweep(today=day)                         # run.py reminders; the daily job `reminders`
    reminders.counts(scope_query, today)               # Counts(due_today, overdue, upcoming) in a row scope
    reminders.board(user, today)                       # 我的任务: overdue / today / upcoming in the user's scope
    reminders.save(values, user) / set_enabled / delete   # 提醒规则, audited
    reminders.digest.plan(day); reminders.digest.send(id)  # the daily digest mail (job `task-digest`)
    reminders.complete(task_id, user, note) / reopen        # 完成 / 重新打开 on 我的任务, audited
    reminders.merging.carry_over / put_back               # tasks in a merge of customers and its undo
    reminders.undoing.take_back(batch_id)                 # tasks of an import being undone

A task is open until a follow-up closes it; `Task.open_key` (unique, NULL once closed) keeps at most one open
task per customer and rule in the database itself.  See docs/tasks.md.
"""
from . import digest, merging, undoing
from .closing import Refused as TaskRefused
from .closing import complete, reopen
from .editing import Refused, delete, save, set_enabled
from .engine import Result, Sweep, after_followups, apply_rule, sweep
from .listing import Board, Counts, board, counts, scoped_customers
from .policy import may_edit_rules, may_edit_tasks, may_view_rules, may_view_tasks
from .seed import SEEDED, seed_rules

__all__ = ["after_change", "after_import", "Board", "Counts", "Refused", "Result", "SEEDED", "Sweep", "TaskRefused",
           "after_followups", "apply_rule", "board", "complete", "counts", "delete", "digest", "may_edit_rules",
           "may_edit_tasks", "may_view_rules", "may_view_tasks", "merging", "reopen", "save", "scoped_customers",
           "seed_rules", "set_enabled", "sweep", "undoing"]


def after_import(batch_id, now=None):
    """After import batch `batch_id` committed: its follow-ups plan and close tasks (set-based).  Never raises:
    the import is saved, and the daily sweep catches up with whatever this could not do."""
    import logging

    from models import ImportChange

    followups = ImportChange.select(ImportChange.record_id).where((ImportChange.batch == batch_id)
                                                                   & (ImportChange.model == "followup"))
    try:
        return after_followups(followups, now=now, trigger="import")
    except Exception:  # noqa: BLE001 - logged; the daily sweep repairs
        logging.getLogger("reminders").exception("任务：导入后的检查失败（导入批次 %s），将由每日检查补上", batch_id)
        return 0, 0


def after_change(followup_ids, user=None, now=None):
    """After follow-ups were saved in the admin (inside its transaction): after_followups, in a savepoint of its
    own.  Never raises: the follow-up is saved either way, and the daily sweep catches up with a missed plan."""
    import logging

    try:
        return after_followups(followup_ids, now=now, user=user)
    except Exception:  # noqa: BLE001 - logged; the daily sweep repairs
        logging.getLogger("reminders").exception("任务：跟进记录保存后的检查失败（%s），将由每日检查补上", followup_ids)
        return 0, 0
