"""API令牌 (系统管理): the REST API's tokens, issued and revoked here (api/, docs/api.md).

Gated on the policy key `apitoken` (系统管理员 only by default): view = the tokens of the users in one's row
scope (a token belongs to its user, access.scope USER_PATHS); create = issue one for such a user, shown once on
the page that answers the form (never stored, never in a flash message, which lives in the session cookie);
delete = revoke.  Issuing and revoking are audited by models.tokens.
"""
import datetime

from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_admin.form import SecureForm
from flask_login import current_user
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from access.scope import owner_ids, scope_query
from models import ApiToken, User
from models import tokens

from .secured import PolicyView, TokenForm, current_grant, parse_id

POLICY_KEY = "apitoken"


class IssueForm(SecureForm):
    user = SelectField("所属用户", coerce=str, validators=[DataRequired("请选择用户")])
    name = StringField("令牌名称", validators=[DataRequired("请填写令牌名称"), Length(max=60, message="最多 60 个字符")],
                       description="用途，例如 ERP 同步；写入审计日志")
    scope = SelectField("权限范围", choices=[("read", "只读（只能查询）"), ("write", "读写（可新建和修改）")], default="read")
    days = IntegerField("有效期（天）", default=90,
                        validators=[InputRequired("请填写有效期"),
                                    NumberRange(1, tokens.LONGEST_DAYS, f"有效期应为 1 到 {tokens.LONGEST_DAYS} 天")])


def _users():
    """Active users the caller may issue tokens for: those in their row scope."""
    query = User.select().where(User.active == True).order_by(User.username)  # noqa: E712
    allowed = owner_ids(current_user, current_grant())
    if allowed is not None:
        query = query.where(User.id.in_(allowed))
    return list(query)


class ApiTokenView(PolicyView):
    policy_key = POLICY_KEY

    def _page(self, form=None, issued=None, status=200):
        grant = current_grant()
        can_issue = grant.can(POLICY_KEY, "create")
        if can_issue and form is None:
            form = IssueForm()
        if form is not None:
            form.user.choices = [(str(u.id), f"{u.display_name}（{u.username}）") for u in _users()]
        rows = list(scope_query(ApiToken, ApiToken.select(ApiToken, User).join(User), current_user, grant)
                    .order_by(ApiToken.id.desc()))
        body = self.render("admin/api_tokens/index.html", rows=rows, form=form if can_issue else None,
                           issued=issued, now=datetime.datetime.now(), labels=tokens.STATE_LABELS,
                           scopes=dict(tokens.SCOPES), can_revoke=grant.can(POLICY_KEY, "delete"),
                           revoke_form=TokenForm())
        return body, status, {"Cache-Control": "no-store"}

    @expose("/")
    def index(self):
        return self._page()

    @expose("/issue/", methods=("POST",))
    def issue_view(self):
        if not current_grant().can(POLICY_KEY, "create"):
            abort(403)
        form = IssueForm(request.form)
        form.user.choices = [(str(u.id), u.username) for u in _users()]
        if not form.validate():
            return self._page(form, status=400)
        user = User.get_by_id(int(form.user.data))
        try:
            token, clear = tokens.issue(user, form.name.data, form.days.data, form.scope.data, datetime.datetime.now(),
                                        created_by=current_user.username, ip=request.remote_addr)
        except ValueError as error:
            form.name.errors = list(form.name.errors) + [str(error)]
            return self._page(form, status=400)
        return self._page(issued={"token": token, "secret": clear})

    @expose("/revoke/", methods=("POST",))
    def revoke_view(self):
        if not current_grant().can(POLICY_KEY, "delete"):
            abort(403)
        if not TokenForm(request.form).validate():
            flash("页面已过期，请刷新页面后重试", "error")
            return redirect(self.get_url(".index"))
        token_id = parse_id(request.form.get("id"))
        query = scope_query(ApiToken, ApiToken.select(), current_user, current_grant())
        token = query.where(ApiToken.id == token_id).first() if token_id is not None else None
        if token is None:
            abort(404)
        if tokens.revoke(token, datetime.datetime.now(), by=current_user.username, ip=request.remote_addr):
            flash(f"已撤销令牌“{token.name}”，使用它的请求将被拒绝", "success")
        else:
            flash(f"令牌“{token.name}”已经撤销过了", "info")
        return redirect(self.get_url(".index"))
