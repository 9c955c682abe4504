"""Subscriptions end to end in the demo: the real `run.py demo`, `run.py mailbox` and `run.py worker`
as processes on a temporary SQLite database; the demo's first subscription is mailed to the local
mailbox as a Chinese multipart mail with the report attached, and its Delivery is 'sent'.

Also the demo's subscriptions themselves (demo.report_subscriptions): made through the
subscriptions package's checks, idempotent, and one of them due minutes after the demo starts.
These run on the test database (PostgreSQL too, with DATABASE_URL).
"""
import base64
import datetime
import email
import os
import subprocess
import sys
import time
from email import policy

import pytest

import jobs
import models
import subscriptions
from demo import report_subscriptions
from demo.fixed import REFERENCE_DAY
from models import Delivery, Subscription, User
from subscriptions import schedule
from subscriptions.tasks import due_subscriptions
from tests.test_delivery_smtp import free_port
from tests.test_jobs_probe import READY, ROOT

FIRST = "团队客户分群周报"  # the demo subscription that falls due a few minutes after the demo starts


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


# --- the demo's subscriptions -----------------------------------------------------------------
def test_the_demo_seeds_realistic_subscriptions_owned_by_demo_users(app):
    now = datetime.datetime(2026, 11, 25, 6, 0)  # Wednesday 14:00 in Shanghai
    with app.app_context():
        made = {sub.name: (sub, upcoming) for sub, upcoming in report_subscriptions.seed(now=now)}
        assert set(made) == {"华东客户分群周报", "月度客户价值分析", FIRST}

        weekly, upcoming = made["华东客户分群周报"]
        assert (weekly.owner.username, weekly.report, weekly.params) == ("manager", "segmentation", {"regions": ["华东"]})
        assert schedule.describe(weekly) == "每周一 08:00（Asia/Shanghai）"
        assert upcoming == datetime.datetime(2026, 11, 30, 0, 0)  # Monday 08:00 Shanghai, in UTC
        assert weekly.user_ids == [User.get(User.username == "manager").id]

        monthly, upcoming = made["月度客户价值分析"]
        assert (monthly.owner.username, monthly.report, monthly.day, monthly.time) == ("admin", "value", 1, "09:00")
        assert monthly.recipient_emails == "财务总监 <cfo@example.com>"
        assert upcoming == datetime.datetime(2026, 12, 1, 1, 0)

        first, upcoming = made[FIRST]
        assert first.owner.username == "manager2" and first.schedule_kind == "weekly"
        assert datetime.timedelta(minutes=2) <= upcoming - now <= datetime.timedelta(minutes=3)
        # Recipients need an address: the demo gives the demo users example.com ones.
        assert User.get(User.username == "manager2").email == "zhao.manager@example.com"


def test_the_first_mail_is_due_minutes_later_even_across_midnight(app):
    now = datetime.datetime(2026, 11, 25, 15, 58, 30)  # Wednesday 23:58:30 in Shanghai
    with app.app_context():
        first = {sub.name: (sub, upcoming) for sub, upcoming in report_subscriptions.seed(now=now)}[FIRST]
    subscription, upcoming = first
    assert (subscription.weekday, subscription.time) == (4, "00:01")  # Thursday, local
    assert upcoming == datetime.datetime(2026, 11, 25, 16, 1)


def test_seeding_again_replaces_the_demo_subscriptions_and_their_deliveries(app):
    with app.app_context():
        User.update(email="boss@corp.example").where(User.username == "admin").execute()  # set by hand
        before = [sub for sub, _ in report_subscriptions.seed()]
        first = next(sub for sub in before if sub.name == FIRST)
        subscriptions.plan(now=schedule.occurrences(first, utcnow(), utcnow() + datetime.timedelta(days=8))[0])
        assert Delivery.select().count() == 1
        own = subscriptions.create(User.get(User.username == "manager"), name="我自己的订阅", report="value",
                                   schedule_kind="weekly", weekday=5, time="17:00", users=["manager"])

        after = [sub for sub, _ in report_subscriptions.seed()]
        assert sorted(s.name for s in after) == sorted(s.name for s in before)
        assert Subscription.select().count() == 4 and Subscription.get_or_none(Subscription.id == own.id)
        assert Delivery.select().count() == 0  # the old subscription's occurrence went with it
        assert User.get(User.username == "admin").email == "boss@corp.example"


# --- end to end: demo, mailbox, worker --------------------------------------------------------
def cli_env(tmp_path, smtp_port):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SMTP_", "MAIL_", "MAILBOX_", "QUEUE_", "DATABASE_", "CRM_"))}
    env.update(CRM_ENV="demo", DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
               QUEUE_URL=f"sqlite:///{tmp_path / 'queue.db'}", SECRET_KEY="demo-test-secret",
               FIELD_KEY=base64.b64encode(b"d" * 32).decode(), PYTHONUNBUFFERED="1",
               SMTP_PORT=str(smtp_port))  # no SMTP_HOST: the demo's default, the local mailbox, applies
    return env


