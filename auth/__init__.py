"""Login, logout and password changes (Flask-Login; hashes from werkzeug)."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_admin.form import SecureForm
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from models import AuditLog, User

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"

# Endpoints a user who must change their password may still reach.
OPEN_ENDPOINTS = {"auth.login", "auth.logout", "auth.change_password", "static", "i18n.switch"}


class LoginForm(SecureForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])


class ChangePasswordForm(SecureForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(min=8, message="新密码至少 8 位")])
    repeat = PasswordField("再次输入新密码", validators=[EqualTo("new", message="两次输入的新密码不一致")])


@login_manager.user_loader
def load_user(user_id):
    try:
        return User.get_or_none(User.id == int(user_id))
    except ValueError:
        return None


def _safe_next(target):
    """Only a path on this site: browsers read '//x' and '/\\x' as another host."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("admin.index")


def _log(action, username):
    AuditLog.create(username=username, action=action, ip=request.remote_addr)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(request.form)
    if request.method == "POST" and form.validate():
        user = User.get_or_none(User.username == form.username.data.strip())
        if user is None or not user.check_password(form.password.data):
            _log("login_failed", form.username.data.strip()[:60])
            flash("用户名或密码错误", "error")
        elif not user.is_active:
            _log("login_refused", user.username)
            flash("该账号已停用，请联系管理员", "error")
        else:
            login_user(user)
            _log("login", user.username)
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout")
def logout():
    if current_user.is_authenticated:
        _log("logout", current_user.username)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm(request.form)
    if request.method == "POST" and form.validate():
        if not current_user.check_password(form.current.data):
            flash("当前密码不正确", "error")
        elif form.new.data == form.current.data:
            flash("新密码不能与当前密码相同", "error")
        else:
            current_user.set_password(form.new.data)
            current_user.must_change_password = False
            current_user.save()
            _log("password_changed", current_user.username)
            flash("密码已修改", "success")
            return redirect(url_for("admin.index"))
    return render_template("auth/password.html", form=form, forced=current_user.must_change_password)


def require_password_change():
    """Until a user replaces the password an admin gave them, every page leads to the change form."""
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in OPEN_ENDPOINTS
    ):
        return redirect(url_for("auth.change_password"))
    return None


def init_app(app):
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.before_request(require_password_change)
