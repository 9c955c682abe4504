"""跟进记录 in the seed's words, and a follow-up recorded on behalf of a rep: 跟进人 is picked within the recorder's
row scope (a manager's team, a rep only themselves), a crafted 跟进人 outside it is refused in Chinese, and the
task its 下次跟进时间 plans goes to the customer's owner."""
import datetime
import json

from models import AuditLog, FollowUp, Task
from tests import policy_support as ps

SEED_COLUMNS = ["记录ID", "客户编号", "跟进时间", "跟进方式", "跟进内容", "下次跟进时间", "跟进人", "跟进结果"]


def _post(client, customer, user=None, **fields):
    data = {"customer": str(customer.id), "at": "2026-03-02 10:30:00", "method": "电话", "content": "代为记录的跟进",
            "next_date": "2026-03-09", "result": "有意向"}
    if user is not None:
        data["user"] = str(user.id)
    data.update(fields)
    return client.submit("/admin/followup/new/", data)


def _picker(client, term=""):
    answer = client.get("/admin/followup/ajax/lookup/", query_string={"name": "user", "query": term})
    return {row[0] for row in answer.get_json()}


def test_the_follow_up_screen_reads_like_the_seed(login, users, make_customer):
    customer = make_customer(owner="sales1", name="跟进表客户", code="HB-IT-2024-001")
    FollowUp.create(customer=customer, at=datetime.datetime(2024, 3, 20, 14, 30), method="电话",
                    content="客户对产品功能A感兴趣", next_date=datetime.date(2024, 3, 25), user=users["sales1"],
                    result="有意向")
    page = ps.ListPage(login("manager").get("/admin/followup/").get_data(as_text=True))
    assert list(page.headers.values())[-len(SEED_COLUMNS):] == SEED_COLUMNS
    [row] = page.rows.values()
    assert (row["customer"], row["at"], row["user"]) == ("HB-IT-2024-001 跟进表客户", "2024-03-20 14:30", "李销售 (sales1)")
    form = login("manager").get(f"/admin/followup/new/?customer_id={customer.id}").get_data(as_text=True)
    assert "跟进人" in form and "跟进内容" in form and "跟进时间" in form


def test_a_manager_records_a_follow_up_on_behalf_of_a_rep_of_the_team(login, users, make_customer):
    customer = make_customer(owner="sales1", name="代录客户")
    manager = login("manager")
    assert _picker(manager) == {users[u].id for u in ("manager", "sales1", "sales2")}  # the team, nobody else
    form = manager.get("/admin/followup/new/").get_data(as_text=True)
    assert f'value="{users["manager"].id}"' in form  # 跟进人 starts as the one recording

    response = _post(manager, customer, users["sales1"])
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    record = FollowUp.get(FollowUp.customer == customer)
    assert record.user_id == users["sales1"].id
    entry = AuditLog.get((AuditLog.model == "followup") & (AuditLog.action == "create"))
    assert entry.username == "manager" and json.loads(entry.changes)["user"] == [None, users["sales1"].id]
    [task] = Task.select().where(Task.customer == customer)  # the plan is the customer's owner's task
    assert (task.assignee_id, task.due_on, task.status) == (users["sales1"].id, datetime.date(2026, 3, 9), "open")
    assert "代录客户" in login("sales").get("/admin/tasks/").get_data(as_text=True)

    # sales3 is manager2's: a crafted POST naming them is refused and nothing is written
    refused = _post(manager, customer, users["sales3"], content="越权代录")
    assert refused.status_code == 200
    assert "跟进人只能是您的数据范围内的用户" in " ".join(ps.flashed_errors(refused.get_data(as_text=True)))
    assert not FollowUp.select().where(FollowUp.content == "越权代录").exists()
    assert Task.select().where(Task.customer == customer).count() == 1

    # recording the next follow-up for the rep closes the rep's task
    response = _post(manager, customer, users["sales1"], at="2026-03-08 09:00:00", next_date="")
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert Task.get_by_id(task.id).status == "done"


def test_a_rep_records_only_for_themselves(login, users, make_customer):
    customer = make_customer(owner="sales1", name="本人客户")
    sales = login("sales")
    assert _picker(sales) == {users["sales1"].id}
    refused = _post(sales, customer, users["sales2"], content="替同事记录")
    assert "跟进人只能是您的数据范围内的用户" in " ".join(ps.flashed_errors(refused.get_data(as_text=True)))
    assert not FollowUp.select().where(FollowUp.content == "替同事记录").exists()
    assert _post(sales, customer, users["sales1"]).status_code == 302
    assert FollowUp.get(FollowUp.customer == customer).user_id == users["sales1"].id


def test_where_the_column_rule_fixes_it_the_recorder_is_the_follow_up_user(login, users, make_customer):
    """客服专员's 跟进人 is read-only (access/defaults.py): no picker, and a crafted one is ignored."""
    customer = make_customer(owner="sales2", name="客服代录")
    service = login("service")
    assert "user" not in ps.form_field_names(service.get("/admin/followup/new/").get_data(as_text=True))
    response = _post(service, customer, users["sales2"])
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert FollowUp.get(FollowUp.customer == customer).user_id == users["service"].id
