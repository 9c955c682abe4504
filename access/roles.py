"""A role's whole policy as one edit: its fields, the actions ticked per policy key and its column rules.

The role screen (系统管理 → 角色权限, a grid: keys as rows, actions as tick boxes, one table of column rules)
posts everything at once; `check` lists every problem of the edit in Chinese before anything is written and
`apply` writes the role, replaces its permissions and column rules and bumps the policy version, inside the
caller's transaction (the screen audits the before and after in the same one).

    edit = RoleEdit(fields={...}, actions={"customer": {"view", "edit"}}, rules={("customer", "mobile"): ("masked", False)})
    problems = check(edit, role_id, known_columns, editor_role_id)
    if not problems:
        role = apply(edit, role_id)
"""
import re
from dataclasses import dataclass, field

from models import ColumnRule, Role, RolePermission
from models.people import ACTIONS, COLUMN_ACCESS, ROW_SCOPES

from .defaults import POLICY_KEYS
from .grant import EDITABLE, MASKED
from .policy import bump_version

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# What a role needs to change roles again: without it, editing one's own role could lock the editor out.
KEEPS_THE_EDITOR_IN = ("role", ("view", "edit"))


@dataclass
class RoleEdit:
    fields: dict  # name, label, row_scope, require_totp, description
    actions: dict = field(default_factory=dict)  # policy key -> set of actions ticked
    rules: dict = field(default_factory=dict)  # (key, column) -> (access level, reveal)


def check(edit, role_id, known_columns, editor_role_id):
    """Every problem of `edit` as a Chinese sentence (empty: it may be saved).

    `known_columns` maps each policy key to the columns a rule may name (the screen offers exactly those);
    `role_id` is None for a new role; `editor_role_id` is the role of whoever saves it."""
    problems = []
    values = edit.fields
    name = (values.get("name") or "").strip()
    stored = Role.get_or_none(Role.id == role_id) if role_id is not None else None
    if not name:
        problems.append("请填写角色标识")
    elif (stored is None or name != stored.name) and (len(name) > Role.name.max_length
                                                      or not NAME_PATTERN.match(name)):
        problems.append(f"角色标识“{name}”无效：以小写英文字母开头，只含小写字母、数字和下划线，最多 "
                        f"{Role.name.max_length} 个字符（例如 key_account）")
    else:
        twin = Role.select().where(Role.name == name)
        if role_id is not None:
            twin = twin.where(Role.id != role_id)
        if twin.exists():
            problems.append(f"角色标识“{name}”已被其他角色使用")
    label = (values.get("label") or "").strip()
    if not label:
        problems.append("请填写显示名称")
    elif len(label) > Role.label.max_length:
        problems.append(f"显示名称过长：最多 {Role.label.max_length} 个字符")
    if values.get("row_scope") not in dict(ROW_SCOPES):
        problems.append(f"数据范围无效：“{values.get('row_scope')}”，请选择 本人 / 本团队 / 全部")
    for key, actions in edit.actions.items():
        if key not in POLICY_KEYS:
            problems.append(f"未知对象：“{key}”")
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            problems.append(f"未知操作：“{'、'.join(unknown)}”（{key}）")
    levels = dict(COLUMN_ACCESS)
    for (key, column), (level, reveal) in sorted(edit.rules.items()):
        if key not in POLICY_KEYS:
            problems.append(f"未知对象：“{key}”（字段 {column}）")
        elif column not in known_columns.get(key, ()):
            problems.append(f"未知字段：“{key}.{column}”")
        if level not in levels:
            problems.append(f"字段 {key}.{column} 的权限无效：“{level}”，请选择 可编辑 / 只读 / 脱敏 / 隐藏")
        elif reveal and level != MASKED:
            problems.append(f"字段 {key}.{column}：查看明文只适用于“脱敏”的字段：隐藏的字段不显示，只读和可编辑的字段已是明文")
    if role_id is not None and role_id == editor_role_id:
        key, needed = KEEPS_THE_EDITOR_IN
        if not set(needed) <= set(edit.actions.get(key, ())):
            problems.append("这是您自己的角色：必须保留“角色权限”的查看和编辑权限，否则保存后您将无法再修改任何角色的权限")
    return problems


def apply(edit, role_id):
    """Write `edit` (already checked): the role's fields, then exactly the permissions and column rules it
    holds (a key with no action ticked and an editable column without 查看明文 need no row).  Runs in the
    caller's transaction; the policy version is bumped so every process builds fresh grants."""
    values = edit.fields
    row = {"name": values["name"].strip(), "label": values["label"].strip(), "row_scope": values["row_scope"],
           "require_totp": bool(values.get("require_totp")),
           "description": (values.get("description") or "").strip() or None}
    if role_id is None:
        role = Role.create(**row)
    else:
        Role.update(**row).where(Role.id == role_id).execute()
        role = Role.get_by_id(role_id)
    RolePermission.delete().where(RolePermission.role == role.id).execute()
    permissions = [{"role": role.id, "model": key, **{"can_" + a: a in actions for a in ACTIONS}}
                   for key, actions in sorted(edit.actions.items()) if actions]
    if permissions:
        RolePermission.insert_many(permissions).execute()
    ColumnRule.delete().where(ColumnRule.role == role.id).execute()
    rules = [{"role": role.id, "model": key, "column": column, "access": level, "reveal": bool(reveal)}
             for (key, column), (level, reveal) in sorted(edit.rules.items()) if level != EDITABLE or reveal]
    if rules:
        ColumnRule.insert_many(rules).execute()
    bump_version()
    return role


def current(role_id):
    """The edit that reproduces the stored role (None: a new role's empty edit)."""
    if role_id is None:
        return RoleEdit(fields={"name": "", "label": "", "row_scope": "own", "require_totp": False, "description": ""})
    role = Role.get_by_id(role_id)
    fields = {"name": role.name, "label": role.label, "row_scope": role.row_scope,
              "require_totp": role.require_totp, "description": role.description or ""}
    actions = {p.model: {a for a in ACTIONS if getattr(p, "can_" + a)}
               for p in RolePermission.select().where(RolePermission.role == role_id)}
    rules = {(r.model, r.column): (r.access, r.reveal)
             for r in ColumnRule.select().where(ColumnRule.role == role_id)}
    return RoleEdit(fields=fields, actions=actions, rules=rules)


def lets_edit_roles(role_id):
    """Whether users of `role_id` may still open and change roles (the guard against locking oneself out)."""
    key, needed = KEEPS_THE_EDITOR_IN
    permission = RolePermission.get_or_none((RolePermission.role == role_id) & (RolePermission.model == key))
    return permission is not None and all(getattr(permission, "can_" + a) for a in needed)
