"""分析报表 → 报表订阅 in the admin: list, create/edit with every kind of bad input, pause/resume,
立即发送 (through the jobs queue and deliver(), mail on a real aiosmtpd server), 预览邮件, row scope
and the audit trail — logged in as the demo roles, against the test's own database.
"""
import datetime
import json
import re

import pytest

import access
import jobs
import subscriptions
from access.policy import bump_version
from jobs.worker import in_process
from models import AuditLog, Delivery, ReportRun, Role, RolePermission, Subscription, User
from subscriptions import engine
from tests import policy_support as ps
from tests.test_delivery_smtp import bodies, smtp_server  # noqa: F401 (fixture)
from tests.test_subscriptions import mailbox, people, slow  # noqa: F401 (fixtures)
from tests.test_subscriptions_support import parsed, wait_for

BASE = "/admin/subscription/"


def subscribe(owner, **fields):
    values = {"name": "周报", "report": "slow", "schedule_kind": "weekly", "weekday": 1, "time": "08:00",
              "emails": "boss@example.com"}
    values.update(fields)
    return subscriptions.create(owner, **values)


def form(**changes):
    data = {"name": "华东周报", "report": "slow", "parameters": "tag=重点", "schedule_kind": "weekly",
            "weekday": "1", "day": "", "time": "08:00", "cron": "", "timezone": "Asia/Shanghai",
            "recipient_emails": "boss@example.com", "enabled": "y"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def audits(action, record_id=None):
    query = AuditLog.select().where((AuditLog.model == "subscription") & (AuditLog.action == action))
    if record_id is not None:
        query = query.where(AuditLog.record_id == str(record_id))
    return list(query)


def errors_of(response):
    return ps.flashed_errors(response.get_data(as_text=True))


def field_error(response, name):
    """The error text shown next to input `name` (Flask-Admin puts it in the input's form group)."""
    doc = ps.soup(response.get_data(as_text=True))
    node = doc.find(id=name)
    assert node is not None, f"no input {name} on the page"
    group = node.find_parent(class_="form-group")
    return " ".join(ps.text_of(n) for n in group.select(".invalid-feedback, .help-block.text-danger"))


def restrict(role_name, model, actions):
    """Give `role_name` exactly `actions` on `model` (as an admin would in the role screen)."""
    role = Role.get(Role.name == role_name)
    flags = {f"can_{a}": a in actions.split() for a in ("view", "create", "edit", "delete", "export")}
    RolePermission.update(**flags).where((RolePermission.role == role) & (RolePermission.model == model)).execute()
    bump_version()


# --- list -----------------------------------------------------------------------------------
def test_list_shows_report_schedule_zone_recipients_state_owner_next_run_and_last_delivery(app, slow, people, login):
    manager = people["manager"]
    weekly = subscribe(manager, name="周一分群", users=["sales1"])
    monthly = subscribe(manager, name="月初价值", schedule_kind="monthly", day=1, time="09:00", weekday=None,
                        timezone="UTC")
    cron = subscribe(people["sales1"], name="工作日", schedule_kind="cron", cron="30 9 * * 1-5", weekday=None)
    subscriptions.set_enabled(monthly, False)
    Delivery.create(subscription=weekly, scheduled_for=datetime.datetime(2026, 11, 23, 0, 0), status="sent",
                    period="2026-11-23 08:00（Asia/Shanghai）", sent_at=datetime.datetime(2026, 11, 23, 0, 1))
    # An older occurrence planned later (a catch-up) is not the latest delivery.
    Delivery.create(subscription=weekly, scheduled_for=datetime.datetime(2026, 11, 16, 0, 0), status="failed",
                    period="2026-11-16 08:00（Asia/Shanghai）")

    page = ps.ListPage(login("manager").get(BASE).get_data(as_text=True))
    assert list(page.headers.values()) == ["订阅名称", "报表", "计划", "时区", "收件人", "状态", "所有者", "下次发送",
                                           "最近发送"]
    rows = page.rows
    assert rows[weekly.id]["report"] == "订阅测试（slow）"
    assert rows[weekly.id]["schedule"] == "每周一 08:00"
    assert rows[monthly.id]["schedule"] == "每月 1 日 09:00（小月取最后一天）"
    assert rows[cron.id]["schedule"] == "cron 30 9 * * 1-5"
    assert rows[monthly.id]["timezone"] == "UTC" and rows[weekly.id]["timezone"] == "Asia/Shanghai"
    assert rows[weekly.id]["recipients"] == "李销售、boss@example.com"
    assert (rows[weekly.id]["enabled"], rows[monthly.id]["enabled"]) == ("已启用", "已暂停")
    assert rows[weekly.id]["owner"] == str(manager) and rows[cron.id]["owner"] == str(people["sales1"])
    next_run = subscriptions.occurrences(weekly, engine.utcnow(), engine.utcnow() + datetime.timedelta(days=8))[0]
    local = next_run + datetime.timedelta(hours=8)
    assert rows[weekly.id]["next_run"] == local.strftime("%Y-%m-%d %H:%M") and local.weekday() == 0
    assert rows[monthly.id]["next_run"] == "—（已暂停）"
    assert rows[weekly.id]["last_delivery"] == "已发送（2026-11-23 08:00（Asia/Shanghai））"
    assert rows[cron.id]["last_delivery"] == "从未发送"

    assert login("service").get(BASE).status_code == 403  # no subscription permission by default
    assert set(ps.ListPage(login("sales").get(BASE).get_data(as_text=True)).ids) == {cron.id}  # own rows only


# --- create and edit ------------------------------------------------------------------------
def test_create_stores_a_checked_subscription_owned_by_its_creator_and_audits_it(app, slow, people, login):
    client = login("sales")
    page = client.get(BASE + "new/").get_data(as_text=True)
    assert "可用参数" in page and "slow" in page
    options = {o["value"] for o in ps.soup(page).select("#recipient_users option")}
    assert options == {str(people["sales1"].id)}, "a sales rep picks recipients inside their own scope"

    response = client.submit(BASE + "new/", form(recipient_users=[str(people["sales1"].id)], parameters="tag=重点\nsleep=0"),
                             form_url=BASE + "new/")
    assert response.status_code == 302, errors_of(response)
    sub = Subscription.get()
    assert (sub.name, sub.report, sub.params, sub.schedule_kind, sub.weekday, sub.time, sub.timezone) == (
        "华东周报", "slow", {"tag": "重点", "sleep": 0.0}, "weekly", 1, "08:00", "Asia/Shanghai")
    assert (sub.owner.username, sub.user_ids, sub.recipient_emails, sub.enabled) == (
        "sales1", [people["sales1"].id], "boss@example.com", True)
    (entry,) = audits("create", sub.id)
    assert entry.username == "sales1" and json.loads(entry.changes)["name"] == [None, "华东周报"]

    details = client.get(f"{BASE}details/?id={sub.id}").get_data(as_text=True)
    table = ps.details_table(details)
    assert table["参数"] == "标签：重点；sleep：0.00" and table["计划"] == "每周一 08:00"
    assert len(ps.soup(details).select("#next-runs li")) == 5


@pytest.mark.parametrize("changes,stored,words", [
    ({"schedule_kind": "monthly", "day": "31", "time": "9:30", "weekday": ""}, {"day": 31, "time": "09:30"},
     "每月 31 日 09:30（小月取最后一天）"),
    ({"schedule_kind": "cron", "cron": " 30  9 * * 1-5 ", "weekday": "", "timezone": "Europe/Berlin"},
     {"cron": "30 9 * * 1-5", "timezone": "Europe/Berlin", "weekday": None}, "cron 30 9 * * 1-5"),
])
def test_monthly_and_cron_schedules_are_created_from_the_form(app, slow, people, login, changes, stored, words):
    client = login("manager")
    response = client.submit(BASE + "new/", form(**changes))
    assert response.status_code == 302, errors_of(response)
    sub = Subscription.get()
    assert {key: getattr(sub, key) for key in stored} == stored
    assert ps.ListPage(client.get(BASE).get_data(as_text=True)).rows[sub.id]["schedule"] == words


INVALID = [
    ({"name": ""}, "name", "请填写订阅名称"),
    ({"report": "nope"}, "report", "不是有效的选择"),
    ({"parameters": "top_n=5"}, "parameters", "未知参数 top_n；可用参数：as_of、tag、marker、sleep"),
    ({"parameters": "sleep=很久"}, "parameters", "参数 sleep 应为数字，收到 '很久'"),
    ({"parameters": "as_of=2026-13-01"}, "parameters", "参数 as_of 应为日期 YYYY-MM-DD"),
    ({"parameters": "owner_ids=1"}, "parameters", "参数 owner_ids 由访问权限决定，不能手动设置"),
    ({"parameters": "只有名字"}, "parameters", "参数每行写成 名称=值"),
    ({"weekday": ""}, "weekday", "每周订阅需要星期几：1（周一）到 7（周日）"),
    ({"time": "8点"}, "time", "时间 '8点' 无效（应为 HH:MM，如 08:00）"),
    ({"schedule_kind": "monthly", "day": "32"}, "day", "每月订阅需要日期：1 到 31"),
    ({"schedule_kind": "cron", "cron": "0 8 * *"}, "cron", "应为 5 段 cron 表达式"),
    ({"schedule_kind": "cron", "cron": "0 8 30 2 *"}, "cron", "计划 '0 8 30 2 *' 永远不会执行"),
    ({"timezone": "Mars/Olympus"}, "timezone", "时区 'Mars/Olympus' 无效"),
    ({"recipient_emails": ""}, "recipient_users", "请至少选择一位收件用户或填写一个邮箱地址"),
    ({"recipient_emails": "boss@example.com, 不是地址"}, "recipient_emails", "收件人地址无效"),
    ({"recipient_users": ["__sales2__"]}, "recipient_users", "所选收件用户不存在或不在您的数据范围内"),
]


@pytest.mark.parametrize("changes,field,message", INVALID, ids=[c[1] + "-" + str(i) for i, c in enumerate(INVALID)])
def test_bad_input_is_shown_in_chinese_next_to_its_field_and_nothing_is_stored(app, slow, people, login, changes, field,
                                                                               message):
    if changes.get("recipient_users") == ["__sales2__"]:
        changes = {"recipient_users": [str(people["sales2"].id)]}  # another rep: outside a sales rep's scope
    client = login("sales")
    response = client.submit(BASE + "new/", form(**changes))
    assert response.status_code == 200
    assert message in field_error(response, field), (field, errors_of(response))
    assert Subscription.select().count() == 0 and not audits("create")


def test_edit_changes_the_schedule_and_recipients_and_audits_the_change(app, slow, people, login):
    sub = subscribe(people["manager"], parameters={"tag": "重点", "sleep": 0.5})
    client = login("manager")
    url = f"{BASE}edit/?id={sub.id}"
    shown = ps.soup(client.get(url).get_data(as_text=True)).select_one("#parameters").get_text()
    assert shown.split() == ["tag=重点", "sleep=0.5"], "the stored parameters, as they are typed"
    response = ps.submit_form(client, url, {"schedule_kind": "monthly", "day": "31", "time": "9:30",
                                            "recipient_users": [str(people["sales2"].id)]})
    assert response.status_code == 302, errors_of(response)
    sub = Subscription.get_by_id(sub.id)
    assert (sub.schedule_kind, sub.day, sub.time, sub.user_ids, sub.params) == (
        "monthly", 31, "09:30", [people["sales2"].id], {"tag": "重点", "sleep": 0.5})
    (entry,) = audits("update", sub.id)
    changes = json.loads(entry.changes)
    assert changes["schedule_kind"] == ["weekly", "monthly"] and changes["day"] == [None, 31]

    # a bad edit changes nothing
    response = ps.submit_form(client, url, {"time": "25:00"})
    assert response.status_code == 200 and "时间 '25:00' 无效" in field_error(response, "time")
    assert Subscription.get_by_id(sub.id).time == "09:30" and len(audits("update", sub.id)) == 1


# --- pause / resume ------------------------------------------------------------------------
def test_pause_and_resume_toggle_enabled_are_audited_and_a_paused_one_is_not_planned(app, slow, people, login):
    sub = subscribe(people["sales1"])
    client = login("sales")
    details = f"{BASE}details/?id={sub.id}"
    response = client.submit(BASE + "toggle/", {"id": sub.id}, form_url=details)
    assert response.status_code == 302
    assert not Subscription.get_by_id(sub.id).enabled
    assert "订阅已暂停" in client.get(details).get_data(as_text=True)
    assert [a.username for a in audits("pause", sub.id)] == ["sales1"]
    # the engine plans nothing for it, even far past its occurrences
    Subscription.update(planned_until=datetime.datetime(2026, 1, 1)).where(Subscription.id == sub.id).execute()
    assert engine.plan(datetime.datetime(2026, 3, 1)) == 0 and Delivery.select().count() == 0

    page = client.get(details).get_data(as_text=True)
    assert "恢复" in ps.text_of(ps.soup(page).select_one("#toggle-enabled")) and "next-runs-none" in page
    client.submit(BASE + "toggle/", {"id": sub.id}, form_url=details)
    resumed = Subscription.get_by_id(sub.id)
    assert resumed.enabled and resumed.planned_until > datetime.datetime(2026, 3, 1), "no back-fill after resuming"
    assert len(audits("resume", sub.id)) == 1

    # without edit permission: 403 and nothing changes
    restrict("sales", "subscription", "view")
    response = client.post(BASE + "toggle/", data={"id": sub.id, "csrf_token": ps.any_csrf_token(client)})
    assert response.status_code == 403 and Subscription.get_by_id(sub.id).enabled
    response = client.post(BASE + "send/", data={"id": sub.id, "csrf_token": ps.any_csrf_token(client)})
    assert response.status_code == 403 and Delivery.select().count() == 0
    assert "toggle-enabled" not in client.get(details).get_data(as_text=True)
    # without the CSRF token: refused, unchanged
    restrict("sales", "subscription", "view create edit")
    client.post(BASE + "toggle/", data={"id": sub.id})
    assert Subscription.get_by_id(sub.id).enabled


# --- send now -------------------------------------------------------------------------------
def test_send_now_queues_an_ad_hoc_delivery_that_is_mailed_once_and_audited(app, slow, people, login, mailbox,
                                                                           queue_inline):
    sub = subscribe(people["manager"], name="立即周报", users=["sales1"], emails="boss@example.com",
                    parameters={"tag": "重点"})
    client = login("manager")
    details = f"{BASE}details/?id={sub.id}"
    response = client.submit(BASE + "send/", {"id": sub.id}, form_url=details, follow_redirects=True)
    assert "已加入发送队列" in response.get_data(as_text=True)

    rows = list(Delivery.select().where(Delivery.subscription == sub.id).order_by(Delivery.id))
    assert len(rows) == 2, "one delivery per recipient scope (the manager's, and sales1's own)"
    assert {row.status for row in rows} == {"sent"} and all(row.attempts == 1 for row in rows)
    assert all(row.period.startswith("立即发送 ") for row in rows)
    assert sorted(tuple(m.rcpt_tos) for m in mailbox.mails) == [("boss@example.com",), ("sales1@example.com",)]
    for mail in mailbox.mails:
        message = parsed(mail)
        assert message["Subject"].startswith("【订阅测试】报表 ")
        assert message["X-CRM-Delivery"] in {str(row.id) for row in rows}
        text, html = bodies(message)
        assert "客户数" in text and "客户数" in html
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename().endswith(".html")
    (entry,) = audits("send", sub.id)
    assert json.loads(entry.changes)["deliveries"] == [row.id for row in rows]

    page = client.get(details).get_data(as_text=True)
    history = ps.soup(page).select("#delivery-history tbody tr")
    assert len(history) == 2 and all(tr["data-status"] == "sent" for tr in history)
    # the manager may open the run made in the manager's scope, not the one made in the rep's
    # links to the runs' HTML: the manager's team scope covers both runs (the manager's and sales1's)
    links = [a["href"] for a in ps.soup(page).select("#delivery-history a")]
    assert sorted(links) == sorted(f"/admin/reportrun/html/?id={row.report_run_id}" for row in rows)
    assert all(client.get(link).status_code == 200 for link in links)

    # sent at most once: the same rows handed to deliver() again send nothing
    for row in rows:
        assert engine.deliver(row.id) is None
    assert len(mailbox.mails) == 2

    # paused: refused with a message, nothing queued
    subscriptions.set_enabled(sub, False)
    response = client.submit(BASE + "send/", {"id": sub.id}, form_url=details, follow_redirects=True)
    assert "订阅已暂停，不能立即发送" in response.get_data(as_text=True)
    assert Delivery.select().count() == 2 and len(mailbox.mails) == 2


# --- preview --------------------------------------------------------------------------------
def test_preview_explains_a_missing_run_generates_one_without_sending_then_shows_the_mail(app, slow, people, login,
                                                                                          mailbox):
    sub = subscribe(people["sales1"], name="预览周报", users=["sales1", "manager"], emails="",
                    parameters={"tag": "重点"})
    client = login("sales")
    url = f"{BASE}preview/?id={sub.id}"
    page = client.get(url).get_data(as_text=True)
    assert "还没有这份报表" in page and "generate-preview" in page
    scopes = ps.soup(page).select(".preview-scope")
    assert len(scopes) == 2
    hidden = [s for s in scopes if s.select_one(".preview-hidden")]
    assert len(hidden) == 1 and "王经理 <manager@example.com>" in ps.text_of(hidden[0]), \
        "the manager's scope is wider than the rep's: recipients shown, content not"

    response = client.submit(BASE + "preview/generate/", {"id": sub.id}, form_url=url)
    assert response.status_code == 302
    (run,) = list(ReportRun.select())
    assert run.user_id == people["sales1"].id and run.params["tag"] == "重点"
    # queued on the jobs queue, not run by the web process: with no worker the page says it waits for one
    assert run.status == "queued" and jobs.queue.pending_count() == 1
    waiting = ps.soup(client.get(url).get_data(as_text=True)).select_one("#preview-waiting")
    assert waiting["data-state"] == "no_worker" and "等待后台 worker" in ps.text_of(waiting)
    with in_process(app.config):  # a real worker on the test's queue runs it
        wait_for(lambda: ReportRun.get_by_id(run.id).finished, "preview run finished", timeout=120)
    assert ReportRun.get_by_id(run.id).status == "success"
    assert AuditLog.get((AuditLog.action == "run") & (AuditLog.model == "reportrun")).record_id == str(run.id)

    page = client.get(url).get_data(as_text=True)
    doc = ps.soup(page)
    assert ps.text_of(doc.select_one(".preview-subject")).startswith("【订阅测试】报表 ")
    assert "客户数" in ps.text_of(doc.select_one(".preview-text"))
    frame = doc.select_one("iframe.preview-html")
    html = client.get(frame["src"])
    assert html.status_code == 200 and "客户数" in html.get_data(as_text=True)
    assert "script-src" not in html.headers["Content-Security-Policy"]
    assert html.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert not mailbox.mails and Delivery.select().count() == 0, "a preview sends nothing"


# --- row scope --------------------------------------------------------------------------------
def test_a_sales_rep_cannot_see_or_act_on_another_reps_subscription(app, slow, people, login, tmp_path):
    theirs = subscribe(people["sales2"], name="别人的订阅")
    mine = subscribe(people["sales1"], name="我的订阅")
    client = login("sales")
    assert ps.ListPage(client.get(BASE).get_data(as_text=True)).ids == {mine.id}
    for url in (f"{BASE}details/?id={theirs.id}", f"{BASE}edit/?id={theirs.id}", f"{BASE}preview/?id={theirs.id}",
                f"{BASE}preview/html/?id={theirs.id}&scope=x"):
        assert client.get(url).status_code == 404, url
    token = ps.any_csrf_token(client)
    for url in ("toggle/", "send/", "preview/generate/"):
        assert client.post(BASE + url, data={"id": theirs.id, "csrf_token": token}).status_code == 404, url
    # a rep may not delete at all (Flask-Admin sends them back to the list), the rows stay
    assert client.post(BASE + "delete/", data={"id": theirs.id, "csrf_token": token}).status_code == 302
    client.post(BASE + "action/", data={"action": "delete", "rowid": [str(theirs.id)], "csrf_token": token})
    response = ps.submit_form(client, f"{BASE}edit/?id={mine.id}", {"name": "改名"})
    assert response.status_code == 302
    theirs = Subscription.get_by_id(theirs.id)
    assert (theirs.name, theirs.enabled) == ("别人的订阅", True) and Delivery.select().count() == 0
    assert not AuditLog.select().where(AuditLog.record_id == str(theirs.id)).exists()

    # on one's own subscription, a delivery's report link shows only for runs inside one's scope
    runs = {who: ReportRun.create(run_id=f"20261123-000000-{who}", report="slow", status="success",
                                  user=people[who], username=who, html_path=str(tmp_path / f"{who}.html"))
            for who in ("sales1", "manager")}
    for who, run in runs.items():
        (tmp_path / f"{who}.html").write_text("<p>报表</p>")
        Delivery.create(subscription=mine, scheduled_for=datetime.datetime(2026, 11, 23, 0, 0), scope_key=who,
                        period="2026-11-23 08:00（Asia/Shanghai）", status="sent", report_run=run)
    history = ps.soup(client.get(f"{BASE}details/?id={mine.id}").get_data(as_text=True))
    assert len(history.select("#delivery-history tbody tr")) == 2
    assert [a["href"] for a in history.select("#delivery-history a")] == [
        f"/admin/reportrun/html/?id={runs['sales1'].id}"]
    Delivery.delete().execute()

    # a manager reaches the team's, and may delete, but not outside the team (single: 404, bulk: skipped)
    manager = login("manager")
    other_team = subscribe(people["sales3"], name="另一团队")
    assert ps.ListPage(manager.get(BASE).get_data(as_text=True)).ids == {mine.id, theirs.id}
    token = ps.any_csrf_token(manager)
    assert manager.post(BASE + "delete/", data={"id": other_team.id, "csrf_token": token}).status_code == 404
    manager.post(BASE + "action/", data={"action": "delete", "rowid": [str(other_team.id)], "csrf_token": token,
                                         "url": BASE})
    assert Subscription.get_or_none(Subscription.id == other_team.id) is not None
    # an admin deletes one, audited, its deliveries with it
    Delivery.create(subscription=theirs, scheduled_for=datetime.datetime(2026, 1, 1), period="x")
    admin = login("admin")
    response = admin.post(BASE + "delete/", data={"id": theirs.id, "csrf_token": ps.any_csrf_token(admin),
                                                  "url": BASE})
    assert response.status_code == 302 and Subscription.get_or_none(Subscription.id == theirs.id) is None
    assert Delivery.select().count() == 0 and [a.username for a in audits("delete", theirs.id)] == ["admin"]


def test_the_role_screen_offers_the_subscription_key_in_chinese(app, login):
    page = login("admin").get(f"/admin/role/edit/?id={Role.get(Role.name == 'sales').id}").get_data(as_text=True)
    assert re.search(r'<tr data-key="subscription">\s*<td>报表订阅<span class="role-key">subscription</span>', page)
    grant = access.grant_for(User.get(User.username == "sales1"))
    assert grant.can("subscription", "edit") and not grant.can("subscription", "delete")


def test_the_screen_follows_the_interface_language(app, slow, people, login):
    sub = subscribe(people["manager"], users=["sales1"])
    client = login("manager")
    client.get("/lang/en")
    page = ps.ListPage(client.get(BASE).get_data(as_text=True))
    assert page.headers["schedule"] == "Schedule" and page.headers["next_run"] == "Next run"
    details = client.get(f"{BASE}details/?id={sub.id}").get_data(as_text=True)
    assert "Next run times" in details and "Send now" in details and "Pause" in details
    assert "Mail preview" in client.get(f"{BASE}preview/?id={sub.id}").get_data(as_text=True)
    assert client.get(BASE + "new/").status_code == 200
