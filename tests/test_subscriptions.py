"""Report subscriptions in one process: validation, schedules in Asia/Shanghai, planning and
catch-up, delivery over a real SMTP server (aiosmtpd) of real report runs, retries, failure
notices, concurrent claims and the at-most-once rule for a send that was interrupted.
(Worker processes, crashes and two workers: tests/test_subscriptions_workers.py.)
"""
import datetime
import json
import socket
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from peewee import IntegrityError

import reporting
import subscriptions
from models import Delivery, ReportRun, Subscription, User, db
from subscriptions import engine, schedule
from tests.test_delivery_smtp import Recorder, bodies, free_port, smtp_server  # noqa: F401 (fixture)
from tests.lock_support import commits_meanwhile
from tests.test_subscriptions_support import SLOW, backdate, delivery_header, give_emails, mail_env, parsed

T0 = datetime.datetime(2026, 11, 1)  # naive UTC


@pytest.fixture
def people(app):
    return give_emails()


@pytest.fixture
def slow(reports):
    """The test reports: echo and fails (conftest) and slow (prints key numbers)."""
    reporting.register("slow", SLOW, "订阅测试：关键数字")
    yield
    reporting.unregister("slow")


@pytest.fixture
def mailbox(smtp_server, monkeypatch):  # noqa: F811
    server = smtp_server()
    for key, value in mail_env(server.port).items():
        monkeypatch.setenv(key, value)
    return server


def weekly(owner, **fields):
    values = {"name": "周报", "report": "slow", "schedule_kind": "weekly", "weekday": 1, "time": "08:00",
              "users": ["sales1"]}
    values.update(fields)
    return subscriptions.create(owner, **values)


# --- validation -------------------------------------------------------------------------------
def test_validation_names_every_problem_in_chinese(app, slow, people):
    User.update(active=False).where(User.username == "sales2").execute()
    with pytest.raises(subscriptions.SubscriptionError) as caught:
        subscriptions.create(people["manager"], name="", report="slow", parameters={"top_n": 5},
                             schedule_kind="weekly", weekday=8, time="8点", users=["sales2", "service", "nobody"],
                             emails="boss@example.com, 不是地址")
    errors = caught.value.errors
    assert errors["name"] == "请填写订阅名称"
    assert errors["parameters"].startswith("未知参数 top_n；可用参数：as_of、tag、marker、sleep")
    assert errors["schedule"] == "每周订阅需要星期几：1（周一）到 7（周日）"
    assert errors["users"] == "用户 sales2 已停用，不能接收订阅"
    assert "不是地址" in errors["emails"] and "收件人地址无效" in errors["emails"]
    assert "请填写订阅名称" in str(caught.value)

    cases = [
        ({"report": "nope"}, "report", "未知"),
        ({"parameters": {"as_of": "2026-13-01"}}, "parameters", "参数 as_of 应为日期 YYYY-MM-DD"),
        ({"parameters": {"owner_ids": [1]}}, "parameters", "参数 owner_ids 由访问权限决定，不能手动设置"),
        ({"users": ["service"]}, "users", "用户 service 没有邮箱地址，请先在用户资料中填写"),
        ({"users": ["nobody"]}, "users", "用户 nobody 不存在"),
        ({"users": [], "emails": ""}, "recipients", "请至少选择一位收件用户或填写一个邮箱地址"),
        ({"timezone": "Mars/Olympus"}, "schedule", "时区 'Mars/Olympus' 无效（应为 IANA 时区名，如 Asia/Shanghai）"),
        ({"time": "25:00"}, "schedule", "时间 '25:00' 无效（应为 HH:MM，如 08:00）"),
        ({"schedule_kind": "monthly", "day": 32}, "schedule", "每月订阅需要日期：1 到 31（小月取当月最后一天）"),
        ({"schedule_kind": "cron", "cron": "0 8 * *"}, "schedule", "应为 5 段 cron 表达式"),
        ({"schedule_kind": "cron", "cron": "0 8 30 2 *"}, "schedule", "计划 '0 8 30 2 *' 永远不会执行"),
        ({"schedule_kind": "daily"}, "schedule", "计划类型 'daily' 无效"),
    ]
    for fields, key, message in cases:
        with pytest.raises(subscriptions.SubscriptionError) as caught:
            weekly(people["manager"], **fields)
        assert message in caught.value.errors[key], (fields, caught.value.errors)
    assert Subscription.select().count() == 0

    sub = weekly(people["manager"], parameters={"tag": "重点"}, users=["sales1", people["sales1"].id],
                 emails="张三 <zhang@example.com>; zhang@example.com")
    assert (sub.user_ids, sub.recipient_emails, sub.timezone, sub.params) == (
        [people["sales1"].id], "张三 <zhang@example.com>", "Asia/Shanghai", {"tag": "重点"})
    assert schedule.describe(sub) == "每周一 08:00（Asia/Shanghai）"
    subscriptions.update(sub, schedule_kind="monthly", day=31, time="9:30")
    assert schedule.describe(Subscription.get_by_id(sub.id)) == "每月 31 日 09:30（Asia/Shanghai；小月取最后一天）"