def start(tmp_path, name, env, *args):
    log = open(tmp_path / f"{name}.log", "w")
    process = subprocess.Popen([sys.executable, "run.py", *args], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return process


def wait_for(condition, what, processes, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for name, process, log in processes:
            assert process.poll() is None, f"{name} exited ({process.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.1)


def stop(process):
    if process.poll() is None:
        process.send_signal(2)  # SIGINT: as `make demo` stops them
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def mail_of(folder, delivery_id):
    """The .eml of delivery `delivery_id` (the engine names it in X-CRM-Delivery), or None yet."""
    for path in folder.glob("*.eml"):
        if email.message_from_bytes(path.read_bytes(), policy=policy.default)["X-CRM-Delivery"] == str(delivery_id):
            return path
    return None


@pytest.fixture
def demo_database(tmp_path):
    """The test process looks at the demo's database too (and plans, as a second scheduler)."""
    yield f"sqlite:///{tmp_path / 'demo.db'}"
    models.db.close()
    jobs.queue.configure(None)


def test_the_demo_mails_its_first_subscription_to_the_local_mailbox(tmp_path, demo_database):
    port = free_port()
    env = cli_env(tmp_path, port)
    # The data ends on the fixed reference day; the subscriptions still fall due by the real clock.
    loaded = subprocess.run([sys.executable, "run.py", "demo", "--customers", "150", "--password", "demo-pass-1",
                             "--today", REFERENCE_DAY.isoformat()],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert f"SMTP 127.0.0.1:{port}" in loaded.stdout and FIRST in loaded.stdout

    folder = tmp_path / "mail"
    mailbox = start(tmp_path, "mailbox", env, "mailbox", "--port", str(port), "--dir", str(folder))
    # The worker imports harness.reports only to send report outputs to tmp_path.
    worker = start(tmp_path, "worker", dict(env, SUBSCRIPTION_TEST_WORKER="1", REPORTS_OUT=str(tmp_path / "out")),
                   "worker", "--workers", "1", "--import", "harness.reports")
    running = [("mailbox", mailbox, tmp_path / "mailbox.log"), ("worker", worker, tmp_path / "worker.log")]
    try:
        models.bind(demo_database)
        first = Subscription.get(Subscription.name == FIRST)
        due = schedule.occurrences(first, utcnow(), utcnow() + datetime.timedelta(days=8), limit=1)[0]
        assert due - utcnow() <= datetime.timedelta(minutes=3)  # what the demo promises its user
        jobs.configure({"QUEUE_URL": env["QUEUE_URL"]})
        # Plan and enqueue as the worker's minute job will at `due`, rather than wait for it.
        enqueued = due_subscriptions(now=due)
        planned = Delivery.get(Delivery.subscription == first.id)  # one scope: 赵经理's (the address gets the owner's)
        assert planned.id in enqueued
        wait_for(lambda: "本地收信箱" in (tmp_path / "mailbox.log").read_text(), "mailbox listening", running)
        wait_for(lambda: READY in (tmp_path / "worker.log").read_text(), "worker ready", running)
        mail_file = wait_for(lambda: mail_of(folder, planned.id), "the mail in the mailbox", running)
        row = wait_for(lambda: (lambda r: r if r.status in ("sent", "failed") else None)(
            Delivery.get_by_id(planned.id)), "delivery finished", running)
    finally:
        for _, process, _ in running:
            stop(process)

    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1, row.error
    raw = mail_file.read_bytes()
    mail = email.message_from_bytes(raw, policy=policy.default)
    day = schedule.local_date(first, due).isoformat()
    assert mail["Subject"] == f"【客户分群】报表 {day}"
    headers = raw.split(b"\r\n\r\n")[0].decode("ascii")  # all headers 7-bit: Chinese RFC 2047-encoded
    assert "=?utf-8?" in headers.lower()
    assert set(mail["X-RcptTo"].split(", ")) == {"zhao.manager@example.com", "director@example.com"}
    assert {(a.display_name, a.addr_spec) for a in mail["To"].addresses} == {
        ("赵经理", "zhao.manager@example.com"), ("区域总监", "director@example.com")}
    assert mail["X-CRM-Delivery"] == str(row.id)
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert "客户分群" in plain.get_content() and "客户分群" in html.get_content()
    attachments = list(mail.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"客户分群报表-{day}.html"]
    assert attachments[0].get_content_type() == "text/html"
    assert "<html" in attachments[0].get_content().lower()
    announced = (tmp_path / "mailbox.log").read_text()
    assert f"【客户分群】报表 {day}" in announced and mail_file.name in announced
    # What an operator reads afterwards.
    listed = subprocess.run([sys.executable, "run.py", "deliveries"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert f"#{row.id} {FIRST} {row.period} sent 尝试 1 次 发送于" in listed.stdout, listed.stdout + listed.stderr
