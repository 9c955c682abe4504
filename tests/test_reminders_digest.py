"""The daily digest of due and overdue tasks: one mail per user per day, through the jobs queue, a real
`run.py worker` and a real SMTP server (aiosmtpd); planning twice and sending twice still give one mail each, a
server that is down is retried, and each mail lists the recipient's row scope only.  The day is fixed."""
import datetime
from collections import Counter

import jobs
import reminders
from models import AuditLog, FollowUp, TaskDigest, User, db
from reminders import digest
from reminders.tasks import daily_digest, send_digest_task
from tests.conftest import database_url
from tests.test_delivery_smtp import free_port, smtp_server  # noqa: F401 (fixture)
from tests.test_jobs_probe import wait_finished, workers
from tests.test_subscriptions_support import give_emails, mail_env, parsed, wait_for

DAY = datetime.date(2026, 3, 10)


def plan_for(customer, due):
    with db.atomic():
        record = FollowUp.create(customer=customer, at=datetime.datetime(2026, 3, 1, 10, 0), method="电话",
                                 content="约定回访", next_date=due)
        reminders.after_followups([record.id])


def book(make_customer):
    """sales1: one overdue and one due today; sales2: one due today; sales3 (manager2's team): one overdue;
    an upcoming task nobody is mailed about."""
    names = {}
    for owner, name, due in (("sales1", "一号逾期", DAY - datetime.timedelta(days=2)), ("sales1", "一号今天", DAY),
                             ("sales2", "二号今天", DAY), ("sales3", "三号逾期", DAY - datetime.timedelta(days=1)),
                             ("sales1", "一号以后", DAY + datetime.timedelta(days=3))):
        names[name] = make_customer(owner=owner, name=name)
        plan_for(names[name], due)
    return names


def text_of(mail):
    message = parsed(mail)
    return message["Subject"], message.get_body(("plain",)).get_content()


def test_one_digest_per_user_and_day_through_the_queue_a_worker_and_smtp(app, tmp_path, smtp_server,  # noqa: F811
                                                                          make_customer, monkeypatch):
    mailbox = smtp_server()
    for key, value in mail_env(mailbox.port).items():
        monkeypatch.setenv(key, value)
    give_emails()  # admin, manager, sales1, sales2
    User.update(email="service@example.com").where(User.username == "service").execute()  # no `task` view
    book(make_customer)
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    app.config["QUEUE_URL"] = queue_url
    jobs.configure(app.config)
    try:
        # one worker thread takes the queue in order: the probe queued last runs after every send before it
        with workers(tmp_path, database_url(tmp_path), queue_url, threads=1, **mail_env(mailbox.port)):
            queued = daily_digest(DAY)
            assert len(queued) == 4  # admin (everyone), manager (team), sales1, sales2; not service, not sales3
            wait_for(lambda: len(mailbox.mails) == 4 and TaskDigest.select().where(TaskDigest.status == "sent")
                     .count() == 4, "four digests sent")
            # the job again (a second scheduler, a rerun) and every send enqueued again: nothing more goes out
            assert daily_digest(DAY) == []
            for digest_id in queued:
                send_digest_task(digest_id)
            probe = jobs.run_now("test-probe")
            wait_finished([probe.id], timeout=90)
    finally:
        jobs.queue.configure(None)

    received = Counter(address for mail in mailbox.mails for address in mail.rcpt_tos)
    assert received == {"admin@example.com": 1, "manager@example.com": 1, "sales1@example.com": 1,
                        "sales2@example.com": 1}
    mails = {mail.rcpt_tos[0]: text_of(mail) for mail in mailbox.mails}
    subject, body = mails["sales1@example.com"]
    assert subject == "【我的任务】2026-03-10：今天到期 1 项，已逾期 1 项"
    assert "一号逾期" in body and "逾期 2 天" in body and "一号今天" in body
    assert "一号以后" not in body and "二号今天" not in body and "负责人" not in body
    subject, body = mails["manager@example.com"]
    assert subject == "【我的任务】2026-03-10：今天到期 2 项，已逾期 1 项"
    assert "二号今天" in body and "负责人 张销售" in body and "三号逾期" not in body
    assert "三号逾期" in mails["admin@example.com"][1]
    rows = list(TaskDigest.select().order_by(TaskDigest.id))
    assert [(r.day, r.status, r.attempts) for r in rows] == [(DAY, "sent", 1)] * 4
    assert AuditLog.select().where(AuditLog.action == "digest", AuditLog.model == "task").count() == 4


def test_a_server_that_is_down_is_retried_and_the_mail_still_goes_once(app, smtp_server, make_customer,  # noqa: F811
                                                                       monkeypatch):
    give_emails()
    book(make_customer)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("MAIL_SENDER", "客户分析平台 <reports@example.com>")
    assert digest.plan(DAY) == 4 and digest.plan(DAY) == 0
    row = TaskDigest.get(TaskDigest.user == User.get(User.username == "sales2").id)
    first = datetime.datetime(2026, 3, 10, 8, 0)
    failed = digest.send(row.id, now=first)
    assert failed.status == "pending" and failed.attempts == 1 and "无法连接邮件服务器" in failed.error
    assert digest.send(row.id, now=first) is None  # not before its retry time
    mailbox = smtp_server()
    for key, value in mail_env(mailbox.port).items():
        monkeypatch.setenv(key, value)
    sent = digest.send(row.id, now=first + datetime.timedelta(minutes=5))
    assert sent.status == "sent" and sent.attempts == 2 and sent.recipient.endswith("<sales2@example.com>")
    assert digest.send(row.id, now=first + datetime.timedelta(minutes=10)) is None
    assert [mail.rcpt_tos for mail in mailbox.mails] == [["sales2@example.com"]]
