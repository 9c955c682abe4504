"""Report runs started in the admin go through the one jobs queue, never a thread of the web process.

立即运行 only records the run and puts its id on the test's queue; with no worker the run stays
queued and its page says it waits for the background worker; a real worker (huey's consumer on
threads of this process, or a separate `run.py worker` process) then executes it.  A queue that
cannot be reached fails the run with the reason; a run is executed once, whoever asks again.
"""
import pytest

import jobs
import reporting
from jobs.queue import WORKER_GONE_S
from jobs.worker import in_process
from models import ReportRun
from reporting.runner import queue_run
from tests import policy_support as ps
from tests.conftest import database_url
from tests.test_jobs_probe import workers as probe_workers
from tests.test_report_admin import LIST, finished, run_now
from tests.test_subscriptions_support import SLOW, wait_for


def state_of(client, run):
    """(data-state, text) of the run page's state line, as the browser first shows it."""
    node = ps.soup(client.get(f"{LIST}details/?id={run.id}").get_data(as_text=True)).select_one("#run-state")
    return node["data-state"], ps.text_of(node)


def test_run_now_only_queues_and_the_page_says_it_waits_for_the_worker(app, reports, login):
    admin = login("admin")
    response, run = run_now(admin, "echo")
    assert response.status_code == 302 and response.location.endswith(f"details/?id={run.id}")
    assert ReportRun.get_by_id(run.id).status == "queued", "the web request ran nothing"
    assert jobs.queue.pending_count() == 1
    page = ps.soup(admin.get(response.location).get_data(as_text=True))
    assert "已加入后台队列" in ps.text_of(page.select_one(".alert-success"))
    state = page.select_one("#run-state")
    assert state["data-state"] == "no_worker"
    assert "等待后台 worker" in ps.text_of(state) and "run.py worker" in ps.text_of(state)
    progress = admin.get(f"{LIST}progress/?id={run.id}").get_json()
    assert progress["status"] == "queued" and progress["label"] == "排队中" and progress["no_worker"] is True

    with in_process(app.config):  # a real worker on the test's queue
        wait_for(jobs.queue.worker_running, "the worker's heartbeat")
        waiting = ReportRun.create(run_id="20260101-000000-bbbbbb", report="echo", user=run.user, username="admin")
        state, text = state_of(admin, waiting)  # queued behind a running worker: no warning
        assert state == "queued" and "等待 worker 开始运行" in text
        assert admin.get(f"{LIST}progress/?id={waiting.id}").get_json()["no_worker"] is False
        waiting.delete_instance()  # never submitted: nothing will run it
        run = finished(run.id)
    assert run.status == "success" and run.cells_done == run.cells_total == 3
    assert jobs.queue.pending_count() == 0


def test_a_queue_that_cannot_be_reached_fails_the_run_with_the_reason(app, reports, login):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    app.config["QUEUE_URL"] = f"redis://127.0.0.1:{port}/0"  # nothing listens there
    try:
        admin = login("admin")
        response, run = run_now(admin, "echo")
        page = admin.get(response.location).get_data(as_text=True)
    finally:
        jobs.queue.configure(None)
    assert any("未能开始运行" in e and "无法加入后台队列" in e for e in ps.flashed_errors(page))
    run = ReportRun.get_by_id(run.id)
    assert run.status == "failed" and run.error_name == "无法加入队列" and "无法加入后台队列" in run.error
    assert "无法加入后台队列" in ps.text_of(ps.soup(page).select_one("#run-error"))


def test_a_run_is_executed_once_and_a_deleted_one_is_skipped(app, reports, users):
    run = queue_run("echo", {}, user=users["admin"])
    ReportRun.update(status="running").where(ReportRun.id == run.id).execute()  # another worker has it
    jobs.configure(app.config)
    assert jobs.report_run.call_local(run.id) == "running"  # the task body, as a worker runs it
    again = ReportRun.get_by_id(run.id)
    assert again.cells_done == 0 and again.finished_at is None, "not executed a second time"

    gone = queue_run("echo", {}, user=users["admin"])
    gone.delete_instance()
    assert jobs.report_run.call_local(gone.id) is None


def test_the_heartbeat_tells_a_running_worker_from_none(app):
    jobs.configure(app.config)
    try:
        assert jobs.queue.last_beat() is None and not jobs.queue.worker_running()
        jobs.queue.beat(now=1_000_000.0)
        assert jobs.queue.last_beat() == 1_000_000.0
        assert jobs.queue.worker_running(now=1_000_000.0 + WORKER_GONE_S - 1)
        assert not jobs.queue.worker_running(now=1_000_000.0 + WORKER_GONE_S + 1)
    finally:
        jobs.queue.configure(None)


@pytest.fixture
def slow_report(reports):
    reporting.register("slow", SLOW, "订阅测试：关键数字")
    yield
    reporting.unregister("slow")


def test_a_separate_run_py_worker_process_executes_what_the_admin_queued(app, slow_report, login, tmp_path):
    admin = login("admin")
    response, run = run_now(admin, "slow", tag="进程外")
    assert ReportRun.get_by_id(run.id).status == "queued"
    # the worker registers the test reports (harness.reports) and writes where this process does
    with probe_workers(tmp_path, database_url(tmp_path), app.config["QUEUE_URL"], threads=1,
                       module="harness.reports", SUBSCRIPTION_TEST_WORKER="1",
                       REPORTS_OUT=str(tmp_path / "reports_out")) as (process,):
        run = finished(run.id)
        assert jobs.queue.worker_running(), "run.py worker writes the heartbeat"
    assert run.status == "success", f"{run.error_name}: {run.error}"
    assert "SLOW-REPORT" in admin.get(f"{LIST}html/?id={run.id}").get_data(as_text=True)
    assert "运行成功" in admin.get(f"{LIST}details/?id={run.id}").get_data(as_text=True)
