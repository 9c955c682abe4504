"""The audit trail (issue 12 part 3, docs/audit.md): the database refuses UPDATE and DELETE of audit_log
on SQLite and PostgreSQL alike, the retention job is the one way old entries leave (audited), a restore
still works and keeps the triggers, deletes record the values deleted (sensitive ones masked) in every
delete path, role and policy changes record before and after, and the audit screen filters within the
policy."""
import datetime
import json

import peewee
import pytest

import access
import backup
import jobs
import models
from audittrail import retention
from models import AuditLog, AuditPermit, ColumnRule, Customer, Role, RolePermission, db
from tests import policy_support as ps

NOW = datetime.datetime(2026, 12, 7, 3, 45)
ID_NUMBER = "110101199001011234"
BANK = "6222020200112233445"


def entry(at, action="update", username="admin", model="customer", record_id="1"):
    return AuditLog.create(at=at, action=action, username=username, model=model, record_id=record_id)


def refused(sql, params=()):
    """True when the database refuses `sql` (and the refusal rolled back, nothing changed)."""
    sql = sql.replace("?", db.obj.param)  # psycopg's placeholder is %s
    try:
        with db.atomic():
            db.execute_sql(sql, params)
    except peewee.DatabaseError as error:
        return "审计日志只能追加" in str(error) or "清理许可不能修改" in str(error)
    return False


# --- append-only, in the database ---------------------------------------------------------
def test_raw_update_and_delete_of_the_audit_log_are_refused(app):
    with app.app_context():
        assert models.audit.installed()
        old = entry(datetime.datetime(2001, 1, 1))
        entry(NOW)
        assert refused("UPDATE audit_log SET action = 'forged'")
        assert refused("UPDATE audit_log SET at = ? WHERE id = ?", (datetime.datetime(1999, 1, 1), old.id))
        assert refused("DELETE FROM audit_log")
        assert refused("DELETE FROM audit_log WHERE id = ?", (old.id,)), "old, but no permit"
        with pytest.raises(peewee.DatabaseError):
            with db.atomic():
                AuditLog.delete().where(AuditLog.id == old.id).execute()
        assert AuditLog.select().count() == 2
        assert {e.action for e in AuditLog.select()} == {"update"}


def test_a_permit_allows_deleting_only_entries_older_than_its_moment_and_cannot_be_moved(app):
    with app.app_context():
        old, young = entry(datetime.datetime(2020, 1, 1)), entry(datetime.datetime(2025, 1, 1))
        with pytest.raises(peewee.DatabaseError):
            with db.atomic():
                AuditPermit.create(before=datetime.datetime(2021, 1, 1))
                db.execute_sql("DELETE FROM audit_log")  # the young entry is not covered: all refused
        assert AuditLog.select().count() == 2
        with db.atomic() as txn:
            permit = AuditPermit.create(before=datetime.datetime(2021, 1, 1))
            assert refused("UPDATE audit_permit SET before = ?", (datetime.datetime(2030, 1, 1),))
            db.execute_sql(f"DELETE FROM audit_log WHERE id = {db.obj.param}", (old.id,))
            txn.rollback()
        assert {e.id for e in AuditLog.select()} == {old.id, young.id}
        assert permit.id and AuditPermit.select().count() == 0


def test_an_existing_database_gets_the_triggers_from_the_migration_step(app):
    with app.app_context():
        if models.is_sqlite():
            for name in models.audit.SQLITE_TRIGGERS:
                db.execute_sql(f"DROP TRIGGER {name}")
        else:
            db.execute_sql("DROP TRIGGER audit_log_append_only ON audit_log")
            db.execute_sql("DROP TRIGGER audit_permit_fixed ON audit_permit")
        entry(NOW)
        assert not models.audit.installed() and not refused("UPDATE audit_log SET ip = NULL")
        models.create_tables()  # what init-db runs on an existing database
        assert models.audit.installed()
        assert refused("UPDATE audit_log SET ip = NULL") and refused("DELETE FROM audit_log")


