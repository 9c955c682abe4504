"""Tasks in a merge of duplicate customers (dedup.merge) and in its undo.  Called inside the merge's transaction,
before the merged-away customers are deleted (their tasks would go with them: the foreign key cascades).

    state = merging.carry_over(survivor_id, [other_id, ...], owner_id, now)   # kept in the MergeRecord
    merging.put_back(state)                                                  # dedup.merge.undo

carry_over():
- every task of the merged-away customers moves to the survivor, closed ones as history;
- at most one open task per customer and rule stays true: where the survivor and the others hold open tasks of
  the same rule (or each an open follow-up plan), the earliest due stays open (the survivor's on a tie) and the
  others close, reason "merged" (合并客户时关闭：与保留客户的任务重复).  The one kept open starts at the latest
  start among them (and, for a plan, counts as planned by the latest planning follow-up), so the follow-ups
  that came with the merge do not close it at the next sweep: they were accounted for on their own tasks;
- the survivor's open tasks go to the survivor's owner (the merge may have picked another's);
- a handful of UPDATEs: one for the closed history, one per open task kept or closed.

put_back() restores what carry_over changed: the moved tasks to their customers, the kept ones' key, start,
planning follow-up and assignee (while still open), the ones closed as duplicates reopened (while still closed
by the merge and no other open task holds their key).  Tasks made or closed after the merge stay as they are.
"""
import datetime

from peewee import fn

from models import Task

from .closing import open_key

DUPLICATE = "merged"


def _family(key):
    return key.split(":", 1)[0]


def _row(task):
    return {"id": task.id, "customer": task.customer_id, "open_key": task.open_key, "assignee": task.assignee_id,
            "since": task.since.isoformat(sep=" "), "followup": task.followup_id}


def carry_over(survivor_id, other_ids, owner_id=None, now=None):
    """Move the tasks of `other_ids` to `survivor_id` (see the module docstring); returns the state put_back()
    needs (JSON-ready) with the counts: {"open": [...], "closed": {customer: [ids]}, "duplicates": [ids],
    "moved": n, "at": now}."""
    now = now or datetime.datetime.now()
    other_ids = list(other_ids)
    involved = [survivor_id] + other_ids
    opened = list(Task.select().where(Task.customer.in_(involved) & (Task.status == "open")).order_by(Task.id))
    closed = {}
    for task_id, customer_id in (Task.select(Task.id, Task.customer)
                                 .where(Task.customer.in_(other_ids) & (Task.status != "open"))
                                 .order_by(Task.id).tuples()):
        closed.setdefault(str(customer_id), []).append(task_id)
    state = {"open": [_row(t) for t in opened], "closed": closed, "duplicates": [], "at": now.isoformat(sep=" "),
             "moved": sum(len(v) for v in closed.values()) + sum(1 for t in opened if t.customer_id != survivor_id)}

    families = {}
    for task in opened:
        families.setdefault(_family(task.open_key), []).append(task)
    keepers = []
    for tasks in families.values():
        tasks.sort(key=lambda t: (t.due_on, t.customer_id != survivor_id, t.id))
        keeper, duplicates = tasks[0], tasks[1:]
        if duplicates:
            ids = [t.id for t in duplicates]
            state["duplicates"] += ids
            Task.update(status="done", open_key=None, closed_at=now, closed_reason=DUPLICATE).where(
                Task.id.in_(ids) & (Task.status == "open")).execute()
            latest = max(tasks, key=lambda t: (t.since, t.id))
            if latest.since > keeper.since:
                keeper.since, keeper.followup_id = latest.since, latest.followup_id if keeper.followup_id else None
        keepers.append(keeper)
    if other_ids:
        Task.update(customer=survivor_id).where(Task.customer.in_(other_ids)).execute()
    for keeper in keepers:
        keeper.customer_id = survivor_id
        values = {"open_key": open_key(keeper), "since": keeper.since, "followup": keeper.followup_id}
        if owner_id is not None:
            values["assignee"] = owner_id
        Task.update(values).where(Task.id == keeper.id).execute()
    return state


def put_back(state):
    """Undo carry_over(`state`) as the module docstring says; returns how many tasks were restored."""
    if not state:
        return 0
    restored = 0
    for customer_id, ids in (state.get("closed") or {}).items():
        restored += Task.update(customer=int(customer_id)).where(Task.id.in_(ids)).execute()
    rows = state.get("open") or []
    duplicates = set(state.get("duplicates") or [])
    # the kept ones first: moving back frees the survivor's keys the duplicates take again
    for row in sorted(rows, key=lambda r: r["id"] in duplicates):
        task = Task.get_or_none(Task.id == row["id"])
        if task is None:  # deleted since (its planning follow-up deleted)
            continue
        values = {"customer": row["customer"]}
        if row["id"] in duplicates:
            Other = Task.alias("other")
            held = Other.select(Other.id).where(Other.open_key == row["open_key"])
            restored += Task.update(customer=row["customer"]).where(Task.id == task.id).execute()
            Task.update(status="open", open_key=row["open_key"], closed_at=None, closed_reason=None).where(
                (Task.id == task.id) & (Task.status == "done") & (Task.closed_reason == DUPLICATE)
                & ~fn.EXISTS(held)).execute()
            continue
        if task.status == "open":
            values.update(open_key=row["open_key"], assignee=row["assignee"], since=row["since"],
                          followup=row["followup"])
        restored += Task.update(values).where(Task.id == task.id).execute()
    return restored


__all__ = ["DUPLICATE", "carry_over", "put_back"]
