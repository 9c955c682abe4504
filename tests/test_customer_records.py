import datetime
import json
import re

import pytest

import models

VALID = {"name": "华东精密制造有限公司", "customer_type": "企业", "mobile": "13912345678", "region": "华东",
         "industry": "制造", "source": "展会"}


def create(client, **changes):
    data = {**VALID, **changes}
    return client.submit("/admin/customer/new/", {k: v for k, v in data.items() if v is not None})


def page_text(response):
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"mobile": "12345678901"}, "手机号码格式不正确"),
        ({"mobile": "1381234567"}, "手机号码格式不正确"),
        ({"email": "not-an-email"}, "邮箱格式不正确"),
        ({"first_contact": "2024-13-45"}, "日期"),
        ({"code": "hb_it_2024"}, "客户编号格式不正确"),
        ({"name": ""}, "必填"),
        ({"mobile": "", "phone": ""}, "手机号码和电话至少填写一项"),
        ({"employees": "-3"}, "不能为负数"),
    ],
)
def test_bad_input_names_the_field_in_chinese_and_saves_nothing(login, changes, message):
    client = login("sales")
    before = models.Customer.select().count()
    response = create(client, **changes)
    assert response.status_code == 200  # form shown again, no redirect
    assert message in page_text(response)
    assert models.Customer.select().count() == before


def test_mobile_is_normalised_and_code_generated(login, users):
    client = login("sales")
    opened = datetime.date.today()
    response = create(client, mobile="+86 139-1234-5678")
    assert response.status_code == 302
    customer = models.Customer.get(models.Customer.name == VALID["name"])
    assert customer.mobile == "13912345678"
    # The code carries the year it was made in: today's, or the one before if the year turned meanwhile.
    years = "|".join({str(opened.year), str(datetime.date.today().year)})
    assert re.fullmatch(rf"HD-ZZ-({years})-\d{{3}}", customer.code)
    assert customer.owner_id == users["sales1"].id  # a rep's new customer is theirs
    history = list(customer.status_changes)
    assert [(h.from_status, h.to_status) for h in history] == [(None, "潜在客户")]


def test_duplicate_code_is_refused(login, make_customer):
    make_customer(code="HB-IT-2024-007")
    client = login("admin")
    response = create(client, code="hb-it-2024-007")
    assert "客户编号 HB-IT-2024-007 已存在" in page_text(response)
    assert models.Customer.select().where(models.Customer.name == VALID["name"]).count() == 0


def test_manual_code_of_the_right_shape_is_accepted(login):
    response = create(login("admin"), code="ZZ-QQ-2023-0042")
    assert response.status_code == 302
    assert models.Customer.get(models.Customer.name == VALID["name"]).code == "ZZ-QQ-2023-0042"


def test_codes_count_up_within_a_prefix(make_customer):
    first = make_customer(region="华北", industry="互联网", first_contact=datetime.date(2024, 1, 1))
    second = make_customer(region="华北", industry="互联网", first_contact=datetime.date(2024, 6, 1))
    assert (first.code, second.code) == ("HB-IT-2024-001", "HB-IT-2024-002")


def test_sensitive_columns_are_encrypted_at_rest(make_customer):
    customer = make_customer(id_number="110101199003071234", bank_account="6222021234567890123")
    raw = models.db.execute_sql("SELECT id_number, bank_account FROM customer WHERE id = %s" % customer.id).fetchone()
    assert "110101199003071234" not in raw[0] and "6222021234567890123" not in raw[1]
    assert models.Customer.get_by_id(customer.id).id_number == "110101199003071234"


def test_status_changes_only_through_history_with_a_reason(login, make_customer):
    customer = make_customer(owner="sales1")
    client = login("sales")
    missing = client.submit("/admin/statuschange/new/", {"customer": customer.id, "to_status": "意向客户", "reason": ""})
    assert missing.status_code == 200
    assert models.Customer.get_by_id(customer.id).status == "潜在客户"

    done = client.submit("/admin/statuschange/new/",
                         {"customer": customer.id, "to_status": "意向客户", "reason": "电话沟通后有采购计划"})
    assert done.status_code == 302
    assert models.Customer.get_by_id(customer.id).status == "意向客户"
    change = models.StatusChange.get(models.StatusChange.customer == customer.id)
    assert (change.from_status, change.to_status, change.user.username) == ("潜在客户", "意向客户", "sales1")

    # the edit form has no status field: a crafted POST cannot change it
    client.submit(f"/admin/customer/edit/?id={customer.id}", {**VALID, "status": "成交客户"})
    assert models.Customer.get_by_id(customer.id).status == "意向客户"


def test_details_page_shows_related_records(login, make_customer, make_order, users):
    customer = make_customer(owner="sales1")
    make_order(customer, amount="1234.50", order_no="SO-REL-1")
    models.FollowUp.create(customer=customer, method="电话", content="首次电话沟通内容", user=users["sales1"])
    models.Feedback.create(customer=customer, kind="建议", content="希望增加发票功能")
    tag = models.Tag.create(name="高潜力", category="价值")
    models.CustomerTag.create(customer=customer, tag=tag)
    models.change_status(customer, "意向客户", "有明确预算", users["sales1"])
    html = page_text(login("sales").get(f"/admin/customer/details/?id={customer.id}"))
    for expected in ("SO-REL-1", "¥1,234.50", "首次电话沟通内容", "建议", "高潜力", "手动", "有明确预算", "处理状态"):
        assert expected in html


