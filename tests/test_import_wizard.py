"""数据导入 in the admin: upload, map columns, check (a job on the one queue), import, undo.

The jobs queue runs in huey's immediate mode here (a task runs when it is enqueued), so each step's
job has finished by the time the next page is asked for; tests/browser/test_import_ui.py drives the
same wizard in Chromium.
"""
import io
import re

import openpyxl
import pytest

from models import AuditLog, Customer, ImportBatch, ImportRun
from tests import policy_support as ps

BASE = "/admin/importrun/"
GOOD = ("客户编号,公司名称,手机,邮箱,所属行业,地区,首次接触时间\n"
        "HB-IT-2024-201,北京向导科技,138 0000 0001,a@example.com,IT,北京,2024-01-15\n"
        "HD-ZZ-2024-202,上海向导制造,13800000002,,制造业,上海,2024/3/1\n")
BAD = GOOD + "HD-ZZ-2024-203,杭州向导,12345,,航天,浙江,2024-02-30\n"


@pytest.fixture(autouse=True)
def _inline(queue_inline, import_dirs):
    """Each step's job runs when it is queued, so it has finished when the next page is asked for."""


def upload(client, text, kind="customers", name="客户.csv", encoding="utf-8"):
    data = {"kind": kind, "file": (io.BytesIO(text.encode(encoding)), name),
            "csrf_token": client.csrf_token(BASE + "new/")}
    return client.post(BASE + "new/", data=data, content_type="multipart/form-data")


def latest_run():
    return ImportRun.select().order_by(ImportRun.id.desc()).first()


def check(client, run, **choices):
    page = client.get(f"{BASE}map/?id={run.id}").get_data(as_text=True)
    selects = dict(re.findall(r'<select class="form-control form-control-sm" name="(map-\d+)"[^>]*>.*?'
                              r'<option value="([a-z_]*)" selected', page, re.S))
    form = {**selects, "mode": "all", **choices}
    return client.submit(f"{BASE}map/?id={run.id}", form)


def test_the_wizard_previews_maps_checks_imports_and_undoes(app, login):
    client = login("admin")
    response = upload(client, GOOD.encode("utf-8").decode("utf-8"), encoding="gb18030")
    assert response.status_code == 302 and "/map/" in response.location
    run = latest_run()
    page = client.get(response.location).get_data(as_text=True)
    assert "北京向导科技" in page and "GB18030" in page.upper(), "the decoded rows and how they were read"
    assert "公司名称" in page and "客户名称" in page  # the file's header and the field it maps to

    response = check(client, run)
    assert response.status_code == 302
    run = ImportRun.get_by_id(run.id)
    assert run.status == "checked" and run.report["counts"] == {"rows": 2, "created": 2, "updated": 0,
                                                               "unchanged": 0, "rejected": 0}
    assert Customer.select().count() == 0, "a check writes nothing"
    details = client.get(f"{BASE}details/?id={run.id}").get_data(as_text=True)
    assert "将新建 2" in details and 'id="start-import"' in details

    response = client.submit(f"{BASE}start/?id={run.id}", {"mode": "all"}, form_url=f"{BASE}details/?id={run.id}")
    run = ImportRun.get_by_id(run.id)
    assert run.status == "done" and run.batch_id and Customer.select().count() == 2
    assert Customer.get(Customer.code == "HB-IT-2024-201").mobile == "13800000001"
    assert AuditLog.select().where(AuditLog.action == "import").count() == 1
    details = client.get(f"{BASE}details/?id={run.id}").get_data(as_text=True)
    assert "已新建 2" in details and 'id="undo-import"' in details

    client.submit(f"{BASE}undo/?id={run.id}", {}, form_url=f"{BASE}details/?id={run.id}")
    assert Customer.select().count() == 0
    assert ImportBatch.get_by_id(run.batch_id).status == "undone"


def test_rejected_cells_are_listed_and_nothing_is_written_unless_asked(app, login):
    client = login("admin")
    upload(client, BAD)
    run = latest_run()
    check(client, run)
    run = ImportRun.get_by_id(run.id)
    assert run.report["counts"]["rejected"] == 1 and run.report["counts"]["rows"] == 3
    details = ps.soup(client.get(f"{BASE}details/?id={run.id}").get_data(as_text=True))
    cells = [[ps.text_of(td) for td in tr.select("td")] for tr in details.select("#import-errors tbody tr")]
    assert {cell[0] for cell in cells} == {"4"}, "the Excel row number"
    reasons = " ".join(cell[3] for cell in cells)
    assert "手机号码格式不正确" in reasons and "日期不存在" in reasons and "不在列表中" in reasons
    assert details.select_one("#start-import").has_attr("disabled"), "all or nothing by default"
    errors = client.get(f"{BASE}errors/?id={run.id}")
    assert errors.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(errors.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-1] == "错误原因" and rows[1][1] == "杭州向导"

    client.submit(f"{BASE}start/?id={run.id}", {"mode": "skip"}, form_url=f"{BASE}details/?id={run.id}")
    run = ImportRun.get_by_id(run.id)
    assert run.status == "done" and Customer.select().count() == 2


