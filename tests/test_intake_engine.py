"""The import engine on real files: validation, counts, all-or-nothing, upserts, references, policy,
undo, audit and the rejected-rows file.  Fixed dates only."""
import datetime
import io
import json
from decimal import Decimal

import openpyxl
import pytest

import intake
import models
from intake import engine
from models import AuditLog, Customer, FollowUp, ImportBatch, ImportChange, Order, StatusChange, User

HEADER = "客户编号,公司名称,手机,邮箱,所属行业,地区,负责人,首次接触时间,年营收,客户状态\n"


@pytest.fixture(autouse=True)
def error_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))


def csv_file(tmp_path, text, name="客户.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


GOOD = (HEADER
        + "HB-IT-2024-101,北京示例科技,138 1234 5678,Li@Example.COM,IT,北京,sales1,2024年1月15日,\"¥1,234.50\",意向\n"
        + "HD-ZZ-2024-102,上海样本制造,+86 139-1234-5678,,制造业,上海,sales2,2024/3/1,,\n")


def test_customers_created_with_standardised_values_and_counts(app, tmp_path, users):
    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, GOOD), "customers")
        assert report.written and report.counts() == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0,
                                                      "rejected": 0}
        first = Customer.get(Customer.code == "HB-IT-2024-101")
        assert (first.mobile, first.email, first.industry, first.region, first.status) == (
            "13812345678", "li@example.com", "互联网", "华北", "意向客户")
        assert first.first_contact == datetime.date(2024, 1, 15) and first.annual_revenue == Decimal("1234.50")
        assert first.owner.username == "sales1"
        assert StatusChange.select().where(StatusChange.customer == first).count() == 1
        again = intake.import_file(csv_file(tmp_path, GOOD), "customers")
        assert again.counts() == {"rows": 2, "created": 0, "updated": 0, "unchanged": 2, "rejected": 0}
        assert Customer.select().count() == 2


def test_every_validation_rule_has_its_message(app, tmp_path):
    bad = (HEADER
           + "HB-IT-2024-101,,13812345678,,,,,,,\n"  # name missing
           + ",乙,12345,,,,,,,\n"  # mobile
           + ",丙,13812345679,not-an-email,,,,,,\n"
           + ",丁,13812345670,,石油,,,,,\n"  # not in the list
           + ",戊,13812345671,,,,nobody,,,\n"  # unknown owner
           + ",己,13812345672,,,,,2024-02-30,,\n"  # impossible date
           + ",庚,13812345673,,,,,,12abc,\n"  # amount
           + ",辛,13812345674,,,,,,-5,\n"  # negative
           + ",壬,,,,,,,,\n"  # neither mobile nor phone
           + ",癸,13812345675,,,,,,,天知道\n"  # status
           + "bad-code,子,13812345676,,,,,,,\n")
    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, bad), "customers")
        reasons = {(e.row, e.column): e.reason for e in report.errors}
        assert reasons[(2, "公司名称")] == "客户名称必填"
        assert "手机号码格式不正确" in reasons[(3, "手机")]
        assert "邮箱格式不正确" in reasons[(4, "邮箱")]
        assert "不在列表中，可选：互联网" in reasons[(5, "所属行业")]
        assert "负责人“nobody”不存在" == reasons[(6, "负责人")]
        assert "日期不存在" in reasons[(7, "首次接触时间")]
        assert "金额无法识别" in reasons[(8, "年营收")]
        assert reasons[(9, "年营收")] == "不能为负数"
        assert reasons[(10, "手机")] == "手机号码和电话至少填写一项"
        assert "不在列表中" in reasons[(11, "客户状态")]
        assert "客户编号格式不正确" in reasons[(12, "客户编号")]
        assert report.rejected == 11 and report.rows == 11 and not report.written
        assert all(e.value is not None or e.column in ("公司名称", "手机") for e in report.errors)
        assert Customer.select().count() == 0


