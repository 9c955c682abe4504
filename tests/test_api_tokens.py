"""API tokens: who may call the REST API, and the answers when they may not (api/tokens.py, models/tokens.py).

One app for the module (tokens and users are made per test with names of their own), a fixed clock so expiry
and the rate limit's minute do not depend on the day the tests run.
"""
import datetime
import itertools
import json
import re
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import models
import run
from credentials import lockout
from models import AuditLog, Customer, User, tokens
from tests.conftest import PASSWORD, build_app

NOW = datetime.datetime(2026, 3, 2, 10, 0, 30)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN_RE = re.compile(r'id="token-value">([^<]+)<')


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    application = build_app(tmp_path_factory.mktemp("api_tokens"))
    application.config["CLOCK"] = lambda: NOW
    application.config["API_RATE_PER_MINUTE"] = 10_000
    yield application  # no app context kept pushed: requests would share its `g` (the grant of the last caller)
    models.db.close()
    models.db.close_all()


_addresses = itertools.count(1)


def api_client(app):
    """A client with a client address of its own: failed tokens lock an address (api.failures), and the module's
    clock stands still, so one test's failures would otherwise still count in the next."""
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.77.{n // 250}.{n % 250 + 1}"
    return client


@pytest.fixture
def client(app):
    return api_client(app)


def issue(username, scope="write", now=NOW, days=30, name="测试令牌"):
    return tokens.issue(User.get(User.username == username), name, days, scope, now, created_by="admin")


def bearer(clear):
    return {"Authorization": f"Bearer {clear}"}


def refused(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert re.search(r"[\u4e00-\u9fff]", error["message"]), "the message is in Chinese"
    return error


def test_a_missing_or_malformed_header_is_401_token_missing(client):
    refused(client.get("/api/v1/customers"), 401, "token_missing")
    response = client.get("/api/v1/customers", headers={"Authorization": "Basic YWRtaW46eA=="})
    refused(response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_401_token_invalid(client):
    refused(client.get("/api/v1/customers", headers=bearer("crm_" + "x" * 43)), 401, "token_invalid")
    refused(client.get("/api/v1/customers", headers=bearer("not-ours")), 401, "token_invalid")


def test_the_token_is_stored_as_a_digest_only(app):
    token, clear = issue("sales1", name="摘要")
    stored = models.db.execute_sql("SELECT token_hash, shown FROM api_token WHERE id = %s" % token.id).fetchone()
    assert clear not in stored and stored[0] == tokens.digest(clear) and clear.startswith(stored[1])


def test_an_expired_token_is_401_token_expired(client):
    _, clear = issue("sales1", now=NOW - datetime.timedelta(days=31), days=30, name="过期")
    refused(client.get("/api/v1/customers", headers=bearer(clear)), 401, "token_expired")


def test_a_revoked_token_is_401_and_revoking_is_audited(client):
    token, clear = issue("sales1", name="将撤销")
    assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    assert tokens.revoke(token, NOW, by="admin") is True
    assert tokens.revoke(token, NOW, by="admin") is False  # once
    refused(client.get("/api/v1/customers", headers=bearer(clear)), 401, "token_revoked")
    entries = list(AuditLog.select().where((AuditLog.model == "apitoken") & (AuditLog.record_id == str(token.id)))
                   .order_by(AuditLog.id))
    assert [e.action for e in entries] == ["create", "revoke"]
    assert json.loads(entries[0].changes)["name"] == "将撤销" and clear not in entries[0].changes


def test_the_token_of_an_inactive_user_fails(client):
    _, clear = issue("sales3", name="停用")
    assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    User.update(active=False).where(User.username == "sales3").execute()
    try:
        refused(client.get("/api/v1/customers", headers=bearer(clear)), 401, "user_inactive")
    finally:
        User.update(active=True).where(User.username == "sales3").execute()


def test_the_token_of_a_user_locked_out_by_failed_logins_fails(client):
    _, clear = issue("manager2", name="锁定")
    for _ in range(lockout.LIMIT):
        lockout.record_failure("manager2", "10.0.0.9", NOW - datetime.timedelta(minutes=1))
    try:
        refused(client.get("/api/v1/customers", headers=bearer(clear)), 401, "user_locked")
    finally:
        lockout.reset("manager2")
    assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200


def test_a_read_only_token_may_read_but_not_write(client):
    _, clear = issue("admin", scope="read", name="只读")
    assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    before = Customer.select().count()
    response = client.post("/api/v1/customers", headers=bearer(clear), json={"name": "只读令牌", "mobile": "13900000001"})
    refused(response, 403, "token_read_only")
    assert Customer.select().count() == before


def test_past_the_rate_limit_the_token_gets_429_with_retry_after(app, client):
    _, clear = issue("sales1", name="限流")
    _, other = issue("sales1", name="另一个")
    app.config["API_RATE_PER_MINUTE"] = 3
    try:
        for _ in range(3):
            assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
        response = client.get("/api/v1/customers", headers=bearer(clear))
        refused(response, 429, "rate_limited")
        # NOW is 30 s into its minute: the window ends in 30 s
        assert response.headers["Retry-After"] == "30"
        assert client.get("/api/v1/customers", headers=bearer(other)).status_code == 200  # per token
    finally:
        app.config["API_RATE_PER_MINUTE"] = 10_000
    window = models.ApiRequestWindow.get(models.ApiRequestWindow.token == tokens.find(clear).id)
    assert window.hits == 4  # counted in the database, where every server process counts


def test_last_use_is_recorded(client):
    token, clear = issue("sales2", name="最后使用")
    assert token.last_used_at is None
    client.get("/api/v1/customers", headers=bearer(clear))
    assert tokens.find(clear).last_used_at == NOW


def test_a_logged_in_browser_session_does_not_authenticate_the_api(app):
    browser = app.test_client()
    assert browser.submit("/login", {"username": "admin", "password": PASSWORD}).status_code == 302
    assert browser.get("/admin/").status_code == 200
    refused(browser.get("/api/v1/customers"), 401, "token_missing")
    refused(browser.post("/api/v1/customers", json={"name": "会话"}), 401, "token_missing")


def test_errors_under_the_api_are_json(client):
    _, clear = issue("sales1", name="错误")
    refused(client.get("/api/v1/no-such-thing", headers=bearer(clear)), 404, "not_found")
    response = client.delete("/api/v1/customers", headers=bearer(clear))
    refused(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    refused(client.get("/api/v1/customers?status=%00", headers=bearer(clear)), 400, "bad_request")


def test_run_py_api_token_prints_a_working_token(app, client):
    result = CliRunner().invoke(run.cli, ["api-token", "sales2", "--name", "ERP 同步", "--days", "7", "--scope", "write"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    clear = result.stdout.strip().splitlines()[0]
    token = tokens.find(clear)
    assert token.name == "ERP 同步" and token.scope == "write" and token.user.username == "sales2"
    assert (token.expires_at - token.created_at).days == 7
    unknown = CliRunner().invoke(run.cli, ["api-token", "nobody"], obj=ScriptInfo(create_app=lambda: app))
    assert unknown.exit_code != 0 and "不存在" in unknown.output


def test_the_admin_screen_issues_a_token_once_and_revokes_it(app):
    browser = app.test_client()
    browser.submit("/login", {"username": "admin", "password": PASSWORD})
    sales2 = User.get(User.username == "sales2")
    page = browser.submit("/admin/apitoken/issue/", {"user": str(sales2.id), "name": "屏幕创建", "scope": "read",
                                                     "days": "30"}, form_url="/admin/apitoken/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    clear = TOKEN_RE.search(page.get_data(as_text=True)).group(1)
    assert tokens.find(clear).created_by == "admin"
    again = browser.get("/admin/apitoken/").get_data(as_text=True)
    assert clear not in again and "屏幕创建" in again and clear[:tokens.SHOWN] in again
    api = api_client(app)
    assert api.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    token = tokens.find(clear)
    revoked = browser.submit("/admin/apitoken/revoke/", {"id": str(token.id)}, form_url="/admin/apitoken/")
    assert revoked.status_code == 302
    refused(api.get("/api/v1/customers", headers=bearer(clear)), 401, "token_revoked")
    trail = browser.get("/admin/auditlog/?search=").get_data(as_text=True)
    assert "撤销令牌" in trail and "令牌名称: 屏幕创建" in trail and clear not in trail
    bad = browser.submit("/admin/apitoken/issue/", {"user": str(sales2.id), "name": "", "scope": "read", "days": "0"},
                         form_url="/admin/apitoken/")
    assert bad.status_code == 400 and "请填写令牌名称" in bad.get_data(as_text=True)


def test_who_may_manage_tokens_is_the_policy(app):
    rep = app.test_client()
    rep.submit("/login", {"username": "sales1", "password": PASSWORD})
    assert rep.get("/admin/apitoken/").status_code == 403
    assert rep.post("/admin/apitoken/issue/", data={}).status_code == 403


def test_the_description_is_openapi_3_1_and_declares_every_answer(client):
    response = client.get("/api/v1/openapi.json")  # public, as any schema: no token needed
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    assert ("/api/v1/customers", "get") in {(p, m) for p, m, _ in operations}
    for path, method, operation in operations:
        assert re.search(r"[\u4e00-\u9fff]", operation["summary"]), (path, method)
        success = {"200", "201"} & set(operation["responses"])
        assert success and {"400", "401", "403", "404", "422", "429"} <= set(operation["responses"]), (path, method)
        for status, answer in operation["responses"].items():
            assert "schema" in answer["content"]["application/json"], (path, method, status)
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "//cdn" not in docs and "https://" not in docs



COUNTER = """
import datetime, sys
import models
from models import tokens
models.bind(sys.argv[1])
moment = datetime.datetime.fromisoformat(sys.argv[3])
for _ in range(int(sys.argv[4])):
    tokens.count_request(int(sys.argv[2]), moment)
"""


def test_server_processes_count_into_one_limit(app):
    """Two processes counting the same token's requests at once (as two `run.py serve` processes behind one proxy
    would): every request is counted, none lost to a race, so the limit holds however requests are spread."""
    token, _ = issue("sales1", name="两个进程")
    per_process = 40
    command = [sys.executable, "-c", COUNTER, app.config["DATABASE_URL"], str(token.id), NOW.isoformat(),
               str(per_process)]
    processes = [subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read()
    window = models.ApiRequestWindow.get(models.ApiRequestWindow.token == token.id)
    assert window.hits == 2 * per_process
