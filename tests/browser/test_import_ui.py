"""The import wizard in Chromium, as a sales manager uses it: a GBK file saved by Chinese Excel with
one bad row; preview, check, the report, import the valid rows, undo.

The jobs queue runs in huey's immediate mode (a job runs when it is queued), so the check and the
import have finished when the next page loads.  Screenshots go to test-artifacts/.
"""
import re

from playwright.sync_api import expect

from models import Customer, ImportRun
from tests.browser.test_ui import log_in

FILE = ("客户名称,手机号码,邮箱,所属行业,所属地区,首次接触时间\n"
        "杭州云帆科技有限公司,138 1234 0001,Ops@YunFan.com,IT,浙江,2024年1月15日\n"
        "苏州精工制造有限公司,+86 139-1234-0002,,制造业,江苏,2024/3/1\n"
        "宁波海港物流有限公司,12345,,物流,浙江,2024-02-30\n")


def test_a_manager_imports_an_excel_export_checks_it_imports_the_good_rows_and_undoes(
        app, queue_inline, import_dirs, page, live_server, password, shot, tmp_path):
    csv = tmp_path / "客户名单.csv"
    csv.write_bytes(FILE.encode("gbk"))  # what Chinese Excel saves as CSV
    log_in(page, live_server, "manager", password)

    page.goto(f"{live_server}/admin/importrun/")
    page.locator("#new-import").click()
    expect(page.locator("#import-steps")).to_contain_text("上传文件")
    page.locator("#kind").select_option("customers")
    page.locator("#file").set_input_files(str(csv))
    shot("upload")
    page.locator("#upload").click()

    expect(page).to_have_url(re.compile(r"/admin/importrun/map/\?id=\d+"))
    expect(page.locator("#file-description")).to_contain_text("GB18030")
    expect(page.locator("#preview")).to_contain_text("杭州云帆科技有限公司")  # decoded, not mojibake
    shot("map")
    page.locator("#check").click()

    expect(page).to_have_url(re.compile(r"/admin/importrun/details/\?id=\d+"))
    expect(page.locator("#import-summary")).to_contain_text("有错误 1")
    errors = page.locator("#import-errors tbody tr")
    expect(errors.first).to_contain_text("4")
    expect(page.locator("#import-errors")).to_contain_text("手机号码格式不正确")
    expect(page.locator("#start-import")).to_be_disabled()
    shot("checked")
    assert Customer.select().count() == 0

    page.locator("#start-skip").check()
    expect(page.locator("#start-import")).to_be_enabled()
    page.locator("#start-import").click()
    expect(page.locator("#import-summary")).to_contain_text("已新建 2")
    shot("imported")
    run = ImportRun.select().order_by(ImportRun.id.desc()).first()
    assert run.status == "done" and run.username == "manager"
    imported = {c.name: c for c in Customer.select()}
    assert set(imported) == {"杭州云帆科技有限公司", "苏州精工制造有限公司"}
    assert imported["杭州云帆科技有限公司"].email == "ops@yunfan.com" and imported["杭州云帆科技有限公司"].region == "华东"

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#undo-import").click()
    expect(page.locator(".alert-success")).to_contain_text("已撤销这次导入")
    assert Customer.select().count() == 0


def test_an_xlsx_workbook_is_read_as_excel_shows_it_and_imports(
        app, queue_inline, import_dirs, page, live_server, password, shot, tmp_path):
    """An Excel workbook of two sheets, a merged 所属地区 over two rows and date cells: the wizard reads the
    first sheet as a stream, says so and shows the merged and dated cells as Excel shows them."""
    import datetime

    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    sheet.append(["客户名称", "手机号码", "所属地区", "首次接触时间"])
    sheet.append(["杭州云帆科技有限公司", "13812340001", "浙江", datetime.datetime(2024, 1, 15)])
    sheet.append(["宁波海港物流有限公司", "13912340002", None, datetime.datetime(2024, 3, 1)])
    sheet.merge_cells("C2:C3")
    for row in (2, 3):
        sheet.cell(row, 4).number_format = 'yyyy"年"m"月"d"日"'
    workbook.create_sheet("说明").append(["本工作表不导入"])
    path = tmp_path / "客户名单.xlsx"
    workbook.save(path)
    log_in(page, live_server, "manager", password)

    page.goto(f"{live_server}/admin/importrun/")
    page.locator("#new-import").click()
    page.locator("#kind").select_option("customers")
    page.locator("#file").set_input_files(str(path))
    page.locator("#upload").click()

    expect(page).to_have_url(re.compile(r"/admin/importrun/map/\?id=\d+"))
    expect(page.locator("#file-description")).to_contain_text("Excel 工作表“客户”")
    expect(page.locator(".alert-info").first).to_contain_text("2 个工作表")
    expect(page.locator("body")).to_contain_text("C2:C3")
    expect(page.locator("#preview tbody tr")).to_have_count(2)
    expect(page.locator("#preview tbody tr").nth(1)).to_contain_text("浙江")  # the merged range's value
    expect(page.locator("#preview")).to_contain_text("2024-01-15")
    shot("xlsx-map")
    page.locator("#check").click()

    expect(page).to_have_url(re.compile(r"/admin/importrun/details/\?id=\d+"))
    expect(page.locator("#start-import")).to_be_enabled()
    page.locator("#start-import").click()
    expect(page.locator("#import-summary")).to_contain_text("已新建 2")
    shot("xlsx-imported")
    imported = {c.name: c for c in Customer.select()}
    assert imported["宁波海港物流有限公司"].region == "华东"
    assert imported["宁波海港物流有限公司"].first_contact == datetime.date(2024, 3, 1)
