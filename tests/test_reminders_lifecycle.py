"""Follow-up tasks through a merge of customers, an import undo, and closing by hand (issue 11, part 3):

- a merge moves the merged customers' tasks to the survivor (a delete would have cascaded them), keeps at most one
  open task per customer and rule — the earlier due open, the other closed as a duplicate —, a sweep afterwards
  changes nothing, and the merge's undo puts every task back as it was;
- undoing an import takes back the tasks its follow-ups planned (and a rule task whose clock one of them started)
  and reopens the tasks they closed, unless a follow-up recorded since fulfils them;
- 完成 / 重新打开 on 我的任务: each role through the admin (CSRF, scope, policy), the refusals with their Chinese
  messages changing nothing, the audit, and a rule's clock starting at a completion by hand.
Every day is fixed."""
import datetime
import json

import pytest

import intake
import reminders
from dedup.merge import merge, undo
from models import AuditLog, CustomerTag, FollowUp, ImportChange, Tag, Task, db

DAY = datetime.date(2026, 3, 10)
NOW = datetime.datetime(2026, 3, 10, 4, 0)


def moment(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")


def follow(customer, at, method="电话", next_date=None, user=None):
    """A follow-up saved as the admin does: the record, then its tasks."""
    with db.atomic():
        record = FollowUp.create(customer=customer, at=moment(at), method=method, content="沟通采购计划",
                                 next_date=next_date, user=user)
        reminders.after_followups([record.id], now=record.at)
    return record


def tag(customer, name, at):
    tag_row = Tag.get_or_none(Tag.name == name) or Tag.create(name=name, category="价值", source="rule")
    return CustomerTag.create(customer=customer, tag=tag_row, source="rule", created_at=moment(at))


def state():
    """Every task as a comparable tuple, by id."""
    return {t.id: (t.customer_id, t.status, t.open_key, t.due_on, t.since, t.followup_id, t.assignee_id,
                   t.closed_reason, t.closed_by_id) for t in Task.select().order_by(Task.id)}


def open_of(customer):
    return list(Task.select().where((Task.customer == customer.id) & (Task.status == "open")).order_by(Task.id))


@pytest.fixture
def rules(app):
    return {rule.tag.name: rule for rule in reminders.seed_rules()}


# --- merge ------------------------------------------------------------------------------------------
def test_a_merge_moves_the_tasks_keeps_the_earlier_due_open_and_its_undo_restores_them(app, rules, users,
                                                                                     make_customer):
    keep = make_customer(owner="sales1", name="深圳华为技术有限公司")
    gone = make_customer(owner="sales2", name="深圳華為技術有限公司")
    follow(gone, "2026-03-01 10:00", next_date=datetime.date(2026, 3, 3))  # planned, then closed: history
    follow(gone, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 15))  # gone's plan, due 03-15
    follow(keep, "2026-03-08 10:00", next_date=datetime.date(2026, 3, 20))  # keep's plan, due 03-20
    tag(gone, "流失风险", "2026-03-05 03:15")  # contact within 30 days: due 04-04
    tag(keep, "流失风险", "2026-03-09 03:15")  # due 04-08
    reminders.sweep(today=DAY, now=NOW)
    before = state()
    assert len(before) == 5 and sum(1 for row in before.values() if row[1] == "open") == 4
    keep_plan, keep_rule = (t.id for t in open_of(keep))
    gone_plan, gone_rule = (t.id for t in open_of(gone))
    rule = rules["流失风险"].id

    record = merge(keep.id, [gone.id], username="manager", now=datetime.datetime(2026, 3, 10, 9, 0))
    after = state()
    assert set(after) == set(before)  # nothing deleted with the merged-away customer
    assert {row[0] for row in after.values()} == {keep.id}
    kept = {t.open_key: t for t in open_of(keep)}
    assert set(kept) == {f"f:{keep.id}", f"r{rule}:{keep.id}"}
    # the earlier due of each pair stays open (both gone's), on the survivor, for the survivor's owner
    assert (kept[f"f:{keep.id}"].id, kept[f"f:{keep.id}"].due_on) == (gone_plan, datetime.date(2026, 3, 15))
    assert (kept[f"r{rule}:{keep.id}"].id, kept[f"r{rule}:{keep.id}"].due_on) == (gone_rule, datetime.date(2026, 4, 4))
    assert {t.assignee_id for t in kept.values()} == {users["sales1"].id}
    for task_id in (keep_plan, keep_rule):
        closed = Task.get_by_id(task_id)
        assert (closed.status, closed.closed_reason, closed.open_key) == ("done", "merged", None)
        assert dict(Task.closed_reason.choices)["merged"] == "合并客户时关闭：与保留客户的任务重复"
    changes = json.loads(AuditLog.get(AuditLog.action == "merge").changes)
    assert (changes["tasks_moved"], changes["tasks_closed_as_duplicates"]) == (3, 2)

    # the follow-ups that came along do not close the kept tasks, nor does the sweep open another
    result = reminders.sweep(today=DAY, now=datetime.datetime(2026, 3, 10, 10, 0))
    assert (result.opened, result.closed) == (0, 0)
    assert {t.id for t in open_of(keep)} == {gone_plan, gone_rule}

    undo(record.id, username="manager")
    assert state() == before


