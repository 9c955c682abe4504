"""Scan scope per role, batch fix and delete through the policy and models.standardise, the audit
trail, the monthly job and the command line.  Dates are fixed (TODAY)."""
import datetime
import json

import pytest

import access
import jobs
import quality
from models import AuditLog, Customer, FollowUp, Order, QualityRun, User
from tests.conftest import ROLE_USERS

TODAY = datetime.date(2025, 6, 15)


def user(role):
    return User.get(User.username == ROLE_USERS[role])


@pytest.fixture
def bad_mobiles(make_customer):
    """Customers with a mobile typed in full-width digits, one per owner."""
    return {owner: make_customer(owner=owner, mobile="13８12345678", phone="010-62345678")
            for owner in ("sales1", "sales2", "sales3", "manager2")}


def test_scan_counts_within_each_roles_row_scope(bad_mobiles):
    everyone = quality.scan(None, today=TODAY)["invalid-mobile"]
    assert everyone == 4
    for role in ("admin", "manager", "sales"):
        someone = user(role)
        allowed = access.owner_ids(someone, access.grant_for(someone))
        expected = sum(1 for c in bad_mobiles.values() if allowed is None or c.owner_id in allowed)
        assert quality.scan(someone, today=TODAY)["invalid-mobile"] == expected, role
        listed = quality.records("invalid-mobile", someone, today=TODAY)
        assert listed["total"] == expected
        assert {row["id"] for row in listed["rows"]} == {c.id for c in bad_mobiles.values()
                                                         if allowed is None or c.owner_id in allowed}
    assert quality.scan(user("sales"), today=TODAY)["invalid-mobile"] == 1


def test_findings_on_hidden_columns_or_unviewable_models_are_left_out(bad_mobiles):
    service = user("service")
    grant = access.grant_for(service)
    reached = {item.key for item in quality.findings_for(service)}
    for item in quality.findings.available():
        hidden = any(not grant.visible(item.policy_key, c) for c in item.columns)
        assert (item.key in reached) == (grant.can(item.policy_key, "view") and not hidden), item.key


def test_records_mask_what_the_role_sees_masked(bad_mobiles):
    listed = quality.records("invalid-mobile", user("service"), today=TODAY)
    assert all("*" in row["values"]["mobile"] for row in listed["rows"])
    listed = quality.records("invalid-mobile", user("admin"), today=TODAY)
    assert {row["values"]["mobile"] for row in listed["rows"]} == {"13８12345678"}


def test_records_are_paginated(make_customer):
    for _ in range(7):
        make_customer(email=None)
    first = quality.records("missing-email", None, today=TODAY, page=1, per_page=3)
    last = quality.records("missing-email", None, today=TODAY, page=3, per_page=3)
    assert first["total"] == 7 and first["pages"] == 3 and len(first["rows"]) == 3 and len(last["rows"]) == 1
    assert not {r["id"] for r in first["rows"]} & {r["id"] for r in last["rows"]}


def test_fix_sets_the_standardised_value_on_selected_rows_and_audits_each(bad_mobiles):
    admin = user("admin")
    one, two = bad_mobiles["sales1"], bad_mobiles["sales2"]
    preview = quality.fix("invalid-mobile", "mobile", "+86 139-0000-1111", admin, ids=[one.id, two.id], dry_run=True,
                          today=TODAY)
    assert preview.rows == 2 and Customer.get_by_id(one.id).mobile == "13８12345678"
    outcome = quality.fix("invalid-mobile", "mobile", "+86 139-0000-1111", admin, ids=[one.id, two.id], today=TODAY)
    assert outcome.rows == 2 and outcome.value == "13900001111"
    assert Customer.get_by_id(one.id).mobile == "13900001111"
    assert Customer.get_by_id(bad_mobiles["sales3"].id).mobile == "13８12345678"  # not selected
    entries = {e.record_id: json.loads(e.changes) for e in AuditLog.select().where(
        (AuditLog.action == "update") & (AuditLog.model == "customer") & (AuditLog.username == "admin"))}
    assert entries == {str(one.id): {"mobile": ["13８12345678", "13900001111"]},
                       str(two.id): {"mobile": ["13８12345678", "13900001111"]}}
    summary = AuditLog.get(AuditLog.action == "quality-fix")
    assert summary.record_id == "invalid-mobile" and summary.rows == 2