def test_all_or_nothing_skip_invalid_and_dry_run(app, tmp_path):
    text = GOOD + ",坏客户,123,,,,,,,\n"
    path = csv_file(tmp_path, text)
    with app.app_context():
        refused = intake.import_file(path, "customers")
        assert not refused.written and refused.counts() == {"rows": 3, "created": 2, "updated": 0, "unchanged": 0,
                                                            "rejected": 1}
        assert Customer.select().count() == 0 and not ImportChange.select().exists()
        assert ImportBatch.get_by_id(refused.batch_id).status == "rejected"
        assert not AuditLog.select().where(AuditLog.action == "import").exists()
        dry = intake.validate(path, "customers", skip_invalid=True)
        assert dry.dry_run and not dry.written and dry.created == 2 and Customer.select().count() == 0
        assert ImportBatch.select().count() == 1  # a dry run leaves no batch
        done = intake.import_file(path, "customers", skip_invalid=True)
        assert done.written and done.created == 2 and done.rejected == 1 and Customer.select().count() == 2
        log = AuditLog.get(AuditLog.action == "import")
        assert json.loads(log.changes)["batch"] == done.batch_id and log.rows == 2 and log.record_id == str(done.batch_id)


def test_duplicate_codes_inside_one_file(app, tmp_path):
    text = HEADER + "HB-IT-2024-101,甲,13812345678,,,,,,,\n,乙,13912345678,,,,,,,\nhb-it-2024-101,丙,13712345678,,,,,,,\n"
    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, text), "customers")
        (error,) = report.errors
        assert (error.row, error.column, error.value) == (4, "客户编号", "hb-it-2024-101")
        assert "与第 2 行重复" in error.reason


def test_a_key_repeated_chunks_apart_names_its_first_row(app, tmp_path, monkeypatch):
    """The keys met so far live in a temporary table, not in memory: a repeat many chunks later is
    still caught, named by its first row, and nothing of an all-or-nothing import is written."""
    monkeypatch.setattr(engine, "CHUNK", 3)
    lines = [f",客户{i},1380000{i:04d},,,,,,," for i in range(10)] + [",又一个,13800000002,,,,,,,"]
    path = csv_file(tmp_path, "客户编号,公司名称,手机,邮箱,所属行业,地区,负责人,首次接触时间,年营收,客户状态\n"
                    + "\n".join(lines) + "\n")
    with app.app_context():
        report = intake.import_file(path, "customers", key="mobile")
        (error,) = report.errors
        assert (error.row, error.column, error.value) == (12, "手机", "13800000002")
        assert "与第 4 行重复" in error.reason
        assert not report.written and Customer.select().count() == 0
        assert report.counts() == {"rows": 11, "created": 10, "updated": 0, "unchanged": 0, "rejected": 1}
        assert "intake_seen_keys" not in models.db.get_tables()  # the temporary table is gone with the import