# --- schedules --------------------------------------------------------------------------------
def shanghai(*fields):
    """Local Asia/Shanghai wall-clock time -> naive UTC (UTC+8, no DST)."""
    return datetime.datetime(*fields) - datetime.timedelta(hours=8)


def test_weekly_monthly_and_cron_occurrences_in_shanghai_time():
    sub = SimpleNamespace(schedule_kind="weekly", weekday=1, time="07:00", cron=None, day=None,
                          timezone="Asia/Shanghai")
    # Monday 07:00 in Shanghai is Sunday 23:00 UTC.
    assert schedule.occurrences(sub, T0, datetime.datetime(2026, 12, 1)) == [
        datetime.datetime(2026, 11, d, 23, 0) for d in (1, 8, 15, 22, 29)]
    sub.weekday = 7  # Sunday
    assert schedule.occurrences(sub, T0, datetime.datetime(2026, 11, 10)) == [shanghai(2026, 11, 8, 7, 0)]

    # Day 31: every month, the last day when the month is shorter (never skipped).
    monthly = SimpleNamespace(schedule_kind="monthly", weekday=None, day=31, time="09:30", cron=None,
                              timezone="Asia/Shanghai")
    found = schedule.occurrences(monthly, datetime.datetime(2027, 1, 1), datetime.datetime(2027, 5, 1))
    assert found == [shanghai(2027, 1, 31, 9, 30), shanghai(2027, 2, 28, 9, 30), shanghai(2027, 3, 31, 9, 30),
                     shanghai(2027, 4, 30, 9, 30)]
    monthly.day = 29
    assert shanghai(2028, 2, 29, 9, 30) in schedule.occurrences(monthly, datetime.datetime(2028, 2, 1),
                                                                datetime.datetime(2028, 3, 1))

    # A cron expression is taken as written: "31st" fires only in months with 31 days.
    cron = SimpleNamespace(schedule_kind="cron", weekday=None, day=None, time=None, cron="0 8 31 * *",
                           timezone="Asia/Shanghai")
    assert schedule.occurrences(cron, datetime.datetime(2027, 1, 1), datetime.datetime(2027, 5, 1)) == [
        shanghai(2027, 1, 31, 8, 0), shanghai(2027, 3, 31, 8, 0)]
    cron.cron = "30 9 * * 1-5"  # weekdays 09:30
    week = schedule.occurrences(cron, shanghai(2026, 11, 22, 0, 0), shanghai(2026, 11, 29, 0, 0))
    assert week == [shanghai(2026, 11, d, 9, 30) for d in range(23, 28)]
    # The bounds: after < t <= until, and the zone is the subscription's own.
    assert schedule.occurrences(cron, week[0], week[1]) == [week[1]]
    cron.timezone = "UTC"
    assert schedule.occurrences(cron, week[0], week[-1])[0] == datetime.datetime(2026, 11, 23, 9, 30)
    assert schedule.period_label(sub, shanghai(2026, 11, 23, 8, 0)) == "2026-11-23 08:00（Asia/Shanghai）"