def test_fix_of_every_row_is_limited_to_the_scope(bad_mobiles):
    manager = user("manager")
    allowed = access.owner_ids(manager, access.grant_for(manager))
    outcome = quality.fix("invalid-mobile", "mobile", "13900002222", manager, everything=True, today=TODAY)
    changed = {c.id for c in bad_mobiles.values() if c.owner_id in allowed}
    assert set(outcome.ids) == changed and 0 < len(changed) < 4
    for customer in bad_mobiles.values():
        expected = "13900002222" if customer.id in changed else "13８12345678"
        assert Customer.get_by_id(customer.id).mobile == expected


def test_ids_outside_the_finding_or_scope_are_ignored(bad_mobiles, make_customer):
    fine = make_customer(owner="sales1")
    # sales may not fix (quality edit is not in its defaults): refused before any row is read
    with pytest.raises(quality.Refused):
        quality.fix("invalid-mobile", "mobile", "13900003333", user("sales"), ids=[fine.id], today=TODAY)
    outcome = quality.fix("invalid-mobile", "mobile", "13900003333", user("manager"),
                          ids=[fine.id, bad_mobiles["sales3"].id, bad_mobiles["sales1"].id], today=TODAY)
    assert outcome.ids == [bad_mobiles["sales1"].id]
    assert Customer.get_by_id(fine.id).mobile != "13900003333"


@pytest.mark.parametrize("key,column,value,message", [
    ("invalid-mobile", "mobile", "13８1234567", "手机号码格式不正确"),
    ("invalid-mobile", "mobile", "", "手机号码和电话至少填写一项"),
    ("unlisted-industry", "industry", "不存在的行业", "不在列表中"),
    ("first-contact-date", "first_contact", "2031-01-01", "不能在未来"),
    ("first-contact-date", "first_contact", "2024-02-30", "日期不存在"),
])
def test_an_invalid_fixed_value_is_refused_and_nothing_changes(make_customer, key, column, value, message):
    customer = make_customer(mobile="13８12345678", phone=None, industry="IT",
                             first_contact=datetime.date(2030, 1, 1))
    before = Customer.get_by_id(customer.id).__data__
    audit_rows = AuditLog.select().count()
    with pytest.raises(quality.Refused, match=message):
        quality.fix(key, column, value, user("admin"), everything=True, today=TODAY)
    assert Customer.get_by_id(customer.id).__data__ == before
    assert AuditLog.select().count() == audit_rows


def test_list_synonyms_are_standardised_by_a_fix(make_customer):
    from models import Choice

    entry = Choice.get((Choice.kind == "industry") & (Choice.name == "互联网"))
    entry.aliases = "IT,信息技术"
    entry.save()
    odd = make_customer(industry="电商平台")
    outcome = quality.fix("unlisted-industry", "industry", "信息技术", user("admin"), ids=[odd.id], today=TODAY)
    assert outcome.value == "互联网" and Customer.get_by_id(odd.id).industry == "互联网"


def test_fix_needs_a_writable_column_and_a_fixable_one(bad_mobiles):
    with pytest.raises(quality.Refused, match="不能批量修改"):
        quality.fix("invalid-mobile", "name", "x", user("admin"), everything=True, today=TODAY)
    access_rule = __import__("models").ColumnRule
    role = user("manager").role
    access_rule.create(role=role, model="customer", column="mobile", access="readonly")
    access.bump_version()
    with pytest.raises(quality.Refused, match="不能修改"):
        quality.fix("invalid-mobile", "mobile", "13900004444", user("manager"), everything=True, today=TODAY)


