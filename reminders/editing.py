"""Creating, changing, enabling and deleting reminder rules, as the 提醒规则 screen does: checked (a Chinese
message for bad input, nothing changed), audited, and the rule applied at once.

    rule, result = editing.save({"name": ..., "tag": "流失风险", "action": "联系客户", "kind": "within",
                                 "days": "30", "method": "", "enabled": True}, user)
"""
import datetime
import json

import access
from models import AuditLog, ReminderRule, Tag, Task, db
from models.activity import FOLLOW_METHODS
from models.tasks import RULE_KINDS

from . import engine, policy

NAME_MAX = ReminderRule.name.max_length
ACTION_MAX = ReminderRule.action.max_length
MAX_DAYS = 3650


class Refused(ValueError):
    """A change of reminder rules that may not happen; the message says why, nothing changed."""


def _check(user, action):
    if user is not None and not policy.may_edit_rules(access.grant_for(user), action):
        raise Refused("您没有修改提醒规则的权限")


def _audit(user, action, rule_id, changes, ip, now):
    AuditLog.create(at=now, username=getattr(user, "username", None) or "system", action=action,
                    model="reminderrule", record_id=str(rule_id),
                    changes=json.dumps(changes, ensure_ascii=False, default=str), ip=ip)


def clean(values):
    """The checked values of a rule form, or Refused naming the first problem."""
    name = (values.get("name") or "").strip()
    if not name:
        raise Refused("请填写规则名称")
    if len(name) > NAME_MAX:
        raise Refused(f"规则名称过长：最多 {NAME_MAX} 个字符")
    tag_name = (values.get("tag") or "").strip()
    if not tag_name:
        raise Refused("请选择标签")
    tag = Tag.get_or_none(Tag.name == tag_name)
    if tag is None:
        raise Refused(f"标签“{tag_name[:40]}”不存在")
    if tag.retired_at is not None:
        raise Refused(f"标签“{tag_name}”已停用，不能用于提醒规则")
    action = (values.get("action") or "").strip()
    if not action:
        raise Refused("请填写任务内容，例如“联系客户”")
    if len(action) > ACTION_MAX:
        raise Refused(f"任务内容过长：最多 {ACTION_MAX} 个字符")
    kind = (values.get("kind") or "").strip()
    if kind not in dict(RULE_KINDS):
        raise Refused("请选择提醒方式：N天内 或 每N天")
    raw = str(values.get("days") if values.get("days") is not None else "").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise Refused(f"天数 N 必须是 1 到 {MAX_DAYS} 之间的整数，而不是“{raw[:20]}”")
    method = (values.get("method") or "").strip() or None
    if method is not None and method not in dict(FOLLOW_METHODS):
        raise Refused(f"跟进方式“{method[:10]}”无效；可选：{'、'.join(dict(FOLLOW_METHODS))}，或留空表示任何跟进")
    description = (values.get("description") or "").strip()[:500] or None
    return {"name": name, "tag": tag, "action": action, "kind": kind, "days": int(raw), "method": method,
            "enabled": bool(values.get("enabled")), "description": description}


def _snapshot(rule):
    return {"name": rule.name, "tag": rule.tag.name, "action": rule.action, "kind": rule.kind, "days": rule.days,
            "method": rule.method, "enabled": rule.enabled, "description": rule.description}


def save(values, user=None, rule_id=None, ip=None, today=None, now=None):
    """Create (rule_id None) or change a rule; returns (rule, engine.Result or None)."""
    _check(user, "create" if rule_id is None else "edit")
    now = now or datetime.datetime.now()
    clean_values = clean(values)
    with db.atomic():
        clash = ReminderRule.select().where(ReminderRule.name == clean_values["name"])
        if rule_id is not None:
            clash = clash.where(ReminderRule.id != rule_id)
        if clash.exists():
            raise Refused(f"已有名为“{clean_values['name']}”的提醒规则")
        fields = dict(clean_values, tag=clean_values["tag"].id, updated_at=now,
                      updated_by=getattr(user, "username", None))
        after = dict(clean_values, tag=clean_values["tag"].name)
        if rule_id is None:
            rule = ReminderRule.create(created_at=now, **fields)
            before = {}
        else:
            rule = ReminderRule.get_or_none(ReminderRule.id == rule_id)
            if rule is None:
                raise Refused("提醒规则不存在")
            before = _snapshot(rule)
        changes = {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}
        if rule_id is not None and not changes:
            return rule, None
        if rule_id is not None:
            if {"tag", "kind", "days", "method"} & set(changes):
                # what the open tasks were made for changed: they close, and the rule opens its own anew
                Task.update(status="done", open_key=None, closed_at=now, closed_reason="rule-off").where(
                    (Task.rule == rule.id) & (Task.status == "open")).execute()
            ReminderRule.update(**fields).where(ReminderRule.id == rule.id).execute()
        _audit(user, "create" if rule_id is None else "update", rule.id, changes, ip, now)
    result = engine.apply_rule(rule.id, today or now.date(), now, trigger="edit")
    return ReminderRule.get_by_id(rule.id), result


def set_enabled(rule_id, enabled, user=None, ip=None, today=None, now=None):
    """启用 / 停用: a disabled rule's open tasks close; an enabled one opens its tasks at once."""
    _check(user, "edit")
    now = now or datetime.datetime.now()
    rule = ReminderRule.get_or_none(ReminderRule.id == rule_id) if rule_id is not None else None
    if rule is None:
        raise Refused("提醒规则不存在")
    if enabled and rule.tag.retired_at is not None:
        raise Refused(f"标签“{rule.tag.name}”已停用，不能启用此提醒规则")
    with db.atomic():
        ReminderRule.update(enabled=bool(enabled), updated_at=now, updated_by=getattr(user, "username", None)).where(
            ReminderRule.id == rule.id).execute()
        _audit(user, "enable" if enabled else "disable", rule.id, {"enabled": [rule.enabled, bool(enabled)]}, ip, now)
    result = engine.apply_rule(rule.id, today or now.date(), now, trigger="edit")
    return ReminderRule.get_by_id(rule.id), result


def delete(rule_id, user=None, ip=None, now=None):
    """Delete a rule: its open tasks close (reason rule-deleted), its closed ones stay as history."""
    _check(user, "delete")
    now = now or datetime.datetime.now()
    with db.atomic():
        rule = ReminderRule.get_or_none(ReminderRule.id == rule_id) if rule_id is not None else None
        if rule is None:
            raise Refused("提醒规则不存在")
        closed = Task.update(status="done", open_key=None, closed_at=now, closed_reason="rule-deleted").where(
            (Task.rule == rule.id) & (Task.status == "open")).execute()
        snapshot = dict(_snapshot(rule), closed=closed)
        rule.delete_instance()
        _audit(user, "delete", rule_id, snapshot, ip, now)
    return snapshot