def test_changes_are_written_to_the_audit_log(login, make_customer):
    customer = make_customer(owner="sales1", contact="旧联系人")
    client = login("sales")
    response = client.submit(f"/admin/customer/edit/?id={customer.id}",
                             {**VALID, "contact": "新联系人", "mobile": customer.mobile})
    assert response.status_code == 302
    entry = models.AuditLog.get((models.AuditLog.action == "update") & (models.AuditLog.model == "customer"))
    assert entry.username == "sales1" and entry.record_id == str(customer.id)
    assert json.loads(entry.changes)["contact"] == ["旧联系人", "新联系人"]


def test_exports_are_audited_and_formula_safe(login, make_customer):
    make_customer(owner="sales1", name="=HYPERLINK(\"http://x\")")
    client = login("manager")
    csv_text = client.get("/admin/customer/export/csv/").get_data(as_text=True)
    assert "'=HYPERLINK" in csv_text
    entry = models.AuditLog.get(models.AuditLog.action == "export")
    assert entry.username == "manager" and entry.rows == 1


def test_xlsx_export_opens(login, make_customer):
    import io

    import openpyxl

    make_customer(owner="sales1", name="导出测试客户")
    response = login("admin").get("/admin/customer/export/xlsx/")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "导出测试客户" in values and "客户名称" in values


def test_english_can_be_selected(login, make_customer):
    make_customer(owner="sales1")
    client = login("sales")
    assert "客户名称" in page_text(client.get("/admin/customer/"))
    client.get("/lang/en", headers={"Referer": "http://localhost/admin/customer/"})
    html = page_text(client.get("/admin/customer/"))
    assert "Name" in html and "客户名称" not in html


def test_menu_follows_the_language(login):
    client = login("admin")
    assert "客户管理" in page_text(client.get("/admin/"))
    client.get("/lang/en")
    html = page_text(client.get("/admin/"))
    assert "Reference data" in html and "Audit log" in html and "基础数据" not in html


def test_code_field_is_optional_in_the_browser_too(login):
    html = page_text(login("sales").get("/admin/customer/new/"))
    code_input = re.search(r'<input[^>]*id="code"[^>]*>', html).group(0)
    assert "required" not in code_input


def test_failed_save_message_is_chinese(login):
    response = create(login("sales"), mobile="123")
    html = page_text(response)
    assert "保存失败" in html and "Failed to create record" not in html


@pytest.mark.parametrize("bad_id", ["abc", "1;DROP TABLE customer", ""])
def test_crafted_customer_ids_are_refused_without_error(login, bad_id):
    client = login("sales")
    response = client.submit("/admin/followup/new/", {"customer": bad_id, "method": "电话", "content": "x",
                                                       "at": "2025-01-01 10:00:00"})
    assert response.status_code == 200  # the form again, with a message; never a server error
    assert models.FollowUp.select().count() == 0
    for url in (f"/admin/customer/details/?id={bad_id}", f"/admin/customer/edit/?id={bad_id}"):
        assert client.get(url).status_code in (302, 404)


def test_row_delete_form_on_the_list_deletes_that_row(login, make_customer):
    doomed = make_customer(owner="sales1", name="将被删除的客户")
    client = login("manager")
    html = page_text(client.get("/admin/customer/"))
    form = re.search(r'<form class="icon" method="POST" action="([^"]+)">(.*?)</form>', html, re.S)
    fields = dict(re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', form.group(2)))
    assert fields["id"] == str(doomed.id)
    response = client.post(form.group(1), data={k: v.replace("&amp;", "&") for k, v in fields.items()})
    assert response.status_code == 302
    assert not models.Customer.select().where(models.Customer.id == doomed.id).exists()
    assert models.AuditLog.get(models.AuditLog.action == "delete").record_id == str(doomed.id)


def test_export_over_the_limit_is_refused_with_a_message(login, make_customer, monkeypatch):
    from admin.records import CustomerView

    monkeypatch.setattr(CustomerView, "export_max_rows", 2)
    for _ in range(3):
        make_customer(owner="sales1")
    client = login("manager")
    response = client.get("/admin/customer/export/csv/", follow_redirects=True)
    assert "超过单次导出上限 2 条" in page_text(response)
    assert not models.AuditLog.select().where(models.AuditLog.action == "export").exists()
    narrowed = client.get(f"/admin/customer/export/csv/?search={models.Customer.select().first().name}")
    assert narrowed.status_code == 200 and narrowed.mimetype == "text/csv"


@pytest.mark.parametrize("query", ["page=-3", "page=abc", "page=999999", "sort=99&desc=1", "search=%25%27%22--"])
def test_crafted_list_urls_answer_normally(login, make_customer, query):
    make_customer(owner="sales1", name="列表参数测试客户")
    response = login("sales").get(f"/admin/customer/?{query}")
    assert response.status_code == 200
