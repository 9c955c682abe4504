"""系统管理 → 角色权限 as one page: the role's fields, a grid of policy keys (rows) by actions (查看 / 新建 / 编辑 /
删除 / 导出, tick boxes), and one table of column rules (every column a screen shows, per key: 可编辑 / 只读 /
脱敏 / 隐藏, and 查看明文 for masked ones).  One submit saves it all in one transaction through access.roles,
audited with the policy before and after; the policy version is bumped, so every process applies it at once.

Form names: `perm.<key>.<action>` (a tick), `rule.<key>.<column>` (a level), `reveal.<key>.<column>` (a tick).
"""
from flask import abort, flash, redirect, request
from flask_admin.helpers import get_redirect_target
from flask_login import current_user

import audittrail
from access import roles
from access.defaults import (ADMINISTRATION, ANALYSIS, INTAKE, POLICY_KEYS, PRIVACY, RECORDS, REFERENCE, TOOLS,
                             VALUES)
from i18n import current_language
from models import Role, db
from models.people import ACTIONS, COLUMN_ACCESS, ROW_SCOPES

from .labels import VIEW_NAMES, labels_for
from .secured import PolicyModelView, TokenForm, audit, parse_id

# The grid's row groups, in the order of the menu.
GROUPS = (("客户记录", "Customer records", RECORDS), ("基础数据", "Reference data", REFERENCE),
          ("分析报表", "Analysis", ANALYSIS + VALUES), ("工具", "Tools", TOOLS + INTAKE),
          ("系统管理", "Administration", ADMINISTRATION + PRIVACY))
# Editable first: it is what a column without a rule is.
LEVELS = tuple(sorted(COLUMN_ACCESS, key=lambda pair: pair[0] != "editable"))

TEXT = {
    "zh": {"role": "角色", "name": "角色标识", "name_help": "小写英文字母开头，只含小写字母、数字和下划线，例如 key_account",
           "label": "显示名称", "row_scope": "数据范围", "require_totp": "需要两步验证", "description": "说明",
           "actions": "操作权限", "actions_help": "每行一个对象，勾选该角色可做的操作；不勾选即无权限。",
           "key": "对象", "columns": "字段规则",
           "columns_help": "每个对象的字段：可编辑（默认）、只读（可见不可改）、脱敏（如 138****5678）、隐藏（列表、详情、导出、表单中都不出现）。"
                           "查看明文只适用于脱敏字段：可在详情页逐条查看明文，每次记入审计日志。",
           "column": "字段", "access": "权限", "reveal": "查看明文", "save": "保存", "cancel": "取消",
           "refused": "未保存：请改正以下问题后再提交（没有做任何修改）。", "saved": "角色“{label}”的权限已保存",
           "expired": "页面已过期，请刷新页面后重试", "copy_from": "从现有角色复制权限：", "actions_names": {"view": "查看", "create": "新建", "edit": "编辑",
                                                              "delete": "删除", "export": "导出"}},
    "en": {"role": "Role", "name": "Key", "name_help": "lower-case letters, digits and underscores, e.g. key_account",
           "label": "Label", "row_scope": "Row scope", "require_totp": "Requires two-step login",
           "description": "Description", "actions": "Permissions",
           "actions_help": "One row per model: tick what the role may do; nothing ticked means no access.",
           "key": "Model", "columns": "Column rules",
           "columns_help": "Per column: editable (default), read-only, masked or hidden. Reveal applies to masked "
                           "columns only: one record at a time on its details page, each time audited.",
           "column": "Column", "access": "Access", "reveal": "Reveal", "save": "Save", "cancel": "Cancel",
           "refused": "Not saved: correct the problems below (nothing was changed).",
           "saved": "The permissions of role “{label}” were saved", "expired": "页面已过期，请刷新页面后重试",
           "copy_from": "Start from an existing role:",
           "actions_names": {a: a.capitalize() for a in ACTIONS}},
}


def policy_columns(admin):
    """Policy key -> the columns its screens declare (lists, details, forms), in their order: what a rule may name."""
    found = {}
    for view in admin._views:
        if isinstance(view, PolicyModelView):
            columns = found.setdefault(view.policy_key, [])
            for column in (*view.list_columns, *view.detail_columns, *view.form_fields):
                if column not in columns:
                    columns.append(column)
    return found


