"""The API under pressure: reads answered while another writer holds the database (api.ratelimit), failed tokens
locking an address or a token prefix through the login's lockout (api.failures), and query parameters described
without null (api.openapi.Query).

One app for the module, with a budget of BUDGET seconds for a write waiting on a lock (DATABASE_BUSY_SECONDS,
bound as the app binds it), a fixed clock and the login's limit lowered to LIMIT failures; every test uses client
addresses of its own, since failures are counted per address.
"""
import datetime
import logging
import time

import pytest

import models
from models import ApiRequestWindow, AuditLog, Customer, LoginFailure, User, contention, tokens
from tests.conftest import PASSWORD, build_app
from tests.lock_support import HeldLock

NOW = datetime.datetime(2026, 3, 2, 10, 0, 30)
BUDGET = 2  # seconds a write waits for another transaction's lock before 503
LIMIT = 3  # LOGIN_MAX_FAILURES for this module


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    application = build_app(tmp_path_factory.mktemp("api_hardening"))
    application.config.update(CLOCK=lambda: NOW, DATABASE_BUSY_SECONDS=BUDGET, LOGIN_MAX_FAILURES=LIMIT,
                              API_RATE_PER_MINUTE=10_000)
    models.db.close()
    models.db.close_all()
    models.bind(application.config["DATABASE_URL"], busy_seconds=BUDGET)  # as the app binds it with that budget
    yield application
    models.db.close()
    models.db.close_all()


