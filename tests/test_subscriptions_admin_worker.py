"""立即发送 from the admin, delivered by a real `run.py worker` process from the SQLite queue: the
button only queues (the page answers before any report runs), the worker runs the report in each
recipient's scope and mails it once to a real aiosmtpd server in this process.
"""
import jobs
import subscriptions
from models import Delivery
from tests import policy_support as ps
from tests.conftest import database_url
from tests.test_subscriptions_support import delivery_header, parsed, wait_for, workers
from tests.test_delivery_smtp import smtp_server  # noqa: F401 (fixture)
from tests.test_subscriptions_workers import setting  # noqa: F401 (fixture)

BASE = "/admin/subscription/"


def test_send_now_is_queued_by_the_page_and_delivered_once_by_a_worker(app, tmp_path, setting, login):  # noqa: F811
    people, mailbox = setting
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    app.config["QUEUE_URL"] = queue_url
    sub = subscriptions.create(people["manager"], name="立即发送", report="slow", schedule_kind="monthly", day=1,
                               time="09:00", users=["sales1"], emails="boss@example.com")
    client = login("manager")
    details = f"{BASE}details/?id={sub.id}"

    response = client.submit(BASE + "send/", {"id": sub.id}, form_url=details, follow_redirects=True)
    assert "已加入发送队列" in response.get_data(as_text=True)
    rows = list(Delivery.select().where(Delivery.subscription == sub.id))
    assert len(rows) == 2 and {row.status for row in rows} == {"pending"}, "queued, not run by the web request"
    assert jobs.queue.pending_count() == 2

    with workers(tmp_path, database_url(tmp_path), queue_url, mailbox.port):
        wait_for(lambda: all(Delivery.get_by_id(row.id).status == "sent" for row in rows), "both delivered")
    assert sorted(int(delivery_header(mail)) for mail in mailbox.mails) == sorted(row.id for row in rows)
    assert sorted(mail.rcpt_tos[0] for mail in mailbox.mails) == ["boss@example.com", "sales1@example.com"]
    assert all(parsed(mail)["Subject"].startswith("【订阅测试】报表 ") for mail in mailbox.mails)
    history = ps.soup(client.get(details).get_data(as_text=True)).select("#delivery-history tbody tr")
    assert [tr["data-status"] for tr in history] == ["sent", "sent"]
