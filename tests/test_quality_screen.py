"""The 数据质量 screen: counts per finding in the caller's scope, drill-down with links to edit pages,
batch fix and delete behind a confirmation, CSRF on every form, and the policy key "quality"."""
import re

import access
from access.defaults import POLICY_KEYS, ROLES
from models import AuditLog, Customer, Role, RolePermission, User
from models.people import ACTIONS

URL = "/admin/quality/"


def bad(make_customer, owner):
    return make_customer(owner=owner, mobile="13８12345678", phone="010-62345678")


def count_cell(html, key):
    row = re.search(rf'<tr data-finding="{key}">(.*?)</tr>', html, re.S).group(1)
    return re.search(r'class="count[^"]*">([^<]*)<', row).group(1).strip()


def test_defaults_of_the_quality_key():
    assert "quality" in POLICY_KEYS
    expected = {"admin": set(ACTIONS), "manager": {"view", "edit", "delete"}, "sales": {"view"}, "service": set()}
    for role, actions in expected.items():
        assert set(ROLES[role]["permissions"].get("quality", "").split()) == actions, role


def test_counts_per_role_scope(login, make_customer):
    for owner in ("sales1", "sales2", "sales3"):
        bad(make_customer, owner)
    assert count_cell(login("admin").get(URL).get_data(as_text=True), "invalid-mobile") == "3"
    assert count_cell(login("sales").get(URL).get_data(as_text=True), "invalid-mobile") == "1"
    assert login("service").get(URL).status_code == 403
    assert login("service").get(URL + "records/?key=invalid-mobile").status_code == 403


def test_drill_down_lists_records_with_edit_links_and_batch_forms(login, make_customer):
    mine = bad(make_customer, "sales1")
    other = bad(make_customer, "sales3")
    html = login("admin").get(URL + "records/?key=invalid-mobile").get_data(as_text=True)
    assert "手机号码格式错误" in html and f'value="{mine.id}"' in html and f'value="{other.id}"' in html
    assert f"/admin/customer/edit/?id={mine.id}" in html
    assert 'name="csrf_token"' in html and 'id="quality-fix"' in html and 'id="quality-delete"' in html
    html = login("sales").get(URL + "records/?key=invalid-mobile").get_data(as_text=True)
    assert f'data-id="{mine.id}"' in html and f'data-id="{other.id}"' not in html
    assert 'id="quality-fix"' not in html and 'id="quality-delete"' not in html  # view only by default
    assert login("admin").get(URL + "records/?key=no-such-check").status_code == 404


