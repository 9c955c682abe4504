"""Personal-data requests (issue 12 part 4): export everything held about one customer (JSON, XLSX) within the
exporting user's row scope and column rules, and erase (anonymise) them for good with the orders kept, so the
reports add up the same.  Real imports, a real merge, the real admin and CLI; fixed dates only."""
import datetime
import io
import json
from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import access
import dashboard.rollup
import intake
import privacy
import run
import tests.policy_support as ps
from analytics import queries
from dedup.merge import merge
from intake import engine
from models import (AuditLog, Customer, CustomerTag, CustomerValue, Feedback, FollowUp, ImportChange, ImportRun, MergeRecord,
                    Order, RolePermission, Role, SalesDay, StatusChange, Tag, Task, db, sealed)
from valuation.refreshing import aggregates

AS_OF = datetime.date(2024, 12, 31)
CODE = "HB-IT-2024-801"
NAME, MOBILE, NEW_MOBILE, EMAIL = "北京隐私科技", "13812348001", "13812348002", "privacy@example.com"
ID_NUMBER, BANK = "110101199001018888", "6222021234567898888"
DUP_NAME, DUP_MOBILE, DUP_ID = "北京隐私科技有限公司", "13712348003", "110101199001017777"
HEADER = "客户编号,公司名称,手机,邮箱,所属行业,地区,负责人,首次接触时间,身份证号\n"
SECRET_TEXT = "张经理说下周签约，手机 13812348001"


@pytest.fixture(autouse=True)
def error_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))


