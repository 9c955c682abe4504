"""完成 and 重新打开 on 我的任务 in a real browser: a sales rep completes today's task with a note (no follow-up to
record: the customer called in), sees it leave 今天到期 for 最近手动完成 with the note, and reopens it; the database
has it closed by hand with who and the note, then open again, both audited.

The screen reads today's date, so the task is due today, whatever today is."""
import datetime
import re

from playwright.sync_api import expect

import reminders
from models import AuditLog, FollowUp, Task, db
from tests.browser.test_ui import log_in, log_out


def test_a_rep_completes_a_task_by_hand_with_a_note_and_reopens_it(page, live_server, password, users, make_customer,
                                                                   shot):
    base, today = live_server, datetime.date.today()
    customer = make_customer(owner="sales1", name="西湖茶业")
    other = make_customer(owner="sales1", name="东方电气")
    for who, due in ((customer, today), (other, today + datetime.timedelta(days=3))):
        with db.atomic():
            record = FollowUp.create(customer=who, at=datetime.datetime.combine(today, datetime.time(8)) -
                                     datetime.timedelta(days=7), method="电话", content="约好再联系", next_date=due,
                                     user=users["sales1"])
            reminders.after_followups([record.id])
    task = Task.get(Task.customer == customer.id)

    log_in(page, base, "sales1", password)
    page.get_by_role("link", name="我的任务").first.click()
    expect(page.locator("#count-today")).to_have_text("1")
    row = page.locator(f'#tasks-today tr[data-task="{task.id}"]')
    expect(row).to_contain_text("西湖茶业")
    row.get_by_placeholder("备注（可选）").fill("客户来电确认，无需回访")
    shot("before-complete")
    row.get_by_role("button", name="完成").click()
    expect(page).to_have_url(re.compile(r"/admin/tasks/"))
    expect(page.locator(".alert-success")).to_contain_text("已完成任务“按计划跟进”（西湖茶业）")
    expect(page.locator("#count-today")).to_have_text("0")
    expect(page.locator("#tasks-today-none")).to_be_visible()
    expect(page.locator("#tasks-upcoming")).to_contain_text("东方电气")  # the other task is untouched
    done = page.locator(f'#tasks-done tr[data-task="{task.id}"]')
    expect(done).to_contain_text("客户来电确认，无需回访")
    page.wait_for_load_state("networkidle")
    shot("completed")
    closed = Task.get_by_id(task.id)
    assert (closed.status, closed.closed_reason, closed.closed_user, closed.closed_note) == (
        "done", "manual", "sales1", "客户来电确认，无需回访")

    done.get_by_role("button", name="重新打开").click()
    expect(page.locator(".alert-success")).to_contain_text("已重新打开任务“按计划跟进”（西湖茶业）")
    expect(page.locator("#count-today")).to_have_text("1")
    expect(page.locator("#tasks-done")).to_have_count(0)
    shot("reopened")
    assert Task.get_by_id(task.id).status == "open"
    assert [e.action for e in AuditLog.select().where(AuditLog.model == "task", AuditLog.record_id == str(task.id))
            .order_by(AuditLog.id)] == ["task-done", "task-reopen"]

    # the manager completes the rep's other task; the list of completions says who did
    log_out(page, base)
    log_in(page, base, "manager", password)
    page.goto(f"{base}/admin/tasks/")
    upcoming = Task.get(Task.customer == other.id)
    page.locator(f'#tasks-upcoming tr[data-task="{upcoming.id}"]').get_by_role("button", name="完成").click()
    expect(page.locator(".alert-success")).to_contain_text("已完成任务“按计划跟进”（东方电气）")
    expect(page.locator(f'#tasks-done tr[data-task="{upcoming.id}"]')).to_contain_text("王经理")
    shot("manager")
    assert Task.get_by_id(upcoming.id).closed_user == "manager"