def test_unknown_list_values_can_be_mapped_onto_entries_and_checked_again(app, login):
    client = login("admin")
    upload(client, GOOD.replace("IT,北京", "航天,北京"))
    run = latest_run()
    check(client, run)
    run = ImportRun.get_by_id(run.id)
    assert run.report["unknown_values"] == {"industry": ["航天"]}
    details = client.get(f"{BASE}details/?id={run.id}").get_data(as_text=True)
    assert "所属行业：“航天”" in details
    client.submit(f"{BASE}values/?id={run.id}", {"value-industry-0": "制造"}, form_url=f"{BASE}details/?id={run.id}")
    run = ImportRun.get_by_id(run.id)
    assert run.report["counts"]["rejected"] == 0 and run.options["value_maps"] == {"industry": {"航天": "制造"}}
    client.submit(f"{BASE}start/?id={run.id}", {"mode": "all"}, form_url=f"{BASE}details/?id={run.id}")
    assert Customer.get(Customer.code == "HB-IT-2024-201").industry == "制造"


def test_a_file_that_cannot_be_read_is_refused_on_upload_with_nothing_kept(app, login, tmp_path):
    client = login("admin")
    response = upload(client, "", name="空.csv")
    page = client.get(BASE + "new/").get_data(as_text=True) if response.status_code == 302 else response.get_data(
        as_text=True)
    assert "是空的" in page
    response = client.post(BASE + "new/", data={"kind": "customers", "csrf_token": client.csrf_token(BASE + "new/"),
                                               "file": (io.BytesIO(b"\x00\x01\x02PK\x03\x04binary"), "x.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and ImportRun.select().count() == 0
    assert not list((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True


def test_a_missing_required_column_is_said_before_any_job(app, login):
    client = login("admin")
    upload(client, "手机,邮箱\n13800000001,a@example.com\n")
    run = latest_run()
    response = check(client, run)
    assert response.status_code == 200
    assert "客户名称" in response.get_data(as_text=True)
    assert ImportRun.get_by_id(run.id).status == "uploaded"


def test_sales_reps_import_their_own_customers_and_only_see_their_own_imports(app, login, users):
    rep = login("sales")
    upload(rep, GOOD)
    run = latest_run()
    check(rep, run)
    rep.submit(f"{BASE}start/?id={run.id}", {"mode": "all"}, form_url=f"{BASE}details/?id={run.id}")
    assert {c.owner_id for c in Customer.select()} == {users["sales1"].id}
    other = login(username="sales2")
    assert other.get(f"{BASE}details/?id={run.id}").status_code == 404
    assert run.filename not in other.get(BASE).get_data(as_text=True)
    kinds = ps.soup(rep.get(BASE + "new/").get_data(as_text=True)).select("#kind option")
    assert "users" not in {option["value"] for option in kinds}, "batch accounts are for admins"


def test_service_cannot_open_the_wizard(app, login):
    client = login("service")
    assert client.get(BASE).status_code == 403
    assert client.get(BASE + "new/").status_code == 403


def test_forms_need_their_csrf_token(app, login):
    client = login("admin")
    response = client.post(BASE + "new/", data={"kind": "customers", "file": (io.BytesIO(GOOD.encode()), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and ImportRun.select().count() == 0
    assert "表单已过期" in response.get_data(as_text=True)


def test_templates_download_per_kind(app, login):
    client = login("admin")
    response = client.get(BASE + "template/?kind=orders")
    assert response.status_code == 200
    header = next(openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert "订单号*" in header  # required columns are starred
    assert login("sales").get(BASE + "template/?kind=users").status_code == 404


def test_new_rows_that_probably_repeat_a_customer_are_shown_before_anything_is_written(app, login, make_customer):
    make_customer(name="北京向导科技有限公司", mobile="13800000001", code="HB-IT-2023-009")
    client = login("admin")
    upload(client, GOOD.replace("HB-IT-2024-201", ""))  # no code: a new customer with a known mobile
    run = latest_run()
    check(client, run)
    run = ImportRun.get_by_id(run.id)
    assert run.report["duplicates"][0]["row"] == 2
    assert run.report["duplicates"][0]["matches"][0]["code"] == "HB-IT-2023-009"
    page = ps.soup(client.get(f"{BASE}details/?id={run.id}").get_data(as_text=True))
    assert "HB-IT-2023-009" in ps.text_of(page.select_one("#import-duplicates"))
    assert "手机号码相同" in ps.text_of(page.select_one("#import-duplicates"))
