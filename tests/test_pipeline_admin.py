"""The pipeline from the admin and the imports: transitions run right after an order or follow-up is saved in
the admin or imported, the 状态流转 screen (admins edit, checked, audited; managers read; reps see nothing),
`run.py pipeline`, and the daily job on a real worker.  Records are dated in the past (fixed dates); the check
after a change runs for today, which is after all of them."""
import datetime
import json

import pytest

import intake
import jobs
import pipeline
from models import AuditLog, Customer, CustomerTag, JobRun, PipelineEvent, PipelineTransition, StatusChange, Tag
from tests.test_jobs_probe import wait_finished


@pytest.fixture
def seeded(app):
    pipeline.seed_transitions()


def status(customer):
    return Customer.get_by_id(customer.id).status


def pending(customer):
    return CustomerTag.select().join(Tag).where((CustomerTag.customer == customer.id) & (Tag.name == "待成交")).exists()


def test_an_order_saved_in_the_admin_signs_the_customer(seeded, login, make_customer):
    customer = make_customer(owner="sales1")
    client = login("sales")
    response = client.submit("/admin/order/new/", {"customer": str(customer.id), "order_no": "SO-P-1",
                                                   "ordered_at": "2026-03-02 10:00:00", "amount": "1200",
                                                   "quantity": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert status(customer) == "成交客户"
    change = StatusChange.select().where(StatusChange.customer == customer.id).order_by(StatusChange.id.desc()).get()
    assert (change.from_status, change.to_status, change.user_id) == ("潜在客户", "成交客户", None)
    assert change.reason == "自动流转：首次下单成交（进入当前状态后有了订单）"
    assert AuditLog.select().where((AuditLog.action == "auto-status") & (AuditLog.record_id == str(customer.id))).exists()
    # the customer's history page lists it like a manual change
    page = client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert "自动流转：首次下单成交" in page


def test_a_quote_recorded_in_the_admin_tags_the_customer(seeded, login, make_customer):
    customer = make_customer(owner="sales1")
    client = login("sales")
    form = client.get("/admin/followup/new/").get_data(as_text=True)
    assert "已报价" in form  # the result is offered
    response = client.submit("/admin/followup/new/", {"customer": str(customer.id), "method": "邮件",
                                                      "content": "发送报价单", "result": "已报价",
                                                      "at": "2026-03-02 10:00:00"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert pending(customer) and status(customer) == "潜在客户"
    assert AuditLog.select().where((AuditLog.action == "auto-tag") & (AuditLog.record_id == str(customer.id))).exists()
    # the manual change to 成交 takes 待成交 off (the status left 潜在/意向)
    response = client.submit("/admin/statuschange/new/", {"customer": str(customer.id), "to_status": "成交客户",
                                                          "reason": "签约"})
    assert response.status_code == 302
    assert not pending(customer)


def test_imports_run_the_transitions_for_the_customers_they_touch(seeded, app, tmp_path, make_customer):
    signed = make_customer(code="HB-IT-2026-001")
    quoted = make_customer(code="HB-IT-2026-002")
    untouched = make_customer(code="HB-IT-2026-003")
    from models import Order

    Order.create(customer=untouched, order_no="SO-OLD", ordered_at=datetime.datetime(2026, 1, 5), amount=1)
    orders = tmp_path / "订单.csv"
    orders.write_text("客户编号,订单号,下单时间,金额\nHB-IT-2026-001,SO-IMP-1,2026-02-03 09:00,10\n", encoding="utf-8")
    follow_ups = tmp_path / "跟进.csv"
    follow_ups.write_text("客户编号,跟进时间,跟进方式,跟进内容,跟进结果\nHB-IT-2026-002,2026-02-03 09:00,电话,报价,报价\n",
                          encoding="utf-8")
    with app.app_context():
        assert intake.import_file(str(orders), "orders").created == 1
        assert intake.import_file(str(follow_ups), "followups").created == 1
    assert status(signed) == "成交客户" and pending(quoted)
    assert status(untouched) == "潜在客户"  # not in the import: left to the daily sweep
    assert {e.trigger for e in PipelineEvent.select()} == {"import"}


FORM = {"name": "90天未下单流失", "trigger": "no_order", "from_statuses": "成交客户", "to_status": "流失客户",
        "to_tag": "__None", "params": '{"days": 90}', "enabled": "y", "position": "5", "description": ""}


def test_admins_edit_transitions_checked_and_audited(app, login):
    admin = login("admin")
    listing = admin.get("/admin/pipelinerule/")
    assert listing.status_code == 200
    bad = admin.submit("/admin/pipelinerule/new/", {**FORM, "params": '{"days": 0}'})
    assert "天数应为 1 到 3650 之间的整数天数" in bad.get_data(as_text=True)
    assert not PipelineTransition.select().exists()
    bad = admin.submit("/admin/pipelinerule/new/", {**FORM, "from_statuses": "成交客户,VIP"})
    assert "起始状态“VIP”无效" in bad.get_data(as_text=True) and not PipelineTransition.select().exists()
    response = admin.submit("/admin/pipelinerule/new/", {**FORM, "from_statuses": "成交客户，"})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    saved = PipelineTransition.get()
    assert (saved.from_statuses, json.loads(saved.params), saved.enabled) == ("成交客户", {"days": 90}, True)
    assert AuditLog.select().where((AuditLog.action == "create") & (AuditLog.model == "pipelinerule")).exists()
    page = admin.get("/admin/pipelinerule/").get_data(as_text=True)
    assert "90天未下单流失" in page and "N天未下单" in page


def test_managers_read_transitions_reps_and_service_do_not(seeded, login):
    manager = login("manager")
    assert manager.get("/admin/pipelinerule/").status_code == 200
    assert "首次下单成交" in manager.get("/admin/pipelinerule/").get_data(as_text=True)
    new = manager.get("/admin/pipelinerule/new/")
    assert new.status_code in (302, 403)
    assert login("sales").get("/admin/pipelinerule/").status_code == 403
    assert login("service").get("/admin/pipelinerule/").status_code == 403


def test_cli_seeds_and_sweeps(app, make_customer, make_order):
    customer = make_customer()
    make_order(customer, ordered_at=datetime.datetime(2026, 1, 5, 10, 0))
    from run import cli

    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["pipeline", "--seed", "--as-of", "2026-01-31"])
    assert result.exit_code == 0, result.output
    assert "已创建状态流转：首次下单成交" in result.output
    assert "首次下单成交（→ 成交客户）：触发 1，变更 1" in result.output
    assert status(customer) == "成交客户"
    again = runner.invoke(cli, ["pipeline", "--as-of", "2026-01-31"])
    assert "首次下单成交（→ 成交客户）：触发 0，变更 0" in again.output
    bad = runner.invoke(cli, ["pipeline", "--as-of", "2999-01-01"])
    assert bad.exit_code != 0 and "不能晚于今天" in bad.output
    bad = runner.invoke(cli, ["pipeline", "--as-of", "31/01/2026"])
    assert bad.exit_code != 0 and "应为 YYYY-MM-DD" in bad.output


def test_the_daily_job_runs_on_a_real_worker(app, worker, seeded, make_customer, make_order):
    jobs.discover()
    assert jobs.get("pipeline").schedule == "5 3 * * *"
    customer = make_customer(created_at=datetime.datetime(2020, 1, 1, 9, 0))
    make_order(customer, ordered_at=datetime.datetime(2020, 1, 6, 10, 0))  # long ago: signed, then lost
    run = jobs.run_now("pipeline", username="admin")
    (done,) = wait_finished([run.id])
    assert done.status == "success", done.error
    history = [(c.from_status, c.to_status, c.at) for c in
               StatusChange.select().where(StatusChange.customer == customer.id).order_by(StatusChange.at)]
    assert history == [("潜在客户", "成交客户", datetime.datetime(2020, 1, 6, 10, 0)),
                       ("成交客户", "流失客户", datetime.datetime(2020, 7, 4, 0, 0))]
    assert status(customer) == "流失客户"
    assert JobRun.get_by_id(run.id).job == "pipeline"
