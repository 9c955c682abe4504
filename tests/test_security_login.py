"""Login hardening (issue 12 part 1): lockout, password policy, idle sessions, cookies, headers, two-step login.

The clock is the app's CLOCK (a callable), moved by hand: no sleeps, no dependence on today.
"""
import datetime
import re

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import models
import run
import settings
from credentials import generate_password, lockout, password_problems, totp
from models import AuditLog, LoginFailure, Role, User
from tests import policy_support as ps
from tests.conftest import PASSWORD

T0 = datetime.datetime(2025, 3, 3, 9, 0, 0)
LOCKED = "登录失败次数过多，请 15 分钟后再试"


class Clock:
    def __init__(self, moment=T0):
        self.moment = moment

    def __call__(self):
        return self.moment

    def advance(self, **delta):
        self.moment += datetime.timedelta(**delta)


@pytest.fixture
def clock(app):
    clock = Clock()
    app.config["CLOCK"] = clock
    return clock


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(client, username, password):
    return client.submit("/login", {"username": username, "password": password})


def logged_in(client):
    return client.get("/admin/").status_code == 200


def actions(username=None):
    query = AuditLog.select().order_by(AuditLog.id)
    if username:
        query = query.where(AuditLog.username == username)
    return [entry.action for entry in query]


# --- lockout -----------------------------------------------------------------------------------
def test_five_failures_lock_the_account_even_for_the_right_password(app, client, clock):
    for n in range(4):
        assert "用户名或密码错误" in attempt(client, "sales1", f"wrong-{n}").get_data(as_text=True)
    fifth = attempt(client, "sales1", "wrong-5").get_data(as_text=True)
    assert LOCKED in fifth
    clock.advance(minutes=5)
    refused = attempt(client, "sales1", PASSWORD)
    assert refused.status_code == 200 and LOCKED in refused.get_data(as_text=True)
    assert not logged_in(client)
    assert actions("sales1") == ["login_failed"] * 5 + ["login_locked"]
    assert AuditLog.get(AuditLog.action == "login_locked").ip == "127.0.0.1"

    clock.advance(minutes=10, seconds=1)  # 15 minutes after the failures
    assert attempt(client, "sales1", PASSWORD).status_code == 302
    assert logged_in(client)
    assert not LoginFailure.select().where(LoginFailure.username == "sales1").exists()  # success resets


def test_an_unknown_account_locks_with_the_same_words(app, clock):
    """The message never tells whether the account exists; the attempted name is counted either way."""
    pages = {}
    for name in ("sales1", "nobody-here"):
        client = client_from(app, f"10.0.0.{len(pages) + 1}")
        for n in range(5):
            attempt(client, name, f"wrong-{n}")
        pages[name] = attempt(client, name, "whatever-1").get_data(as_text=True)
        assert LOCKED in pages[name]
    assert "用户名或密码错误" not in pages["nobody-here"] and "用户名或密码错误" not in pages["sales1"]
    assert actions("nobody-here")[-1] == "login_locked"


def test_a_success_resets_the_account_count(app, client, clock):
    for n in range(4):
        attempt(client, "sales2", f"wrong-{n}")
    assert attempt(client, "sales2", PASSWORD).status_code == 302
    client.get("/logout")
    for n in range(4):
        attempt(client, "sales2", f"wrong-again-{n}")
    assert attempt(client, "sales2", PASSWORD).status_code == 302


def test_five_failures_from_one_address_lock_that_address(app, clock):
    """Guessing across many names from one address locks the address; others still log in."""
    guesser = client_from(app, "192.0.2.7")
    for n in range(5):
        attempt(guesser, f"name{n}", "wrong-password")
    refused = attempt(guesser, "manager", PASSWORD)
    assert LOCKED in refused.get_data(as_text=True) and not logged_in(guesser)
    elsewhere = client_from(app, "192.0.2.8")
    assert attempt(elsewhere, "manager", PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_is_locked(app, clock):
    """With TRUSTED_PROXY_HOPS=1 the lockout counts the address the proxy forwards: a guesser behind the proxy
    is locked, a colleague behind the same proxy still logs in, and the audit log names the real address."""
    from web.security import trust_proxies

    app.config["TRUSTED_PROXY_HOPS"] = 1
    trust_proxies(app)
    guesser, colleague = client_from(app, "10.0.0.2"), client_from(app, "10.0.0.2")  # both via the proxy
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    colleague.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.8"
    for n in range(5):
        attempt(guesser, f"name{n}", "wrong-password")
    assert LOCKED in attempt(guesser, "manager", PASSWORD).get_data(as_text=True)
    assert attempt(colleague, "manager", PASSWORD).status_code == 302
    assert {e.ip for e in AuditLog.select().where(AuditLog.action == "login_failed")} == {"198.51.100.7"}


def test_without_trusted_proxies_a_forwarded_address_is_ignored(app, clock):
    """By default X-Forwarded-For is anyone's to write: changing it on every guess does not escape the lock."""
    guesser = client_from(app, "192.0.2.9")
    for n in range(5):
        guesser.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n}"
        attempt(guesser, f"name{n}", "wrong-password")
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.99"
    assert LOCKED in attempt(guesser, "manager", PASSWORD).get_data(as_text=True) and not logged_in(guesser)


