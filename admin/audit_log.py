"""系统管理 → 审计日志: the audit trail, read-only, filtered by user, table, record, action and date range;
and the role screen's record of a policy change (before and after).

Who may open it is the policy's `auditlog` key (系统管理员 by default).  The filters use the indexes of
audit_log (at, username, action, model, and model + record_id: models/audit.py).  Nothing here writes
the trail: the database refuses updates and deletes of it (models/audit.py, docs/audit.md).
"""
import datetime
import decimal
import json
import re

from flask import g
from flask_admin.contrib.peewee.filters import DateBetweenFilter, FilterEqual, FilterLike
from flask_admin.model import filters as base_filters
from markupsafe import Markup, escape

import audittrail
from access.defaults import POLICY_KEYS
from models import AuditLog

from .labels import VIEW_NAMES, labels_for
from .secured import PolicyModelView

# Values of audit_log.model written by code paths that are not one screen's records.
OTHER_MODELS = {"database": "数据库（备份与恢复）", "job": "后台任务", "dashboard": "首页", "auditlog": "审计日志",
                 "sealed": "加密字段（密钥轮换）"}


def model_options():
    names = VIEW_NAMES["zh"]
    return [(key, f"{names.get(key, key)}（{key}）") for key in POLICY_KEYS] + list(OTHER_MODELS.items())


def _next_day(day):
    return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time())


def _start(day):
    return datetime.datetime.combine(day, datetime.time())


class AtBetween(DateBetweenFilter):
    """时间 介于 two dates, both days included (the column holds times: the end day runs to midnight)."""

    def apply(self, query, value):
        start, end = value
        return query.filter((self.column >= _start(start)) & (self.column < _next_day(end)))

    def operation(self):
        return "介于"  # both days included


class AtFrom(FilterEqual, base_filters.BaseDateFilter):
    def apply(self, query, value):
        return query.filter(self.column >= _start(value))

    def operation(self):
        return "起始于"


class AtUntil(FilterEqual, base_filters.BaseDateFilter):
    def apply(self, query, value):
        return query.filter(self.column < _next_day(value))

    def operation(self):
        return "截至（含当天）"


class Exactly(FilterEqual):
    def operation(self):
        return "等于"


class Containing(FilterLike):
    def operation(self):
        return "包含"


# What the actions written by the platform mean; the screen shows "删除（delete）", the filters take the key.
ACTION_NAMES = {
    "create": "新建", "update": "修改", "delete": "删除", "export": "导出", "import": "导入", "import-undo": "撤销导入",
    "login": "登录", "logout": "退出", "login_failed": "登录失败", "login_locked": "登录锁定", "login_refused": "拒绝登录",
    "totp_failed": "验证码错误", "totp_enrolled": "启用两步验证", "password_changed": "修改密码", "session_expired": "会话超时",
    "reveal": "查看明文", "rotate_key": "密钥轮换",
    "reveal_refused": "查看明文被拒", "totp_disabled": "关闭两步验证", "merge": "合并客户", "merge-undo": "撤销合并",
    "tag": "添加标签", "untag": "移除标签", "retire": "停用标签", "run": "运行", "send": "发送", "backup": "备份",
    "restore": "恢复", "purge": "清理文件", "retention": "审计日志到期清理", "refresh": "刷新", "auto-status": "自动状态",
    "auto-tag": "规则加标签", "auto-untag": "规则去标签", "pause": "暂停", "resume": "恢复订阅",
    "personal-data-export": "导出个人数据", "personal-data-erase": "匿名化客户",
    "revoke": "撤销令牌", "api_token_locked": "API令牌锁定",
}
MONEY = re.compile(r"^-?\d+\.\d{2}$")


def _named(names, key):
    return f"{names[key]}（{key}）" if key in names else (key or "")


def _model_name(view, context, model, name):
    return _named({**VIEW_NAMES["zh"], **OTHER_MODELS}, model.model)


def _action_name(view, context, model, name):
    return _named(ACTION_NAMES, model.action)


def _readable(value):
    """Amounts with thousands separators (1250000.00 -> 1,250,000.00); None as empty."""
    if value is None:
        return ""
    if isinstance(value, str) and MONEY.match(value):
        return f"{decimal.Decimal(value):,.2f}"
    return value


def _changes(view, context, model, name):
    """变更内容 as readable text: 字段: old → new, or 字段: value for a delete's values (field labels in Chinese)."""
    text = model.changes
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if not isinstance(data, dict):
        return text
    parts = []
    labels = labels_for(model.model or "", "zh")  # the field names users know (客户名称, not name)
    for key, value in data.items():
        label = labels.get(key, key)
        if isinstance(value, list) and len(value) == 2:
            old, new = (_readable(v) for v in value)
            parts.append(f"{label}: {old} → {new}")
        else:
            parts.append(f"{label}: {_readable(value)}")
    shown = "；".join(str(p) for p in parts)
    if len(shown) > 300:
        return Markup('<span title="{}">{}…</span>').format(shown, shown[:300])
    return escape(shown)


class AuditLogView(PolicyModelView):
    list_columns = ("at", "username", "action", "model", "record_id", "rows", "changes", "ip")
    detail_columns = list_columns
    form_fields = ()
    search_kinds = {"username": "exact", "record_id": "exact"}
    sortable_columns = ("at", "username", "action")
    column_default_sort = ("id", True)
    filter_columns = (
        ("username", Exactly(AuditLog.username, "用户")),
        ("model", Exactly(AuditLog.model, "表", options=model_options)),
        ("record_id", Exactly(AuditLog.record_id, "记录")),
        ("action", Exactly(AuditLog.action, "操作")),
        ("action", Containing(AuditLog.action, "操作")),
        ("at", AtBetween(AuditLog.at, "日期")),
        ("at", AtFrom(AuditLog.at, "日期")),
        ("at", AtUntil(AuditLog.at, "日期")),
    )
    column_formatters = {"changes": _changes, "model": _model_name, "action": _action_name}

    def _configure(self, grant):
        super()._configure(grant)
        self.can_create = self.can_edit = False
        self.can_delete = False  # the trail is append-only; the database refuses deletes anyway


class AuditsPolicy:
    """For the role screen: an edit records the role's whole policy before and after (its fields, each
    model's permissions and each column rule, inline rows included), a delete the policy it had."""

    def update_model(self, form, model):
        g.policy_before = audittrail.role_policy(model.id)
        return super().update_model(form, model)

    def _changes(self, before, after):
        return audittrail.policy_changes(g.pop("policy_before", {}), audittrail.role_policy(after.get("id")))

    def on_model_delete(self, model):
        g.policy_before = audittrail.role_policy(model.id)
        super().on_model_delete(model)

    def deleted_values(self, model):
        return g.pop("policy_before", None) or super().deleted_values(model)


__all__ = ["AuditLogView", "AuditsPolicy"]
