"""Login, logout, password changes and two-step login (Flask-Login; hashes from werkzeug).

The rules themselves live in `credentials` (no Flask): the password policy, the lockout counts and the
TOTP codes. This package applies them to the web: failed attempts lock an account name and a client
address for a while, the session is renewed at login and ends after a spell of inactivity, and a user
whose role requires it (or who chose it) confirms a code after the password. See docs/security.md.
"""
import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_admin.form import SecureForm
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from markupsafe import Markup
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from credentials import lockout, password_problems, totp
from models import AuditLog, User

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"

# Endpoints a user who must change their password (or set up two-step login) may still reach.
OPEN_ENDPOINTS = {"auth.login", "auth.logout", "auth.change_password", "auth.totp_code", "auth.totp_setup",
                  "static", "admin.static", "i18n.switch"}  # the pages' own CSS too
STATIC_ENDPOINTS = {"static", "admin.static"}
IDLE_MESSAGE = "长时间未操作，请重新登录"
WRONG_MESSAGE = "用户名或密码错误"
PENDING = "totp_pending"  # session key: the user who gave the right password and still owes a code
SEEN = "seen"  # session key: when this session last made a request (epoch seconds)
# Paths no session reaches: the REST API (api/) authenticates by token only, so the session's idle logout and
# forced password change neither run nor redirect there.
SESSIONLESS_PREFIXES = set()


def _sessionless():
    return request.path.startswith(tuple(SESSIONLESS_PREFIXES)) if SESSIONLESS_PREFIXES else False


class LoginForm(SecureForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])