def test_imported_customers_are_found_by_search_and_gone_from_it_after_undo(app, tmp_path):
    """The search index is filled set-based per chunk (its insert trigger is off meanwhile, inside the
    import's transaction): imported names are found, the trigger is back after the import, and undo
    (the delete trigger) takes them out again."""
    from models import search

    def found(term):
        return {c.name for c in Customer.select().where(search.fragment_condition(search.FTS_COLUMNS, term))}

    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, GOOD), "customers")
        assert found("示例科技") == {"北京示例科技"} and found("13812345678") == {"北京示例科技"}
        if models.is_sqlite():
            triggers = {name for (name,) in models.db.execute_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
            assert set(search.SQLITE_TRIGGERS) <= triggers
        Customer.create(code="HB-IT-2024-900", name="手工录入示例", mobile="13700000900")  # the trigger works again
        assert found("手工录入") == {"手工录入示例"}
        intake.undo(report.batch_id)
        assert found("示例科技") == set() and found("样本制造") == set()


def test_update_by_code_and_by_mobile_key(app, tmp_path, make_customer):
    with app.app_context():
        existing = make_customer(code="HB-IT-2024-007", name="旧名称", mobile="13800000007", email="old@example.com")
        report = intake.import_file(csv_file(tmp_path, "客户编号,客户名称,邮箱\nHB-IT-2024-007,新名称,\n"), "customers")
        assert report.updated == 1
        refreshed = Customer.get_by_id(existing.id)
        assert refreshed.name == "新名称" and refreshed.email == "old@example.com"  # empty cells clear nothing
        by_mobile = csv_file(tmp_path, "客户名称,手机号码,邮箱\n按手机更新,+86 138 0000 0007,new@example.com\n"
                                       "全新客户,13900000099,\n", name="m.csv")
        report = intake.import_file(by_mobile, "customers", key="mobile")
        assert (report.created, report.updated) == (1, 1)
        assert Customer.get_by_id(existing.id).email == "new@example.com"
        assert intake.import_file(by_mobile, "customers", key="mobile").unchanged == 2
        by_email = csv_file(tmp_path, "客户名称,邮箱\n按邮箱,NEW@example.com\n", name="e.csv")
        assert intake.import_file(by_email, "customers", key="email").updated == 1
        assert Customer.get_by_id(existing.id).name == "按邮箱"


def test_header_synonyms_and_full_width_headers(app, tmp_path):
    text = "ＮＡＭＥ, 手机号 ,E-Mail,行业,备注说明\n甲,13812345678,a@b.cn,软件,x\n"
    with app.app_context():
        analysis = intake.analyse(csv_file(tmp_path, text), "customers")
        assert analysis.mapping == {"ＮＡＭＥ": "name", "手机号": "mobile", "E-Mail": "email", "行业": "industry",
                                    "备注说明": ""}
        assert analysis.unknown == ["备注说明"] and analysis.preview[0][0] == 2
        report = intake.import_file(csv_file(tmp_path, text), "customers")
        assert report.created == 1 and report.unknown == ["备注说明"]
        assert Customer.get().industry == "互联网"


def test_explicit_mapping_is_remembered_and_value_maps(app, tmp_path):
    text = "单位,移动号码,行当\n甲,13812345678,搞软件的\n"
    path = csv_file(tmp_path, text)
    with app.app_context():
        with pytest.raises(intake.ImportRefused, match="缺少必填列：客户名称"):
            intake.import_file(path, "customers")
        mapping = {"单位": "name", "移动号码": "mobile", "行当": "industry"}
        report = intake.import_file(path, "customers", mapping=mapping, value_maps={"industry": {"搞软件的": "互联网"}})
        assert report.created == 1 and Customer.get().industry == "互联网"
        analysis = intake.analyse(csv_file(tmp_path, text.replace("甲", "乙"), name="next.csv"), "customers")
        assert analysis.mapping == mapping and analysis.mapping_source == "remembered"


def test_orders_references_and_upsert(app, tmp_path, make_customer):
    with app.app_context():
        make_customer(code="HB-IT-2024-001")
        text = ("客户编号,订单号,下单时间,金额,数量\n"
                "HB-IT-2024-001,SO-1,2024-01-15 10:30,\"1,280.00\",2\n"
                "HB-IT-2024-001,SO-2,45306,￥99,\n"
                "HB-XX-2024-999,SO-3,2024-01-15,10,1\n")
        report = intake.import_file(csv_file(tmp_path, text, name="订单.csv", encoding="gbk"), "orders", skip_invalid=True)
        assert (report.created, report.rejected) == (2, 1)
        assert "客户编号 HB-XX-2024-999 不存在" in report.errors[0].reason and report.errors[0].row == 4
        first = Order.get(Order.order_no == "SO-1")
        assert first.amount == Decimal("1280.00") and first.quantity == 2
        assert first.ordered_at == datetime.datetime(2024, 1, 15, 10, 30)
        assert Order.get(Order.order_no == "SO-2").ordered_at == datetime.datetime(2024, 1, 15)
        changed = csv_file(tmp_path, "订单号,客户编号,下单日期,订单金额\nSO-1,HB-IT-2024-001,2024-01-15 10:30,1300\n",
                           name="o2.csv")
        report = intake.import_file(changed, "orders")
        assert report.updated == 1 and Order.get(Order.order_no == "SO-1").amount == Decimal("1300.00")


def test_an_orders_import_is_recorded_for_undo_from_the_stored_rows(app, tmp_path, make_customer):
    """The created orders' undo record is written set-based from the rows just stored: one ImportChange per
    order holding the values written (money with its places, the time as stored); an order changed since
    refuses the undo, which otherwise deletes exactly the imported orders."""
    with app.app_context():
        customer = make_customer(code="HB-IT-2024-001")
        text = ("客户编号,订单号,下单时间,金额,数量,产品\n"
                "HB-IT-2024-001,SO-1,2024-01-15 10:30,\"¥1,280.50\",2,标准版\n"
                "HB-IT-2024-001,SO-2,2024/1/16,99,,\n")
        report = intake.import_file(csv_file(tmp_path, text, name="订单.csv"), "orders")
        assert report.created == 2
        changes = {c.record_id: c for c in ImportChange.select().where(ImportChange.batch == report.batch_id)}
        orders = {o.order_no: o for o in Order.select()}
        assert set(changes) == {o.id for o in orders.values()}
        assert {c.model for c in changes.values()} == {"order"} and {c.action for c in changes.values()} == {"created"}
        assert changes[orders["SO-1"].id].after == {
            "customer": customer.id, "order_no": "SO-1", "ordered_at": "2024-01-15 10:30:00", "amount": "1280.50",
            "quantity": 2, "product": "标准版", "channel": None}
        assert changes[orders["SO-2"].id].after["quantity"] == 1 and changes[orders["SO-2"].id].before is None
        Order.update(amount=Decimal("1.00")).where(Order.order_no == "SO-2").execute()
        with pytest.raises(intake.UndoRefused, match="SO-2"):
            intake.undo(report.batch_id)
        Order.update(amount=Decimal("99.00")).where(Order.order_no == "SO-2").execute()
        assert intake.undo(report.batch_id) == {"deleted": 2, "restored": 0}
        assert not Order.select().exists() and Customer.select().count() == 1


def test_followups_numbered_and_natural_key(app, tmp_path, make_customer, users):
    with app.app_context():
        make_customer(code="HB-IT-2024-001")
        text = ("客户编号,跟进时间,跟进方式,跟进内容,跟进结果,下次跟进时间,跟进人\n"
                "HB-IT-2024-001,2024-03-20 09:00,致电,介绍产品,意向,2024-03-27,sales1\n"
                "HB-IT-2024-001,2024-03-20 15:00,上门拜访,演示,,,\n")
        path = csv_file(tmp_path, text)
        report = intake.import_file(path, "followups")
        assert report.created == 2
        records = list(FollowUp.select().order_by(FollowUp.record_no))
        assert [r.record_no for r in records] == ["20240320001", "20240320002"]
        assert (records[0].method, records[0].result, records[0].user.username) == ("电话", "有意向", "sales1")
        assert records[1].user is None  # imported by the system
        assert intake.import_file(path, "followups").unchanged == 2  # matched on customer, time and content
        with_no = csv_file(tmp_path, "记录ID,客户编号,跟进时间,跟进方式,跟进内容\n20240320001,HB-IT-2024-001,"
                                     "2024-03-20 09:00,电话,介绍产品（改）\n", name="f2.csv")
        assert intake.import_file(with_no, "followups").updated == 1


def test_policy_sales_rep(app, tmp_path, make_customer, users):
    sales1 = users["sales1"]
    with app.app_context():
        make_customer(owner="sales2", code="HB-IT-2024-050")
        text = ("客户编号,客户名称,手机号码,负责人\n"
                ",我的客户,13812345678,\n"
                ",也是我的,13812345679,sales1\n"
                ",别人的,13812345670,sales2\n"
                "HB-IT-2024-050,改别人的,13812345671,\n")
        report = intake.import_file(csv_file(tmp_path, text), "customers", user=sales1, skip_invalid=True)
        reasons = {e.row: e.reason for e in report.errors}
        assert "不能指定其他负责人" in reasons[4] and "不在您的数据范围内" in reasons[5]
        assert report.created == 2
        assert {c.owner_id for c in Customer.select().where(Customer.name.in_(["我的客户", "也是我的"]))} == {sales1.id}
        sealed_column = csv_file(tmp_path, "客户名称,手机号码,身份证号\n甲,13812345672,110101199001011234\n乙,13812345673,\n",
                                 name="id.csv")
        report = intake.import_file(sealed_column, "customers", user=sales1)
        assert any("不能写入“身份证号”列" in message for message in report.column_errors)
        assert [e.row for e in report.errors] == [2] and not report.written
        with pytest.raises(intake.ImportRefused, match="不能导入用户"):
            intake.import_file(csv_file(tmp_path, "用户名,角色\nx,sales\n", name="u.csv"), "users", user=sales1)
        service_orders = csv_file(tmp_path, "客户编号,订单号,下单时间,金额\nHB-IT-2024-050,SO-9,2024-01-15,1\n", name="o.csv")
        with pytest.raises(intake.ImportRefused, match="不能导入订单"):
            intake.import_file(service_orders, "orders", user=users["service"])
        report = intake.import_file(service_orders, "orders", user=sales1)
        assert "不存在或不在您的数据范围内" in report.errors[0].reason


def test_undo_removes_created_and_restores_updated(app, tmp_path, make_customer):
    with app.app_context():
        old = make_customer(code="HB-IT-2024-007", name="旧名称", id_number="110101199001011234")
        text = ("客户编号,客户名称,手机号码,身份证号,客户状态\n"
                "HB-IT-2024-007,新名称,13800000007,110101199202021234,成交客户\n"
                ",新客户,13900000001,,\n")
        report = intake.import_file(csv_file(tmp_path, text), "customers")
        assert (report.created, report.updated) == (1, 1)
        changed = Customer.get_by_id(old.id)
        assert changed.name == "新名称" and changed.id_number == "110101199202021234" and changed.status == "成交客户"
        for change in ImportChange.select():  # sensitive values never kept in clear
            assert "110101199" not in json.dumps([change.before, change.after], ensure_ascii=False)
        assert "110101199" not in "".join(a.changes or "" for a in AuditLog.select())
        new_id = Customer.get(Customer.name == "新客户").id
        counts = intake.undo(report.batch_id)
        assert counts == {"deleted": 1, "restored": 1}
        restored = Customer.get_by_id(old.id)
        assert restored.name == "旧名称" and restored.id_number == "110101199001011234" and restored.status == "潜在客户"
        assert not Customer.select().where(Customer.id == new_id).exists()
        assert not StatusChange.select().where(StatusChange.customer == new_id).exists()
        assert ImportBatch.get_by_id(report.batch_id).status == "undone"
        assert AuditLog.select().where(AuditLog.action == "import-undo").count() == 1
        with pytest.raises(intake.UndoRefused, match="已于"):
            intake.undo(report.batch_id)


def test_undo_of_an_untouched_import_is_not_refused_for_how_amounts_read_back(app, tmp_path):
    """¥1,234.50 is kept for undo as "1234.50" and SQLite gives 1234.5 back: the same amount, not a
    change since the import (undo compared the two as text and refused)."""
    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, GOOD), "customers")
        assert Customer.get(Customer.code == "HB-IT-2024-101").annual_revenue == Decimal("1234.50")
        assert intake.undo(report.batch_id) == {"deleted": 2, "restored": 0}