def test_lockout_state_counts_only_the_window(app):
    with app.app_context():
        for minute in (0, 1, 2, 3, 4):
            lockout.record_failure("rep", "198.51.100.1", T0 + datetime.timedelta(minutes=minute))
        assert lockout.state("rep", None, T0 + datetime.timedelta(minutes=5)).locked
        at_14 = lockout.state("rep", "198.51.100.2", T0 + datetime.timedelta(minutes=14, seconds=59))
        assert (at_14.account, at_14.address, at_14.locked) == (5, 0, True)
        later = lockout.state("other", "198.51.100.1", T0 + datetime.timedelta(minutes=15, seconds=30))
        assert (later.account, later.address, later.locked) == (0, 4, False)  # the first left the window
        # a failure purges rows older than the window
        lockout.record_failure("x", None, T0 + datetime.timedelta(hours=1))
        assert LoginFailure.select().count() == 1


# --- password policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("password, username, expected", [
    ("short-1", "rep", "密码至少 10 位"),
    ("liwei-2025-spring", "liwei", "密码不能包含用户名"),
    ("Password123", None, "密码太常见"),
    ("qwertyuiop", None, "密码太常见"),
    ("abcdefghijkl", None, "不能只由一类字符组成"),
    ("202503031234", None, "不能只由一类字符组成"),
])
def test_password_policy_says_what_is_wrong(password, username, expected):
    assert any(expected in problem for problem in password_problems(password, username))


def test_good_and_generated_passwords_pass():
    assert password_problems("Tea-kettle-42", "sales1") == []
    assert password_problems("客户资料-2025年春", "sales1") == []
    for _ in range(50):
        assert password_problems(generate_password(username="ab1"), "ab1") == []


def test_change_password_form_applies_the_policy(login):
    client = login("sales")
    response = client.submit("/password", {"current": PASSWORD, "new": "password123", "repeat": "password123"})
    assert "密码太常见" in response.get_data(as_text=True)
    response = client.submit("/password", {"current": PASSWORD, "new": "sales1-secret-9", "repeat": "sales1-secret-9"})
    assert "密码不能包含用户名" in response.get_data(as_text=True)
    assert User.get(User.username == "sales1").check_password(PASSWORD)


def test_user_screen_new_password_applies_the_policy(login):
    admin = login("admin")
    role = Role.get(Role.name == "sales")
    response = admin.submit("/admin/user/new/", {"username": "rep77", "display_name": "新人", "role": role.id,
                                                 "active": "y", "new_password": "abc12345"}, follow_redirects=True)
    assert "密码至少 10 位" in response.get_data(as_text=True)
    assert not User.select().where(User.username == "rep77").exists()


def test_create_user_refuses_a_weak_password_and_generates_a_good_one(app):
    def invoke(*args):
        return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))

    refused = invoke("create-user", "rep8", "--role", "sales", "--password", "ab")
    assert refused.exit_code != 0 and "密码至少 10 位" in refused.output
    with app.app_context():
        assert not User.select().where(User.username == "rep8").exists()
    made = invoke("create-user", "rep8", "--role", "sales")
    assert made.exit_code == 0, made.output
    generated = made.output.strip().rsplit(" ", 1)[-1]
    assert password_problems(generated, "rep8") == []
    with app.app_context():
        assert User.get(User.username == "rep8").check_password(generated)


# --- sessions and cookies ----------------------------------------------------------------------
def test_idle_session_ends_with_a_message(login, clock):
    client = login("sales")
    clock.advance(minutes=29)
    assert logged_in(client)
    clock.advance(minutes=30, seconds=1)  # 30 minutes after the last request
    response = client.get("/admin/customer/")
    assert response.status_code == 302 and "/login" in response.location
    assert "长时间未操作，请重新登录" in client.get(response.location).get_data(as_text=True)
    assert not logged_in(client)
    assert "session_expired" in actions("sales1")
    back = client.submit(response.location, {"username": "sales1", "password": PASSWORD}, form_url="/login")
    assert back.location.startswith("/admin/customer/")  # back to the page asked for


def test_idle_timeout_is_configurable(app, login, clock):
    app.config["SESSION_IDLE_MINUTES"] = 5
    client = login("sales")
    clock.advance(minutes=6)
    assert not logged_in(client)


def test_session_is_renewed_at_login(app, client):
    client.get("/login")
    with client.session_transaction() as before:
        before["planted"] = "by-an-attacker"
        token_before = before.get("csrf")
    assert attempt(client, "sales1", PASSWORD).status_code == 302
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after.get("csrf") != token_before or token_before is None
        assert after.get("_user_id") == str(User.get(User.username == "sales1").id)


