"""Tasks when an import is taken back (intake.undo), set-based: a few DELETE and UPDATE statements whatever the
size of the batch.  Called inside the undo's transaction, after the updated records got their earlier values and
before the created ones are deleted.

    counts = undoing.take_back(batch_id, now)      # {"deleted": n, "reopened": m, "moved": k}

- tasks planned by the batch's follow-ups go with them (the foreign key would cascade them; deleted here so the
  undo's audit says how many), and so do the tasks of the customers the batch created;
- an open rule task whose clock a follow-up of the batch started goes too (kind "every": the visit that closed
  one task started the next one's clock — with the visit gone, that clock never started);
- a task a follow-up of the batch closed (recording the next follow-up closes the open one) opens again, with its
  key, unless another open task of the customer holds that key meanwhile (then it stays closed: at most one open
  task per customer and rule); of several closed tasks with one key only the latest reopens;
- the reopened tasks meet the customers' other follow-ups: one recorded after the import that fulfils a
  reopened task closes it again, as it would have done had the task been open then;
- an updated follow-up that got its earlier 下次跟进时间 back moves its open plan back to that day.
"""
import datetime

from peewee import Case, Value, fn

from models import FollowUp, ImportChange, Task

from .engine import close_fulfilled, replan


def _records(batch_id, model, action):
    return ImportChange.select(ImportChange.record_id).where(
        (ImportChange.batch == batch_id) & (ImportChange.model == model) & (ImportChange.action == action))


def key_of(task):
    """open_key as SQL, from a task's columns (closing.open_key in Python)."""
    customer = task.customer.cast("text")
    rule_key = Value("r").concat(task.rule.cast("text")).concat(":").concat(customer)
    return Case(None, [(task.origin == "rule", rule_key)], Value("f:").concat(customer))


def take_back(batch_id, now=None):
    """The tasks of import batch `batch_id` as the module docstring says; returns the counts."""
    now = now or datetime.datetime.now()
    created = _records(batch_id, "followup", "created")
    new_customers = _records(batch_id, "customer", "created")
    F = FollowUp.alias("f")

    deleted = Task.delete().where(Task.followup.in_(created) | Task.customer.in_(new_customers)).execute()
    clock = F.select(F.id).where(F.id.in_(created) & (F.customer == Task.customer) & (F.at == Task.since)
                                 & (Task.method.is_null() | (F.method == Task.method)))
    deleted += Task.delete().where((Task.status == "open") & (Task.origin == "rule") & fn.EXISTS(clock)).execute()

    Held, Later = Task.alias("held"), Task.alias("later")
    held = Held.select(Held.id).where(Held.open_key == key_of(Task))
    later = Later.select(Later.id).where(
        (Later.customer == Task.customer) & (Later.origin == Task.origin)
        & (fn.COALESCE(Later.rule, 0) == fn.COALESCE(Task.rule, 0)) & (Later.id > Task.id)
        & (Later.closed_reason == "followup") & Later.closed_by.in_(created))
    reopened = (Task.update(status="open", open_key=key_of(Task), closed_at=None, closed_reason=None, closed_by=None)
                .where((Task.status == "done") & (Task.closed_reason == "followup") & Task.closed_by.in_(created)
                       & ((Task.origin == "followup") | Task.rule.is_null(False))
                       & ~fn.EXISTS(held) & ~fn.EXISTS(later)).execute())
    # the customers' own follow-ups (not the batch's) close what they fulfil among the reopened tasks
    customers = FollowUp.select(FollowUp.customer).where(FollowUp.id.in_(created))
    others = FollowUp.select(FollowUp.id).where(FollowUp.customer.in_(customers) & FollowUp.id.not_in(created))
    closed_again = close_fulfilled(others, now) if reopened else 0
    # follow-ups the import updated have their earlier values back: their open plans move back to that day
    # (an empty cell never clears a value on import, so no plan was closed by clearing it)
    updated = _records(batch_id, "followup", "updated")
    cleared, moved = replan(updated, now)
    return {"deleted": deleted, "reopened": reopened - closed_again, "moved": moved, "closed": cleared}


__all__ = ["key_of", "take_back"]