# --- planning and catch-up --------------------------------------------------------------------
def test_catch_up_plans_every_missed_occurrence_once(app, slow, people):
    sub = backdate(weekly(people["manager"], emails="boss@example.com"), T0)
    now = datetime.datetime(2026, 11, 23, 3, 0)  # Mondays 2, 9, 16, 23 at 00:00 UTC fell due
    assert subscriptions.plan(now) == 4
    assert subscriptions.plan(now) == 0  # a second pass, or a second scheduler: nothing new
    rows = list(Delivery.select().order_by(Delivery.scheduled_for, Delivery.id))
    mondays = [datetime.datetime(2026, 11, d, 0, 0) for d in (2, 9, 16, 23)]
    # Two scopes per occurrence: the manager's (team) covers boss@, sales1 gets a run in their own.
    assert [row.scheduled_for for row in rows] == [moment for moment in mondays for _ in range(2)]
    assert {(row.run_as.username, tuple(row.addresses)) for row in rows} == {
        ("manager", ("boss@example.com",)), ("sales1", ("李销售 <sales1@example.com>",))}
    assert [row.params["as_of"] for row in rows[::2]] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    assert rows[0].period == "2026-11-02 08:00（Asia/Shanghai）" and rows[0].status == "pending"
    assert Subscription.get_by_id(sub.id).planned_until == rows[-1].scheduled_for
    with pytest.raises(IntegrityError), db.atomic():  # the database itself refuses a second row
        Delivery.create(subscription=sub, scheduled_for=rows[0].scheduled_for, scope_key=rows[0].scope_key)

    # Several schedulers at once (threads of their own connections) still plan each occurrence once.
    backdate(sub, T0)
    Delivery.delete().execute()
    barrier = threading.Barrier(4)

    def scheduler():
        with db.connection_context():
            barrier.wait()
            subscriptions.plan(now)

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Delivery.select().count() == len(rows)
    # A disabled subscription plans nothing; nor does a new one before its first occurrence.
    Subscription.update(enabled=False).execute()
    backdate(sub, T0)
    assert subscriptions.plan(now) == 0
    # Switched back on, it starts from its next occurrence: what fell due while it was off is not sent.
    subscriptions.update(Subscription.get_by_id(sub.id), enabled=True)
    assert subscriptions.plan(engine.utcnow()) == 0 and Delivery.select().count() == len(rows)


def test_planning_goes_on_when_another_process_commits_meanwhile(app, slow, people, monkeypatch):
    """A scheduler whose subscriptions' SELECT were still open while it wrote read from an old snapshot: on
    SQLite (WAL) its first write after another connection's commit failed at once with "database is locked",
    the busy timeout never consulted (the two-worker delivery test hit it in CI).  It reads them all first."""
    for name in ("周报一", "周报二", "周报三"):
        backdate(weekly(people["manager"], name=name, emails="boss@example.com"), T0)
    monkeypatch.setattr(schedule, "occurrences", commits_meanwhile(schedule.occurrences))
    assert subscriptions.plan(datetime.datetime(2026, 11, 23, 3, 0)) == 12  # 4 Mondays of 3 subscriptions
    assert Delivery.select().count() == 24


def test_mixed_recipients_get_one_run_per_scope(app, slow, people, make_customer):
    for owner in ("sales1", "sales1", "sales2", "sales3"):
        make_customer(owner=owner)
    sub = backdate(weekly(people["sales1"], users=["sales1", "sales2", "admin", "manager"],
                          emails="外部 <ext@example.com>"), T0)
    assert subscriptions.plan(datetime.datetime(2026, 11, 3)) == 1
    groups = {row.run_as.username: row.addresses for row in Delivery.select()}
    # the owner's scope: the owner and the outside address; everyone else their own scope
    assert groups == {"sales1": ["外部 <ext@example.com>", "李销售 <sales1@example.com>"],
                      "sales2": ["张销售 <sales2@example.com>"], "admin": ["系统管理员 <admin@example.com>"],
                      "manager": ["王经理 <manager@example.com>"]}
    assert sub.id