class ChangePasswordForm(SecureForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码")])
    repeat = PasswordField("再次输入新密码", validators=[EqualTo("new", message="两次输入的新密码不一致")])

    def validate_new(self, field):
        problems = password_problems(field.data, current_user.username)
        if problems:
            raise ValidationError("；".join(problems))


class CodeForm(SecureForm):
    code = StringField("验证码（身份验证器 App 中的 6 位数字）", validators=[DataRequired("请输入验证码")])


@login_manager.user_loader
def load_user(user_id):
    try:
        return User.get_or_none(User.id == int(user_id))
    except ValueError:
        return None


def now():
    """The clock: app.config["CLOCK"] (a callable) in tests, else the system's."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.datetime.now()


def _limits():
    config = current_app.config
    return config.get("LOGIN_MAX_FAILURES", lockout.LIMIT), config.get("LOGIN_LOCK_MINUTES", lockout.MINUTES)


def _safe_next(target):
    """Only a path on this site: browsers read '//x' and '/\\x' as another host."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("admin.index")


def _log(action, username, changes=None):
    AuditLog.create(username=username, action=action, ip=request.remote_addr, changes=changes, at=now())


def _locked(username):
    """If the account name or this address is locked: audit, say so (never whether the account exists)."""
    limit, minutes = _limits()
    if lockout.state(username, request.remote_addr, now(), limit, minutes).locked:
        _log("login_locked", username)
        flash(lockout.message(minutes), "error")
        return True
    return False


def _failed(action, username):
    """A wrong password or code: counted toward the lockout and audited."""
    limit, minutes = _limits()
    lockout.record_failure(username, request.remote_addr, now(), minutes)
    _log(action, username)
    if lockout.state(username, request.remote_addr, now(), limit, minutes).locked:
        flash(lockout.message(minutes), "error")
        return
    flash(WRONG_MESSAGE if action == "login_failed" else "验证码不正确", "error")


def _renew_session():
    """Nothing of the pre-login session survives (session fixation): a fresh session, new CSRF token."""
    session.clear()
    session.permanent = False


def _complete_login(user, target):
    _renew_session()
    login_user(user)
    session[SEEN] = now().timestamp()
    _log("login", user.username)
    if user.must_change_password:
        return redirect(url_for("auth.change_password"))
    return redirect(_safe_next(target))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(request.form)
    if request.method == "POST" and form.validate():
        username = form.username.data.strip()[:60]
        if _locked(username):
            return render_template("auth/login.html", form=form)
        user = User.get_or_none(User.username == username)
        if user is None or not user.check_password(form.password.data):
            _failed("login_failed", username)
        elif not user.is_active:
            _log("login_refused", user.username)
            flash("该账号已停用，请联系管理员", "error")
        else:
            target = request.args.get("next")
            if user.totp_enabled:  # the failures are forgotten only once the code is right, too
                _renew_session()
                session[PENDING] = user.id
                session["totp_next"] = target
                return redirect(url_for("auth.totp_code"))
            lockout.reset(username)
            return _complete_login(user, target)
    return render_template("auth/login.html", form=form)


def _pending_user():
    user_id = session.get(PENDING)
    return User.get_or_none(User.id == user_id) if user_id else None


@bp.route("/login/code", methods=["GET", "POST"])
def totp_code():
    """The second step: the code from the user's authenticator app; wrong codes count toward the lockout."""
    user = _pending_user()
    if user is None or not user.is_active or not user.totp_enabled:
        session.pop(PENDING, None)
        return redirect(url_for("auth.login"))
    form = CodeForm(request.form)
    if request.method == "POST" and form.validate() and not _locked(user.username):
        step = totp.verify(user.totp_secret, form.code.data, now(), user.totp_last_step)
        if step is not None:
            User.update(totp_last_step=step).where(User.id == user.id).execute()
            lockout.reset(user.username)
            return _complete_login(user, session.get("totp_next"))
        _failed("totp_failed", user.username)
        form.code.data = ""
    return render_template("auth/totp_code.html", form=form)


@bp.route("/account/two-step", methods=["GET", "POST"])
@login_required
def totp_setup():
    """Enrolment: a new secret (sealed in the user's row) shown as a QR code; a right code turns it on."""
    user = User.get_by_id(current_user.id)
    if user.totp_enabled:
        return render_template("auth/totp_setup.html", enabled=True, form=None)
    if not user.totp_secret:
        user.totp_secret = totp.new_secret()
        user.save(only=[User.totp_secret])
        user = User.get_by_id(user.id)
    form = CodeForm(request.form)
    if request.method == "POST" and form.validate():
        step = totp.verify(user.totp_secret, form.code.data, now())
        if step is not None:
            User.update(totp_enabled=True, totp_last_step=step).where(User.id == user.id).execute()
            _log("totp_enrolled", user.username)
            flash("两步验证已开启，以后登录时需要输入验证码", "success")
            return redirect(url_for("admin.index"))
        form.code.errors = list(form.code.errors) + ["验证码不正确，请核对手机时间后重试"]
        form.code.data = ""
    address = totp.uri(user.totp_secret, user.username)
    svg = totp.qr_svg(address)
    return render_template("auth/totp_setup.html", enabled=False, form=form, secret=user.totp_secret,
                           address=address, qr=Markup(svg) if svg else None,
                           forced=bool(user.role.require_totp))


@bp.route("/logout")
def logout():
    if current_user.is_authenticated:
        _log("logout", current_user.username)
    logout_user()
    session.clear()
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


def end_idle_session():
    """A request after SESSION_IDLE_MINUTES without one logs out and says why; others mark the session seen."""
    if request.endpoint in STATIC_ENDPOINTS or _sessionless() or not current_user.is_authenticated:
        return None
    moment = now().timestamp()
    seen = session.get(SEEN)
    idle = current_app.config.get("SESSION_IDLE_MINUTES", 30) * 60
    if seen is not None and moment - seen > idle:
        _log("session_expired", current_user.username)
        logout_user()
        session.clear()
        flash(IDLE_MESSAGE, "error")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    session[SEEN] = moment
    return None


def require_password_change():
    """Until a user replaces the password an admin gave them, every page leads to the change form; a user
    whose role requires two-step login and who has not set it up yet is led to the enrolment page."""
    if _sessionless() or not current_user.is_authenticated or request.endpoint in OPEN_ENDPOINTS:
        return None
    if current_user.must_change_password:
        return redirect(url_for("auth.change_password"))
    if not current_user.totp_enabled and current_user.role.require_totp:
        return redirect(url_for("auth.totp_setup"))
    return None


def init_app(app):
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.before_request(end_idle_session)
    app.before_request(require_password_change)