def parse(form):
    """The RoleEdit a posted grid describes, unknown keys and columns included (check() names them)."""
    fields = {name: form.get(name, "") for name in ("name", "label", "row_scope", "description")}
    fields["require_totp"] = form.get("require_totp") in ("y", "1", "on")
    actions, rules = {}, {}
    for name in form:
        kind, _, rest = name.partition(".")
        if kind == "perm":
            key, _, action = rest.rpartition(".")
            actions.setdefault(key, set()).add(action)
        elif kind in ("rule", "reveal"):
            key, _, column = rest.partition(".")
            level, reveal = rules.get((key, column), ("editable", False))
            if kind == "rule":
                level = form.get(name)
            else:
                reveal = form.get(name) in ("y", "1", "on")
            rules[(key, column)] = (level, reveal)
    return roles.RoleEdit(fields=fields, actions=actions, rules=rules)


class RoleGrid:
    """The role screen's create and edit pages (mixed into RoleView: they replace Flask-Admin's forms)."""

    grid_template = "admin/role_grid.html"

    def grid(self, role_id):
        known = policy_columns(self.admin)
        if role_id is not None:  # a stored rule on a column no screen declares stays editable in the grid
            for key, column in roles.current(role_id).rules:
                if column not in known.setdefault(key, []):
                    known[key].append(column)
        words = TEXT[current_language()]
        back = get_redirect_target() or self.get_url(".index_view")
        if request.method != "POST":
            return self._render_grid(self._starting_point(role_id), role_id, known, [], back)
        edit = parse(request.form)
        problems = [] if TokenForm(request.form).validate() else [words["expired"]]
        problems = problems or roles.check(edit, role_id, known, current_user.role_id)
        if problems:
            return self._render_grid(edit, role_id, known, problems, back, status=400)
        with db.atomic():
            before = audittrail.role_policy(role_id) if role_id is not None else {}
            role = roles.apply(edit, role_id)
            audit("create" if role_id is None else "update", self.policy_key, role.id,
                  audittrail.policy_changes(before, audittrail.role_policy(role.id)))
        flash(words["saved"].format(label=role.label), "success")
        return redirect(back)

    def _starting_point(self, role_id):
        """The stored role; for a new one, a copy of the role named by ?copy= (its ticks and levels, not its
        key or name), so 大客户销售 can start from 销售代表 and differ in a few boxes."""
        if role_id is not None:
            return roles.current(role_id)
        source = parse_id(request.args.get("copy"))
        if source is None or not Role.select().where(Role.id == source).exists():
            return roles.current(None)
        edit = roles.current(source)
        edit.fields.update(name="", label="", description="")
        return edit

    def _render_grid(self, edit, role_id, known, problems, back, status=200):
        language = current_language()
        words, names = TEXT[language], VIEW_NAMES[language]
        grouped = {key for _zh, _en, keys in GROUPS for key in keys}
        rest = tuple(key for key in POLICY_KEYS if key not in grouped)  # keys added since: never left off the grid
        groups = [(title_zh if language == "zh" else title_en,
                   [(key, names.get(key, key)) for key in keys if key in POLICY_KEYS])
                  for title_zh, title_en, keys in GROUPS + (("其他", "Other", rest),) if keys]
        columns = []
        for _title, keys in groups:
            for key, name in keys:
                labels = labels_for(key, language)
                rows = [(column, labels.get(column, column)) for column in known.get(key, ())]
                if rows:
                    columns.append((key, name, rows))
        copies = [] if role_id is not None else list(Role.select().order_by(Role.id))
        page = self.render(self.grid_template, text=words, edit=edit, role_id=role_id, groups=groups,
                           columns=columns, actions=ACTIONS, levels=LEVELS, scopes=ROW_SCOPES, problems=problems,
                           form=TokenForm(), back=back, copies=copies, copied=parse_id(request.args.get("copy")))
        return page, status

    def create_grid(self):
        if not self.can_create:
            abort(403)
        return self.grid(None)

    def edit_grid(self):
        if not self.can_edit:
            abort(403)
        return self.grid(self.get_one(request.args.get("id")).id)
