"""Runs a killed worker left "running" are failed, with the reason (jobs.reaping): at once when the
worker was on this machine and has exited, after the lease when it was elsewhere; never a run whose
worker is alive within its lease, never a finished run.  And for real: a `run.py worker` killed
(SIGKILL) in the middle of a report run, then a new worker, which fails the lost run at its start."""
import datetime
import socket
import subprocess

import jobs
import reporting
from jobs import liveness, reaping
from models import JobRun, ReportRun
from reporting import background, runner
from tests.conftest import database_url
from tests.lock_support import commits_meanwhile
from tests.test_subscriptions_support import kill, register_reports, wait_for, workers

NOW = datetime.datetime(2026, 12, 7, 9, 0)


def exited_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def report_run(worker, started_at, status="running", name="r"):
    return ReportRun.create(run_id=f"20261207-{name}", report="echo", status=status, worker=worker,
                            started_at=started_at)


def job_run(worker, started_at, status="running"):
    return JobRun.create(job="test-probe", trigger="manual", status=status, worker=worker, started_at=started_at)


def test_runs_of_a_worker_that_exited_here_fail_at_once_and_live_ones_are_left(app):
    here = socket.gethostname()
    gone = f"{here}:{exited_pid()}"
    minute_ago = NOW - datetime.timedelta(minutes=1)
    lost_report, lost_job = report_run(gone, minute_ago, name="lost"), job_run(gone, minute_ago)
    live_report, live_job = report_run(liveness.worker_name(), minute_ago, name="live"), job_run(
        liveness.worker_name(), minute_ago)
    done = report_run(gone, minute_ago, status="success", name="done")

    assert reaping.reap(NOW) == {"报表运行": 1, "后台任务": 1, "导入": 0}

    report = ReportRun.get_by_id(lost_report.id)
    assert (report.status, report.error_name) == ("failed", reaping.LOST)
    assert gone in report.error and "重新运行" in report.error and report.finished_at is not None
    job = JobRun.get_by_id(lost_job.id)
    assert job.status == "failed" and gone in job.error
    assert ReportRun.get_by_id(live_report.id).status == "running"
    assert JobRun.get_by_id(live_job.id).status == "running"
    assert ReportRun.get_by_id(done.id).status == "success" and ReportRun.get_by_id(done.id).error is None
    assert reaping.reap(NOW) == {"报表运行": 0, "后台任务": 0, "导入": 0}  # nothing twice


def test_a_claim_from_another_machine_is_trusted_until_its_lease_ends(app, monkeypatch):
    elsewhere = "another-host.example:4242"
    fresh = report_run(elsewhere, NOW - datetime.timedelta(minutes=59), name="fresh")
    old = report_run(elsewhere, NOW - datetime.timedelta(minutes=61), name="old")
    job = job_run(elsewhere, NOW - datetime.timedelta(hours=5))

    assert reaping.reap(NOW) == {"报表运行": 1, "后台任务": 0, "导入": 0}  # leases: 1 hour for reports, 6 for jobs
    assert ReportRun.get_by_id(fresh.id).status == "running"
    assert ReportRun.get_by_id(old.id).status == "failed"

    monkeypatch.setenv("JOB_RUN_LEASE_SECONDS", str(4 * 3600))
    assert reaping.reap(NOW)["后台任务"] == 1
    assert JobRun.get_by_id(job.id).status == "failed"


def test_a_worker_killed_mid_report_leaves_a_run_the_next_worker_fails_at_start(app, reports, tmp_path):
    register_reports()
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    app.config["QUEUE_URL"] = queue_url
    marker = tmp_path / "slow-started"
    run = runner.queue_run("slow", {"marker": str(marker), "sleep": 120.0})
    try:
        with workers(tmp_path, database_url(tmp_path), queue_url, 25, name="first") as (first,):
            background.submit(run.id, app.config)
            wait_for(marker.exists, "the slow notebook started")
            assert ReportRun.get_by_id(run.id).worker.endswith(f":{first.pid}")
            kill(first)  # with its kernel, as a crash would
        assert ReportRun.get_by_id(run.id).status == "running"  # what the screens showed for ever before

        with workers(tmp_path, database_url(tmp_path), queue_url, 25, name="second") as (second,):
            lost = wait_for(lambda: ReportRun.get_by_id(run.id).status == "failed", "the lost run failed")
            assert lost
        failed = ReportRun.get_by_id(run.id)
        assert failed.error_name == reaping.LOST and f":{first.pid}" in failed.error
        log = (tmp_path / "second0.log").read_text()
        assert "报表运行：1 个由已退出的后台进程遗留的运行已标为失败" in log
    finally:
        reporting.unregister("slow")
        jobs.queue.configure(None)


def test_reaping_goes_on_when_another_process_commits_meanwhile(app, monkeypatch):
    """The reaper reads the busy runs before it fails any: on SQLite a SELECT still open keeps its snapshot, and
    a write after another process's commit failed at once with "database is locked"."""
    gone = f"{socket.gethostname()}:{exited_pid()}"
    minute_ago = NOW - datetime.timedelta(minutes=1)
    runs = [report_run(gone, minute_ago, name=f"lost{n}") for n in range(3)]
    monkeypatch.setattr(liveness, "lost", commits_meanwhile(liveness.lost))
    assert reaping.reap(NOW)["报表运行"] == 3
    assert {ReportRun.get_by_id(run.id).status for run in runs} == {"failed"}
