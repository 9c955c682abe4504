"""Follow-up tasks and reminder rules (issue 11, part 3): a follow-up's 下次跟进时间 plans a task for the
customer's owner and the next follow-up closes it (admin and import); the reminder rules open at most one task per
customer and rule — sweeping twice, a retried pass, two workers at once, and the database itself refusing a
second open task; 我的任务 within each role's row scope; the rules screen.  Every day is fixed."""
import datetime
import threading

import pytest
from peewee import IntegrityError

import intake
import jobs
import reminders
from models import AuditLog, CustomerTag, FollowUp, ReminderRule, Tag, Task, db
from reminders import engine

DAY = datetime.date(2026, 3, 10)
NOW = datetime.datetime(2026, 3, 10, 4, 0)
TAGGED = datetime.datetime(2026, 3, 1, 3, 15)  # when the rule tags were put on


def moment(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")


def follow(customer, at, method="电话", next_date=None, user=None):
    """A follow-up saved as the admin does: the record, then its tasks (reminders.after_followups)."""
    with db.atomic():
        record = FollowUp.create(customer=customer, at=moment(at) if isinstance(at, str) else at, method=method,
                                 content="沟通采购计划", next_date=next_date, user=user)
        reminders.after_followups([record.id], now=record.at)
    return record


def tag(customer, name, at=TAGGED):
    tag_row = Tag.get_or_none(Tag.name == name) or Tag.create(name=name, category="价值", source="rule")
    return CustomerTag.create(customer=customer, tag=tag_row, source="rule", created_at=at)


def open_tasks(**where):
    query = Task.select().where(Task.status == "open")
    for name, value in where.items():
        query = query.where(getattr(Task, name) == value)
    return list(query.order_by(Task.customer, Task.id))


@pytest.fixture
def rules(app):
    created = reminders.seed_rules()
    return {rule.tag.name: rule for rule in created}


# --- follow-up plans --------------------------------------------------------------------------
def test_a_planned_follow_up_becomes_the_owners_task_and_the_next_follow_up_closes_it(app, users, make_customer):
    customer = make_customer(owner="sales1")
    first = follow(customer, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 9))
    (task,) = open_tasks()
    assert (task.customer_id, task.assignee_id, task.due_on, task.origin, task.followup_id) == (
        customer.id, users["sales1"].id, datetime.date(2026, 3, 9), "followup", first.id)
    assert task.open_key == f"f:{customer.id}"

    second = follow(customer, "2026-03-10 09:30", method="拜访", next_date=datetime.date(2026, 3, 20))
    done = Task.get_by_id(task.id)
    assert (done.status, done.closed_reason, done.closed_by_id, done.open_key) == ("done", "followup", second.id, None)
    (nxt,) = open_tasks()
    assert (nxt.due_on, nxt.followup_id) == (datetime.date(2026, 3, 20), second.id)

    # an older follow-up recorded late neither closes the newer plan nor plans one of its own
    follow(customer, "2026-03-05 15:00", next_date=datetime.date(2026, 3, 6))
    assert [t.id for t in open_tasks()] == [nxt.id]
    # the last follow-up without a 下次跟进时间 closes the plan and leaves nothing open
    last = follow(customer, "2026-03-12 09:00")
    assert open_tasks() == [] and Task.get_by_id(nxt.id).closed_by_id == last.id
    assert AuditLog.select().where((AuditLog.action == "task-sync") & (AuditLog.model == "task")).count() == 3


def test_editing_the_follow_up_moves_its_plan_and_clearing_the_date_closes_it(app, make_customer):
    customer = make_customer(owner="sales2")
    record = follow(customer, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 9))
    FollowUp.update(next_date=datetime.date(2026, 3, 16)).where(FollowUp.id == record.id).execute()
    reminders.after_followups([record.id])
    (task,) = open_tasks()
    assert task.due_on == datetime.date(2026, 3, 16)
    FollowUp.update(next_date=None).where(FollowUp.id == record.id).execute()
    reminders.after_followups([record.id])
    assert open_tasks() == [] and Task.get_by_id(task.id).closed_reason == "plan-removed"