def test_follow_up_next_date_fix_must_not_precede_the_follow_up(make_customer):
    customer = make_customer()
    row = FollowUp.create(customer=customer, at=datetime.datetime(2025, 3, 5, 9), method="电话", content="x",
                          next_date=datetime.date(2025, 3, 1))
    with pytest.raises(quality.Refused, match="下次跟进时间不能早于"):
        quality.fix("followup-next-before", "next_date", "2025-03-04", user("admin"), ids=[row.id], today=TODAY)
    quality.fix("followup-next-before", "next_date", "2025年3月12日", user("admin"), ids=[row.id], today=TODAY)
    assert FollowUp.get_by_id(row.id).next_date == datetime.date(2025, 3, 12)


def test_batch_delete_removes_rows_with_their_dependents_and_audits(bad_mobiles, make_order):
    admin = user("admin")
    victim = bad_mobiles["sales1"]
    order = make_order(victim)
    FollowUp.create(customer=victim, method="电话", content="x")
    assert quality.delete("invalid-mobile", admin, ids=[victim.id], dry_run=True).rows == 1
    assert Customer.get_or_none(Customer.id == victim.id) is not None
    outcome = quality.delete("invalid-mobile", admin, ids=[victim.id], today=TODAY)
    assert outcome.rows == 1
    assert Customer.get_or_none(Customer.id == victim.id) is None
    assert Order.get_or_none(Order.id == order.id) is None
    assert FollowUp.select().where(FollowUp.customer == victim.id).count() == 0
    entry = AuditLog.get((AuditLog.action == "delete") & (AuditLog.record_id == str(victim.id)))
    assert json.loads(entry.changes)["mobile"] == ["13８12345678", None]
    assert AuditLog.get(AuditLog.action == "quality-delete").rows == 1


def test_batch_delete_needs_the_delete_permission(bad_mobiles):
    with pytest.raises(quality.Refused, match="删除"):
        quality.delete("invalid-mobile", user("sales"), everything=True, today=TODAY)
    assert Customer.select().where(Customer.id.in_([c.id for c in bad_mobiles.values()])).count() == 4


def test_sensitive_values_are_masked_in_the_audit(make_customer):
    customer = make_customer(mobile="13８12345678", phone="010-1", id_number="110101199001011234")
    quality.delete("invalid-mobile", user("admin"), ids=[customer.id], today=TODAY)
    entry = AuditLog.get((AuditLog.action == "delete") & (AuditLog.record_id == str(customer.id)))
    assert "110101199001011234" not in (entry.changes or "")


def test_monthly_job_records_a_scan(app, bad_mobiles):
    jobs.discover()
    job = jobs.get("quality-scan")
    assert job.schedule == "0 6 1 * *" and job.description == "每月数据质量扫描"
    assert job.next_run(datetime.datetime(2025, 6, 15, 12, 0)) == datetime.datetime(2025, 7, 1, 6, 0)
    run = quality.tasks.monthly_scan(today=TODAY)
    stored = QualityRun.get_by_id(run.id)
    assert stored.username is None and stored.trigger == "schedule" and stored.today == TODAY
    assert stored.count_map()["invalid-mobile"] == 4
    assert quality.last_run().id == run.id
    finished = jobs.execute("quality-scan", slot="quality-scan@2025-07-01 06:00")
    assert finished.status == "success" and QualityRun.select().count() == 2


def test_command_line_prints_counts_and_json(app, bad_mobiles):
    runner = app.test_cli_runner()
    from run import cli

    result = runner.invoke(cli, ["quality", "--today", "2025-06-15"])
    assert result.exit_code == 0, result.output
    assert "手机号码格式错误" in result.output and "4" in result.output
    result = runner.invoke(cli, ["quality", "--json", "--as", "sales1", "--today", "2025-06-15"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["today"] == "2025-06-15" and data["user"] == "sales1"
    assert {f["key"]: f["count"] for f in data["findings"]}["invalid-mobile"] == 1
    assert runner.invoke(cli, ["quality", "--today", "15.6.2025"]).exit_code != 0
    assert runner.invoke(cli, ["quality", "--as", "nobody"]).exit_code != 0
