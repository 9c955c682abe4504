"""Background jobs: the registry, the scheduler's due tasks, runs recorded per job, the
admin's 后台任务 screen with 立即运行, and a real `run.py worker` on the embedded SQLite queue."""
import datetime
import os
import socket

import pytest

import jobs
from models import AuditLog, JobRun, ReportRun
from tests import test_jobs_probe as probes
from tests.conftest import database_url

LIST = "/admin/jobs/"


@pytest.fixture
def queue_db(app, tmp_path):
    """The app and this process enqueue into a queue file of this test's own."""
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    app.config["QUEUE_URL"] = url
    jobs.configure(app.config)
    yield url
    jobs.queue.configure(None)


@pytest.fixture
def ticking(app):
    calls = []
    jobs.register("test-every-5", lambda: calls.append(1), "*/5 * * * *", description="每五分钟")
    jobs.register("test-off", lambda: calls.append(2), "*/5 * * * *", enabled=False)
    yield calls
    jobs.unregister("test-every-5")
    jobs.unregister("test-off")


def test_register_checks_the_schedule_and_names_known_jobs():
    with pytest.raises(ValueError, match="5 段"):
        jobs.register("test-bad", lambda: None, "daily")
    with pytest.raises(TypeError):
        jobs.register("test-bad", "not callable", "* * * * *")
    with pytest.raises(KeyError, match="test-probe"):
        jobs.get("no-such-job")
    assert "test-bad" not in {job.name for job in jobs.available()}


def test_next_run_follows_the_cron_schedule(ticking):
    every5 = jobs.get("test-every-5")
    assert every5.next_run(datetime.datetime(2026, 11, 23, 3, 2, 30)) == datetime.datetime(2026, 11, 23, 3, 5)
    assert every5.next_run(datetime.datetime(2026, 11, 23, 3, 5)) == datetime.datetime(2026, 11, 23, 3, 10)
    nightly = jobs.register("test-nightly", lambda: None, "30 2 * * 0")  # Sundays 02:30
    try:
        assert nightly.next_run(datetime.datetime(2026, 11, 23, 3, 0)) == datetime.datetime(2026, 11, 29, 2, 30)
    finally:
        jobs.unregister("test-nightly")
    never = jobs.register("test-never", lambda: None, "0 0 30 2 *")  # 30 February
    try:
        assert never.next_run() is None
    finally:
        jobs.unregister("test-never")
    assert jobs.get("test-off").next_run() is None


def test_scheduler_enqueues_each_enabled_due_job_with_its_slot(ticking):
    def ours(moment):  # this test's jobs: the product's own (due-subscriptions, every minute) may be registered too
        return [(t.args, t.kwargs) for t in jobs.queue.read_periodic(moment) if t.args[0].startswith("test-")]

    assert ours(datetime.datetime(2026, 11, 23, 3, 5)) == [(("test-every-5",), {"slot": "test-every-5@2026-11-23 03:05"})]
    assert ours(datetime.datetime(2026, 11, 23, 3, 6)) == []


def test_a_slot_runs_once_however_many_schedulers_enqueued_it(ticking):
    slot = "test-every-5@2026-11-23 03:05"
    first = jobs.execute("test-every-5", slot=slot)
    assert jobs.execute("test-every-5", slot=slot) is None  # a second worker's scheduler
    assert ticking == [1]
    assert first.status == "success" and first.trigger == "schedule" and first.duration >= 0
    assert first.worker.endswith(f":{os.getpid()}")
    assert JobRun.select().where(JobRun.job == "test-every-5").count() == 1


def test_a_failing_job_is_recorded_with_its_error(app):
    run = jobs.execute("test-fails", slot="test-fails@2026-11-23 03:05")
    assert run.status == "failed" and "探针失败" in run.error and run.finished_at


def test_jobs_screen_is_for_roles_that_manage_the_policy(app, login):
    for role in ("manager", "sales", "service"):
        client = login(role)
        assert client.get(LIST).status_code == 403
        assert client.post(LIST + "run/", data={"job": "test-probe"}).status_code == 403
    assert "/login" in app.test_client().get(LIST).location
    assert JobRun.select().count() == 0


def test_jobs_screen_lists_schedule_last_and_next_run(app, login, ticking):
    run = jobs.execute("test-every-5", slot="test-every-5@2026-11-23 03:05")
    page = login("admin").get(LIST)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "后台任务" in html
    row = html[html.index('data-job="test-every-5"'):]
    row = row[:row.index("</tr>")]
    assert "*/5 * * * *" in row and "每五分钟" in row and "成功" in row
    assert f"{run.started_at:%Y-%m-%d %H:%M}" in row
    assert f"{jobs.get('test-every-5').next_run():%Y-%m-%d %H:%M}" in row
    assert "立即运行" in row
    off = html[html.index('data-job="test-off"'):]
    assert "已停用" in off[:off.index("</tr>")]