def _csv(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes((HEADER + text).encode("utf-8"))
    return str(path)


@pytest.fixture
def subject(app, users, tmp_path, make_customer, make_order):
    """A customer with every kind of record: created and then updated by imports (undo records hold the old
    mobile in clear and the ID number sealed), merged with a duplicate, with orders, follow-ups, feedback, tags,
    a task, status changes, a value row and audit entries."""
    created = intake.import_file(_csv(tmp_path, "a.csv", f"{CODE},{NAME},{MOBILE},{EMAIL},IT,北京,sales1,2024-01-15,"
                                                          f"{ID_NUMBER}\n"), "customers")
    assert created.ok and created.created == 1, created.errors
    updated = intake.import_file(_csv(tmp_path, "b.csv", f"{CODE},{NAME},{NEW_MOBILE},{EMAIL},IT,北京,sales1,"
                                                          f"2024-01-15,{ID_NUMBER}\n"), "customers")
    assert updated.updated == 1, updated.errors
    customer = Customer.get(Customer.code == CODE)
    customer.bank_account, customer.address, customer.notes = BANK, "北京市海淀区隐私路1号", "=HYPERLINK(\"http://x\")"
    customer.contact, customer.consent_purpose, customer.consent_at = "张经理", "订单服务与回访", datetime.date(2024, 1, 15)
    customer.save()
    duplicate = make_customer(owner="sales1", name=DUP_NAME, mobile=DUP_MOBILE, id_number=DUP_ID)
    order_no = make_order(duplicate, "50.00", ordered_at=datetime.datetime(2024, 6, 2)).order_no
    merge(customer.id, [duplicate.id], username="admin", now=datetime.datetime(2024, 6, 3, 9))
    for day, amount in ((datetime.datetime(2024, 3, 5), "1234.50"), (datetime.datetime(2024, 11, 20), "800.00")):
        make_order(customer, amount, ordered_at=day)
    FollowUp.create(customer=customer, at=datetime.datetime(2024, 3, 1, 10), method="电话", content=SECRET_TEXT,
                    result="需跟进", next_date=datetime.date(2025, 1, 10), user=users["sales1"])
    Feedback.create(customer=customer, kind="投诉", content=f"{NAME} 投诉送货慢", created_at=datetime.datetime(2024, 4, 1))
    manual = Tag.create(name="重点关注", category="偏好")
    rule = Tag.create(name="高消费", category="价值", source="rule")
    CustomerTag.create(customer=customer, tag=manual, source="manual")
    CustomerTag.create(customer=customer, tag=rule, source="rule")
    Task.create(customer=customer, assignee=users["sales1"], title="联系客户", origin="followup", due_on=AS_OF,
                since=datetime.datetime(2024, 3, 1), status="open", open_key=f"p{customer.id}", created_by="edit")
    CustomerValue.create(customer=customer, annual_spend=Decimal("2084.50"), orders_12m=3, ltv=Decimal("5000.00"),
                         tier="高价值客户", last_order_at=datetime.datetime(2024, 11, 20), as_of=AS_OF,
                         refreshed_at=datetime.datetime(2025, 1, 1))
    AuditLog.create(username="sales1", action="update", model="customer", record_id=str(customer.id),
                    changes=json.dumps({"address": [None, "北京市海淀区隐私路1号"]}, ensure_ascii=False))
    # the import wizard's kept report of a later file with a row that probably repeats the customer
    ImportRun.create(user=users["sales1"], username="sales1", kind="customers", filename="c.csv", path="c.csv",
                     status="checked", report={"duplicates": [{"row": 2, "name": NAME, "matches": [
                         {"code": CODE, "name": NAME, "reason": "手机号相同", "score": 0.9}]}], "duplicate_count": 1})
    customer = Customer.get_by_id(customer.id)
    customer.merged_order_no = order_no
    return customer


def grant_personal_data(role_name, actions="export"):
    role = Role.get(Role.name == role_name)
    RolePermission.create(role=role, model="personaldata", **{"can_" + a: True for a in actions.split()})
    access.bump_version()


def post_export(client, customer, fmt="json"):
    return client.post("/admin/personaldata/export/", data={"csrf_token": ps.any_csrf_token(client), "code": customer.code,
                                                           "customer_id": str(customer.id), "format": fmt})


def post_erase(client, customer, confirm):
    return client.post("/admin/personaldata/erase/", data={"csrf_token": ps.any_csrf_token(client), "code": customer.code,
                                                          "customer_id": str(customer.id), "confirm": confirm},
                       follow_redirects=True)


def sections(document):
    return {s["key"]: s for s in document["sections"]}


def test_only_the_administrator_may_by_default(app, users):
    for name, user in users.items():
        grant = access.grant_for(user)
        expected = grant.role == "admin"
        assert privacy.may_export(grant) is expected and privacy.may_erase(grant) is expected, name


def test_admin_export_holds_everything_about_the_customer_and_is_audited(login, subject):
    admin = login("admin")
    details = admin.get(f"/admin/customer/details/?id={subject.id}").get_data(as_text=True)
    assert "导出个人数据" in details and "匿名化" in details and 'name="csrf_token"' in details
    assert "同意用途" in details and "订单服务与回访" in details
    response = post_export(admin, subject)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.get_data())
    found = sections(document)
    row = found["customer"]["rows"][0]
    assert row["name"] == NAME and row["mobile"] == NEW_MOBILE and row["email"] == EMAIL
    assert row["id_number"] == ID_NUMBER and row["bank_account"] == BANK  # the admin's policy shows them
    assert row["consent_purpose"] == "订单服务与回访" and row["consent_at"] == "2024-01-15"
    assert {o["amount"] for o in found["order"]["rows"]} == {"1234.50", "800.00", "50.00"}  # the merged order too
    assert [f["content"] for f in found["followup"]["rows"]] == [SECRET_TEXT]
    assert found["feedback"]["rows"][0]["content"].startswith(NAME)
    assert {(t["tag"], t["source"]) for t in found["customertag"]["rows"]} == {("重点关注", "手动"), ("高消费", "规则")}
    assert found["task"]["rows"][0]["status"] == "待办"
    assert found["customervalue"]["rows"][0]["ltv"] == "5000.00"
    assert len(found["statuschange"]["rows"]) >= 1
    assert [(i["action"], i["filename"]) for i in found["imports"]["rows"]] == [("新建", "a.csv"), ("更新", "b.csv")]
    assert found["merges"]["rows"][0]["survivor_code"] == CODE
    assert any(entry["action"] == "merge" for entry in found["audit"]["rows"])
    assert document["left_out_sections"] == []
    entry = AuditLog.select().where(AuditLog.action == "personal-data-export").get()
    assert entry.username == "admin" and entry.record_id == str(subject.id)
    assert entry.rows == sum(len(s["rows"]) for s in document["sections"])
    assert json.loads(entry.changes)["rows"]["order"] == 3
    assert NEW_MOBILE not in entry.changes and ID_NUMBER not in entry.changes


