"""The 404, 403 and 500 pages in a real browser (Debian's Chromium): they read as the platform's pages,
and their links lead back — 返回上一页 to the page the user came from, 返回首页 to /admin/.

Screenshots go to the test's tmp dir (and are worth a look after a change to web/templates/errors/).
"""
import re

from playwright.sync_api import expect


def log_in(page, base, username, password):
    page.goto(f"{base}/login")
    page.locator("#login-form [name=username]").fill(username)
    page.locator("#login-form [name=password]").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/admin/")


def follow(page, url):
    """Open `url` from the current page as a link would (so the browser sends the Referer)."""
    with page.expect_navigation():
        page.evaluate("url => { window.location.href = url; }", url)


def test_404_403_and_500_pages_look_right_and_lead_back(app, page, live_server, password, make_customer, tmp_path):
    base = live_server

    @app.route("/explode")  # before the first request: Flask refuses new routes after it
    def explode():
        raise RuntimeError("boom in /srv/crm/secret_module.py")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the 500 page, not the test's traceback
    other = make_customer(owner="sales2", name="他人客户有限公司")
    log_in(page, base, "sales1", password)

    # --- 404: a record out of scope, opened from the customer list ---------------------------
    page.goto(f"{base}/admin/customer/")
    follow(page, f"{base}/admin/customer/details/?id={other.id}")
    expect(page.locator("h1")).to_have_text("页面不存在")
    expect(page.locator("#error-page")).to_have_attribute("data-status", "404")
    expect(page.locator("body")).not_to_contain_text(other.name)
    page.screenshot(path=str(tmp_path / "404.png"), full_page=True)
    page.get_by_role("link", name="返回上一页").click()
    expect(page).to_have_url(f"{base}/admin/customer/")
    expect(page.locator("table.model-list")).to_be_visible()

    # --- 403: a screen the policy forbids, opened from the home page ------------------------
    page.goto(f"{base}/admin/")
    follow(page, f"{base}/admin/user/")
    expect(page.locator("h1")).to_have_text("无权访问")
    expect(page.locator("#error-page")).to_have_attribute("data-status", "403")
    page.screenshot(path=str(tmp_path / "403.png"), full_page=True)
    page.get_by_role("link", name="返回上一页").click()
    expect(page).to_have_url(f"{base}/admin/")
    expect(page.locator("#current-user")).to_be_visible()

    # --- an unknown URL typed in: no page to go back to, the home link works; English too --------
    page.goto(f"{base}/admin/no-such-screen/")
    expect(page.get_by_role("link", name="返回上一页")).to_have_count(0)
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page).to_have_url(re.compile(r"/admin/no-such-screen/$"))
    page.screenshot(path=str(tmp_path / "404-en.png"), full_page=True)
    page.get_by_role("link", name="Back to the home page").click()
    expect(page).to_have_url(f"{base}/admin/")

    # --- 500: an apology and a reference, nothing of the exception ----------------------------
    page.get_by_role("link", name="中文").click()
    page.goto(f"{base}/explode")
    expect(page.locator("h1")).to_have_text("系统出错了")
    expect(page.locator("#error-reference")).to_contain_text("参考编号")
    expect(page.locator("body")).not_to_contain_text("boom")
    page.screenshot(path=str(tmp_path / "500.png"), full_page=True)
    page.get_by_role("link", name="返回首页").click()
    expect(page).to_have_url(f"{base}/admin/")
    print(f"screenshots in {tmp_path}")
