"""Screens for admins: users, roles with their permissions and column rules, lists, audit log."""
from flask import abort, flash, g
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from wtforms import PasswordField
from wtforms.validators import ValidationError

import access
from access import roles
from credentials import password_problems
from models import Tag, User, db
from models.activity import TAG_CATEGORIES, TAG_SOURCES

from . import form_rules
from .audit_log import AuditLogView, AuditsPolicy
from .role_grid import RoleGrid
from .secured import PolicyModelView, audit


class UserView(PolicyModelView):
    list_columns = ("username", "display_name", "role", "manager", "active", "must_change_password", "totp_enabled",
                    "created_at")
    detail_columns = ("username", "display_name", "email", "role", "manager", "active", "must_change_password",
                      "totp_enabled", "created_at")
    form_fields = ("username", "display_name", "email", "role", "manager", "active", "must_change_password",
                   "new_password")
    search_kinds = {"username": "fragment", "display_name": "fragment"}
    sortable_columns = ("username", "display_name", "created_at")
    filter_columns = (("active", "active"),)
    form_extra_fields = {"new_password": PasswordField("新密码 / New password")}
    sensitive_columns = ("password_hash", "totp_secret")

    def validate_model(self, model, is_created):
        form = g.get("user_form")
        password = form.new_password.data if form is not None and hasattr(form, "new_password") else None
        if is_created and not password:
            raise ValidationError("新用户必须设置初始密码")
        if password:
            problems = password_problems(password, model.username)
            if problems:
                raise ValidationError("；".join(problems))
            model.set_password(password)
        if model.manager_id and model.manager_id == model.id:
            raise ValidationError("上级经理不能是本人")
        if model.id is not None and model.id == current_user.id:  # never lock oneself out of the admin
            if not model.active:
                raise ValidationError("不能停用您自己的账号")
            if model.role_id != current_user.role_id and not roles.lets_edit_roles(model.role_id):
                raise ValidationError("不能把自己改为没有“角色权限”查看和编辑权限的角色，否则您将无法再修改权限")

    def on_model_change(self, form, model, is_created):
        g.user_form = form  # per request: variants are shared between threads
        super().on_model_change(form, model, is_created)

    @action("disable_totp", "关闭两步验证", "关闭所选用户的两步验证？他们下次登录只需密码（角色要求时须重新设置）。")
    def action_disable_totp(self, ids):
        """An admin turns two-step login off (a lost phone): the secret is erased, each user audited."""
        if not self.can_edit:
            abort(403)
        keys = [k for k in (self._parse_pk(i) for i in ids) if k is not None]
        with db.atomic():
            rows = list(self.get_query().where(User.id.in_(keys) & (User.totp_secret.is_null(False)))) if keys else []
            for user in rows:
                User.update(totp_secret=None, totp_enabled=False, totp_last_step=None).where(User.id == user.id).execute()
                audit("totp_disabled", "user", user.id, {"totp_enabled": [bool(user.totp_enabled), False]})
        flash(f"已关闭 {len(rows)} 个用户的两步验证", "success")


class ChangesPolicy:
    """For views whose rows shape the cached view variants: any save or delete bumps the policy version."""

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        access.bump_version()

    def after_model_delete(self, model):
        super().after_model_delete(model)
        access.bump_version()


class RoleView(RoleGrid, AuditsPolicy, ChangesPolicy, PolicyModelView):
    """Roles are set up on one page, the grid (admin/role_grid.py): the role's fields, its actions per policy key
    as tick boxes and its column rules, saved in one submit; any save or delete bumps the policy version."""

    list_columns = ("name", "label", "row_scope", "require_totp", "description")
    detail_columns = list_columns
    form_fields = ("name", "label", "row_scope", "require_totp", "description")
    search_kinds = {"name": "fragment", "label": "fragment"}
    sortable_columns = ("name",)

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        return self.create_grid()

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        return self.edit_grid()


class TagView(ChangesPolicy, PolicyModelView):
    """The tag library.  The customer list's tag filters list the tags, and filter options are frozen per
    view variant: any save or delete bumps the policy version.  Retiring is on 标签使用情况 (admin/tagging.py)."""

    list_columns = ("name", "category", "source", "retired_at")
    detail_columns = list_columns
    form_fields = ("name", "category", "source")
    form_args = {"name": {"filters": [form_rules.strip]},
                 "source": {"description": "手动：员工在客户列表中批量添加或移除；规则：由标签规则自动维护，不能手动添加"}}
    search_kinds = {"name": "fragment"}
    sortable_columns = ("name", "category", "source", "retired_at")
    filter_columns = (
        ("category", FilterEqual(Tag.category, "分类", options=TAG_CATEGORIES)),
        ("source", FilterEqual(Tag.source, "来源", options=TAG_SOURCES)),
    )

    def validate_model(self, model, is_created):
        name = (model.name or "").strip()
        if not name:
            raise ValidationError("请填写标签名称")
        if len(name) > Tag.name.max_length:
            raise ValidationError(f"标签名称过长：最多 {Tag.name.max_length} 个字符")
        if "," in name:  # the list's tag filters separate names with commas
            raise ValidationError("标签名称不能包含英文逗号")
        twin = Tag.select().where(Tag.name == name)
        if model.id:
            twin = twin.where(Tag.id != model.id)
        if twin.exists():
            raise ValidationError(f"标签“{name}”已存在")
        model.name = name


class ChoiceView(ChangesPolicy, PolicyModelView):
    """List entries feed filter dropdowns, which Flask-Admin freezes per view variant: bump the version on change."""

    list_columns = ("kind", "name", "code", "aliases", "position")
    detail_columns = list_columns
    form_fields = list_columns
    form_args = {"aliases": {"description": "逗号分隔，例如 IT,信息技术：表单与导入会把这些写法记为本选项"}}
    search_kinds = {"name": "fragment"}
    sortable_columns = ("kind", "name", "position")
    filter_columns = (("kind", "kind"),)
    column_default_sort = [("kind", False), ("position", False)]


__all__ = ["UserView", "RoleView", "TagView", "ChoiceView", "AuditLogView", "User"]
