"""The API's two pages in a real browser, as an integrator would use them: 系统管理员 creates a token in
系统管理 → API令牌 (shown once), opens the API's docs page (Swagger UI served by the platform, under the CSP,
nothing loaded from another host), authorises with the token and runs 客户列表, which answers the rep's
customers only; then revokes the token and the same call is refused."""
import re

from playwright.sync_api import expect

from tests.browser.test_security_csp_ui import _clean, _watch
from tests.browser.test_ui import log_in


def test_an_admin_issues_a_token_and_calls_the_api_from_its_docs_page(app, page, live_server, password, make_customer,
                                                                      shot):
    mine = make_customer(owner="sales1", name="接口页面客户")
    make_customer(owner="sales2", name="别人的客户")
    errors = _watch(page)
    hosts = set()
    page.on("request", lambda request: hosts.add(re.match(r"https?://[^/]+", request.url).group(0))
            if request.url.startswith("http") else None)
    log_in(page, live_server, "admin", password)

    page.goto(f"{live_server}/admin/apitoken/")
    sales1 = page.locator("#user option", has_text="sales1").get_attribute("value")
    page.locator("#user").select_option(sales1)
    page.locator("#name").fill("浏览器测试")
    page.locator("#scope").select_option("read")
    page.get_by_role("button", name="创建令牌").click()
    token = page.locator("#token-value").inner_text().strip()
    assert token.startswith("crm_")
    expect(page.locator("#api-tokens")).to_contain_text("浏览器测试")
    _clean(page, errors, "API令牌")
    shot("token")

    page.goto(f"{live_server}/api/v1/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("客户资料管理与分析平台 API")
    page.locator("button.authorize").click()
    page.locator(".auth-container input").fill(token)
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.locator("button.btn-done").click()
    path = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/customers$"))
    listing = page.locator(".opblock-get", has=path)
    listing.locator(".opblock-summary").click()
    # an optional query parameter reads as the type a URL carries, not "string | (string | null)"
    for name in ("status", "updated_since", "cursor"):
        expect(listing.locator(f'tr[data-param-name="{name}"] .parameter__type')).to_have_text("string")
    shot("parameters")
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()
    body = listing.locator(".live-responses-table .response-col_description pre").first
    expect(body).to_contain_text(mine.code)
    assert "别人的客户" not in body.inner_text()
    expect(listing.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    _clean(page, errors, "API 文档")
    shot("docs")
    assert hosts == {live_server}, f"the pages loaded from other hosts: {hosts - {live_server}}"

    page.goto(f"{live_server}/admin/apitoken/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#api-tokens tr", has_text="浏览器测试").get_by_role("button", name="撤销").click()
    expect(page.locator("#api-tokens tr", has_text="浏览器测试")).to_contain_text("已撤销")
    refused = page.request.get(f"{live_server}/api/v1/customers", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401 and refused.json()["error"]["code"] == "token_revoked"