def test_export_follows_the_exporters_scope_and_column_rules(login, subject, make_customer, users):
    grant_personal_data("sales")
    grant_personal_data("service")
    other = make_customer(owner="sales2", name="别人的客户")
    rep = login("sales")
    refused = post_export(rep, other)
    assert refused.status_code == 302  # back to the page with a message, no file
    page = rep.get(refused.headers["Location"]).get_data(as_text=True)
    assert "不存在或不在您的数据范围内" in page or refused.headers["Location"].endswith(f"id={other.id}")
    assert not AuditLog.select().where(AuditLog.action == "personal-data-export").exists()
    with pytest.raises(privacy.PrivacyError, match="不在您的数据范围内"):
        privacy.export(other.code, users["sales1"])
    own = sections(json.loads(post_export(rep, subject).get_data()))
    assert own["customer"]["rows"][0]["id_number"] == "110***********8888"  # masked for reps, as everywhere
    assert "audit" not in own and "merges" in own  # reps may not read the audit log; may see duplicates

    service = sections(json.loads(post_export(login("service"), subject).get_data()))
    assert "amount" not in dict(service["order"]["columns"])  # hidden money stays hidden
    assert all("amount" not in row for row in service["order"]["rows"])
    assert "annual_revenue" not in service["customer"]["rows"][0]
    assert "ltv" not in service["customervalue"]["rows"][0] and "annual_spend" not in service["customervalue"]["rows"][0]
    assert service["customer"]["rows"][0]["mobile"] == "138****8002"
    assert "task" not in service  # no permission on tasks: the section is left out and said so


def test_xlsx_opens_with_one_sheet_per_kind_and_is_formula_safe(login, subject):
    response = post_export(login("admin"), subject, "xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames[:4] == ["说明", "客户资料", "跟进记录", "订单"] and "审计记录" in book.sheetnames
    sheet = book["客户资料"]
    headers = [c.value for c in sheet[1]]
    values = dict(zip(headers, [c.value for c in sheet[2]]))
    assert values["备注"].startswith("'=HYPERLINK(\"http://x\")")  # text, never a formula
    assert "【2024-06-03 合并，未采用的值】" in values["备注"]  # the merge's lost values, in the notes
    assert values["客户名称"] == NAME
    orders = book["订单"]
    amounts = sorted(c.value for c in next(orders.iter_cols(min_col=3, max_col=3, min_row=2)))
    assert amounts == [50.0, 800.0, 1234.5] and orders.cell(2, 3).number_format == "#,##0.00"
    for name in book.sheetnames:
        for row in book[name].iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith("=") for v in row)


def totals():
    """What reports add up: the analytics summary, the value table's 12-month aggregates, the dashboard roll-up."""
    summary = queries.customer_summary(AS_OF)
    values = aggregates(AS_OF)
    dashboard.rollup.refresh(AS_OF, trigger="cli")
    return (round(float(summary["revenue"].sum()), 2), int(summary["orders"].sum()),
            round(float(values["annual_spend"].sum()), 2), int(values["orders_12m"].sum()),
            round(float(sum(d.total for d in SalesDay.select())), 2), sum(d.orders for d in SalesDay.select()),
            Order.select().count())


