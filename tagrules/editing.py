"""Creating, changing, enabling and deleting rules, as the rules screen does: checked, audited, and the
rule applied to every customer at once when what it decides changed (its condition, tag or enabled flag).

    rule, result = editing.save({"name": ..., "tag": "高价值", "condition": "{...}", "enabled": True}, user)
"""
import datetime
import json

import access
from models import AuditLog, Tag, TagRule, db

from . import conditions, engine, policy

NAME_MAX = TagRule.name.max_length


class Refused(ValueError):
    """A change of rules that may not happen; the message is for the person who asked, nothing changed."""


def _check(user, action):
    if user is not None and not policy.may_edit(access.grant_for(user), action):
        raise Refused("您没有修改标签规则的权限")


def _tag(name):
    name = (name or "").strip()
    if not name:
        raise Refused("请选择标签")
    tag = Tag.get_or_none(Tag.name == name)
    if tag is None:
        raise Refused(f"标签“{name[:40]}”不存在，请先在标签库中新建（来源选“规则”）")
    if tag.source != "rule":
        raise Refused(f"“{name}”是手动标签；规则只能使用来源为“规则”的标签，手动标签永远不会被规则改动")
    if tag.retired_at is not None:
        raise Refused(f"标签“{name}”已停用，不能用于规则")
    return tag


def _audit(user, action, rule_id, changes, ip, now):
    AuditLog.create(at=now, username=getattr(user, "username", None) or "system", action=action, model="tagrule",
                    record_id=str(rule_id), changes=json.dumps(changes, ensure_ascii=False, default=str), ip=ip)


def save(values, user=None, rule_id=None, ip=None, today=None, now=None):
    """Create (rule_id None) or change a rule from the screen's `values` (name, tag, condition, enabled,
    description); returns (rule, engine.Result or None).  Refused / conditions.Invalid change nothing."""
    _check(user, "create" if rule_id is None else "edit")
    now = now or datetime.datetime.now()
    name = (values.get("name") or "").strip()
    if not name:
        raise Refused("请填写规则名称")
    if len(name) > NAME_MAX:
        raise Refused(f"规则名称过长：最多 {NAME_MAX} 个字符")
    tag = _tag(values.get("tag"))
    tree = conditions.parse(values.get("condition"))
    text = conditions.dumps(tree)
    enabled = bool(values.get("enabled"))
    description = (values.get("description") or "").strip()[:500] or None
    with db.atomic():
        clash = TagRule.select().where(TagRule.name == name)
        if rule_id is not None:
            clash = clash.where(TagRule.id != rule_id)
        if clash.exists():
            raise Refused(f"已有名为“{name}”的规则")
        if rule_id is None:
            rule = TagRule.create(name=name, tag=tag, condition=text, enabled=enabled, description=description,
                                  updated_by=getattr(user, "username", None), created_at=now, updated_at=now)
            before = {}
        else:
            rule = TagRule.get_or_none(TagRule.id == rule_id)
            if rule is None:
                raise Refused("规则不存在")
            before = {"name": rule.name, "tag": rule.tag.name, "condition": json.loads(rule.condition),
                      "enabled": rule.enabled, "description": rule.description}
        after = {"name": name, "tag": tag.name, "condition": tree, "enabled": enabled, "description": description}
        changes = {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}
        if rule_id is not None and not changes:
            return rule, None
        old_tag = rule.tag_id
        if rule_id is not None:
            if old_tag != tag.id:
                engine.close_all(rule.id, "edit", now)  # its episodes were of the old tag
            (TagRule.update(name=name, tag=tag, condition=text, enabled=enabled, description=description,
                            updated_at=now, updated_by=getattr(user, "username", None))
             .where(TagRule.id == rule.id).execute())
            if old_tag != tag.id:
                engine.sync_tag(old_tag, now=now)
        _audit(user, "create" if rule_id is None else "update", rule.id, changes, ip, now)
    rule = TagRule.get_by_id(rule.id)
    result = None
    if {"tag", "condition", "enabled"} & set(changes) and (enabled or rule_id is not None):
        result = engine.evaluate(today or now.date(), rules=[rule.id], trigger="edit", now=now)[0]
    return rule, result


def set_enabled(rule_id, enabled, user=None, ip=None, today=None, now=None):
    """启用 / 停用: the rule applied (or its tags taken back) at once; returns (rule, Result)."""
    _check(user, "edit")
    now = now or datetime.datetime.now()
    rule = TagRule.get_or_none(TagRule.id == rule_id)
    if rule is None:
        raise Refused("规则不存在")
    if enabled and rule.tag.retired_at is not None:
        raise Refused(f"标签“{rule.tag.name}”已停用，不能启用此规则")
    with db.atomic():
        TagRule.update(enabled=bool(enabled), updated_at=now, updated_by=getattr(user, "username", None)).where(
            TagRule.id == rule.id).execute()
        _audit(user, "enable" if enabled else "disable", rule.id, {"enabled": [rule.enabled, bool(enabled)]}, ip, now)
    result = engine.evaluate(today or now.date(), rules=[rule.id], trigger="edit", now=now)[0]
    return TagRule.get_by_id(rule.id), result


def delete(rule_id, user=None, ip=None, now=None):
    """Delete a rule: its open episodes are closed and its tag taken off where no other rule holds it, then
    the rule and its episodes go; the audit row keeps the rule as it was."""
    _check(user, "delete")
    now = now or datetime.datetime.now()
    with db.atomic():
        rule = TagRule.get_or_none(TagRule.id == rule_id)
        if rule is None:
            raise Refused("规则不存在")
        closed = engine.close_all(rule.id, "delete", now)
        snapshot = {"name": rule.name, "tag": rule.tag.name, "condition": json.loads(rule.condition),
                    "enabled": rule.enabled, "closed": closed}
        tag_id = rule.tag_id
        rule.delete_instance(recursive=True)
        engine.sync_tag(tag_id, now=now)
        _audit(user, "delete", rule_id, snapshot, ip, now)
    return snapshot