# --- retention ----------------------------------------------------------------------------
def test_retention_deletes_only_entries_older_than_the_period_and_is_audited(app):
    with app.app_context():
        cut = NOW - datetime.timedelta(days=1095)
        gone = [entry(cut - datetime.timedelta(days=400)), entry(cut - datetime.timedelta(seconds=1))]
        kept = [entry(cut), entry(cut + datetime.timedelta(days=1)), entry(NOW - datetime.timedelta(hours=1))]

        purged = retention.purge(now=NOW)

        assert (purged.rows, purged.before, purged.days) == (2, cut, 1095)
        left = {e.id for e in AuditLog.select().where(AuditLog.action == "update")}
        assert left == {e.id for e in kept} and not left & {e.id for e in gone}
        record = AuditLog.get(AuditLog.action == "retention")
        assert record.username == "system" and record.rows == 2 and record.at == NOW
        assert json.loads(record.changes) == {"deleted": 2, "before": "2023-12-08 03:45:00", "days": 1095}
        assert AuditPermit.select().count() == 0, "the permit leaves with the purge"
        assert refused("DELETE FROM audit_log"), "outside the purge, deletes are refused again"

        assert retention.purge(now=NOW).rows == 0
        assert AuditLog.select().where(AuditLog.action == "retention").count() == 1, "nothing deleted, nothing logged"


def test_the_period_comes_from_audit_retention_days_and_a_bad_value_deletes_nothing(app, monkeypatch):
    with app.app_context():
        entry(NOW - datetime.timedelta(days=40))
        monkeypatch.setenv("AUDIT_RETENTION_DAYS", "一年")
        with pytest.raises(retention.RetentionError, match="AUDIT_RETENTION_DAYS 应为不小于 1 的整数"):
            retention.purge(now=NOW)
        monkeypatch.setenv("AUDIT_RETENTION_DAYS", "0")
        with pytest.raises(retention.RetentionError):
            retention.purge(now=NOW)
        assert AuditLog.select().count() == 1
        monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
        assert retention.purge(now=NOW).rows == 1


def test_the_daily_job_purges_on_a_real_worker(app, worker):
    from tests.test_jobs_probe import wait_finished

    job = jobs.get("audit-retention")
    assert job.enabled and job.schedule == "45 3 * * *"
    with app.app_context():
        entry(datetime.datetime(2001, 1, 1))
        entry(datetime.datetime.now())
        run = jobs.run_now("audit-retention", username="admin")
        (finished,) = wait_finished([run.id], timeout=120)
        assert finished.status == "success", finished.error
        assert AuditLog.select().where(AuditLog.at < datetime.datetime(2002, 1, 1)).count() == 0
        assert AuditLog.get(AuditLog.action == "retention").rows == 1
        assert AuditLog.select().where(AuditLog.action == "update").count() == 1


# --- restore ------------------------------------------------------------------------------
def test_a_restore_rewrites_the_audit_log_and_keeps_it_append_only(app, tmp_path):
    with app.app_context():
        entry(datetime.datetime(2026, 1, 1), record_id="before-backup")
        made = backup.create(str(tmp_path / "backups"), now=NOW)
        entry(datetime.datetime(2026, 2, 1), record_id="after-backup")
        backup.restore(made.path, force=True)
        records = {e.record_id for e in AuditLog.select().where(AuditLog.action == "update")}
        assert records == {"before-backup"}
        assert AuditLog.get(AuditLog.action == "restore")
        assert models.audit.installed()
        assert refused("DELETE FROM audit_log") and refused("UPDATE audit_log SET ip = NULL")


# --- what deletes and policy changes record -------------------------------------------------
def _deletes(model):
    return {e.record_id: json.loads(e.changes) for e in
            AuditLog.select().where((AuditLog.action == "delete") & (AuditLog.model == model))}