def test_fix_goes_through_a_confirmation(login, make_customer):
    one, two = bad(make_customer, "sales1"), bad(make_customer, "sales2")
    admin = login("admin")
    form = URL + "records/?key=invalid-mobile"
    data = {"key": "invalid-mobile", "action": "fix", "column": "mobile", "value": "139 0000 5555",
            "everything": "0", "ids": [str(one.id)]}
    page = admin.submit(URL + "confirm/", data, form_url=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "将把 1 条记录的“手机号码”改为：13900005555" in html
    assert Customer.get_by_id(one.id).mobile == "13８12345678"  # nothing written yet
    done = admin.submit(URL + "apply/", data, form_url=form)
    assert done.status_code == 302
    assert Customer.get_by_id(one.id).mobile == "13900005555" and Customer.get_by_id(two.id).mobile == "13８12345678"
    assert "已修改 1 条记录" in admin.get(done.location).get_data(as_text=True)
    assert AuditLog.select().where((AuditLog.action == "update") & (AuditLog.record_id == str(one.id))).exists()


def test_invalid_value_is_refused_with_the_standard_message(login, make_customer):
    one = bad(make_customer, "sales1")
    admin = login("admin")
    data = {"key": "invalid-mobile", "action": "fix", "column": "mobile", "value": "12345", "everything": "1"}
    page = admin.submit(URL + "apply/", data, form_url=URL + "records/?key=invalid-mobile")
    assert page.status_code == 302
    assert "手机号码格式不正确" in admin.get(page.location).get_data(as_text=True)
    assert Customer.get_by_id(one.id).mobile == "13８12345678"


def test_posts_without_a_token_change_nothing(login, make_customer):
    one = bad(make_customer, "sales1")
    admin = login("admin")
    for path in ("confirm/", "apply/"):
        page = admin.post(URL + path, data={"key": "invalid-mobile", "action": "delete", "everything": "1"})
        assert page.status_code == 302
    assert Customer.get_or_none(Customer.id == one.id) is not None


def test_delete_every_row_of_a_finding(login, make_customer):
    rows = [bad(make_customer, owner) for owner in ("sales1", "sales2", "sales3")]
    manager = login("manager")
    data = {"key": "invalid-mobile", "action": "delete", "everything": "1"}
    form = URL + "records/?key=invalid-mobile"
    html = manager.submit(URL + "confirm/", data, form_url=form).get_data(as_text=True)
    boss = User.get(User.username == "manager")
    allowed = set(access.owner_ids(boss, access.grant_for(boss)))
    left_in_scope = [c for c in rows if c.owner_id in allowed]
    assert 0 < len(left_in_scope) < len(rows)
    assert f"将删除 {len(left_in_scope)} 条记录" in html
    manager.submit(URL + "apply/", data, form_url=form)
    for customer in rows:
        assert (Customer.get_or_none(Customer.id == customer.id) is None) == (customer in left_in_scope)


def test_sales_post_is_refused_by_the_policy(login, make_customer):
    one = bad(make_customer, "sales1")
    sales = login("sales")
    data = {"key": "invalid-mobile", "action": "fix", "column": "mobile", "value": "13900006666", "everything": "1"}
    page = sales.submit(URL + "apply/", data, form_url=URL + "records/?key=invalid-mobile")
    assert "您没有批量修改这些记录的权限" in sales.get(page.location).get_data(as_text=True)
    assert Customer.get_by_id(one.id).mobile == "13８12345678"


def test_granting_quality_edit_in_the_policy_enables_the_batch_form_for_sales(login, make_customer):
    bad(make_customer, "sales1")
    role = Role.get(Role.name == "sales")
    RolePermission.update(can_edit=True).where((RolePermission.role == role) & (RolePermission.model == "quality")).execute()
    access.bump_version()
    html = login("sales").get(URL + "records/?key=invalid-mobile").get_data(as_text=True)
    assert 'id="quality-fix"' in html and 'id="quality-delete"' not in html


def test_role_screen_offers_the_quality_key(login):
    html = login("admin").get(f"/admin/role/edit/?id={Role.get(Role.name == 'sales').id}").get_data(as_text=True)
    assert 'name="perm.quality.view"' in html and "数据质量" in html


def large_scopes(monkeypatch):
    """Every row scope counts as too large to scan while the page loads (the 1M-customer case)."""
    import importlib

    import quality

    monkeypatch.setattr(quality, "ON_DEMAND_CUSTOMERS", -1)
    monkeypatch.setattr(importlib.import_module("quality.scan"), "ON_DEMAND_CUSTOMERS", -1)

    def no_scan_on_page_load(*args, **kwargs):
        raise AssertionError("the page scanned a large scope")

    monkeypatch.setattr(quality, "scan", no_scan_on_page_load)


def test_a_large_scope_shows_the_last_scan_and_rescan_queues_the_job(login, make_customer, monkeypatch,
                                                                     queue_inline):
    from models import JobRun, QualityRun

    bad(make_customer, "sales1")
    bad(make_customer, "sales3")
    large_scopes(monkeypatch)
    admin = login("admin")
    html = admin.get(URL).get_data(as_text=True)
    assert 'id="quality-rescan"' in html and "还没有扫描记录" in html
    page = admin.submit(URL + "rescan/", {}, form_url=URL, follow_redirects=True)
    assert "已加入后台任务队列" in page.get_data(as_text=True)
    run = JobRun.get(JobRun.job == "quality-scan")
    assert run.trigger == "manual" and run.username == "admin" and run.status == "success"  # the queue runs inline
    assert AuditLog.get((AuditLog.action == "run") & (AuditLog.record_id == "quality-scan"))
    html = admin.get(URL).get_data(as_text=True)
    assert "以下为上次扫描的结果" in html and count_cell(html, "invalid-mobile") == "2"
    # The job also scanned each large row scope; a sales rep sees the scan of their own customers.
    assert {r.username for r in QualityRun.select()} >= {None, "sales1", "manager"}
    html = login("sales").get(URL).get_data(as_text=True)
    assert "以下为上次扫描的结果" in html and count_cell(html, "invalid-mobile") == "1"


def test_rescan_waits_for_a_scan_under_way(login, monkeypatch, queue_inline):
    from models import JobRun

    large_scopes(monkeypatch)
    busy = JobRun.create(job="quality-scan", trigger="manual", username="admin", status="running")
    admin = login("admin")
    html = admin.get(URL).get_data(as_text=True)
    assert 'id="quality-under-way"' in html and "disabled" in html
    page = admin.submit(URL + "rescan/", {}, form_url=URL, follow_redirects=True)
    assert f"扫描正在进行中（运行 #{busy.id}" in page.get_data(as_text=True)
    assert JobRun.select().count() == 1
    assert admin.post(URL + "rescan/", data={}).status_code == 302 and JobRun.select().count() == 1  # no token


def test_small_scopes_scan_on_each_page_load(login, make_customer):
    import quality

    bad(make_customer, "sales1")
    assert quality.scope_size() < quality.ON_DEMAND_CUSTOMERS
    html = login("admin").get(URL).get_data(as_text=True)
    assert 'id="quality-rescan"' not in html and count_cell(html, "invalid-mobile") == "1"