def test_undo_refused_when_changed_since(app, tmp_path, make_order):
    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, "客户名称,手机号码\n甲,13812345678\n"), "customers")
        customer = Customer.get()
        make_order(customer)  # an order from elsewhere hangs on the imported customer
        with pytest.raises(intake.UndoRefused, match="已有其他订单"):
            intake.undo(report.batch_id)
        Customer.update(name="改过").where(Customer.id == customer.id).execute()
        with pytest.raises(intake.UndoRefused, match="又有改动"):
            intake.undo(report.batch_id)
        assert intake.undo(report.batch_id, force=True)["deleted"] == 1


def test_undo_reads_its_changes_a_page_at_a_time(app, tmp_path, monkeypatch, make_customer):
    """Undo pages through ImportChange (memory flat for millions of rows) and deletes the created
    records set-based: a change on a late page still refuses, and everything is put back."""
    monkeypatch.setattr(engine, "CHANGES_PAGE", 2)
    with app.app_context():
        existing = make_customer(code="HB-IT-2024-007", name="旧名称", mobile="13800000007")
        rows = "".join(f",客户{i},1390000{i:04d}\n" for i in range(7)) + "HB-IT-2024-007,新名称,13800000007\n"
        report = intake.import_file(csv_file(tmp_path, "客户编号,客户名称,手机号码\n" + rows), "customers")
        assert (report.created, report.updated) == (7, 1)
        last = Customer.get(Customer.name == "客户6")  # created last: its change is on the last page
        Customer.update(name="又改过").where(Customer.id == last.id).execute()
        with pytest.raises(intake.UndoRefused, match="又改过|客户6|name"):
            intake.undo(report.batch_id)
        Customer.update(name="客户6").where(Customer.id == last.id).execute()
        assert intake.undo(report.batch_id) == {"deleted": 7, "restored": 1}
        assert [c.name for c in Customer.select()] == ["旧名称"] and Customer.get_by_id(existing.id).name == "旧名称"