def test_a_delete_in_the_admin_records_the_values_with_sensitive_ones_masked(login, make_customer):
    customer = make_customer(name="删除留痕客户", contact="王经理", id_number=ID_NUMBER, bank_account=BANK,
                             notes="重要客户")
    admin = login("admin")
    response = admin.submit("/admin/customer/delete/", {"id": str(customer.id), "url": "/admin/customer/"},
                            form_url="/admin/customer/")
    assert response.status_code == 302
    values = _deletes("customer")[str(customer.id)]
    assert values["name"] == "删除留痕客户" and values["contact"] == "王经理" and values["notes"] == "重要客户"
    assert values["code"] == customer.code and values["mobile"] == customer.mobile
    assert values["id_number"] == access.mask(ID_NUMBER) == "110***********1234"
    assert values["bank_account"] == access.mask(BANK)
    assert not any(k.endswith("_digest") for k in values)
    text = AuditLog.get(AuditLog.action == "delete").changes
    assert ID_NUMBER not in text and BANK not in text


def test_the_bulk_delete_records_each_row(login, make_customer, make_order):
    doomed = [make_customer(owner="sales1", name=f"批量删除{i}", id_number=f"11010119900101{i:04d}") for i in range(3)]
    spared = make_customer(owner="sales1", name="保留客户")
    orders = [make_order(c, amount="1234.50") for c in doomed[:2]]
    manager = login("manager")
    response = manager.submit("/admin/customer/action/", {"action": "delete", "url": "/admin/customer/",
                                                          "rowid": [str(c.id) for c in doomed]},
                              form_url="/admin/customer/")
    assert response.status_code == 302
    recorded = _deletes("customer")
    assert set(recorded) == {str(c.id) for c in doomed}
    for customer in doomed:
        values = recorded[str(customer.id)]
        assert values["name"] == customer.name and values["id_number"].startswith("110*")
        assert customer.id_number not in json.dumps(values, ensure_ascii=False)
    assert Customer.get_or_none(Customer.id == spared.id)

    client = login("admin")
    order_rows = [make_order(spared, amount="88.00") for _ in range(2)]
    client.submit("/admin/order/action/", {"action": "delete", "url": "/admin/order/",
                                           "rowid": [str(o.id) for o in order_rows]}, form_url="/admin/order/")
    recorded = _deletes("order")
    assert set(recorded) == {str(o.id) for o in order_rows}
    assert all(v["amount"] == "88.00" and v["customer"] == spared.id for v in recorded.values()), recorded
    assert orders  # the cascade of the customers' own orders went with them (delete_instance recursive)


def test_a_column_the_deleting_role_sees_masked_is_masked_in_the_entry(app, login, make_customer):
    role = Role.get(Role.name == "manager")
    ColumnRule.create(role=role, model="customer", column="contact", access="masked")
    access.bump_version()
    customer = make_customer(owner="sales1", contact="张三丰联系人")
    login("manager").submit("/admin/customer/delete/", {"id": str(customer.id), "url": "/admin/customer/"},
                            form_url="/admin/customer/")
    values = _deletes("customer")[str(customer.id)]
    assert values["contact"] == access.mask("张三丰联系人") and "张三丰联系人" not in json.dumps(values, ensure_ascii=False)


def test_a_role_edit_records_the_policy_before_and_after(login):
    admin = login("admin")
    role = Role.get(Role.name == "service")
    url = f"/admin/role/edit/?id={role.id}"
    response = ps.submit_form(admin, url, {"label": "客服", "rule.customer.mobile": "hidden",
                                           "perm.feedback.edit": None})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))

    record = AuditLog.get((AuditLog.model == "role") & (AuditLog.action == "update"))
    assert record.record_id == str(role.id) and record.username == "admin"
    changes = json.loads(record.changes)
    changes.pop("description", None)  # the test's form reader keeps the textarea's leading newline
    assert changes == {
        "label": ["客服专员", "客服"],
        "column.customer.mobile": ["masked", "hidden"],
        "perm.feedback": ["view create edit", "view create"],
    }


