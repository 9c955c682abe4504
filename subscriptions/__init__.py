"""Report subscriptions (报表订阅): reports mailed on a schedule, each occurrence exactly once.

    import subscriptions
    sub = subscriptions.create(owner, name="周报", report="value", parameters={"top_n": 50},
                               schedule_kind="weekly", weekday=1, time="08:00",   # 周一 08:00
                               timezone="Asia/Shanghai", users=["sales1"], emails="boss@example.com")
    subscriptions.plan(now)              # Delivery rows for every occurrence due (catch-up included)
    subscriptions.deliver(delivery_id)   # claim, run the report in the recipients' scope, mail it

On a worker the "due-subscriptions" job (subscriptions.tasks, every minute) plans and enqueues
deliveries.  Records: models.Subscription and models.Delivery.  See docs/operations.md,
"Subscriptions (报表订阅)", for the rules (scopes, month ends, retries, at-most-once mail).
Never imports Flask; importing this package does not load papermill.
"""
from .schedule import DEFAULT_TIMEZONE, ScheduleError, describe, occurrences, period_label
from .validation import SubscriptionError, clean, create, set_enabled, update


def plan(now=None):
    from . import engine

    return engine.plan(now)


def deliver(delivery_id, config=None, now=None):
    from . import engine

    return engine.deliver(delivery_id, config=config, now=now)


__all__ = ["DEFAULT_TIMEZONE", "ScheduleError", "SubscriptionError", "clean", "create", "deliver", "describe",
           "occurrences", "period_label", "plan", "set_enabled", "update"]