def test_run_now_needs_the_csrf_token_and_a_known_job(app, login, queue_db):
    admin = login("admin")
    assert admin.post(LIST + "run/", data={"job": "test-probe"}, follow_redirects=True).status_code == 200
    response = admin.submit(LIST + "run/", {"job": "no-such-job"}, form_url=LIST, follow_redirects=True)
    assert "未知的后台任务" in response.get_data(as_text=True)
    assert JobRun.select().count() == 0 and jobs.queue.pending_count() == 0


def test_run_now_says_so_when_the_queue_is_unreachable(app, login):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    app.config["QUEUE_URL"] = f"redis://127.0.0.1:{port}/0"  # nothing listens there
    try:
        admin = login("admin")
        response = admin.submit(LIST + "run/", {"job": "test-probe"}, form_url=LIST, follow_redirects=True)
    finally:
        jobs.queue.configure(None)
    assert "无法加入队列" in response.get_data(as_text=True)
    run = JobRun.get()
    assert run.status == "failed" and "无法加入队列" in run.error


def test_run_now_is_audited_and_a_real_worker_runs_it(app, login, tmp_path, queue_db):
    admin = login("admin")
    queued = []
    for name in ("test-probe", "test-fails"):
        response = admin.submit(LIST + "run/", {"job": name}, form_url=LIST, follow_redirects=True)
        assert "已加入队列" in response.get_data(as_text=True)
        queued.append(JobRun.select().order_by(JobRun.id.desc()).first())
    assert [(r.job, r.status, r.trigger, r.username) for r in queued] == [
        ("test-probe", "queued", "manual", "admin"), ("test-fails", "queued", "manual", "admin")]
    assert AuditLog.get(AuditLog.action == "run", AuditLog.model == "job", AuditLog.record_id == "test-probe")
    assert jobs.queue.pending_count() == 2
    with probes.workers(tmp_path, database_url(tmp_path), queue_db) as (worker,):
        probe, failed = probes.wait_finished([r.id for r in queued])
    assert probe.status == "success" and probe.worker.endswith(f":{worker.pid}")
    assert [row.record_id for row in AuditLog.select().where(AuditLog.action == "jobprobe")] == [str(worker.pid)]
    assert failed.status == "failed" and "探针失败" in failed.error
    html = admin.get(LIST).get_data(as_text=True)
    assert "探针失败" in html and f":{worker.pid}" in html


def test_report_run_task_executes_a_queued_report(app, reports, users):
    from reporting.runner import queue_run

    run = queue_run("echo", {}, user=users["admin"])
    jobs.configure(app.config)
    jobs.queue.immediate = True  # the task body, in this process
    try:
        jobs.report_run(run.id)
    finally:
        jobs.queue.immediate = False
    run = ReportRun.get_by_id(run.id)
    assert run.status == "success" and os.path.isfile(run.html_path)


def test_the_worker_checks_periodic_jobs_just_after_each_minute_of_the_clock():
    """huey counts 60 s from the worker's start; ours plans a job due at 08:00 at 08:00:00.2."""
    import threading
    import time

    from huey import MemoryHuey

    from jobs.worker import PAST_THE_MINUTE_S, MinuteConsumer, MinuteScheduler, seconds_to_next_minute

    minute = 999_999_960  # a whole minute since the epoch
    assert seconds_to_next_minute(minute + 19.5) == pytest.approx(40.5 + PAST_THE_MINUTE_S)
    assert seconds_to_next_minute(minute + 59.9999) == pytest.approx(0.0001 + PAST_THE_MINUTE_S, abs=1e-6)
    assert seconds_to_next_minute(minute) == pytest.approx(60 + PAST_THE_MINUTE_S)
    assert MinuteConsumer.scheduler_class is MinuteScheduler
    scheduler = MinuteScheduler(MemoryHuey("minute-test"), threading.Event(), interval=1, periodic=True)
    assert scheduler._next_periodic <= time.monotonic()  # the first check runs at start, as huey's
    scheduler.enqueue_periodic_tasks(None)
    next_check = time.time() + (scheduler._next_periodic - time.monotonic())  # on the wall clock
    assert 0 < next_check - time.time() <= 60 + PAST_THE_MINUTE_S
    assert next_check % 60 == pytest.approx(PAST_THE_MINUTE_S, abs=0.05)