def test_rejected_rows_file_reimports_once_fixed_and_escapes_formulas(app, tmp_path):
    text = (HEADER + ",好客户,13812345678,,,,,,,\n"
            + ",=HYPERLINK(\"http://evil\"),12345,,,,,,,\n"
            + ",+坏客户,13912345678,,石油,,,,,\n")
    with app.app_context():
        report = intake.import_file(csv_file(tmp_path, text), "customers", errors_to=str(tmp_path / "错误.xlsx"))
        assert report.error_file == str(tmp_path / "错误.xlsx") and report.rejected == 2
        sheet = openpyxl.load_workbook(report.error_file).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][-1] == "错误原因" and list(rows[0][:-1]) == HEADER.strip().split(",")
        assert rows[1][1] == "'=HYPERLINK(\"http://evil\")" and rows[2][1] == "'+坏客户"
        assert "手机" in rows[1][-1] and "所属行业" in rows[2][-1]
        workbook = openpyxl.load_workbook(report.error_file)  # the user fixes the cells and imports again
        fixed = workbook.active
        fixed["C2"] = "13700000000"
        fixed["E3"] = "能源"
        workbook.save(tmp_path / "改正.xlsx")
        again = intake.import_file(str(tmp_path / "改正.xlsx"), "customers")
        assert again.written and again.created == 2 and again.unknown == []
        assert Customer.select().where(Customer.name == "=HYPERLINK(\"http://evil\")").exists()