def test_deleting_a_role_records_the_policy_it_had(login):
    role = Role.create(name="temp", label="临时角色", row_scope="own")
    RolePermission.create(role=role, model="customer", can_view=True, can_export=True)
    ColumnRule.create(role=role, model="customer", column="mobile", access="masked")
    admin = login("admin")
    response = admin.submit("/admin/role/delete/", {"id": str(role.id), "url": "/admin/role/"}, form_url="/admin/role/")
    assert response.status_code == 302 and Role.get_or_none(Role.id == role.id) is None
    values = _deletes("role")[str(role.id)]
    assert values["label"] == "临时角色" and values["perm.customer"] == "view export"
    assert values["column.customer.mobile"] == "masked"


# --- the audit screen ---------------------------------------------------------------------
def test_the_audit_screen_filters_by_user_table_record_action_and_dates(login):
    a = entry(datetime.datetime(2026, 3, 1, 9), username="manager", model="customer", record_id="7", action="delete")
    b = entry(datetime.datetime(2026, 3, 31, 23, 59), username="sales1", model="order", record_id="7", action="update")
    c = entry(datetime.datetime(2026, 4, 1, 0, 0), username="manager", model="customer", record_id="8", action="export")
    admin = login("admin")

    def _row_of(html, e):
        return f"{e.at:%Y-%m-%d %H:%M}" in html

    def shown(query):
        response = admin.get("/admin/auditlog/?" + query)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        return {e.id for e in (a, b, c) if _row_of(html, e)}

    page = admin.get("/admin/auditlog/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for label in ("用户", "表", "记录", "操作", "日期"):
        assert f">{label}<" in html or f'"{label}"' in html
    assert "/admin/auditlog/delete/" not in html and "/admin/auditlog/new/" not in html
    assert shown("flt0_0=manager") == {a.id, c.id}
    assert shown("flt0_1=order") == {b.id}
    assert shown("flt0_2=7") == {a.id, b.id}
    assert shown("flt0_3=export") == {c.id}
    assert shown("flt0_4=dat") == {b.id}
    assert shown("flt0_5=2026-03-01+to+2026-03-31") == {a.id, b.id}, "both days included"
    assert shown("flt0_6=2026-03-31") == {b.id, c.id}
    assert shown("flt0_7=2026-03-31") == {a.id, b.id}
    assert shown("flt0_0=manager&flt1_5=2026-03-01+to+2026-03-31") == {a.id}
    bad = admin.get("/admin/auditlog/?flt0_5=2026-13-01+to+2026-03-31")
    assert bad.status_code == 200 and all(_row_of(bad.get_data(as_text=True), e) for e in (a, b, c))
    assert "无效的筛选器值" in bad.get_data(as_text=True)


def test_the_audit_screen_is_within_the_policy(login):
    assert login("manager").get("/admin/auditlog/").status_code == 403
    assert login("sales").get("/admin/auditlog/").status_code == 403
    assert login("admin").get("/admin/auditlog/").status_code == 200
    assert login("admin").get("/admin/auditlog/edit/?id=1").status_code in (302, 403, 404)


def test_the_data_quality_batch_delete_records_every_column_masked(app, users, make_customer):
    import quality

    customer = make_customer(mobile="13８12345678", contact="李四", id_number=ID_NUMBER, bank_account=BANK)
    quality.delete("invalid-mobile", users["admin"], ids=[customer.id], today=datetime.date(2026, 12, 7))
    changes = json.loads(AuditLog.get((AuditLog.action == "delete") & (AuditLog.record_id == str(customer.id))).changes)
    assert changes["contact"] == ["李四", None] and changes["name"] == [customer.name, None]
    assert changes["id_number"] == [access.mask(ID_NUMBER), None] and changes["bank_account"] == [access.mask(BANK), None]
    assert not any(k.endswith("_digest") for k in changes)
