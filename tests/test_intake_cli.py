"""run.py import / import-undo / import-template on real files."""
import openpyxl
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import models
import run
from intake import engine


@pytest.fixture(autouse=True)
def error_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))


def invoke(app, *args):
    return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def write(tmp_path, text, name="客户.csv", encoding="gbk"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


TEXT = "客户名称,手机号码,所属行业\n北京示例,13812345678,IT\n坏客户,12345,石油\n"


def test_import_all_or_nothing_then_skip_invalid_then_undo(app, tmp_path):
    path = write(tmp_path, TEXT)
    errors = str(tmp_path / "out.xlsx")
    result = invoke(app, "import", "customers", path, "--errors", errors)
    assert result.exit_code == 1, result.output
    assert "第 3 行 “手机号码” 值“12345”" in result.output and "第 3 行 “所属行业” 值“石油”" in result.output
    assert "未写入任何数据" in result.output and errors in result.output and "Traceback" not in result.output
    assert openpyxl.load_workbook(errors).active.max_row == 2
    dry = invoke(app, "import", "customers", path, "--dry-run", "--skip-invalid")
    assert dry.exit_code == 0 and "试运行" in dry.output
    with app.app_context():
        assert models.Customer.select().count() == 0
    done = invoke(app, "import", "customers", path, "--skip-invalid", "--owner", "sales1")
    assert done.exit_code == 0 and "已新建 1" in done.output, done.output
    with app.app_context():
        batch = models.ImportBatch.get(models.ImportBatch.status == "done")
        assert models.Customer.get().owner.username == "sales1"
    assert f"import-undo {batch.id}" in done.output
    undone = invoke(app, "import-undo", str(batch.id))
    assert undone.exit_code == 0 and "删除 1 条" in undone.output
    assert invoke(app, "import-undo", str(batch.id)).exit_code == 1
    with app.app_context():
        assert models.Customer.select().count() == 0


def test_import_as_a_sales_rep_and_refusals(app, tmp_path):
    users = write(tmp_path, "用户名,角色\nrep9,sales\n", name="用户.csv")
    refused = invoke(app, "import", "users", users, "--as", "sales1")
    assert refused.exit_code == 1 and "不能导入用户" in refused.output
    created = invoke(app, "import", "users", users)
    assert created.exit_code == 0 and "rep9  " in created.output and "初始密码" in created.output
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = invoke(app, "import", "orders", str(empty))
    assert result.exit_code == 1 and "是空的" in result.output
    result = invoke(app, "import", "customers", write(tmp_path, TEXT), "--as", "sales1", "--owner", "sales2")
    assert result.exit_code == 1 and "不能指定其他负责人" in result.output
    assert "未知的导入类型: vcard" in invoke(app, "import", "vcard", str(empty)).output


def test_import_template(app, tmp_path):
    out = tmp_path / "订单模板.xlsx"
    result = invoke(app, "import-template", "orders", str(out))
    assert result.exit_code == 0
    headers = [c.value for c in openpyxl.load_workbook(out).active[1]]
    assert headers[:4] == ["客户编号*", "订单号*", "下单时间*", "金额*"]


def test_a_dry_run_names_the_customers_new_rows_probably_repeat(app, tmp_path, make_customer):
    make_customer(name="北京示例科技有限公司", mobile="13812345678", code="HB-IT-2023-077")
    path = write(tmp_path, "客户编号,客户名称,手机号码,所属行业\n,北京示例,13812345678,IT\n")
    result = invoke(app, "import", "customers", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "第 2 行“北京示例”疑似已有客户：HB-IT-2023-077" in result.output and "手机号码相同" in result.output
