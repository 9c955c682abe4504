"""报表订阅 in a real browser: a manager creates a weekly subscription through the form, sees its next
five run times, and pauses it.  Screenshots go to test-artifacts/.
"""
import re

from playwright.sync_api import expect

from models import AuditLog, Subscription, User
from tests.browser.test_ui import log_in


def test_manager_creates_a_weekly_subscription_sees_next_runs_and_pauses_it(app, page, live_server, password, shot):
    User.update(email="sales1@example.com").where(User.username == "sales1").execute()
    base = live_server
    log_in(page, base, "manager", password)

    page.goto(f"{base}/admin/")
    page.locator("#admin-navbar-collapse").get_by_role("link", name="分析报表").click()  # the home page links to it too
    page.get_by_role("link", name="报表订阅").click()
    expect(page).to_have_url(f"{base}/admin/subscription/")
    page.get_by_role("link", name="创建").first.click()

    page.locator("#name").fill("华东客户分群周报")
    page.locator("#report").select_option("segmentation")
    expect(page.locator("#parameter-help")).to_contain_text("客户分群（segmentation）")
    page.locator("#parameters").fill("regions=华东")
    page.locator("#schedule_kind").select_option("weekly")
    expect(page.locator("#cron")).to_be_hidden()  # only the inputs of the chosen kind are shown
    page.locator("#weekday").select_option("1")
    page.locator("#time").fill("08:00")
    sales1 = User.get(User.username == "sales1")
    page.locator("#recipient_users").select_option(str(sales1.id))
    page.locator("#recipient_emails").fill("华东总监 <east@example.com>")
    shot("form")
    page.locator("input[type=submit][value='保存']").click()

    expect(page.locator("table.model-list")).to_contain_text("华东客户分群周报")
    row = page.locator("table.model-list tbody tr", has_text="华东客户分群周报")
    expect(row).to_contain_text("每周一 08:00")
    expect(row).to_contain_text("已启用")
    shot("list")
    sub = Subscription.get(Subscription.name == "华东客户分群周报")
    assert (sub.owner.username, sub.params, sub.weekday, sub.user_ids) == (
        "manager", {"regions": ["华东"]}, 1, [sales1.id])

    row.locator("a[title='查看记录'], a[title='View Record']").first.click()
    runs = page.locator("#next-runs li")
    expect(runs).to_have_count(5)
    for text in runs.all_inner_texts():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} 08:00", text.strip()), text
    shot("details")

    page.locator("#toggle-enabled").click()
    expect(page.locator(".alert-success, .alert-info").first).to_contain_text("订阅已暂停")
    expect(page.locator("#next-runs-none")).to_contain_text("已暂停")
    expect(page.locator("#toggle-enabled")).to_have_text("恢复")
    shot("paused")
    assert not Subscription.get_by_id(sub.id).enabled
    assert AuditLog.get((AuditLog.action == "pause") & (AuditLog.record_id == str(sub.id))).username == "manager"
