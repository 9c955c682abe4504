"""Realistic demo data: the demo users, and customers with three years of history.

    demo.generate(customers=100_000, seed=7, password="...")

Layout: `names`, `numbers` and `places` make people, companies and their numbers;
`seasons` is the calendar; `history` one customer's life (orders, follow-ups,
feedback, status changes); `tags` the tag catalogue and its rules; `builder` turns a
slice of customers into rows; `workers` builds slices in other processes while this
one writes; `loader` empties the tables and bulk-inserts the rows.
"""
import collections
import contextlib
import datetime
import sys
import time

import click

from models import Choice, Customer, CustomerTag, Feedback, FollowUp, Order, Role, StatusChange, Tag, User, db
from models.starter import LISTS

from . import builder, loader, places, tags, workers

# (username, role, manager username, display name)
DEMO_USERS = [
    ("admin", "admin", None, "系统管理员"),
    ("manager", "manager", None, "王经理"),
    ("sales1", "sales", "manager", "李销售"),
    ("sales2", "sales", "manager", "张销售"),
    ("manager2", "manager", None, "赵经理"),
    ("sales3", "sales", "manager2", "陈销售"),
    ("service", "service", None, "刘客服"),
]
DEMO_USERS_SUMMARY = [(u, f"{role} {name}") for u, role, _, name in DEMO_USERS]
# Customers per sales rep: sales3 works alone under manager2, so a smaller book.
OWNER_WEIGHTS = {"sales1": 38, "sales2": 34, "sales3": 28}

SLICE = 2000  # customers per slice and transaction; part of what a seed means, so keep it fixed


def create_users(password):
    users = {}
    with db.atomic():
        for username, role, manager, name in DEMO_USERS:
            user = User.get_or_none(User.username == username) or User(username=username)
            user.display_name = name
            user.role = Role.get(Role.name == role)
            user.manager = users.get(manager)
            user.active = True
            user.must_change_password = False  # demo users are not asked to change it
            user.set_password(password)
            user.created_at = datetime.datetime.now()
            user.save()
            users[username] = user
    return users


def generate(customers=2000, seed=7, password="demo-password", progress=False, now=None, orders_scale=1.0):
    """Replace all customer records with `customers` generated ones; returns row counts per table.

    `orders_scale` multiplies how often customers buy (see history.live): benchmarks use it to
    reach ten orders per customer; the default 1.0 gives the demo's usual data.

    Users, roles, the policy and the managed lists are kept (the demo users are
    (re)created with `password`).  The history ends at `now`, by default the start of
    today: dates are relative to it, and a time of day would make one seed give
    different data every second.
    """
    now = (now or datetime.datetime.combine(datetime.date.today(), datetime.time())).replace(microsecond=0)
    users = create_users(password)
    _say(progress, "清空客户数据 / clearing customer records")
    loader.reset()
    tag_ids = _create_tags()
    context = builder.Context(
        seed=seed,
        total=customers,
        now=now,
        regions=_choices("region", places.REGION_WEIGHTS),
        industries=_choices("industry", builder.INDUSTRY_WEIGHTS),
        sources=[(name, weight) for name, _, weight in _choices("source", builder.SOURCE_WEIGHTS)],
        owners=[(users[name].id, weight) for name, weight in OWNER_WEIGHTS.items()],
        tag_ids=tag_ids,
        orders_scale=orders_scale,
    )
    writers = {
        "customer": loader.Writer(Customer, builder.CUSTOMER),
        "status_change": loader.Writer(StatusChange, builder.STATUS_CHANGE),
        "order": loader.Writer(Order, builder.ORDER),
        "follow_up": loader.Writer(FollowUp, builder.FOLLOW_UP),
        "feedback": loader.Writer(Feedback, builder.FEEDBACK),
        "customer_tag": loader.Writer(CustomerTag, builder.CUSTOMER_TAG),
    }
    numbering = builder.Numbering()
    counts = collections.Counter(tag=len(tag_ids))
    loaded = [writer.model for writer in writers.values()]
    loader.before_load(loaded)
    try:
        with _bar(progress, customers) as bar:
            for start, stop, rows in workers.slices(context, customers, SLICE):
                numbering.apply(rows)
                with db.atomic():
                    for name, writer in writers.items():
                        writer.write(rows[name])
                        counts[name] += len(rows[name])
                bar.update(stop - start)
    finally:  # an interrupted load still leaves the schema whole
        _say(progress, "建立索引 / building indexes")
        loader.after_load(loaded)
    _say(progress, "按标签规则添加标签 / applying tag rules")
    results = apply_tag_rules(now)
    counts["tag_rule_episode"] = sum(r.applied for r in results)
    counts["customer_tag"] += sum(r.tagged - r.untagged for r in results)
    _say(progress, "生成跟进任务 / follow-up tasks and reminders")
    counts["task"] = apply_reminders(now)
    return dict(counts)


def apply_tag_rules(now):
    """The seeded tag rules (高价值, 流失风险, 近30天下单) created and swept for the day of `now`, their rows
    stamped `now` (not the clock: the same seed and day give the same rows): the tags they give follow the
    generated history as the rules say, and re-evaluate from then on.  Returns the sweep's Results."""
    import tagrules

    tagrules.seed_rules()
    return tagrules.sweep(as_of=now.date(), today=now.date(), now=now)


def apply_reminders(now):
    """The seeded reminder rules (流失风险 → 联系客户 within 30 days, 高价值 → 上门拜访 every 90 days) and the
    follow-ups' 下次跟进时间 make the tasks of 我的任务, stamped `now` (the same seed and day give the same rows).
    Returns how many tasks were opened."""
    import reminders

    reminders.seed_rules()
    return reminders.sweep(today=now.date(), now=now).opened


def _choices(kind, weights):
    """(name, code, weight) of a managed list as the database holds it, since admins may edit it."""
    rows = [(c.name, (c.code or "").upper()) for c in Choice.select().where(Choice.kind == kind)
            .order_by(Choice.position, Choice.name)]
    rows = rows or LISTS[kind]
    return [(name, code, weights.get(name, 3)) for name, code in rows]


def _create_tags():
    with db.atomic():
        Tag.insert_many([{"name": name, "category": category, "source": how}
                         for name, category, how in tags.CATALOGUE]).execute()
    return {t.name: t.id for t in Tag.select(Tag.id, Tag.name)}


def _say(progress, message):
    if progress:
        click.echo(message, err=True)


class _Lines:
    """Progress as a line per tenth, for logs and pipes where a bar cannot redraw."""

    def __init__(self, total, quiet):
        self.total, self.done, self.next, self.quiet = total, 0, 0, quiet
        self.started = time.monotonic()

    def update(self, n):
        self.done += n
        if self.quiet or self.done < self.next:
            return
        self.next = self.done + max(1, self.total // 10)
        click.echo(f"  {self.done:,}/{self.total:,} customers, {time.monotonic() - self.started:.0f}s", err=True)


@contextlib.contextmanager
def _bar(progress, total):
    if progress and sys.stderr.isatty():
        with click.progressbar(length=total, label="生成客户 / customers", file=sys.stderr, show_pos=True,
                               show_eta=True) as bar:
            yield bar
    else:
        yield _Lines(total, quiet=not progress)