def test_erase_removes_every_trace_and_keeps_the_report_totals(login, subject):
    before = totals()
    admin = login("admin")
    refused = post_erase(admin, subject, "wrong").get_data(as_text=True)
    assert f"请输入客户编号 {CODE} 以确认" in refused
    assert Customer.get_by_id(subject.id).name == NAME  # nothing changed
    page = post_erase(admin, subject, CODE).get_data(as_text=True)
    assert "已匿名化" in page and "此操作不能撤销" in page

    customer = Customer.get_by_id(subject.id)
    assert customer.name == f"已匿名化客户 {CODE}" and customer.anonymised_at is not None
    for column in ("contact", "mobile", "phone", "email", "address", "needs", "notes", "id_number", "bank_account",
                   "id_number_digest", "bank_account_digest"):
        assert getattr(customer, column) is None, column
    assert customer.consent_purpose == "订单服务与回访"  # the record of consent stays
    assert [f.content for f in FollowUp.select().where(FollowUp.customer == customer.id)] == ["（已匿名化）"]
    assert FollowUp.get(FollowUp.customer == customer.id).next_date is None
    assert Feedback.get(Feedback.customer == customer.id).content == "（已匿名化）"
    assert {s.reason for s in StatusChange.select().where(StatusChange.customer == customer.id)} == {"（已匿名化）"}
    assert [t.tag.name for t in CustomerTag.select().where(CustomerTag.customer == customer.id)] == ["高消费"]
    task = Task.get(Task.customer == customer.id)
    assert task.status == "done" and task.closed_reason == "anonymised" and task.open_key is None

    # search by the old mobile, name, e-mail and ID number finds nothing (the search index and the digests)
    for term in (NEW_MOBILE, MOBILE, NAME, EMAIL, ID_NUMBER, DUP_MOBILE):
        listing = admin.get(f"/admin/customer/?search={term}").get_data(as_text=True)
        assert CODE not in listing, term
    assert not Customer.select().where(Customer.id_number_digest.in_(sealed.digests(ID_NUMBER))).exists()

    # the undo records hold none of the old values any more
    raw = " ".join(text for (text,) in db.execute_sql("SELECT COALESCE(before, '') || COALESCE(after, '') "
                                                      "FROM import_change").fetchall())
    for value in (NAME, MOBILE, NEW_MOBILE, EMAIL, SECRET_TEXT):
        assert value not in raw, value
    changes = list(ImportChange.select().where(ImportChange.model == "customer"))
    assert all((c.before or {}).get("id_number", {"sealed": None}) == {"sealed": None} for c in changes)
    record = MergeRecord.get()
    data = json.loads(record.data)
    for value in (NAME, NEW_MOBILE, DUP_NAME, DUP_MOBILE, "北京市海淀区隐私路1号"):
        assert value not in record.data, value
    assert data["survivor_before"]["id_number"] is None and data["merged"][0]["id_number"] is None
    assert data["merged"][0]["name"].startswith("已匿名化客户 ")
    report = ImportRun.get().report
    assert NAME not in json.dumps(report, ensure_ascii=False)
    assert report["duplicates"][0]["matches"][0] == {"code": CODE, "name": f"已匿名化客户 {CODE}", "reason": "手机号相同",
                                                     "score": 0.9}

    # the orders, amounts and dates are kept: every report adds up as before
    assert totals() == before
    assert Order.select().where(Order.customer == customer.id).count() == 3

    entry = AuditLog.get(AuditLog.action == "personal-data-erase")
    assert entry.username == "admin" and entry.record_id == str(customer.id)
    for value in (NAME, NEW_MOBILE, MOBILE, EMAIL, ID_NUMBER, BANK, "隐私路"):
        assert value not in entry.changes, value
    assert json.loads(entry.changes)["older_audit_entries_kept"] >= 2

    again = post_erase(admin, Customer.get_by_id(customer.id), CODE).get_data(as_text=True)
    assert "已于" in again and "匿名化" in again  # not twice; nothing to undo
    details = admin.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert 'id="anonymised-note"' in details and 'id="personal-data-erase"' not in details
    admin.get("/lang/en")  # the card follows the interface language
    english = admin.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert "Personal data request" in english and "Export personal data" in english and "Anonymised on" in english