# --- delivering -------------------------------------------------------------------------------
def test_one_delivery_sends_one_mail_with_summary_and_attachment(app, slow, people, mailbox, make_customer):
    for _ in range(3):
        make_customer(owner="sales1")
    make_customer(owner="sales2")
    backdate(weekly(people["manager"], users=["sales1"], emails="张三 <zhang@example.com>",
                    parameters={"tag": "重点"}), T0)
    subscriptions.plan(datetime.datetime(2026, 11, 3))
    [own, team] = sorted(Delivery.select(), key=lambda row: row.run_as.username != "sales1")
    row = subscriptions.deliver(own.id, config=app.config)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at and row.error is None
    assert subscriptions.deliver(own.id, config=app.config) is None  # delivered: never again
    [mail] = mailbox.mails
    assert mail.rcpt_tos == ["sales1@example.com"]
    message = parsed(mail)
    assert message["Subject"] == "【订阅测试】报表 2026-11-02"
    assert delivery_header(mail) == str(own.id)
    text, html = bodies(message)
    assert "客户数：3" in text and "截至：2026-11-02" in text and "范围：部分" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename().endswith("2026-11-02.html")
    assert "SLOW-REPORT 2026-11-02 重点" in attachment.get_content()
    run = ReportRun.get_by_id(row.report_run_id)
    assert run.params["owner_ids"] == [people["sales1"].id] and run.username == "sales1"

    team = subscriptions.deliver(team.id, config=app.config)
    assert team.status == "sent" and mailbox.mails[1].rcpt_tos == ["zhang@example.com"]
    assert "客户数：4" in bodies(parsed(mailbox.mails[1]))[0]  # the manager's team: sales1 and sales2
    assert len(mailbox.mails) == 2


def test_a_failing_notebook_is_retried_then_failed_and_admins_told(app, slow, people, mailbox, monkeypatch):
    monkeypatch.setenv("SUBSCRIPTION_ATTEMPTS", "2")
    backdate(weekly(people["manager"], report="fails", users=[], emails="boss@example.com"), T0)
    now = datetime.datetime(2026, 11, 3)
    subscriptions.plan(now)
    [row] = Delivery.select()
    first = subscriptions.deliver(row.id, config=app.config, now=now)
    assert first.status == "pending" and first.attempts == 1 and "报表运行失败" in first.error
    assert first.next_attempt_at == now + datetime.timedelta(seconds=60)  # backoff: 60 s, then 120 s …
    assert subscriptions.deliver(row.id, config=app.config, now=now) is None  # not due yet
    assert engine.ready(now) == [] and engine.ready(first.next_attempt_at) == [row.id]
    last = subscriptions.deliver(row.id, config=app.config, now=first.next_attempt_at)
    assert last.status == "failed" and last.attempts == 2 and last.sent_at is None
    assert last.error.startswith("第 2 次尝试失败，不再重试：报表运行失败")
    assert ReportRun.select().where(ReportRun.status == "failed").count() == 2
    [notice] = mailbox.mails  # the admins' notice, nothing to the recipient
    assert notice.rcpt_tos == ["admin@example.com"]
    assert parsed(notice)["Subject"] == "【订阅发送失败】周报 2026-11-02 08:00（Asia/Shanghai）"
    assert "boss@example.com" in bodies(parsed(notice))[0] and "不再重试" in bodies(parsed(notice))[0]


def test_smtp_down_then_up_is_retried_and_sent_once(app, slow, people, monkeypatch):
    port = free_port()
    for key, value in mail_env(port).items():
        monkeypatch.setenv(key, value)
    backdate(weekly(people["manager"], users=[], emails="boss@example.com"), T0)
    now = datetime.datetime(2026, 11, 3)
    subscriptions.plan(now)
    [row] = Delivery.select()
    down = subscriptions.deliver(row.id, config=app.config, now=now)  # nothing listens on the port
    assert down.status == "pending" and down.sent_at is None and "无法连接邮件服务器" in down.error
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        up = subscriptions.deliver(row.id, config=app.config, now=down.next_attempt_at)
        assert up.status == "sent" and up.attempts == 2
        assert subscriptions.deliver(row.id, config=app.config, now=down.next_attempt_at) is None
    finally:
        controller.stop()
    assert [mail.rcpt_tos for mail in handler.mails] == [["boss@example.com"]]


def test_a_mail_the_server_rejects_fails_at_once_and_admins_are_told(app, slow, people, mailbox):
    backdate(weekly(people["manager"], users=[], emails="nobody@example.com"), T0)
    subscriptions.plan(datetime.datetime(2026, 11, 3))
    [row] = Delivery.select()
    row = subscriptions.deliver(row.id, config=app.config)
    assert row.status == "failed" and row.attempts == 1 and "拒绝了全部收件人" in row.error
    assert [mail.rcpt_tos for mail in mailbox.mails] == [["admin@example.com"]]


def test_of_two_concurrent_claims_one_wins(app, slow, people):
    backdate(weekly(people["manager"], users=[], emails="boss@example.com"), T0)
    subscriptions.plan(datetime.datetime(2026, 11, 3))
    [row] = Delivery.select()
    barrier, won = threading.Barrier(6), []

    def worker():
        with db.connection_context():
            barrier.wait()
            won.append(engine.claim(row.id))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([claimed for claimed in won if claimed is not None]) == 1
    assert Delivery.get_by_id(row.id).attempts == 1


