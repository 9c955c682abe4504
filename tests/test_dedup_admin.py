"""The 重复客户 screen, its merge form and undo, the policy around them, and the customer form's warning."""
import datetime
import json
import re

import pytest

from models import AuditLog, Customer, FollowUp, MergeRecord

NEW = {"name": "深圳华为技术有限公司", "customer_type": "企业", "mobile": "13912345678", "region": "华东",
       "industry": "制造", "source": "展会"}


def text(response):
    return response.get_data(as_text=True)


# --- the customer form warns before anything is written -------------------------------------------------
def test_customer_form_warns_of_a_probable_duplicate_with_a_link(login, make_customer):
    existing = make_customer(owner="sales1", name="深圳華為技術有限公司", mobile="13800000601")
    client = login("sales")
    response = client.submit("/admin/customer/new/", NEW)
    html = text(response)
    assert response.status_code == 200 and Customer.select().count() == 1  # nothing written
    assert 'id="duplicate-warning"' in html and "公司名称相同（繁简/后缀/城市归一后）" in html
    assert f"/admin/customer/details/?id={existing.id}" in html and existing.code in html
    assert 'name="confirm_duplicates"' in html

    response = client.submit("/admin/customer/new/", {**NEW, "confirm_duplicates": "1"})
    assert response.status_code == 302 and Customer.select().count() == 2


def test_customer_form_warns_only_within_scope_and_not_on_unrelated_edits(login, make_customer):
    make_customer(owner="sales2", name="别人的深圳华为技术有限公司", mobile="13912345678")
    client = login("sales")
    response = client.submit("/admin/customer/new/", {**NEW, "name": "全新客户有限公司"})
    assert response.status_code == 302  # the match is another rep's customer: not shown, not blocking
    mine = make_customer(owner="sales1", name="深圳华为技术有限公司", mobile="13800000611")
    twin = make_customer(owner="sales1", name="深圳華為技術有限公司", mobile="13800000612")
    url = f"/admin/customer/edit/?id={twin.id}"
    response = client.submit(url, {**NEW, "name": twin.name, "mobile": twin.mobile, "notes": "只改备注"})
    assert response.status_code == 302  # the matching fields did not change
    response = client.submit(url, {**NEW, "name": twin.name, "mobile": mine.mobile})
    assert response.status_code == 200 and "手机号码相同" in text(response)


# --- the screen ---------------------------------------------------------------------------------------------
@pytest.fixture
def twins(make_customer):
    a = make_customer(owner="sales1", name="深圳华为技术有限公司", mobile="13800000701", phone="0755-1234567")
    b = make_customer(owner="sales1", name="深圳華為技術有限公司", mobile="13800000702", phone="0755-7654321",
                      email="hw@huawei.com")
    c = make_customer(owner="sales2", name="别家甲有限公司", mobile="13800000703")
    d = make_customer(owner="sales2", name="别家乙有限公司", mobile="13800000703")
    FollowUp.create(customer=b, at=datetime.datetime(2024, 5, 6, 10, 0), method="电话", content="跟进乙")
    return a, b, c, d


def test_screen_lists_groups_in_scope_with_reason_score_and_links(login, twins):
    a, b, c, d = twins
    html = text(login("admin").get("/admin/duplicates/"))
    assert all(x.code in html for x in twins) and "手机号码相同" in html and "0.97" in html
    assert f"/admin/customer/details/?id={a.id}" in html and "合并…" in html
    html = text(login("sales").get("/admin/duplicates/"))
    assert a.code in html and b.code in html and c.code not in html and d.code not in html
    assert "合并…" not in html  # sales: view only
    assert "0.90" in text(login("admin").get("/admin/duplicates/?min_score=0.9"))
    assert a.code not in text(login("admin").get("/admin/duplicates/?min_score=0.95"))


def test_policy_service_cannot_see_sales_cannot_merge(login, twins):
    a, b, _, _ = twins
    assert login("service").get("/admin/duplicates/").status_code == 403
    assert "重复客户" not in text(login("service").get("/admin/"))
    sales = login("sales")
    assert sales.get(f"/admin/duplicates/merge/?ids={a.id},{b.id}").status_code == 403
    token = sales.csrf_token("/admin/customer/new/")
    response = sales.post("/admin/duplicates/merge/", data={"ids": f"{a.id},{b.id}", "survivor": a.id,
                                                             "csrf_token": token})
    assert response.status_code == 403 and Customer.select().count() == 4


