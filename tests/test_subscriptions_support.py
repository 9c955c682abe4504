"""Helpers for the subscription tests (no tests of its own): the test reports, users with
e-mail addresses, a mailbox (real aiosmtpd) and real `run.py worker` processes.

`run.py worker --import tests.test_subscriptions_support` registers the test reports in the
worker (SUBSCRIPTION_TEST_WORKER=1) and sends their outputs to REPORTS_OUT, as the `reports`
fixture of tests/conftest.py does in the test process.
"""
import email
import os
import time
from contextlib import contextmanager
from email import policy

import reporting
from models import Subscription, User
from tests.test_jobs_probe import ROOT, kill  # noqa: F401 (kill: for the worker tests)
from tests.test_jobs_probe import workers as probe_workers

TEST_NOTEBOOKS = os.path.join(ROOT, "tests", "data")  # as tests/conftest.py (not imported: workers load this)

SLOW = os.path.join(TEST_NOTEBOOKS, "slow.ipynb")
SENDER = "客户分析平台 <reports@example.com>"
EMAILS = {"admin": "admin@example.com", "manager": "manager@example.com", "sales1": "sales1@example.com",
          "sales2": "sales2@example.com"}


def register_reports():
    reporting.register("slow", SLOW, "订阅测试：关键数字")
    reporting.register("fails", os.path.join(TEST_NOTEBOOKS, "fails.ipynb"), "第二个单元格出错")


if os.environ.get("SUBSCRIPTION_TEST_WORKER") == "1":  # inside a worker a test started
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


def backdate(subscription, planned_until):
    """As if the subscription had been planned up to `planned_until` (naive UTC)."""
    Subscription.update(planned_until=planned_until).where(Subscription.id == subscription.id).execute()
    return Subscription.get_by_id(subscription.id)


def wait_for(condition, what, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.1)


@contextmanager
def workers(tmp_path, database_url, queue_url, smtp_port, count=1, threads=2, name="worker", **env):
    """Real `run.py worker` processes that deliver subscriptions: each in its own process group,
    so a test can kill one with its notebook kernel (kill()), as a crash would."""
    with probe_workers(tmp_path, database_url, queue_url, count=count, threads=threads, name=name,
                       module="tests.test_subscriptions_support", own_group=True, stop_timeout=20,
                       SUBSCRIPTION_TEST_WORKER="1", REPORTS_OUT=str(tmp_path / "reports_out"),
                       **mail_env(smtp_port), **env) as started:
        yield started