def dead_worker():
    """host:pid of a process that has exited (and been reaped), as a crashed worker leaves."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def test_a_send_interrupted_by_a_crash_is_not_sent_again(app, slow, people, mailbox):
    backdate(weekly(people["manager"], users=[], emails="boss@example.com"), T0)
    subscriptions.plan(datetime.datetime(2026, 11, 3))
    [row] = Delivery.select()
    Delivery.update(status="sending", claimed_by=dead_worker(), claimed_at=datetime.datetime(2026, 11, 3),
                    attempts=1).execute()
    assert engine.sweep() == []
    row = Delivery.get_by_id(row.id)
    assert row.status == "failed" and "邮件可能已经发出" in row.error and row.sent_at is None
    assert subscriptions.deliver(row.id, config=app.config) is None
    assert [mail.rcpt_tos for mail in mailbox.mails] == [["admin@example.com"]]  # the notice only
    assert engine.sweep() == [] and len(mailbox.mails) == 1  # told once


def test_a_running_claim_is_taken_over_only_when_its_worker_is_gone(app, slow, people, monkeypatch):
    backdate(weekly(people["manager"], users=[], emails="boss@example.com"), T0)
    subscriptions.plan(datetime.datetime(2026, 11, 3))
    [row] = Delivery.select()
    now = engine.utcnow()
    alive = f"{socket.gethostname()}:{__import__('os').getpid()}"
    Delivery.update(status="running", claimed_by=alive, claimed_at=now, attempts=1).execute()
    assert engine.sweep(now) == [] and engine.claim(row.id, now) is None
    monkeypatch.setenv("SUBSCRIPTION_LEASE_SECONDS", "600")  # another machine's claim: the lease decides
    Delivery.update(claimed_by="elsewhere:1").execute()
    assert engine.sweep(now + datetime.timedelta(seconds=599)) == []
    assert engine.sweep(now + datetime.timedelta(seconds=601)) == [row.id]
    run = ReportRun.create(run_id="lost-run", report="slow", status="running")
    Delivery.update(claimed_by=dead_worker(), report_run=run.id).execute()
    assert engine.sweep(now) == [row.id]
    taken = engine.claim(row.id, now)
    assert taken.status == "running" and taken.attempts == 2 and taken.claimed_by == alive
    assert ReportRun.get_by_id(run.id).status == "failed"  # the lost worker's run will never finish
    assert json.loads(taken.recipients) == ["boss@example.com"]


def test_a_switched_off_or_crash_looping_delivery_is_not_run(app, slow, people, mailbox, monkeypatch):
    monkeypatch.setenv("SUBSCRIPTION_ATTEMPTS", "2")
    sub = backdate(weekly(people["manager"], users=[], emails="boss@example.com"), T0)
    subscriptions.plan(datetime.datetime(2026, 11, 10))
    first, second = Delivery.select().order_by(Delivery.scheduled_for)
    # The worker died in the report run twice already: the third take-over gives up and tells the admins.
    Delivery.update(status="running", claimed_by=dead_worker(), claimed_at=T0, attempts=2).where(
        Delivery.id == first.id).execute()
    row = subscriptions.deliver(first.id, config=app.config)
    assert row.status == "failed" and "worker 在运行中退出了 2 次" in row.error and row.report_run_id is None
    assert [mail.rcpt_tos for mail in mailbox.mails] == [["admin@example.com"]]
    subscriptions.update(sub, enabled=False)
    row = subscriptions.deliver(second.id, config=app.config)
    assert row.status == "failed" and row.error == "订阅已停用，本次未发送" and row.report_run_id is None
    assert len(mailbox.mails) == 1 and ReportRun.select().count() == 0


def test_run_py_deliveries_plans_and_lists(app, slow, people, monkeypatch):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import run

    backdate(weekly(people["manager"], users=[], emails="boss@example.com"), engine.utcnow() - datetime.timedelta(days=14))
    result = CliRunner().invoke(run.cli, ["deliveries", "--plan"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "已排期 2 个到期的计划时间"
    assert len(lines) == 3 and all("周报" in line and "pending 尝试 0 次 → boss@example.com" in line for line in lines[1:])