def test_the_admin_follow_up_form_plans_and_closes(app, login, users, make_customer):
    customer = make_customer(owner="sales1")
    client = login("sales")
    response = client.submit("/admin/followup/new/", {"customer": str(customer.id), "method": "电话",
                                                      "content": "电话沟通，下周再约", "at": "2026-03-02 10:00:00",
                                                      "next_date": "2026-03-09"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    (task,) = open_tasks()
    assert (task.assignee_id, task.due_on) == (users["sales1"].id, datetime.date(2026, 3, 9))
    response = client.submit("/admin/followup/new/", {"customer": str(customer.id), "method": "拜访",
                                                      "content": "上门拜访", "at": "2026-03-09 15:00:00"})
    assert response.status_code == 302
    assert open_tasks() == [] and Task.get_by_id(task.id).closed_reason == "followup"
    assert AuditLog.select().where(AuditLog.action == "task-sync", AuditLog.username == "sales1").count() == 2


def test_imported_follow_ups_plan_and_close_tasks(app, tmp_path, users, make_customer):
    one = make_customer(owner="sales1", code="HB-IT-2024-001")
    two = make_customer(owner="sales2", code="HB-IT-2024-002")
    follow(one, "2026-03-01 10:00", next_date=datetime.date(2026, 3, 5))
    path = tmp_path / "跟进.csv"
    path.write_text("客户编号,跟进时间,跟进方式,跟进内容,下次跟进时间\n"
                    "HB-IT-2024-001,2026-03-06 10:00,电话,已回访,2026-03-20\n"
                    "HB-IT-2024-002,2026-03-06 11:00,邮件,寄送报价,2026-03-13\n", encoding="utf-8")
    with app.app_context():
        report = intake.import_file(str(path), "followups")
    assert report.created == 2
    tasks = {t.customer_id: t for t in open_tasks()}
    assert {c: (t.due_on, t.assignee_id, t.created_by) for c, t in tasks.items()} == {
        one.id: (datetime.date(2026, 3, 20), users["sales1"].id, "import"),
        two.id: (datetime.date(2026, 3, 13), users["sales2"].id, "import")}
    assert Task.select().where(Task.status == "done", Task.closed_reason == "followup").count() == 1


# --- reminder rules: at most one open task per customer and rule ---------------------------------
def test_rules_open_one_task_per_customer_and_a_second_sweep_changes_nothing(app, rules, make_customer):
    at_risk, valuable, both, plain = (make_customer(owner="sales1") for _ in range(4))
    tag(at_risk, "流失风险")
    tag(valuable, "高价值")
    tag(both, "流失风险")
    tag(both, "高价值")
    follow(valuable, "2026-02-20 10:00", method="拜访")  # before the tag: the quarter counts from the tag
    first = reminders.sweep(today=DAY, now=NOW)
    assert first.opened == 4 and first.closed == 0
    made = {(t.customer_id, t.rule.tag.name): (t.title, t.due_on) for t in open_tasks(origin="rule")}
    assert made == {
        (at_risk.id, "流失风险"): ("联系客户", datetime.date(2026, 3, 31)),
        (valuable.id, "高价值"): ("上门拜访", datetime.date(2026, 5, 30)),
        (both.id, "流失风险"): ("联系客户", datetime.date(2026, 3, 31)),
        (both.id, "高价值"): ("上门拜访", datetime.date(2026, 5, 30)),
    }
    again = reminders.sweep(today=DAY, now=NOW + datetime.timedelta(hours=1))
    assert (again.opened, again.closed) == (0, 0)
    assert Task.select().count() == 4 and plain.id not in {t.customer_id for t in Task.select()}


def test_the_database_refuses_a_second_open_task_of_a_customer_and_rule(app, rules, make_customer):
    customer = make_customer()
    tag(customer, "流失风险")
    reminders.sweep(today=DAY, now=NOW)
    (task,) = open_tasks()
    values = {"customer": customer, "title": "联系客户", "origin": "rule", "rule": task.rule_id, "due_on": DAY,
              "since": NOW, "created_by": "sweep"}
    with pytest.raises(IntegrityError):
        with db.atomic():
            Task.create(open_key=task.open_key, **values)
    Task.create(status="done", open_key=None, **values)  # closed tasks are history: any number of them
    Task.create(status="done", open_key=None, **values)
    assert len(open_tasks()) == 1


def test_a_pass_that_failed_half_way_leaves_nothing_and_the_retry_opens_each_task_once(app, rules, make_customer):
    customers = [make_customer() for _ in range(3)]
    for customer in customers:
        tag(customer, "流失风险")
        tag(customer, "高价值")
    with pytest.raises(RuntimeError):
        with db.atomic():  # the worker dies after the rules' inserts, before its commit
            reminders.sweep(today=DAY, now=NOW)
            assert len(open_tasks()) == 6
            raise RuntimeError("worker lost")
    assert Task.select().count() == 0
    assert reminders.sweep(today=DAY, now=NOW).opened == 6
    # the job retried after it committed (huey's retry, a second scheduler): nothing new
    assert reminders.sweep(today=DAY, now=NOW).opened == 0
    jobs.discover()
    for _ in range(2):
        assert jobs.execute("reminders").status == "success"
    assert Task.select().count() == 6 and len(open_tasks()) == 6


def test_two_workers_sweeping_at_once_open_each_task_once(app, rules, make_customer):
    customers = [make_customer(owner=("sales1", "sales2", "sales3")[n % 3]) for n in range(30)]
    for customer in customers:
        tag(customer, "流失风险")
        tag(customer, "高价值")
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with db.connection_context():
                start.wait()
                results.append(reminders.sweep(today=DAY, now=NOW))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.opened for r in results) == 60
    assert Task.select().count() == 60 and len(open_tasks()) == 60
    pairs = [(t.customer_id, t.rule_id) for t in Task.select()]
    assert len(set(pairs)) == 60


def test_contact_within_30_days_closes_on_any_follow_up_and_does_not_come_back(app, rules, make_customer):
    customer = make_customer()
    tag(customer, "流失风险")
    reminders.sweep(today=DAY, now=NOW)
    (task,) = open_tasks()
    call = follow(customer, "2026-03-11 10:00", method="电话")
    assert open_tasks() == [] and Task.get_by_id(task.id).closed_by_id == call.id
    # still tagged (the tag rule has not run): no new task for the same time the tag was put on
    assert reminders.sweep(today=DAY + datetime.timedelta(days=1), now=NOW + datetime.timedelta(days=1)).opened == 0
    # the tag goes (untagged: nothing to do) and comes back later: a new task, due 30 days after
    CustomerTag.delete().where(CustomerTag.customer == customer.id).execute()
    reminders.sweep(today=DAY + datetime.timedelta(days=2), now=NOW + datetime.timedelta(days=2))
    tag(customer, "流失风险", at=datetime.datetime(2026, 4, 20, 3, 15))
    reminders.sweep(today=datetime.date(2026, 4, 20), now=datetime.datetime(2026, 4, 20, 4, 0))
    (again,) = open_tasks()
    assert again.due_on == datetime.date(2026, 5, 20) and again.id != task.id


def test_a_visit_every_quarter_recurs_from_the_last_visit_and_a_call_does_not_count(app, rules, make_customer):
    customer = make_customer()
    tag(customer, "高价值")
    reminders.sweep(today=DAY, now=NOW)
    (task,) = open_tasks()
    assert task.due_on == datetime.date(2026, 5, 30) and task.method == "拜访"
    follow(customer, "2026-04-01 10:00", method="电话")
    assert [t.id for t in open_tasks()] == [task.id]  # a phone call is not a visit
    visit = follow(customer, "2026-04-02 10:00", method="拜访")
    assert Task.get_by_id(task.id).closed_by_id == visit.id
    reminders.sweep(today=datetime.date(2026, 4, 3), now=datetime.datetime(2026, 4, 3, 4, 0))
    (nxt,) = open_tasks()
    assert nxt.due_on == datetime.date(2026, 7, 1)  # 90 days after the visit
    assert reminders.sweep(today=datetime.date(2026, 4, 4), now=datetime.datetime(2026, 4, 4, 4, 0)).opened == 0


def test_losing_the_tag_or_disabling_the_rule_closes_the_task(app, rules, users, make_customer):
    one, two = make_customer(), make_customer()
    tag(one, "流失风险")
    tag(two, "流失风险")
    reminders.sweep(today=DAY, now=NOW)
    CustomerTag.delete().where(CustomerTag.customer == one.id).execute()
    result = reminders.sweep(today=DAY, now=NOW)
    assert result.closed == 1 and [t.customer_id for t in open_tasks()] == [two.id]
    assert Task.get(Task.customer == one.id).closed_reason == "untagged"
    rule, _ = reminders.set_enabled(rules["流失风险"].id, False, users["admin"], today=DAY, now=NOW)
    assert not rule.enabled and open_tasks() == []
    assert Task.get(Task.customer == two.id).closed_reason == "rule-off"
    assert AuditLog.select().where(AuditLog.action == "disable", AuditLog.model == "reminderrule").exists()


def test_open_tasks_follow_their_customers_owner(app, users, make_customer):
    customer = make_customer(owner="sales1")
    follow(customer, "2026-03-02 10:00", next_date=datetime.date(2026, 3, 9))
    type(customer).update(owner=users["sales2"]).where(type(customer).id == customer.id).execute()
    assert reminders.sweep(today=DAY, now=NOW).reassigned == 1
    assert open_tasks()[0].assignee_id == users["sales2"].id


# --- 我的任务 within the row scope ---------------------------------------------------------------
@pytest.fixture
def book(app, make_customer):
    """A task overdue, one due today and one upcoming for each rep's customer (sales1, sales2: the manager's
    team; sales3: manager2's)."""
    made = {}
    for owner in ("sales1", "sales2", "sales3"):
        for offset, label in ((-3, "逾期"), (0, "今天"), (5, "即将")):
            customer = make_customer(owner=owner, name=f"{owner}{label}客户")
            follow(customer, "2026-03-01 10:00", next_date=DAY + datetime.timedelta(days=offset))
            made[(owner, label)] = customer
    return made


def test_counts_per_scope(app, users, book):
    assert reminders.counts(None, DAY) == reminders.Counts(due_today=3, overdue=3, upcoming=3)
    own = reminders.scoped_customers(users["sales1"])
    assert reminders.counts(own, DAY) == reminders.Counts(due_today=1, overdue=1, upcoming=1)
    team = reminders.scoped_customers(users["manager"])
    assert reminders.counts(team, DAY).due == 4
    assert reminders.counts(team, DAY + datetime.timedelta(days=5)).due == 6  # the upcoming ones fell due


@pytest.mark.parametrize("role, owners", [("sales", {"sales1"}), ("manager", {"sales1", "sales2"}),
                                          ("admin", {"sales1", "sales2", "sales3"})])
def test_my_tasks_shows_the_row_scope(app, users, book, role, owners):
    username = {"sales": "sales1", "manager": "manager", "admin": "admin"}[role]
    board = reminders.board(users[username], today=DAY)
    names = {group: {row["name"] for row in rows} for group, rows in board.groups.items()}
    assert names == {"overdue": {f"{o}逾期客户" for o in owners}, "today": {f"{o}今天客户" for o in owners},
                     "upcoming": {f"{o}即将客户" for o in owners}}
    assert board.counts.due_today == len(owners) and board.team == (role != "sales")
    assert {row["days"] for row in board.groups["overdue"]} == {3}
    row = board.groups["today"][0]
    assert row["assignee"] == "李销售" and row["origin"].startswith("跟进计划：2026030") and row["note"] == "沟通采购计划"


def test_service_has_no_tasks(app, users, book, login):
    with pytest.raises(PermissionError):
        reminders.board(users["service"], today=DAY)
    assert login("service").get("/admin/tasks/").status_code == 403


def test_the_screen_lists_the_scope_and_filters_by_assignee(app, users, book, login):
    page = login("manager").get("/admin/tasks/").get_data(as_text=True)
    assert "sales1逾期客户" in page and "sales2逾期客户" in page and "sales3逾期客户" not in page
    page = login("manager").get(f"/admin/tasks/?assignee={users['sales2'].id}").get_data(as_text=True)
    assert "sales2逾期客户" in page and "sales1逾期客户" not in page
    page = login("sales").get("/admin/tasks/").get_data(as_text=True)
    assert "sales1今天客户" in page and "sales2" not in page
    assert login("manager").get("/admin/tasks/?assignee=abc").status_code == 200  # bad filter: ignored


# --- reminder rules screen --------------------------------------------------------------------
def test_rules_are_edited_by_admins_with_checked_input(app, login, rules):
    admin = login("admin")
    page = admin.get("/admin/reminderrule/").get_data(as_text=True)
    assert "流失风险：30天内联系" in page and "每 90 天" in page
    before = ReminderRule.select().count()
    response = admin.submit("/admin/reminderrule/new/", {"name": "大客户回访", "tag": "高价值", "action": "回访",
                                                          "kind": "every", "days": "0"})
    assert response.status_code == 400 and "天数 N 必须是 1 到 3650 之间的整数" in response.get_data(as_text=True)
    response = admin.submit("/admin/reminderrule/new/", {"name": "大客户回访", "tag": "不存在", "action": "回访",
                                                          "kind": "every", "days": "30"})
    assert "标签“不存在”不存在" in response.get_data(as_text=True)
    assert ReminderRule.select().count() == before
    response = admin.submit("/admin/reminderrule/new/", {"name": "大客户回访", "tag": "高价值", "action": "电话回访",
                                                          "kind": "every", "days": "30", "method": "电话",
                                                          "enabled": "1"})
    assert response.status_code == 302
    rule = ReminderRule.get(ReminderRule.name == "大客户回访")
    assert (rule.kind, rule.days, rule.method, rule.enabled) == ("every", 30, "电话", True)
    assert AuditLog.select().where(AuditLog.action == "create", AuditLog.model == "reminderrule").exists()
    response = admin.post("/admin/reminderrule/delete/", data={"rule_id": str(rule.id)})  # no CSRF token
    assert ReminderRule.select().where(ReminderRule.id == rule.id).exists()
    manager = login("manager")
    assert manager.get("/admin/reminderrule/").status_code == 200
    assert manager.get("/admin/reminderrule/new/").status_code == 403
    assert login("sales").get("/admin/reminderrule/").status_code == 403


def test_run_py_reminders_seeds_sweeps_and_a_second_run_changes_nothing(app, make_customer):
    from tests.test_cli import invoke

    customer = make_customer()
    tag(customer, "流失风险")
    follow(make_customer(), "2026-03-02 10:00", next_date=datetime.date(2026, 3, 12))
    result = invoke(app, "reminders", "--seed", "--as-of", "2026-03-10")
    assert result.exit_code == 0, result.output
    assert "已创建提醒规则：流失风险：30天内联系" in result.output
    assert "流失风险：30天内联系（流失风险）：新建任务 1，关闭 0" in result.output
    again = invoke(app, "reminders", "--as-of", "2026-03-10", "--json")
    assert again.exit_code == 0 and '"opened": 1' not in again.output and '"plans_opened": 0' in again.output
    assert Task.select().count() == 2
    bad = invoke(app, "reminders", "--as-of", "2026-13-01")
    assert bad.exit_code != 0 and "--as-of 应为 YYYY-MM-DD" in bad.output
    future = invoke(app, "reminders", "--as-of", "2999-01-01")
    assert future.exit_code != 0 and "--as-of 不能晚于今天" in future.output
    assert Task.select().count() == 2