def test_a_merge_moves_open_tasks_without_a_clash_and_the_database_keeps_one_open_per_rule(app, rules, users,
                                                                                          make_customer):
    keep = make_customer(owner="sales1")
    one, two = make_customer(owner="sales1"), make_customer(owner="sales2")
    follow(one, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 18))
    follow(two, "2026-03-03 10:00", next_date=datetime.date(2026, 3, 12))
    tag(two, "高价值", "2026-03-01 03:15")
    reminders.sweep(today=DAY, now=NOW)
    before = state()

    record = merge(keep.id, [one.id, two.id], username="admin", now=datetime.datetime(2026, 3, 10, 9, 0))
    open_now = open_of(keep)
    assert sorted((t.open_key, t.due_on) for t in open_now) == sorted([
        (f"f:{keep.id}", datetime.date(2026, 3, 12)), (f"r{rules['高价值'].id}:{keep.id}", datetime.date(2026, 5, 30))])
    assert Task.get(Task.closed_reason == "merged").due_on == datetime.date(2026, 3, 18)
    assert {t.assignee_id for t in open_now} == {users["sales1"].id}
    result = reminders.sweep(today=DAY, now=datetime.datetime(2026, 3, 10, 10, 0))
    assert (result.opened, result.closed) == (0, 0)
    undo(record.id, username="admin")
    assert state() == before


def test_the_undo_of_a_merge_leaves_tasks_changed_since_as_they_are(app, rules, make_customer):
    keep, gone = make_customer(owner="sales1"), make_customer(owner="sales1")
    follow(keep, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 20))
    follow(gone, "2026-03-03 10:00", next_date=datetime.date(2026, 3, 12))
    record = merge(keep.id, [gone.id], username="admin", now=datetime.datetime(2026, 3, 10, 9, 0))
    (kept,) = open_of(keep)
    # a follow-up recorded on the survivor after the merge closes the kept plan and plans the next one
    latest = follow(keep, "2026-03-11 10:00", next_date=datetime.date(2026, 3, 25))
    undo(record.id, username="admin")
    moved_back = Task.get_by_id(kept.id)
    assert (moved_back.customer_id, moved_back.status, moved_back.closed_by_id) == (gone.id, "done", latest.id)
    # keep's own plan stays closed as a duplicate: its key is held by the plan made after the merge
    (open_plan,) = open_of(keep)
    assert open_plan.followup_id == latest.id and open_of(gone) == []