def test_html_and_sql_looking_strings_are_stored_as_text(app, tmp_path):
    text = ("客户名称,手机号码,备注\n"
            "<script>alert(1)</script>,13812345678,'; DROP TABLE customer; --\n"
            "Robert'); DELETE FROM orders;--,13912345678,<img src=x onerror=alert(1)>\n")
    with app.app_context():
        assert intake.import_file(csv_file(tmp_path, text), "customers").created == 2
        assert Customer.get(Customer.mobile == "13812345678").name == "<script>alert(1)</script>"
        assert Customer.get(Customer.mobile == "13812345678").notes == "'; DROP TABLE customer; --"
        assert Customer.select().count() == 2


def test_xlsx_with_dates_serials_and_merged_owner(app, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户名称", "手机号码", "首次接触时间", "负责人"])
    sheet.append(["甲", 13812345678, datetime.datetime(2024, 1, 15), "sales1"])
    sheet.append(["乙", "13912345678", 45307, None])
    sheet.merge_cells("D2:D3")
    workbook.save(tmp_path / "客户.xlsx")
    with app.app_context():
        report = intake.import_file(str(tmp_path / "客户.xlsx"), "customers")
        assert report.created == 2 and any("合并单元格" in n for n in report.notes)
        second = Customer.get(Customer.name == "乙")
        assert second.first_contact == datetime.date(2024, 1, 16) and second.owner.username == "sales1"
        assert Customer.get(Customer.name == "甲").mobile == "13812345678"


def test_users_kind(app, tmp_path, users):
    text = "用户名,姓名,角色,上级经理,邮箱\nrep9,李娜,销售代表,manager,LiNa@example.com\nrep10,,sales,rep9,\nbad,x,老板,,\n"
    path = csv_file(tmp_path, text, name="用户.csv")
    with app.app_context():
        report = intake.import_file(path, "users", skip_invalid=True)
        assert report.created == 2 and "角色“老板”不存在" in report.errors[0].reason
        passwords = dict(report.passwords)
        rep9 = User.get(User.username == "rep9")
        assert rep9.must_change_password and rep9.check_password(passwords["rep9"]) and rep9.email == "lina@example.com"
        assert rep9.manager.username == "manager" and User.get(User.username == "rep10").manager_id == rep9.id
        logged = json.dumps([a.changes for a in AuditLog.select()], ensure_ascii=False)
        assert passwords["rep9"] not in logged
        assert passwords["rep9"] not in json.dumps([c.after for c in ImportChange.select()], ensure_ascii=False)
        assert intake.import_file(path, "users", skip_invalid=True).unchanged == 2


@pytest.mark.parametrize("kind", sorted(intake.KINDS))
def test_templates_import_as_they_are(app, tmp_path, kind, make_customer):
    data = intake.template(kind)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    headers = [cell.value for cell in sheet[1]]
    assert all(isinstance(h, str) and h for h in headers)
    with app.app_context():
        make_customer(code="HB-IT-2024-001")
        report = intake.validate(data, kind, filename=f"{kind}.xlsx")
        assert report.rejected == 0, [e.as_dict() for e in report.errors]
        assert report.created + report.updated == 1 and report.rows == 1


CHECKED = ("公司名称,手机,所属行业,地区\n"
           "华信科技有限公司,13900000001,IT,北京\n"  # 2: the stored 北京华信科技 by name
           "深圳宏达贸易,13800000002,IT,深圳\n"  # 3: the stored customer of this mobile: an update, not probed
           "金桥实业有限公司,13900000003,制造业,上海\n"  # 4: new
           "坏行,12345,IT,北京\n"  # 5: rejected (mobile)
           "金桥实业（上海）有限公司,13900000004,制造业,上海\n"  # 6: row 4, rehearsed in an earlier chunk
           "恒通物流,13900000003,物流,上海\n"  # 7: row 4's mobile again: rejected
           "上海金桥实业,13900000005,制造业,上海\n")  # 8: rows 4 and 6, two chunks back


def test_the_check_reports_the_same_rows_over_chunks_and_puts_the_planner_back(app, tmp_path, monkeypatch):
    """The check's duplicate lookups run under intake.lookups' planner settings (PostgreSQL) chunk by
    chunk: the rows found among the stored and the rehearsed customers, the counts and the rejected rows
    are the fixed ones below on both databases, nothing is written, and the transaction's settings are
    put back after each chunk's lookups."""
    monkeypatch.setattr(engine, "CHUNK", 2)  # rows 6 and 8 find rows rehearsed in earlier chunks
    with app.app_context():
        intake.import_file(csv_file(tmp_path, "公司名称,手机,所属行业,地区\n北京华信科技有限公司,13800000001,IT,北京\n"
                                              "上海宏达贸易有限公司,13800000002,IT,上海\n", name="stored.csv"),
                           "customers")
        stored = {c.name: c.code for c in Customer.select()}
        settings, pending = [], None
        if not models.is_sqlite():
            pending = models.db.execute_sql("SHOW gin_pending_list_limit").fetchone()[0]
            real_write = engine.kinds.get("customers").write

            def write(rows, ctx):  # what the chunk's writes run under, after its lookups
                settings.append(models.db.execute_sql("SELECT current_setting('enable_seqscan'), "
                                                      "current_setting('enable_indexscan')").fetchone())
                return real_write(rows, ctx)

            monkeypatch.setattr(engine.kinds.get("customers"), "write", write)
        report = intake.import_file(csv_file(tmp_path, CHECKED), "customers", dry_run=True)
        assert report.counts() == {"rows": 7, "created": 4, "updated": 1, "unchanged": 0, "rejected": 2}
        assert [(e.row, e.column, e.reason) for e in report.errors] == [
            (5, "手机", "手机号码格式不正确：应为 11 位数字，以 13–19 开头（可带空格、横线或 +86）"),
            (7, "手机", "与第 4 行重复（同一文件中出现两次）")]
        found = {d["row"]: [(m["name"], m["reason"]) for m in d["matches"]] for d in report.duplicates}
        assert found[2] == [("北京华信科技有限公司", "公司名称相同（繁简/后缀/城市归一后）")]
        assert [name for name, _ in found[6]] == ["金桥实业有限公司"]
        assert sorted(name for name, _ in found[8]) == ["金桥实业(上海)有限公司", "金桥实业有限公司"]
        assert set(found) == {2, 6, 8} and all(m["code"] not in stored.values() for d in report.duplicates
                                                 if d["row"] != 2 for m in d["matches"])
        assert {c.name: c.code for c in Customer.select()} == stored  # the rehearsal rolled back
        if not models.is_sqlite():
            assert settings == [("on", "on")] * len(settings) and len(settings) == 4
            assert models.db.execute_sql("SHOW gin_pending_list_limit").fetchone()[0] == pending  # SET LOCAL
