"""The subscription test reports, the demo users' addresses and mail settings, for the tests and
bench/deliveries.py, and the workers that deliver subscriptions.

`run.py worker --import harness.reports` registers the test reports in the worker
(SUBSCRIPTION_TEST_WORKER=1) and sends their outputs to REPORTS_OUT, as the `reports` fixture of
tests/conftest.py does in the test process.
"""
import email
import os
from contextlib import contextmanager
from email import policy

import reporting
from models import User

from .workers import ROOT
from .workers import workers as plain_workers

TEST_NOTEBOOKS = os.path.join(ROOT, "tests", "data")  # the notebook files the tests run (data, not imported)
SLOW = os.path.join(TEST_NOTEBOOKS, "slow.ipynb")
SENDER = "客户分析平台 <reports@example.com>"
EMAILS = {"admin": "admin@example.com", "manager": "manager@example.com", "sales1": "sales1@example.com",
          "sales2": "sales2@example.com"}


def register_reports():
    reporting.register("slow", SLOW, "订阅测试：关键数字")
    reporting.register("fails", os.path.join(TEST_NOTEBOOKS, "fails.ipynb"), "第二个单元格出错")


if os.environ.get("SUBSCRIPTION_TEST_WORKER") == "1":  # inside a worker a test or benchmark started
    register_reports()
    reporting.runner.OUT_DIR = os.environ["REPORTS_OUT"]


def give_emails():
    """The demo users get addresses (they have none), so they can receive mail and notices."""
    for username, address in EMAILS.items():
        User.update(email=address).where(User.username == username).execute()
    return {u.username: u for u in User.select()}


def mail_env(port):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "MAIL_SENDER": SENDER, "SMTP_TIMEOUT": "10"}


def parsed(mail):
    return email.message_from_bytes(mail.raw, policy=policy.default)


def delivery_header(mail):
    return parsed(mail)["X-CRM-Delivery"]


@contextmanager
def workers(tmp_path, database_url, queue_url, smtp_port, count=1, threads=2, name="worker", **env):
    """Real `run.py worker` processes that deliver subscriptions: each in its own process group,
    so a test can kill one with its notebook kernel (harness.workers.kill), as a crash would."""
    with plain_workers(tmp_path, database_url, queue_url, count=count, threads=threads, name=name,
                       module="harness.reports", own_group=True, stop_timeout=20,
                       SUBSCRIPTION_TEST_WORKER="1", REPORTS_OUT=str(tmp_path / "reports_out"),
                       **mail_env(smtp_port), **env) as started:
        yield started