# --- import undo -----------------------------------------------------------------------------------
def _import(app, tmp_path, text, header="客户编号,跟进时间,跟进方式,跟进内容,下次跟进时间"):
    path = tmp_path / "跟进.csv"
    path.write_text(header + "\n" + text, encoding="utf-8")
    with app.app_context():
        report = intake.import_file(str(path), "followups")
    assert report.ok, report.summary()
    return report


def test_undoing_an_import_takes_its_tasks_back_and_reopens_what_its_follow_ups_closed(app, tmp_path, rules,
                                                                                    make_customer):
    one = make_customer(owner="sales1", code="HB-IT-2024-001")
    make_customer(owner="sales2", code="HB-IT-2024-002")
    three = make_customer(owner="sales1", code="HB-IT-2024-003")
    follow(one, "2026-03-01 10:00", next_date=datetime.date(2026, 3, 5))
    tag(three, "高价值", "2026-03-01 03:15")  # a visit every 90 days: due 05-30
    reminders.sweep(today=DAY, now=NOW)
    before = state()
    (plan,) = open_of(one)
    (visit,) = open_of(three)

    report = _import(app, tmp_path, "HB-IT-2024-001,2026-03-06 10:00,电话,已回访,2026-03-20\n"
                                    "HB-IT-2024-002,2026-03-06 11:00,邮件,寄送报价,2026-03-13\n"
                                    "HB-IT-2024-003,2026-03-08 15:00,拜访,上门拜访,\n")
    assert Task.get_by_id(plan.id).status == "done" and Task.get_by_id(visit.id).status == "done"
    reminders.sweep(today=DAY, now=datetime.datetime(2026, 3, 10, 5, 0))  # the visit starts the next quarter
    (next_visit,) = open_of(three)
    assert next_visit.due_on == datetime.date(2026, 6, 6)
    assert Task.select().where(Task.status == "open").count() == 3

    intake.undo(report.batch_id)
    assert state() == before  # the import's plans and the next visit gone, the closed plan and visit open again
    changes = json.loads(AuditLog.get(AuditLog.action == "import-undo").changes)
    assert changes["tasks"]["deleted"] == 3 and changes["tasks"]["reopened"] == 2
    result = reminders.sweep(today=DAY, now=datetime.datetime(2026, 3, 10, 6, 0))
    assert (result.opened, result.closed) == (0, 0)


def test_a_follow_up_recorded_after_the_import_closes_the_reopened_task_again(app, tmp_path, make_customer):
    one = make_customer(owner="sales1", code="HB-IT-2024-001")
    first = follow(one, "2026-03-01 10:00", next_date=datetime.date(2026, 3, 5))
    (plan,) = open_of(one)
    report = _import(app, tmp_path, "HB-IT-2024-001,2026-03-06 10:00,电话,已回访,2026-03-20\n")
    later = follow(one, "2026-03-08 10:00")  # closes the import's plan
    assert open_of(one) == []
    intake.undo(report.batch_id)
    reopened = Task.get_by_id(plan.id)
    assert (reopened.status, reopened.closed_by_id, reopened.followup_id) == ("done", later.id, first.id)
    assert open_of(one) == [] and Task.select().count() == 1
    assert ImportChange.select().where(ImportChange.batch == report.batch_id).count() == 1


# --- 完成 / 重新打开 by hand ----------------------------------------------------------------------------
@pytest.fixture
def book(app, users, make_customer):
    """An open plan for one customer of each of sales1, sales2 (manager's team) and sales3 (manager2's)."""
    made = {}
    for owner in ("sales1", "sales2", "sales3"):
        customer = make_customer(owner=owner, name=f"{owner}的客户")
        follow(customer, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 9), user=users[owner])
        made[owner] = Task.get(Task.customer == customer.id)
    return made


