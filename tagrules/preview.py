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
from peewee import Case, Table, fn

from models import Customer, db, is_sqlite

from . import conditions, figures as figures_, metrics, policy
from .conditions import Invalid, parse
from .engine import drop, keep, room_for_sets
from .metrics import in_

LIMIT = 50  # customers listed per group
OLDEST_DAYS = 3650
SHOWN = ("code", "name", "status")
MATCHES_TABLE = "tagrule_preview_matches"  # temporary, per connection: id, hit_now, hit_past
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
    # Both days' per-customer figures in one pass (tagrules.figures: a column per figure and day), then the
    # customers either day matches, with a flag per day, kept once in a temporary table; the four counts are
    # one query over it and the lists read it (each day's customers were a table of their own, counted four
    # times).  Reads only; a deferred transaction on SQLite, so the preview never holds the write lock.
    with (db.atomic("DEFERRED") if is_sqlite() else db.atomic()):
        room_for_sets()
        figures = figures_.build([tree], [now_day, past_day_], within=scoped, name=FIGURES_TABLE,
                                 restrict_passes=False)
        keep(_both_days(tree, now_day, past_day_, scoped, figures), MATCHES_TABLE)
        matches = Table(MATCHES_TABLE, ("id", "hit_now", "hit_past"))
        now_, past_ = matches.hit_now == 1, matches.hit_past == 1
        counts = matches.select(fn.COUNT(Case(None, [(now_, 1)])), fn.COUNT(Case(None, [(past_, 1)])),
                                fn.COUNT(Case(None, [(now_ & ~past_, 1)])),
                                fn.COUNT(Case(None, [(past_ & ~now_, 1)]))).tuples().execute(db)[0]

        def ids(where):
            return matches.select(matches.id).where(where)

        result = Preview(today=today, past=past, now_count=counts[0], past_count=counts[1],
                         gained_count=counts[2], lost_count=counts[3],
                         now_rows=_rows(ids(now_), grant, limit), gained_rows=_rows(ids(now_ & ~past_), grant, limit),
                         lost_rows=_rows(ids(past_ & ~now_), grant, limit), columns=columns)
        drop(MATCHES_TABLE)  # on an error the transaction's rollback takes them
        if figures is not None:
            figures.drop()
    return result


def _both_days(tree, now_day, past_day_, scoped, figures):
    """A query of (id, hit_now, hit_past) of every customer in `scoped`, with a 1 where the tree matches on that
    day, reading both days' figures from one table (joined once) where it has them."""
    now_c = metrics.existing(now_day) & conditions.compile(tree, now_day, figures)
    past_c = metrics.existing(past_day_) & conditions.compile(tree, past_day_, figures)
    query = Customer.select(Customer.id, Case(None, [(now_c, 1)], 0).alias("hit_now"),
                            Case(None, [(past_c, 1)], 0).alias("hit_past"))
    joined = figures is not None and (figures.serves(tree, now_day) or figures.serves(tree, past_day_))
    if joined:
        query = query.join(figures.table, on=(figures.table.id == Customer.id))
    # No WHERE on the two flags: each day's condition is computed once per customer, in its column.  Filtering
    # on `now OR past` made PostgreSQL evaluate both again in the WHERE, and a past day's status reads the
    # status history with two subqueries per customer: 流失预警 at 1M customers spent 16-20 s there
    # (bench/daily.py).  The table holds every customer of the scope; the counts and lists read its flags.
    if not (joined and figures.within is scoped):  # the figures hold only the scope's customers
        query = query.where(in_(Customer.id, scoped))
    return query


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
