"""Preview of a condition before it is enabled: how many and which customers it would tag today, how many
on a chosen past day, and who would gain or lose the tag between the two, within the viewer's row scope.

    p = preview(tree, user, today=datetime.date(2026, 12, 7), past=datetime.date(2026, 11, 7))
    p.now_count, p.past_count, p.gained_count, p.lost_count, p.now_rows, p.gained_rows, p.lost_rows

The past day is evaluated as the data say it was: records dated after it are left out and the status is
read from the status history (region, industry and the other fields as they are now).  Read-only.
"""
import datetime
from dataclasses import dataclass, field

import access
from access.scope import scope_query
from models import Customer, db, is_sqlite

from . import figures as figures_, metrics, policy
from .conditions import Invalid, parse
from .engine import drop, holds, keep, matching, room_for_sets
from .metrics import in_

LIMIT = 50  # customers listed per group
OLDEST_DAYS = 3650
SHOWN = ("code", "name", "status")
NOW_TABLE, PAST_TABLE = "tagrule_preview_now", "tagrule_preview_past"  # temporary, per connection
FIGURES_TABLE = "tagrule_preview_figures"


@dataclass
class Preview:
    today: datetime.date
    past: datetime.date
    now_count: int
    past_count: int
    gained_count: int
    lost_count: int
    now_rows: list = field(default_factory=list)  # dicts: id, code, name, status (masked as the role's rules say)
    gained_rows: list = field(default_factory=list)
    lost_rows: list = field(default_factory=list)
    columns: tuple = SHOWN  # the columns the viewer may see


def past_day(value, today):
    """The comparison day from a form value ('YYYY-MM-DD' or a date), or Invalid."""
    if isinstance(value, datetime.date):
        day = value
    else:
        text = (value or "").strip()
        try:
            day = datetime.date.fromisoformat(text)
        except ValueError:
            raise Invalid(f"对比日期无效：“{text[:20]}”，请按 YYYY-MM-DD 填写") from None
    if day > today:
        raise Invalid(f"对比日期 {day} 晚于今天（{today}），请选择过去的日期")
    if day == today:
        raise Invalid("对比日期须早于今天")
    if (today - day).days > OLDEST_DAYS:
        raise Invalid(f"对比日期过早：最多 {OLDEST_DAYS} 天以前")
    return day


def preview(condition, user=None, today=None, past=None, limit=LIMIT):
    """Counts and customers of `condition` (a tree or its JSON) today and on `past`, in `user`'s row scope
    (None: every customer)."""
    today = today or datetime.date.today()
    past = past_day(past if past is not None else today - datetime.timedelta(days=30), today)
    tree = parse(condition)
    grant = None if user is None else access.grant_for(user)
    if grant is not None and not policy.may_view(grant):
        raise Invalid("您没有预览标签规则的权限")
    scoped = Customer.select(Customer.id)
    if user is not None:
        scoped = scope_query(Customer, scoped, user, grant)
    now_day, past_day_ = metrics.Day(today, live=True), metrics.Day(past, live=False)
    columns = tuple(c for c in SHOWN if grant is None or grant.visible("customer", c))
    # Both days' per-customer figures in one pass (tagrules.figures: a column per figure and day), then each
    # day's customers computed once into a temporary table, then counted, compared and listed from there.
    # Reads only; a deferred transaction on SQLite, so the preview never holds the write lock.
    with (db.atomic("DEFERRED") if is_sqlite() else db.atomic()):
        room_for_sets()
        figures = figures_.build([tree], [now_day, past_day_], within=scoped, name=FIGURES_TABLE,
                                 restrict_passes=False)
        now_t = keep(matching(tree, now_day, within=scoped, figures=figures), NOW_TABLE)
        past_t = keep(matching(tree, past_day_, within=scoped, figures=figures), PAST_TABLE)
        now_ids, past_ids = now_t.select(now_t.id), past_t.select(past_t.id)
        gained = now_t.select(now_t.id).where(~holds(past_t, now_t.id))
        lost = past_t.select(past_t.id).where(~holds(now_t, past_t.id))
        result = Preview(today=today, past=past, now_count=now_ids.count(db), past_count=past_ids.count(db),
                         gained_count=gained.count(db), lost_count=lost.count(db),
                         now_rows=_rows(now_ids, grant, limit), gained_rows=_rows(gained, grant, limit),
                         lost_rows=_rows(lost, grant, limit), columns=columns)
        drop(NOW_TABLE)  # on an error the transaction's rollback takes them
        drop(PAST_TABLE)
        if figures is not None:
            figures.drop()
    return result


def _rows(ids, grant, limit):
    rows = []
    query = (Customer.select(Customer.id, Customer.code, Customer.name, Customer.status)
             .where(in_(Customer.id, ids)).order_by(Customer.code).limit(limit))
    for customer in query:
        row = {"id": customer.id}
        for column in SHOWN:
            value = getattr(customer, column)
            level = "editable" if grant is None else grant.access("customer", column)
            if level == "hidden":
                continue
            row[column] = access.mask(value) if level == "masked" else value
        rows.append(row)
    return rows