@pytest.mark.parametrize("role, owner", [("sales", "sales1"), ("manager", "sales2"), ("admin", "sales3")])
def test_each_role_completes_a_task_in_its_scope_with_a_note_and_reopens_it(app, login, book, role, owner):
    client = login(role)
    task = book[owner]
    response = client.submit("/admin/tasks/complete/", {"task_id": str(task.id), "note": "客户来电，已确认需求"},
                             form_url="/admin/tasks/")
    assert response.status_code == 302
    done = Task.get_by_id(task.id)
    username = {"sales": "sales1", "manager": "manager", "admin": "admin"}[role]
    assert (done.status, done.closed_reason, done.open_key, done.closed_user, done.closed_note) == (
        "done", "manual", None, username, "客户来电，已确认需求")
    entry = AuditLog.get((AuditLog.action == "task-done") & (AuditLog.record_id == str(task.id)))
    assert entry.username == username and json.loads(entry.changes)["note"] == "客户来电，已确认需求"
    page = client.get("/admin/tasks/").get_data(as_text=True)
    assert f"已完成任务“按计划跟进”（{owner}的客户）" in page and "最近手动完成" in page and "客户来电，已确认需求" in page

    response = client.submit("/admin/tasks/reopen/", {"task_id": str(task.id)}, form_url="/admin/tasks/")
    assert response.status_code == 302
    again = Task.get_by_id(task.id)
    assert (again.status, again.open_key, again.closed_reason, again.closed_user) == (
        "open", f"f:{task.customer_id}", None, None)
    assert AuditLog.select().where(AuditLog.action == "task-reopen", AuditLog.username == username).count() == 1
    assert "已重新打开任务" in client.get("/admin/tasks/").get_data(as_text=True)


@pytest.mark.parametrize("role, owner", [("sales", "sales2"), ("manager", "sales3")])
def test_a_task_out_of_scope_is_refused_and_nothing_changes(app, login, book, role, owner):
    client = login(role)
    before = state()
    response = client.submit("/admin/tasks/complete/", {"task_id": str(book[owner].id)}, form_url="/admin/tasks/",
                             follow_redirects=True)
    assert "任务不存在或不在您的数据范围内" in response.get_data(as_text=True)
    assert state() == before and not AuditLog.select().where(AuditLog.model == "task",
                                                             AuditLog.action == "task-done").exists()


def test_service_may_not_close_tasks(app, login, book):
    client = login("service")
    before = state()
    response = client.submit("/admin/tasks/complete/", {"task_id": str(book["sales1"].id)},
                             form_url="/admin/followup/new/")  # a page with a token for service
    assert response.status_code == 403 and state() == before


def test_a_manager_without_task_edit_gets_403(app, login, book):
    from access.policy import bump_version
    from models import Role, RolePermission

    RolePermission.update(can_edit=False).where((RolePermission.model == "task") & (
        RolePermission.role == Role.get(Role.name == "manager"))).execute()
    bump_version()
    client = login("manager")
    page = client.get("/admin/tasks/").get_data(as_text=True)
    assert "sales1的客户" in page and "/admin/tasks/complete/" not in page  # the list, without 完成
    before = state()
    response = client.submit("/admin/tasks/complete/", {"task_id": str(book["sales1"].id)},
                             form_url="/admin/followup/new/")
    assert response.status_code == 403 and state() == before


