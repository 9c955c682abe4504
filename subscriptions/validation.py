"""Checking a subscription before it is saved; every problem is named at once, in Chinese.

    values = clean({"name": ..., "report": "value", "parameters": {"top_n": 50},
                    "schedule_kind": "weekly", "weekday": 1, "time": "08:00",
                    "users": [3, "sales2"], "emails": "张三 <zhang@example.com>"}, owner=user)
    subscription = create(owner, **fields)     # clean + save; raises SubscriptionError

SubscriptionError.errors maps field -> message (for a form); str(error) joins them.
"""
import datetime
import json

from .schedule import DEFAULT_TIMEZONE, ScheduleError, check

FIELDS = ("name", "report", "parameters", "schedule_kind", "weekday", "day", "time", "cron", "timezone", "users",
          "emails", "enabled")


class SubscriptionError(ValueError):
    """`errors`: key -> message; `inputs`: key -> the form input at fault where the key is not
    one ("schedule" -> "time", say)."""

    def __init__(self, errors, inputs=None):
        self.errors = dict(errors)
        self.inputs = dict(inputs or {})
        super().__init__("；".join(self.errors.values()))


def _users(items, errors):
    """Recipient users by id, username or User: they must exist, be active and have an e-mail address."""
    from models import User

    found = []
    for item in items or ():
        if isinstance(item, User):
            user = User.get_or_none(User.id == item.id)
        elif isinstance(item, int) or (isinstance(item, str) and item.strip().isdigit()):
            user = User.get_or_none(User.id == int(item))
        else:
            user = User.get_or_none(User.username == str(item).strip())
        if user is None:
            errors.setdefault("users", f"用户 {item} 不存在")
        elif not user.active:
            errors.setdefault("users", f"用户 {user.username} 已停用，不能接收订阅")
        elif not (user.email or "").strip():
            errors.setdefault("users", f"用户 {user.username} 没有邮箱地址，请先在用户资料中填写")
        elif user.id not in found:
            found.append(user.id)
    return found


def _emails(value, errors):
    from delivery import AddressError, parse_addresses

    if not value or (isinstance(value, str) and not value.strip()):
        return []
    try:
        return [str(address) for address in parse_addresses(value, "收件人")]
    except AddressError as error:
        errors["emails"] = str(error)
        return []


def clean(fields, owner):
    """Checked, normalized model values for a subscription owned by `owner`; raises SubscriptionError."""
    from reporting import registry
    from reporting.params import validate

    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown subscription fields: {sorted(unknown)}")
    errors, inputs = {}, {}
    name = str(fields.get("name") or "").strip()
    if not name:
        errors["name"] = "请填写订阅名称"
    elif len(name) > 120:
        errors["name"] = "订阅名称不能超过 120 个字"
    parameters = {}
    try:
        report = registry.get(fields.get("report") or "")
    except registry.ReportError as error:
        errors["report"] = str(error)
    else:
        try:
            supplied = dict(fields.get("parameters") or {})
            converted = validate(report, supplied)  # raises on unknown names, types, dates
            parameters = {name: converted[name] for name in supplied}  # as typed values, e.g. "a,b" -> [a, b]
            registry.check_use(report, owner, converted)  # the owner's right to the report (not each recipient's)
        except registry.ReportError as error:
            errors["parameters"] = str(error)
    try:
        kind, weekday, day, time, cron = check(fields.get("schedule_kind") or "weekly", fields.get("weekday"),
                                               fields.get("day"), fields.get("time") or "08:00", fields.get("cron"),
                                               fields.get("timezone") or DEFAULT_TIMEZONE)
    except ScheduleError as error:
        errors["schedule"], inputs["schedule"] = str(error), error.field
        kind = weekday = day = time = cron = None
    if owner is None or not getattr(owner, "active", False):
        errors["owner"] = "订阅需要一个有效（未停用）的所有者"
    users = _users(fields.get("users"), errors)
    emails = _emails(fields.get("emails"), errors)
    if not users and not emails and "users" not in errors and "emails" not in errors:
        errors["recipients"] = "请至少选择一位收件用户或填写一个邮箱地址"
    if errors:
        raise SubscriptionError(errors, inputs)
    return {"name": name, "report": report.name, "parameters": json.dumps(parameters, ensure_ascii=False),
            "schedule_kind": kind, "weekday": weekday, "day": day, "time": time or "08:00", "cron": cron,
            "timezone": (fields.get("timezone") or DEFAULT_TIMEZONE).strip(),
            "recipient_users": json.dumps(users), "recipient_emails": ", ".join(emails),
            "enabled": bool(fields.get("enabled", True)), "owner": owner}


def create(owner, **fields):
    """A new, checked Subscription; its first occurrence is the first one after now (no back-fill)."""
    from models import Subscription

    values = clean(fields, owner)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return Subscription.create(planned_until=now, **values)


def update(subscription, **fields):
    """Change and re-check `subscription` (unchanged fields kept); returns it saved."""
    current = {"name": subscription.name, "report": subscription.report, "parameters": subscription.params,
               "schedule_kind": subscription.schedule_kind, "weekday": subscription.weekday,
               "day": subscription.day, "time": subscription.time, "cron": subscription.cron,
               "timezone": subscription.timezone, "users": subscription.user_ids,
               "emails": subscription.recipient_emails, "enabled": subscription.enabled}
    current.update(fields)
    values = clean(current, subscription.owner)
    _resume_from_now(subscription, values["enabled"])
    for key, value in values.items():
        setattr(subscription, key, value)
    subscription.updated_at = datetime.datetime.now()
    subscription.save()
    return subscription


def set_enabled(subscription, enabled):
    """Pause or resume (暂停/恢复) without re-checking the other fields: pausing must work even when,
    say, a recipient has left since.  Returns it saved."""
    from models import Subscription

    _resume_from_now(subscription, enabled)
    subscription.enabled = bool(enabled)
    subscription.updated_at = datetime.datetime.now()
    subscription.save(only=[Subscription.enabled, Subscription.planned_until, Subscription.updated_at])
    return subscription


def _resume_from_now(subscription, enabled):
    if enabled and not subscription.enabled:  # switched back on: from the next occurrence, no back-fill
        subscription.planned_until = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
