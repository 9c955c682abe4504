"""我的任务 in a real browser: a sales rep opens it from the top menu, sees an overdue task, one due today and one
upcoming with their counts, records the follow-up of today's task from its 记录跟进 button (the form comes with the
customer filled in, and the next follow-up date plans the next task), and is back on 我的任务 with today's task
done and the new one upcoming.  The manager then sees the team's tasks with their 负责人 and picks one person.

The screen reads today's date, so the tasks are dated from it: the same days relative to any today."""
import datetime
import re

from playwright.sync_api import expect

import reminders
from models import FollowUp, Task, db
from tests.browser.test_ui import log_in, log_out


def plan(customer, due, user):
    with db.atomic():
        record = FollowUp.create(customer=customer, at=datetime.datetime.combine(due, datetime.time(9)) -
                                 datetime.timedelta(days=7), method="电话", content="约好再联系", next_date=due, user=user)
        reminders.after_followups([record.id])


def test_my_tasks_records_the_follow_up_and_the_manager_sees_the_team(page, live_server, password, users,
                                                                      make_customer, shot):
    base, today = live_server, datetime.date.today()
    late = make_customer(owner="sales1", name="东方电气")
    due = make_customer(owner="sales1", name="西湖茶业")
    soon = make_customer(owner="sales1", name="北方物流")
    other = make_customer(owner="sales2", name="南山科技")
    elsewhere = make_customer(owner="sales3", name="长江航运")
    plan(late, today - datetime.timedelta(days=3), users["sales1"])
    plan(due, today, users["sales1"])
    plan(soon, today + datetime.timedelta(days=5), users["sales1"])
    plan(other, today, users["sales2"])
    plan(elsewhere, today, users["sales3"])

    log_in(page, base, "sales1", password)
    page.get_by_role("link", name="我的任务").first.click()
    expect(page.locator("#count-overdue")).to_have_text("1")
    expect(page.locator("#count-today")).to_have_text("1")
    expect(page.locator("#count-upcoming")).to_have_text("1")
    expect(page.locator("#tasks-overdue")).to_contain_text("东方电气")
    expect(page.locator("#tasks-overdue")).to_contain_text("逾期 3 天")
    expect(page.locator("#tasks-today")).to_contain_text("西湖茶业")
    expect(page.locator("#tasks-upcoming")).to_contain_text("5 天后")
    expect(page.locator("body")).not_to_contain_text("南山科技")  # sales2's customer: not in a rep's scope
    expect(page.locator("#task-assignee")).to_have_count(0)  # a rep sees only their own: no 负责人 filter
    shot("rep")

    page.locator("#tasks-today tbody tr").first.get_by_role("link", name="记录跟进").click()
    expect(page.locator("#customer")).to_have_value(str(due.id))  # the customer comes filled in
    page.locator("#method").select_option("拜访")
    page.locator("#content").fill("上门拜访，客户确认下月采购")
    page.locator("#next_date").fill((today + datetime.timedelta(days=10)).isoformat())
    page.locator("#content").click()  # closes the date picker, which would cover 保存
    expect(page.locator(".daterangepicker:visible")).to_have_count(0)
    shot("follow-up")
    page.locator("input[type=submit][value='保存']").first.click()
    expect(page).to_have_url(re.compile(r"/admin/tasks/"))
    expect(page.locator("#count-today")).to_have_text("0")
    expect(page.locator("#tasks-today-none")).to_be_visible()
    expect(page.locator("#count-upcoming")).to_have_text("2")
    expect(page.locator("#tasks-upcoming")).to_contain_text("西湖茶业")
    shot("recorded")
    done = Task.get((Task.customer == due.id) & (Task.status == "done"))
    assert done.closed_reason == "followup" and done.closed_by.content == "上门拜访，客户确认下月采购"

    log_out(page, base)
    log_in(page, base, "manager", password)
    page.goto(f"{base}/admin/tasks/")
    expect(page.locator("#count-today")).to_have_text("1")  # sales2's; sales1's was done
    expect(page.locator("#tasks-today")).to_contain_text("南山科技")
    expect(page.locator("#tasks-today")).to_contain_text("张销售")
    expect(page.locator("body")).not_to_contain_text("长江航运")  # manager2's team
    shot("manager")
    page.locator("#task-assignee").select_option(label="李销售")
    expect(page).to_have_url(re.compile(rf"assignee={users['sales1'].id}"))
    expect(page.locator("#tasks-today-none")).to_be_visible()
    expect(page.locator("#tasks-overdue")).to_contain_text("东方电气")
    expect(page.locator("body")).not_to_contain_text("南山科技")
    shot("manager-filtered")


def test_admin_adds_a_reminder_rule_and_its_tasks_appear(page, live_server, password, make_customer, shot):
    from models import CustomerTag, Tag

    base = live_server
    reminders.seed_rules()
    vip = Tag.create(name="重点客户", category="偏好", source="manual")
    customer = make_customer(owner="sales1", name="东方电气")
    CustomerTag.create(customer=customer, tag=vip, source="manual")

    log_in(page, base, "admin", password)
    page.wait_for_load_state("networkidle")  # the menu's dropdown script is loaded
    page.get_by_role("link", name=re.compile("基础数据")).click()
    page.get_by_role("link", name="提醒规则").click()
    expect(page.locator('#reminder-rules tr[data-rule="高价值：每季度拜访"]')).to_contain_text("每 90 天")
    page.locator("#reminder-rule-new").click()
    page.locator("#reminder-rule-name").fill("重点客户：每周电话")
    page.locator("#reminder-rule-tag").select_option("重点客户")
    page.locator("#reminder-rule-action").fill("电话回访")
    page.locator("#reminder-rule-kind").select_option("every")
    page.locator("#reminder-rule-days").fill("三十")
    page.locator("#reminder-rule-method").select_option("电话")
    page.locator("#reminder-rule-save").click()
    expect(page.locator(".alert-danger, .alert-error").first).to_contain_text("天数 N 必须是 1 到 3650 之间的整数")
    page.locator("#reminder-rule-days").fill("7")
    page.locator("#reminder-rule-save").click()
    expect(page.locator(".alert-success")).to_contain_text("已保存提醒规则“重点客户：每周电话”")
    expect(page.locator(".alert-info")).to_contain_text("新建 1 项")
    row = page.locator('#reminder-rules tr[data-rule="重点客户：每周电话"]')
    expect(row).to_contain_text("每 7 天")
    expect(row).to_contain_text("启用中")
    shot("rules")
    page.goto(f"{base}/admin/tasks/")
    expect(page.locator("#tasks-upcoming")).to_contain_text("东方电气")
    expect(page.locator("#tasks-upcoming")).to_contain_text("电话回访（电话）")
    expect(page.locator("#tasks-upcoming")).to_contain_text("提醒规则：重点客户：每周电话")
    shot("rule-task")
    assert Task.get(Task.customer == customer.id).title == "电话回访"
    page.goto(f"{base}/admin/reminderrule/")
    row.get_by_role("button", name="停用").click()
    expect(page.locator(".alert-success")).to_contain_text("已停用提醒规则“重点客户：每周电话”")
    assert not Task.select().where(Task.status == "open").exists()
