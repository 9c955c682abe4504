"""The Content-Security-Policy in a real browser (issue 12 part 1): the main admin screens load with no
CSP violation and no console error, and their scripts work under it (nonce'd inline scripts, Flask-Admin's
filters, select2, inline forms and confirmations taken over by static/csp-handlers.js, ECharts)."""
import datetime
import re

from playwright.sync_api import expect

from credentials import totp
from models import Customer, Order, Role, TagRule, User
from tagrules.seed import seed_rules
from tests.browser.test_ui import log_in

# Collects every violation the page reports, before any of the page's own scripts run.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || ''));
});
"""


def _watch(page):
    errors = []
    page.add_init_script(WATCH)
    page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" and not (m.location.get("url") or "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _clean(page, errors, where):
    violations = page.evaluate("window.__csp || []")
    assert violations == [], f"{where}: {violations}"
    assert errors == [], f"{where}: {errors}"


def test_admin_screens_work_under_the_csp(app, page, live_server, password, make_customer, shot):
    customer = make_customer(owner="sales1", name="安全策略客户")
    Order.create(customer=customer, order_no="CSP0001", amount=1234.5, ordered_at=datetime.datetime(2024, 6, 1))
    errors = _watch(page)
    log_in(page, live_server, "admin", password)
    response = page.request.get(f"{live_server}/admin/")
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]

    # the dashboard draws its charts
    expect(page.locator("canvas").first).to_be_visible()
    _clean(page, errors, "首页")
    shot("dashboard")

    # the customer list: a filter can be added (Flask-Admin's filters.js, its onclick taken over)
    page.goto(f"{live_server}/admin/customer/")
    page.get_by_role("link", name=re.compile("添加筛选器|Add Filter")).click()
    page.locator("a.filter", has_text="客户状态").click()
    expect(page.locator("table.filters tr")).to_have_count(1)
    _clean(page, errors, "客户列表")
    shot("customer-list-filter")

    # a row's delete button asks first (onclick safeConfirm, now a listener): dismissed, nothing deleted
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.locator("form.icon button[title]").last.click()
    expect(page.locator("#filter_form, table.model-list").first).to_be_visible()
    assert questions and Customer.select().where(Customer.id == customer.id).exists()

    # create and edit forms (their inline script names the form; select2 dropdowns)
    for url in (f"/admin/customer/new/", f"/admin/customer/edit/?id={customer.id}"):
        page.goto(live_server + url)
        expect(page.locator("form#customer-form")).to_be_visible()
        expect(page.locator(".select2-container").first).to_be_visible()
        _clean(page, errors, url)
    shot("customer-edit")

    page.goto(f"{live_server}/admin/customer/details/?id={customer.id}")
    expect(page.get_by_text("安全策略客户").first).to_be_visible()
    _clean(page, errors, "客户详情")

    # a role's grid (admin/role_grid.py): tick boxes and column levels, no script of its own
    page.goto(f"{live_server}/admin/role/edit/?id=1")
    expect(page.locator("#role-permissions input[name='perm.customer.view']")).to_be_checked()
    page.locator("select[name='rule.customer.mobile']").select_option("masked")
    _clean(page, errors, "角色")

    # tag rules: deleting one asks first (onsubmit confirm, allowed by its hash); dismissed, it stays
    seed_rules()
    page.goto(f"{live_server}/admin/tagrule/")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.locator("form[onsubmit] button").first.click()
    expect(page.locator("#current-user")).to_be_visible()
    assert questions and TagRule.select().count() == 3
    _clean(page, errors, "标签规则列表")

    # a new tag rule: the condition builder is drawn by the page's nonce'd script
    page.goto(f"{live_server}/admin/tagrule/new/")
    expect(page.locator("#builder-rows select").first).to_be_visible()
    _clean(page, errors, "标签规则")
    shot("tag-rule")

    for url in ("/admin/importrun/new/", "/admin/importrun/", "/admin/tasks/",
                "/admin/user/", "/admin/auditlog/", "/admin/funnel/", "/admin/quality/"):
        page.goto(live_server + url)
        expect(page.locator("#current-user")).to_be_visible()
        _clean(page, errors, url)
    shot("last")


def test_login_pages_under_the_csp(app, page, live_server, password):
    errors = _watch(page)
    page.goto(f"{live_server}/login")
    expect(page.locator("#login-form")).to_be_visible()
    _clean(page, errors, "登录")


def test_two_step_enrolment_and_login_in_the_browser(app, page, live_server, password, shot):
    """A role that requires two-step login: after the password the user is led to enrolment (QR code as
    inline SVG, no script), confirms a code, and the next login asks for one."""
    clock = [datetime.datetime(2025, 3, 3, 9, 0)]
    app.config["CLOCK"] = lambda: clock[0]
    Role.update(require_totp=True).where(Role.name == "service").execute()
    errors = _watch(page)
    page.goto(f"{live_server}/login")
    page.locator("#login-form [name=username]").fill("service")
    page.locator("#login-form [name=password]").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/account/two-step$"))
    expect(page.locator("#totp-qr svg")).to_be_visible()
    shot("enrol")
    _clean(page, errors, "两步验证设置")
    secret = User.get(User.username == "service").totp_secret
    page.locator("#totp-setup-form [name=code]").fill(totp.code_at(secret, clock[0]))
    page.get_by_role("button", name="开启两步验证").click()
    expect(page.locator("#current-user")).to_be_visible()
    expect(page.get_by_text("两步验证已开启")).to_be_visible()

    page.get_by_role("link", name="退出").click()
    clock[0] += datetime.timedelta(minutes=2)  # a code works once: the next login needs the next one
    page.locator("#login-form [name=username]").fill("service")
    page.locator("#login-form [name=password]").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/login/code$"))
    page.locator("#totp-form [name=code]").fill("000000")
    page.get_by_role("button", name="验证").click()
    expect(page.get_by_text("验证码不正确")).to_be_visible()
    shot("wrong-code")
    page.locator("#totp-form [name=code]").fill(totp.code_at(secret, clock[0]))
    page.get_by_role("button", name="验证").click()
    expect(page.locator("#current-user")).to_be_visible()
    _clean(page, errors, "两步验证登录")
