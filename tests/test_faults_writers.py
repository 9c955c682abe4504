"""Concurrent writers (issue 12 part 6), and the server killed in the middle of them.

The production server (`run.py serve`, waitress) takes edits from several users at once while a worker
imports a file (one long write transaction) and sweeps the tag rules: no request ever answers with an error
or "database is locked", every edit is saved with its audit entry, the import and the sweep complete.  Then
the same users edit in a burst and the server is SIGKILLed at a point chosen by polling the database: every
edit a client saw acknowledged is there, each with its audit entry, and none without one.  A write that
cannot get the database within its budget says 系统繁忙，请稍后重试 and changes nothing.

The other kills (a worker mid-import, a sweep midway) are tests/test_faults_kills.py."""
import datetime
import random
import signal
import sqlite3
import threading
import time

import jobs
import models
from harness.production_server import serving
from harness.workers import FIELD_KEY, wait_for
from intake import runs
from jobs.worker import in_process
from models import AuditLog, Customer, ImportRun, JobRun, User
from tests.conftest import database_url
from tests.faults_support import (BUSY, WebUser, assert_edits_kept, assert_rules_consistent, customers_csv,
                                  make_rules, saved, seeded_customers)
from tests.lock_support import HeldLock
from tests.policy_support import flashed_errors, form_values

CLIENTS = ("admin", "admin", "manager", "manager", "sales1", "sales1")
PER_CLIENT = 4  # customers each client edits, one after the other, ROUNDS times
ROUNDS = 3
IMPORT_ROWS = 6000


def edits_audited():
    return AuditLog.select().where((AuditLog.action == "update") & (AuditLog.model == "customer")).count()


class Client:
    """One user editing their own customers in turn, keeping what was sent and what the server acknowledged
    (per customer, in order: one client per customer, so the order is the order of the writes)."""

    def __init__(self, user, mine, attempted, acknowledged):
        self.user, self.mine, self.attempted, self.acknowledged = user, mine, attempted, acknowledged
        self.failures, self.sent = [], 0

    def edit_next(self):
        cid = self.mine[self.sent % len(self.mine)]
        value = f"{self.user.username}-{id(self) % 1000}-第{self.sent}次"
        self.sent += 1
        self.attempted.setdefault(cid, []).append(value)
        answer = self.user.edit_customer(cid, notes=value)
        if saved(answer):
            self.acknowledged.setdefault(cid, []).append(value)
        else:
            self.failures.append((cid, answer.status_code, flashed_errors(answer.text) or answer.text[:300]))

    def rounds(self, count):
        for _ in range(count * len(self.mine)):
            try:
                self.edit_next()
            except Exception as error:  # noqa: BLE001 - a refused connection is a failure too
                self.failures.append(repr(error))

    def until_gone(self, stop):
        while not stop.is_set():
            try:
                self.edit_next()
            except Exception:  # noqa: BLE001 - the server is gone: the edit in flight may or may not be committed
                return


def run_all(targets):
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)


def test_many_users_edit_beside_an_import_and_a_sweep_without_an_error_and_a_kill_loses_no_saved_edit(
        app, tmp_path, import_dirs):
    url, rng = database_url(tmp_path), random.Random(7)
    with app.app_context():
        history = seeded_customers(1500, seed=7, owner=User.get(User.username == "sales1").id)
        rules = make_rules()
        admin = User.get(User.username == "admin")
        run = runs.upload(customers_csv(IMPORT_ROWS, "并发导入", 136, 1), "并发导入.csv", "customers", admin)
        models.db.close()
    targets = sorted(history)[:len(CLIENTS) * PER_CLIENT]
    attempted, acknowledged = {}, {}

    try:
        with serving(url, tmp_path / "server.log", field_key=FIELD_KEY) as (base, server), \
                in_process(app.config, workers=2):  # huey's consumer as `run.py worker` runs it, on threads here
            clients = [Client(WebUser(base, name), targets[n * PER_CLIENT:(n + 1) * PER_CLIENT], attempted,
                              acknowledged) for n, name in enumerate(CLIENTS)]
            jobs.discover()
            with app.app_context():
                runs.start(run, dry_run=False)  # the worker: one transaction for the whole file
                sweep = jobs.run_now("tag-rules")  # and the daily sweep beside it, on the worker's other thread
                models.db.close()
            edits_began = datetime.datetime.now()
            run_all([lambda c=c: c.rounds(ROUNDS) for c in clients])
            edits_ended = datetime.datetime.now()
            with app.app_context():
                wait_for(lambda: ImportRun.get_by_id(run.id).status != "importing"
                         and JobRun.get_by_id(sweep.id).status in ("success", "failed"),
                         "the import and the sweep finished", timeout=120)
                failures = [f for c in clients for f in c.failures]
                assert failures == [], f"{len(failures)} requests failed: {failures[:3]}"
                assert acknowledged == attempted
                assert_edits_kept(acknowledged, attempted)
                done = ImportRun.get_by_id(run.id)
                assert done.status == "done", done.message
                swept = JobRun.get_by_id(sweep.id)
                for work in (done, swept):  # both were writing while the users saved
                    assert work.started_at < edits_ended and work.finished_at > edits_began
                assert Customer.select().where(Customer.name.startswith("并发导入")).count() == IMPORT_ROWS
                assert JobRun.get_by_id(sweep.id).status == "success"
                assert_rules_consistent(rules)

                # A burst of the same edits, and SIGKILL once some more are committed (polled in the database).
                stop, at = threading.Event(), edits_audited() + rng.randrange(8, 20)
                burst = [threading.Thread(target=c.until_gone, args=(stop,)) for c in clients]
                for thread in burst:
                    thread.start()
                wait_for(lambda: edits_audited() >= at, "the burst's edits committed", timeout=120)
                server.send_signal(signal.SIGKILL)  # requests in flight, some inside their transaction
                assert server.wait(timeout=30) == -signal.SIGKILL
                stop.set()
                for thread in burst:
                    thread.join(timeout=120)
                models.db.close()
    finally:
        jobs.queue.configure(None)
    with app.app_context():  # reopened after the kill (SQLite recovers its WAL): every acknowledged edit is there
        assert sum(map(len, acknowledged.values())) > len(CLIENTS) * PER_CLIENT * ROUNDS
        assert_edits_kept(acknowledged, attempted)
        customer = Customer.get_by_id(targets[0])  # and it takes writes again
        customer.notes = "重启后的修改"
        customer.save()
        assert Customer.get_by_id(targets[0]).notes == "重启后的修改"
        models.db.close()