def test_cookie_flags(client):
    response = attempt(client, "sales1", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    config = settings.load({"CRM_ENV": "testing", "SECRET_KEY": "x", "FIELD_KEY": "eA=="},
                           env={"SESSION_COOKIE_SECURE": "1"})
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["REMEMBER_COOKIE_HTTPONLY"] and config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    with pytest.raises(settings.ConfigError):
        settings.load({"CRM_ENV": "testing"}, env={"SESSION_IDLE_MINUTES": "soon"})


# --- headers -----------------------------------------------------------------------------------
def test_security_headers_on_every_response(login, client):
    admin = login("admin")
    for response in (client.get("/login"), admin.get("/admin/"), admin.get("/admin/customer/"),
                     client.get("/no-such-page"), client.get("/static/csp-handlers.js")):
        headers = response.headers
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self' 'nonce-" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    page = admin.get("/admin/customer/")
    nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)
    html = page.get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all(f'nonce="{nonce}"' in attrs or "src=" in attrs or "application/json" in attrs
                           for attrs in scripts)
    assert nonce not in admin.get("/admin/customer/").headers["Content-Security-Policy"]  # new per request


# --- two-step login ----------------------------------------------------------------------------
def test_two_step_login_required_by_role(app, login, clock):
    admin = login("admin")
    role = Role.get(Role.name == "manager")
    response = ps.submit_form(admin, f"/admin/role/edit/?id={role.id}", {"require_totp": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert Role.get_by_id(role.id).require_totp

    client = app.test_client()
    assert attempt(client, "manager", PASSWORD).status_code == 302
    led = client.get("/admin/customer/")
    assert led.status_code == 302 and led.location.endswith("/account/two-step")
    page = client.get("/account/two-step").get_data(as_text=True)
    assert "<svg" in page and "您的角色要求两步验证" in page
    secret = User.get(User.username == "manager").totp_secret
    raw = models.db.execute_sql("SELECT totp_secret FROM \"user\" WHERE username = 'manager'").fetchone()[0]
    assert secret and secret not in raw and secret in page  # sealed at rest, shown once to its owner

    wrong = client.submit("/account/two-step", {"code": "000000"})
    assert "验证码不正确" in wrong.get_data(as_text=True)
    done = client.submit("/account/two-step", {"code": totp.code_at(secret, clock())})
    assert done.status_code == 302 and User.get(User.username == "manager").totp_enabled
    assert logged_in(client)
    assert "totp_enrolled" in actions("manager")
    client.get("/logout")

    # next login: password, then the code; wrong codes count toward the lockout
    clock.advance(minutes=1)
    second = app.test_client()
    step = attempt(second, "manager", PASSWORD)
    assert step.location.endswith("/login/code") and not logged_in(second)
    for n in range(4):
        assert "验证码不正确" in second.submit("/login/code", {"code": f"12345{n}"}).get_data(as_text=True)
    assert LOCKED in second.submit("/login/code", {"code": "999999"}).get_data(as_text=True)
    refused = second.submit("/login/code", {"code": totp.code_at(secret, clock())})
    assert LOCKED in refused.get_data(as_text=True) and not logged_in(second)
    assert actions("manager").count("totp_failed") == 5

    clock.advance(minutes=16)
    third = app.test_client()
    attempt(third, "manager", PASSWORD)
    assert third.submit("/login/code", {"code": totp.code_at(secret, clock())}).status_code == 302
    assert logged_in(third)


def test_admin_disables_two_step_login(app, login, clock):
    user = User.get(User.username == "sales1")
    secret = totp.new_secret()
    User.update(totp_secret=secret, totp_enabled=True).where(User.id == user.id).execute()
    admin = login("admin")
    response = admin.submit("/admin/user/action/", {"action": "disable_totp", "rowid": [str(user.id)]},
                            form_url="/admin/user/")
    assert response.status_code == 302
    user = User.get_by_id(user.id)
    assert not user.totp_enabled and user.totp_secret is None
    entry = AuditLog.get(AuditLog.action == "totp_disabled")
    assert entry.username == "admin" and entry.record_id == str(user.id)
    client = app.test_client()
    assert attempt(client, "sales1", PASSWORD).location.endswith("/admin/")  # password alone again


def test_a_code_works_once_and_drift_of_one_step(app, clock):
    secret = totp.new_secret()
    first = totp.verify(secret, totp.code_at(secret, T0), T0)
    assert first is not None
    assert totp.verify(secret, totp.code_at(secret, T0), T0, last_step=first) is None  # replayed
    assert totp.verify(secret, totp.code_at(secret, T0), T0 + datetime.timedelta(seconds=30)) is not None
    assert totp.verify(secret, totp.code_at(secret, T0), T0 + datetime.timedelta(seconds=95)) is None
    assert totp.verify(secret, "12 34", T0) is None and totp.verify(None, "123456", T0) is None


def test_a_used_code_is_refused_at_the_next_login(app, clock):
    secret = totp.new_secret()
    User.update(totp_secret=secret, totp_enabled=True).where(User.username == "sales1").execute()
    code = totp.code_at(secret, T0)
    first = app.test_client()
    assert attempt(first, "sales1", PASSWORD).location.endswith("/login/code")
    assert first.submit("/login/code", {"code": code}).status_code == 302 and logged_in(first)
    second = app.test_client()
    attempt(second, "sales1", PASSWORD)
    assert "验证码不正确" in second.submit("/login/code", {"code": code}).get_data(as_text=True)
    assert not logged_in(second)