def test_erase_needs_the_permission_and_the_scope(login, subject, users):
    manager = login("manager")
    page = post_erase(manager, subject, CODE).get_data(as_text=True)
    assert "没有匿名化客户个人数据的权限" in page
    assert 'id="personal-data"' not in manager.get(f"/admin/customer/details/?id={subject.id}").get_data(as_text=True)
    grant_personal_data("manager", "delete")  # manager2 (also 销售经理) may now erase, in their own team only
    with pytest.raises(privacy.PrivacyError, match="不在您的数据范围内"):
        privacy.erase(CODE, users["manager2"], confirm=CODE)
    assert Customer.get_by_id(subject.id).name == NAME
    assert not AuditLog.select().where(AuditLog.action == "personal-data-erase").exists()


def invoke(app, *args):
    return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_command_line_export_and_erase_are_audited(app, subject, tmp_path):
    out = tmp_path / "subject.xlsx"
    result = invoke(app, "personal-data", "export", CODE, "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "客户资料" in openpyxl.load_workbook(out).sheetnames
    refused = invoke(app, "personal-data", "export", CODE, "--as", "sales2")
    assert refused.exit_code != 0 and "没有导出客户个人数据的权限" in refused.output
    unconfirmed = invoke(app, "personal-data", "erase", CODE)
    assert unconfirmed.exit_code != 0 and "--yes" in unconfirmed.output
    assert Customer.get_by_id(subject.id).name == NAME
    done = invoke(app, "personal-data", "erase", CODE, "--yes")
    assert done.exit_code == 0, done.output
    assert Customer.get_by_id(subject.id).name == f"已匿名化客户 {CODE}"
    actions = [(e.action, e.username) for e in AuditLog.select().where(AuditLog.action.startswith("personal-data"))
               .order_by(AuditLog.id)]
    assert actions == [("personal-data-export", "cli"), ("personal-data-erase", "cli")]
    listed = invoke(app, "personal-data", "erased", "--since", "2020-01-01")
    assert listed.exit_code == 0 and listed.output.startswith(f"{CODE}\t") and listed.output.strip().endswith("cli")
    assert invoke(app, "personal-data", "erased", "--since", "2999-01-01").output == ""
    assert "--since 应为 YYYY-MM-DD" in invoke(app, "personal-data", "erased", "--since", "昨天").output
    json_out = tmp_path / "after.json"
    assert invoke(app, "personal-data", "export", CODE, "--out", str(json_out)).exit_code == 0
    document = json.loads(json_out.read_text(encoding="utf-8"))
    assert sections(document)["customer"]["rows"][0]["mobile"] is None
    assert NEW_MOBILE not in json_out.read_text(encoding="utf-8")


def test_consent_fields_on_the_form_refuse_a_withdrawal_before_the_consent(login, make_customer):
    customer = make_customer(owner="sales1", name="同意客户")
    rep = login("sales")
    url = f"/admin/customer/edit/?id={customer.id}"
    refused = ps.submit_form(rep, url, {"consent_purpose": "营销短信", "consent_at": "2024-05-01",
                                        "consent_withdrawn_at": "2024-04-01"})
    assert refused.status_code == 200
    assert "撤回同意日期不能早于同意日期" in " ".join(ps.flashed_errors(refused.get_data(as_text=True)))
    assert Customer.get_by_id(customer.id).consent_at is None  # nothing stored
    saved = ps.submit_form(rep, url, {"consent_purpose": "营销短信", "consent_at": "2024-05-01",
                                      "consent_withdrawn_at": "2024-06-30"})
    assert saved.status_code == 302
    stored = Customer.get_by_id(customer.id)
    assert (stored.consent_purpose, stored.consent_at, stored.consent_withdrawn_at) == (
        "营销短信", datetime.date(2024, 5, 1), datetime.date(2024, 6, 30))


def test_an_anonymised_customer_keeps_an_editable_consent(login, subject):
    privacy.erase(CODE, None, confirm=CODE)
    saved = ps.submit_form(login("admin"), f"/admin/customer/edit/?id={subject.id}",
                           {"consent_withdrawn_at": "2024-12-01"})
    assert saved.status_code == 302, ps.flashed_errors(saved.get_data(as_text=True))
    assert Customer.get_by_id(subject.id).consent_withdrawn_at == datetime.date(2024, 12, 1)


def test_an_existing_database_gets_the_new_columns_and_the_admins_the_permission(app, make_customer, make_order):
    """init-db after an upgrade: models.add_missing_columns adds the consent columns in place (rows and their
    orders kept), and seed_policy gives 系统管理员 the new key while no role has it yet."""
    import models
    from access.defaults import seed_policy

    make_order(make_customer(name="老客户"), "10.00")
    for column in ("consent_purpose", "consent_at", "consent_withdrawn_at", "anonymised_at"):
        db.execute_sql(f"ALTER TABLE customer DROP COLUMN {column}")
    models.add_missing_columns()
    assert {"consent_purpose", "consent_at", "consent_withdrawn_at", "anonymised_at"} <= {
        c.name for c in db.get_columns("customer")}
    assert Customer.get(Customer.name == "老客户").consent_at is None and Order.select().count() == 1
    RolePermission.delete().where(RolePermission.model == "personaldata").execute()
    seed_policy()
    holders = {p.role.name for p in RolePermission.select().where(RolePermission.model == "personaldata")}
    assert holders == {"admin"}


def test_reminder_rules_open_no_task_for_an_anonymised_customer(subject, make_customer):
    """The erased customer keeps its rule tag (its orders earned it), but nobody is to contact it."""
    from models import ReminderRule
    from reminders.engine import sweep

    tag = Tag.get(Tag.name == "高消费")
    control = make_customer(owner="sales1", name="对照客户")
    CustomerTag.create(customer=control, tag=tag, source="rule", created_at=datetime.datetime(2024, 1, 1))
    ReminderRule.create(name="高消费客户回访", tag=tag, action="回访", kind="every", days=30)
    privacy.erase(CODE, None, confirm=CODE)
    sweep(today=AS_OF, now=datetime.datetime(2024, 12, 31, 6))
    opened = {t.customer_id for t in Task.select().where(Task.status == "open")}
    assert control.id in opened and subject.id not in opened


def test_anonymised_customers_are_no_data_quality_findings_nor_duplicates(app, make_customer, make_order):
    """No contact, no e-mail and no recent change are what an erase leaves by design: the data-quality scan does
    not list anonymised customers (a batch delete there would take their orders and change every total), and two
    of them are not probable duplicates of each other for their similar placeholder names."""
    import dedup
    import quality
    from quality.scan import matching

    first, second = (make_customer(owner="sales1", name=n, email=f"{i}@example.com", updated_at=datetime.datetime(2020, 1, 1))
                     for i, n in enumerate(("匿名甲", "匿名乙")))
    kept = make_customer(owner="sales1", name="没有邮箱的客户", email=None)
    for customer in (first, second):
        make_order(customer, "10.00", ordered_at=datetime.datetime(2020, 1, 1))
        privacy.erase(customer.code, None, confirm=customer.code, now=datetime.datetime(2020, 6, 1))
    ctx = quality.context(today=AS_OF)  # stale: unchanged for a year, no orders or follow-ups since
    for key in ("missing-contact", "missing-email", "stale"):
        ids = {i for (i,) in matching(quality.get(key), ctx, None).tuples()}
        assert first.id not in ids and second.id not in ids, key
    assert kept.id in {i for (i,) in matching(quality.get("missing-email"), ctx, None).tuples()}
    assert not [g for g in dedup.scan() if first.id in g.ids or second.id in g.ids]