def test_an_edit_that_waits_past_its_budget_says_busy_in_chinese_and_changes_nothing(app, login, make_customer):
    """In the app itself (the Flask test client) with a budget of 1 s: another transaction holds what the
    edit needs for longer.  SQLite: the edit's BEGIN IMMEDIATE gives up (503 page); PostgreSQL: its UPDATE
    meets lock_timeout inside the form's save (the form again, with the message)."""
    app.config["DATABASE_BUSY_SECONDS"] = 1
    with app.app_context():
        cid = make_customer(owner="sales1", notes="原备注").id
        models.db.close()
        models.db.close_all()
    models.bind(app.config["DATABASE_URL"], busy_seconds=1)  # as the app binds it with DATABASE_BUSY_SECONDS=1
    admin = login("admin")
    url = f"/admin/customer/edit/?id={cid}"
    data = form_values(admin.get(url).get_data(as_text=True))
    with HeldLock(app.config["DATABASE_URL"], "SELECT id FROM customer WHERE id = %s FOR UPDATE", (cid,)):
        began = time.monotonic()
        answer = admin.post(url, data=dict(data, notes="等不到锁的修改"))
        waited = time.monotonic() - began
    text = answer.get_data(as_text=True)
    assert BUSY in text, (answer.status_code, flashed_errors(text) or text[:500])
    assert answer.status_code in (200, 503) and answer.status_code != 302
    for leak in ("database is locked", "lock timeout", "Traceback", "OperationalError"):
        assert leak not in text
    assert waited >= 1  # it waited its budget before giving up
    with app.app_context():
        assert Customer.get_by_id(cid).notes == "原备注"  # nothing changed, and no audit entry either
        assert not AuditLog.select().where((AuditLog.action == "update") & (AuditLog.record_id == str(cid))).exists()
    saved_now = admin.post(url, data=dict(data, notes="锁释放后的修改"))  # once the other write is done, it saves
    assert saved_now.status_code == 302
    with app.app_context():
        assert Customer.get_by_id(cid).notes == "锁释放后的修改"


def test_the_command_line_waits_for_a_held_lock_and_on_sqlite_past_its_budget_says_busy(app):
    """`run.py tag-rules` while another transaction holds what its first rule needs for 2 s: SQLite's write
    lock, with a budget of 1 s, makes it stop with the sentence (no traceback) before it changed anything;
    on PostgreSQL (the command line sets no lock_timeout) it waits its turn and completes."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import run
    from tests.faults_support import AS_OF

    url = app.config["DATABASE_URL"]
    with app.app_context():
        seeded_customers(40, seed=9, owner=User.get(User.username == "sales1").id)
        first = min(make_rules())
        models.db.close()
        models.db.close_all()
    models.bind(url, busy_seconds=1)
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        release = lambda: holder.execute("ROLLBACK")  # noqa: E731
    else:
        import psycopg2

        holder = psycopg2.connect(url)
        holder.autocommit = True
        holder.cursor().execute("SELECT pg_advisory_lock(hashtext(%s))", (f"tagrule:{first}",))  # as apply_rule takes it
        release = lambda: holder.cursor().execute("SELECT pg_advisory_unlock_all()")  # noqa: E731
    timer = threading.Timer(2.0, release)
    timer.start()
    try:
        began = time.monotonic()
        result = CliRunner().invoke(run.cli, ["tag-rules", "--as-of", AS_OF.isoformat()],
                                    obj=ScriptInfo(create_app=lambda: app))
        took = time.monotonic() - began
    finally:
        timer.join()
        holder.close()
    with app.app_context():
        applied = AuditLog.select().where(AuditLog.action == "rule-apply").count()
        models.db.close()
    if url.startswith("sqlite"):
        assert result.exit_code == 1 and BUSY in result.output, result.output
        assert "Traceback" not in result.output and "locked" not in result.output
        assert 1 <= took < 2 and applied == 0  # gave up after its budget, having changed nothing
    else:
        assert result.exit_code == 0, result.output
        assert took >= 2 and applied > 0  # waited for the lock, then swept
