"""The demo's report subscriptions (报表订阅), as a manager and an admin would set them up.

    demo.report_subscriptions.seed()   # after demo.generate(): returns [(Subscription, next occurrence UTC)]

- 华东客户分群周报: 王经理 (manager) gets segmentation of 华东 every Monday 08:00;
- 月度客户价值分析: the admin and the finance director's address get the value analysis on
  the 1st of each month at 09:00;
- 团队客户分群周报: 赵经理 (manager2) and an outside address get segmentation weekly, on
  today's weekday at a time a few minutes from now — so whoever tries the demo sees a mail
  arrive in instance/mail/ (the local mailbox) without waiting for Monday.

They are made with subscriptions.create(), so they pass the same checks as any subscription.
The demo users get example.com addresses here (not in create_users, which the tests share),
since a subscription can only be sent to users with an address.  Running it again replaces
the demo's subscriptions (and their deliveries) with fresh ones: idempotent.
"""
import datetime

import subscriptions
from models import Delivery, Subscription, User, db
from subscriptions import schedule

# Addresses of the demo users (example.com: reserved for examples, never a real mailbox).
EMAILS = {"admin": "admin@example.com", "manager": "wang.manager@example.com",
          "manager2": "zhao.manager@example.com", "sales1": "li.sales@example.com",
          "sales2": "zhang.sales@example.com", "sales3": "chen.sales@example.com",
          "service": "liu.service@example.com"}
FIRST_MAIL_AFTER = datetime.timedelta(minutes=2)  # the worker and the mailbox start within it


def _soon(now, timezone=schedule.DEFAULT_TIMEZONE):
    """(weekday, "HH:MM") in `timezone` of the first whole minute at least FIRST_MAIL_AFTER after `now` (UTC)."""
    local = schedule.to_local(now, schedule.zone(timezone)) + FIRST_MAIL_AFTER
    local = local.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    return local.isoweekday(), f"{local:%H:%M}"


def definitions(now):
    """(owner username, subscriptions.create() fields) of each demo subscription."""
    weekday, time = _soon(now)
    return [
        ("manager", {"name": "华东客户分群周报", "report": "segmentation", "parameters": {"regions": ["华东"]},
                     "schedule_kind": "weekly", "weekday": 1, "time": "08:00", "users": ["manager"]}),
        ("admin", {"name": "月度客户价值分析", "report": "value", "schedule_kind": "monthly", "day": 1,
                   "time": "09:00", "users": ["admin"], "emails": "财务总监 <cfo@example.com>"}),
        ("manager2", {"name": "团队客户分群周报", "report": "segmentation", "schedule_kind": "weekly",
                      "weekday": weekday, "time": time, "users": ["manager2"],
                      "emails": "区域总监 <director@example.com>"}),
    ]


def give_emails():
    """Demo users without an address get their example.com one (an address set by hand stays)."""
    for username, address in EMAILS.items():
        (User.update(email=address)
         .where((User.username == username) & (User.email.is_null() | (User.email == "")))
         .execute())


def seed(now=None):
    """Replace the demo subscriptions; returns [(Subscription, its next occurrence in UTC)]."""
    now = now or datetime.datetime.now(schedule.UTC).replace(tzinfo=None)
    plans = definitions(now)
    give_emails()
    owners = {user.username: user for user in User.select().where(User.username.in_([o for o, _ in plans]))}
    made = []
    with db.atomic():
        previous = (Subscription.select(Subscription.id)
                    .where(Subscription.name.in_([fields["name"] for _, fields in plans])
                           & Subscription.owner.in_(list(owners.values()))))
        ids = [row.id for row in previous]
        if ids:  # deliveries first: SQLite may run with foreign keys (and so cascades) off
            Delivery.delete().where(Delivery.subscription.in_(ids)).execute()
            Subscription.delete().where(Subscription.id.in_(ids)).execute()
        for owner, fields in plans:
            subscription = subscriptions.create(owners[owner], **fields)
            upcoming = schedule.occurrences(subscription, now, now + datetime.timedelta(days=32), limit=1)
            made.append((subscription, upcoming[0]))
    return made