def test_refusals_have_chinese_messages_and_change_nothing(app, login, book, users, make_customer):
    client = login("sales")
    task = book["sales1"]
    # no CSRF token
    response = client.post("/admin/tasks/complete/", data={"task_id": str(task.id)}, follow_redirects=True)
    assert "表单已过期" in response.get_data(as_text=True) and Task.get_by_id(task.id).status == "open"
    # a note too long, an id that is no number
    for data, message in (({"task_id": str(task.id), "note": "很" * 501}, "备注过长：最多 500 个字符"),
                          ({"task_id": "abc"}, "任务不存在或不在您的数据范围内")):
        response = client.submit("/admin/tasks/complete/", data, form_url="/admin/tasks/", follow_redirects=True)
        assert message in response.get_data(as_text=True) and Task.get_by_id(task.id).status == "open"
    # closed already (by a follow-up): completing it again and reopening it are refused
    follow(task.customer, "2026-03-09 10:00", user=users["sales1"])
    before = state()
    response = client.submit("/admin/tasks/complete/", {"task_id": str(task.id)}, form_url="/admin/followup/new/",
                             follow_redirects=True)
    assert "已完成" in response.get_data(as_text=True) and "无需再次完成" in response.get_data(as_text=True)
    response = client.submit("/admin/tasks/reopen/", {"task_id": str(task.id)}, form_url="/admin/followup/new/",
                             follow_redirects=True)
    assert "只能重新打开手动完成的任务" in response.get_data(as_text=True)
    assert state() == before


def test_a_task_completed_by_hand_cannot_reopen_beside_a_newer_open_one(app, users, book, make_customer):
    task = book["sales1"]
    reminders.complete(task.id, users["sales1"], note="电话里说了", now=datetime.datetime(2026, 3, 9, 11, 0))
    with pytest.raises(reminders.TaskRefused, match="已完成"):
        reminders.complete(task.id, users["sales1"])
    follow(task.customer, "2026-03-10 10:00", next_date=datetime.date(2026, 3, 30), user=users["sales1"])
    with pytest.raises(reminders.TaskRefused, match="已有同一来源的未完成任务"):
        reminders.reopen(task.id, users["sales1"])
    assert Task.get_by_id(task.id).closed_reason == "manual"


def test_a_rule_task_completed_by_hand_starts_the_rules_clock(app, rules, users, make_customer):
    customer = make_customer(owner="sales1")
    tag(customer, "高价值", "2026-03-01 03:15")  # a visit every 90 days
    reminders.sweep(today=DAY, now=NOW)
    (task,) = open_of(customer)
    assert task.due_on == datetime.date(2026, 5, 30)
    reminders.complete(task.id, users["sales1"], now=datetime.datetime(2026, 3, 12, 16, 0))
    result = reminders.sweep(today=datetime.date(2026, 3, 13), now=datetime.datetime(2026, 3, 13, 4, 0))
    (nxt,) = open_of(customer)
    assert result.opened == 1 and nxt.id != task.id and nxt.due_on == datetime.date(2026, 6, 10)
    again = reminders.sweep(today=datetime.date(2026, 3, 13), now=datetime.datetime(2026, 3, 13, 5, 0))
    assert (again.opened, again.closed) == (0, 0)
    with pytest.raises(reminders.TaskRefused, match="已有同一来源的未完成任务"):
        reminders.reopen(task.id, users["sales1"])



def test_undoing_an_import_that_changed_a_follow_ups_next_date_moves_its_plan_back(app, tmp_path, make_customer):
    one = make_customer(owner="sales1", code="HB-IT-2024-001")
    two = make_customer(owner="sales1", code="HB-IT-2024-002")
    moved = follow(one, "2026-03-01 10:00", next_date=datetime.date(2026, 3, 9))
    cleared = follow(two, "2026-03-01 11:00", next_date=datetime.date(2026, 3, 9))
    before = state()
    report = _import(app, tmp_path, f"{moved.record_no},{one.code},2026-03-01 10:00,电话,沟通采购计划,2026-03-16\n"
                                    f"{cleared.record_no},{two.code},2026-03-01 11:00,电话,沟通采购计划,\n",
                     header="记录ID,客户编号,跟进时间,跟进方式,跟进内容,下次跟进时间")
    assert (report.updated, report.unchanged) == (1, 1)  # an empty cell keeps the date: an import never clears it
    assert Task.get(Task.customer == one.id).due_on == datetime.date(2026, 3, 16)
    intake.undo(report.batch_id)
    assert state() == before
