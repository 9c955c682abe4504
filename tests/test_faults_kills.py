"""Killed mid-write (issue 12 part 6): a worker SIGKILLed in the middle of an import, `run.py tag-rules`
SIGKILLed in the middle of a sweep.  Afterwards nothing is half-written, and the work is re-run to the end
state an uninterrupted run gives.  Kill points are chosen by polling the database for progress (with a
seeded offset), never by a fixed sleep alone.

The server killed during a burst of edits is tests/test_faults_writers.py; the kill of `run.py import`
itself is tests/test_intake_kill.py, of `run.py rotate-key` tests/test_key_rotation.py, and a worker killed
in the middle of a report tests/test_jobs_reaping.py.
"""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import jobs
import models
from harness.workers import FIELD_KEY, ROOT, kill, wait_for, workers
from intake import progress, runs
from jobs import reaping
from models import AuditLog, Customer, ImportBatch, ImportChange, ImportRun, User
from tests.conftest import database_url
from tests.faults_support import (AS_OF, assert_rules_consistent, assert_swept_exactly, customers_csv, expected_matches,
                                  make_rules, seeded_customers)

ROWS = 16_000


def import_writing(url):
    """Whether an import's transaction is under way, from the database: on SQLite the write lock is held (a
    BEGIN IMMEDIATE that may not wait fails), on PostgreSQL another session holds a write lock on customer
    (its first rows are inserted, uncommitted)."""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(url[len("sqlite:///"):], timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    return models.db.execute_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'customer'::regclass AND mode = 'RowExclusiveLock' "
        "AND pid <> pg_backend_pid())").fetchone()[0]


def counts():
    return {"customers": Customer.select().where(Customer.name.startswith("中途导入")).count(),
            "batches": ImportBatch.select().count(), "changes": ImportChange.select().count(),
            "audited": AuditLog.select().where(AuditLog.action == "import").count()}


def test_a_worker_killed_mid_import_writes_nothing_its_run_is_failed_and_the_import_then_completes(
        app, tmp_path, import_dirs, login):
    url, rng = database_url(tmp_path), random.Random(62)
    client = login("admin")
    jobs.configure(app.config)
    with app.app_context():
        admin = User.get(User.username == "admin")
        run = runs.upload(customers_csv(ROWS, "中途导入", 135, 2), "中途导入.csv", "customers", admin)
        before = counts()
        models.db.close()
    try:
        with workers(tmp_path, url, app.config["QUEUE_URL"], threads=1, own_group=True) as (worker,):
            with app.app_context():
                runs.start(run, dry_run=False)
                wait_for(lambda: ImportRun.get_by_id(run.id).worker and import_writing(url), "the import writing",
                         timeout=120)
                wait_for(lambda: client.get(f"/admin/importrun/progress/?id={run.id}").get_json()["done"],
                         "progress shown while the import writes", timeout=60)
                time.sleep(rng.uniform(0.1, 0.5))  # a seeded point further into the transaction
                kill(worker)  # SIGKILL
                models.db.close()
        with app.app_context():
            killed = ImportRun.get_by_id(run.id)
            assert killed.status == "importing", "the import finished before the kill: make the file larger"
            assert counts() == before  # all or nothing: no customer, batch, undo record or audit entry of it
            assert reaping.reap()["导入"] == 1  # the periodic reap-lost-runs (and every worker at its start)
            failed = ImportRun.get_by_id(run.id)
            assert failed.status == "failed" and f":{worker.pid}" in failed.message and "均未写入" in failed.message
            shown = client.get(f"/admin/importrun/progress/?id={run.id}").get_json()  # not the dead worker's bar
            assert shown["status"] == "failed" and not shown["busy"] and shown["percent"] == 100
            if models.is_sqlite():  # its file stays there until swept; PostgreSQL keeps the numbers in the row
                assert progress.board().read(run.id)["done"], "the killed worker's last numbers"
            progress.sweep()  # the daily purge-import-files: what the killed worker left on the board goes
            assert progress.board().read(run.id) is None
            # Run again (the wizard's 导入 after a new check): the whole file, as if nothing had happened.
            runs.start(failed, dry_run=False)
            done = runs.execute(run.id, dry_run=False)
            assert done.status == "done", done.message
            after = counts()
            assert after["customers"] == ROWS and after["changes"] == before["changes"] + ROWS
            assert after["batches"] == before["batches"] + 1 and after["audited"] == before["audited"] + 1
            assert ImportBatch.get_by_id(done.batch_id).created == ROWS
            models.db.close()
    finally:
        jobs.queue.configure(None)


def test_a_sweep_killed_midway_keeps_whole_rules_and_the_next_sweep_ends_as_an_uninterrupted_one(app, tmp_path):
    url, rng = database_url(tmp_path), random.Random(63)
    with app.app_context():
        history = seeded_customers(3000, seed=63, owner=User.get(User.username == "sales1").id)
        rules = make_rules()
        expected = expected_matches(history, rules)
        models.db.close()
    assert all(expected.values()), "every rule should match someone"
    env = dict(os.environ, CRM_ENV="testing", DATABASE_URL=url, SECRET_KEY="test-secret", FIELD_KEY=FIELD_KEY)
    command = [sys.executable, "run.py", "tag-rules", "--as-of", AS_OF.isoformat()]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    at = rng.randrange(1, 4)  # rules committed when the kill comes

    def applied():
        models.db.close()
        return AuditLog.select().where(AuditLog.action == "rule-apply").count()

    try:
        with app.app_context():
            deadline = time.monotonic() + 120
            while applied() < at:  # polled closely: a rule's transaction takes tens of milliseconds
                assert process.poll() is None and time.monotonic() < deadline, "the sweep ended or never began"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
            done = applied()
            assert at <= done < len(rules), "the sweep finished before the kill"
            assert_rules_consistent(rules)  # whole rules only: episodes, tag rows and audit entries together
            models.db.close()
    finally:
        if process.poll() is None:
            kill(process)
        process.stderr.close()

    with app.app_context():
        import tagrules

        again = tagrules.sweep(as_of=AS_OF)  # run again: what `run.py tag-rules` runs
        assert any(r.changed for r in again) and not any(r.skipped for r in again)
        assert_swept_exactly(expected, rules)  # as one uninterrupted sweep: nothing twice, nothing missed
        assert not any(r.changed for r in tagrules.sweep(as_of=AS_OF))  # and a further sweep changes nothing
        models.db.close()