def client_at(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def bearer(clear):
    return {"Authorization": f"Bearer {clear}"}


def issue(username, name, scope="write"):
    return tokens.issue(User.get(User.username == username), name, 30, scope, NOW, created_by="admin")


def error_of(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    return error


def writer_holding_the_counter(url):
    """Another connection in the middle of a long write (what a long import holds): on PostgreSQL a lock on the
    counter's table that lets readers through and makes every writer of it wait."""
    return HeldLock(url, f'LOCK TABLE "{ApiRequestWindow._meta.table_name}" IN EXCLUSIVE MODE')


def hits(token):
    return ApiRequestWindow.select(ApiRequestWindow.hits).where(ApiRequestWindow.token == token.id).scalar()


def test_a_read_is_answered_while_another_writer_holds_the_database_and_a_write_is_503(app, caplog):
    token, clear = issue("sales1", "长时间导入期间")
    client = client_at(app, "10.20.0.1")
    before = Customer.select().count()
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"), writer_holding_the_counter(app.config["DATABASE_URL"]):
        began = time.monotonic()
        read = client.get("/api/v1/customers", headers=bearer(clear))
        read_took = time.monotonic() - began
        again = client.get("/api/v1/customers", headers=bearer(clear))
        began = time.monotonic()
        write = client.post("/api/v1/customers", headers=bearer(clear), json={"name": "锁等待", "mobile": "13900000123"})
        write_took = time.monotonic() - began
    assert read.status_code == 200 and again.status_code == 200, read.get_data(as_text=True)
    assert read_took < BUDGET  # answered without waiting for the writer
    error = error_of(write, 503, "busy")
    assert error["message"] == f"{contention.BUSY_MESSAGE}：{contention.BUSY_DETAIL}" and write.headers["Retry-After"]
    assert write_took >= BUDGET  # the write waited its budget, as every write does
    assert Customer.select().count() == before  # nothing written
    warnings = [r for r in caplog.records if r.name == "api.ratelimit"]
    assert len(warnings) == 1  # one line per busy spell, not one per read
    # the two reads let through were owed, and the next count written pays them: nothing lost from the shared count
    assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    assert hits(token) == 3
    assert tokens.find(clear).last_used_at == NOW


def test_while_the_database_is_busy_the_limit_still_holds_in_the_process(app):
    token, clear = issue("sales2", "忙时限流")
    client = client_at(app, "10.20.0.2")
    app.config["API_RATE_PER_MINUTE"] = 3
    try:
        assert client.get("/api/v1/customers", headers=bearer(clear)).status_code == 200  # counted: 1
        with writer_holding_the_counter(app.config["DATABASE_URL"]):
            assert [client.get("/api/v1/customers", headers=bearer(clear)).status_code for _ in range(2)] == [200, 200]
            error_of(client.get("/api/v1/customers", headers=bearer(clear)), 429, "rate_limited")
    finally:
        app.config["API_RATE_PER_MINUTE"] = 10_000
    assert hits(token) == 1  # the owed reads are written with the token's next count
    client.get("/api/v1/customers", headers=bearer(clear))
    assert hits(token) == 5


def test_failed_tokens_lock_their_address_once_audited_and_not_other_addresses(app):
    _, clear = issue("manager", "地址锁定")
    attacker, elsewhere = client_at(app, "10.30.0.1"), client_at(app, "10.30.0.2")
    for attempt in range(LIMIT - 1):
        error_of(attacker.get("/api/v1/customers", headers=bearer(f"crm_guess{attempt:040d}")), 401, "token_invalid")
    locking = attacker.get("/api/v1/customers", headers=bearer("crm_" + "z" * 43))
    error = error_of(locking, 429, "too_many_failures")
    assert error["message"] == "访问令牌验证失败次数过多，请 15 分钟后再试" and locking.headers["Retry-After"] == "900"
    counted = LoginFailure.select().where(LoginFailure.ip == "10.30.0.1").count()
    for headers in (bearer("crm_" + "y" * 43), bearer(clear)):  # locked: a valid token from there too, as the login
        error_of(attacker.get("/api/v1/customers", headers=headers), 429, "too_many_failures")
    assert LoginFailure.select().where(LoginFailure.ip == "10.30.0.1").count() == counted == LIMIT
    entries = list(AuditLog.select().where((AuditLog.action == "api_token_locked") & (AuditLog.ip == "10.30.0.1")))
    assert len(entries) == 1 and '"locked": ["address"]' in entries[0].changes
    assert clear[5:] not in entries[0].changes and ("z" * 20) not in entries[0].changes  # never the token itself
    assert elsewhere.get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    # one mechanism: the login counts the same failures, so that address cannot guess passwords either
    page = attacker.submit("/login", {"username": "admin", "password": PASSWORD}).get_data(as_text=True)
    assert "登录失败次数过多" in page


def test_guesses_at_one_token_prefix_lock_it_for_bad_tokens_only(app):
    token, clear = issue("sales1", "前缀锁定")
    guesses = [client_at(app, f"10.40.0.{n}") for n in range(1, LIMIT + 2)]
    for n, guesser in enumerate(guesses[:LIMIT - 1]):
        error_of(guesser.get("/api/v1/customers", headers=bearer(clear[:-3] + f"x{n:02d}")), 401, "token_invalid")
    error_of(guesses[LIMIT - 1].get("/api/v1/customers", headers=bearer(clear[:-3] + "zzz")), 429,
             "too_many_failures")
    error_of(guesses[LIMIT].get("/api/v1/customers", headers=bearer(clear[:-3] + "yyy")), 429, "too_many_failures")
    entry = AuditLog.get((AuditLog.action == "api_token_locked") & (AuditLog.username == f"api令牌:{token.shown}"))
    assert '"locked": ["prefix"]' in entry.changes
    # the real token with that prefix still works, from any address: guessing at it cannot lock it out
    assert guesses[LIMIT].get("/api/v1/customers", headers=bearer(clear)).status_code == 200
    # a revoked or expired token is a failed attempt too; a missing header is not
    revoked, old = issue("sales2", "已撤销"), issue("sales2", "将过期")
    tokens.revoke(revoked[0], NOW, by="admin")
    models.ApiToken.update(expires_at=NOW).where(models.ApiToken.id == old[0].id).execute()
    other = client_at(app, "10.40.1.1")
    error_of(other.get("/api/v1/customers"), 401, "token_missing")
    error_of(other.get("/api/v1/customers", headers=bearer(revoked[1])), 401, "token_revoked")
    error_of(other.get("/api/v1/customers", headers=bearer(old[1])), 401, "token_expired")
    assert LoginFailure.select().where(LoginFailure.ip == "10.40.1.1").count() == 2


def test_optional_query_parameters_are_described_without_null(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    seen = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                schema = parameter["schema"]
                assert "null" not in str(schema.get("anyOf", "")) and schema.get("default", "") is not None, (
                    path, method, parameter["name"], schema)
                assert parameter["required"] is False
                seen[parameter["name"]] = schema["type"]
    assert seen == {"status": "string", "owner": "string", "region": "string", "industry": "string",
                    "tag": "string", "updated_since": "string", "cursor": "string", "limit": "integer"}