def test_manager_cannot_merge_outside_the_team(login, twins, make_customer):
    a, _, _, _ = twins
    outsider = make_customer(owner="sales3", name="外队客户有限公司", mobile="13800000701")
    assert login("manager").get(f"/admin/duplicates/merge/?ids={a.id},{outsider.id}").status_code == 404


def test_merge_form_shows_conflicts_side_by_side_then_merges_and_undoes(login, twins):
    a, b, _, _ = twins
    client = login("manager")
    url = f"/admin/duplicates/merge/?ids={a.id},{b.id}"
    html = text(client.get(url))
    phone_row = re.search(r'<tr data-field="phone".*?</tr>', html, re.S).group(0)
    assert "0755-1234567" in phone_row and "0755-7654321" in phone_row and "值不同" in phone_row
    assert 'data-field="id_number"' in html  # masked for managers, still shown as a row

    response = client.submit("/admin/duplicates/merge/", {"ids": f"{a.id},{b.id}", "survivor": b.id,
                                                          "pick_name": a.id, "pick_phone": a.id}, form_url=url)
    assert response.status_code == 302
    survivor = Customer.get_by_id(b.id)
    assert survivor.name == "深圳华为技术有限公司" and survivor.phone == "0755-1234567"
    assert Customer.get_or_none(Customer.id == a.id) is None and "0755-7654321" in survivor.notes
    record = MergeRecord.get()
    entry = json.loads(AuditLog.get(AuditLog.action == "merge").changes)
    assert entry["survivor"] == b.code and entry["merged"] == [a.code] and entry["picks"]["phone"] == a.code

    html = text(client.get("/admin/duplicates/"))
    assert 'id="recent-merges"' in html and "撤销合并" in html
    response = client.submit("/admin/duplicates/undo/", {"merge": record.id}, form_url="/admin/duplicates/")
    assert response.status_code == 302
    assert Customer.get_by_id(a.id).code == a.code and Customer.get_by_id(b.id).name == "深圳華為技術有限公司"
    assert AuditLog.get(AuditLog.action == "merge-undo").username == "manager"


# --- a large database: the last full scan (a job), never a scan per page load ---------------------------------
def test_large_scope_shows_the_last_full_scan_and_rescan_queues_the_job(login, twins, queue_inline, monkeypatch):
    import admin.duplicates
    import dedup.scan
    from models import DuplicateScan, JobRun

    a, b, c, d = twins
    monkeypatch.setattr(admin.duplicates, "ON_DEMAND", 1)
    client = login("admin")
    html = text(client.get("/admin/duplicates/"))
    assert 'id="duplicate-scan"' in html and "尚无扫描结果" in html and a.code not in html

    response = client.submit("/admin/duplicates/rescan/", {}, form_url="/admin/duplicates/")
    assert response.status_code == 302
    run = JobRun.get(JobRun.job == "duplicate-scan")
    assert run.status == "success" and run.username == "admin" and DuplicateScan.select().count() == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the page scanned")

    monkeypatch.setattr(dedup, "scan", refuse)
    monkeypatch.setattr(dedup.scan, "scan", refuse, raising=False)
    html = text(client.get("/admin/duplicates/"))
    assert "全量扫描结果" in html and all(x.code in html for x in twins) and "手机号码相同" in html
    assert a.code not in text(client.get("/admin/duplicates/?min_score=0.95"))

    sales = text(login("sales").get("/admin/duplicates/"))  # the stored groups, cut to the rep's customers
    assert a.code in sales and b.code in sales and c.code not in sales and d.code not in sales

    client.submit("/admin/duplicates/merge/", {"ids": f"{a.id},{b.id}", "survivor": b.id},
                  form_url=f"/admin/duplicates/merge/?ids={a.id},{b.id}")
    html = text(client.get("/admin/duplicates/"))
    listed = re.search(r'id="duplicate-groups".*?</table>', html, re.S).group(0)
    assert a.code not in listed and c.code in listed  # merged away since the scan: no longer listed
