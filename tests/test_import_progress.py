"""The import wizard's progress bar moves while the import's one transaction is open (intake.progress).

A real worker (huey's consumer on a thread of this process, with its own database connection) checks and
imports a file of a few thousand customers, while the test polls /admin/importrun/progress/ through the
app's client, as the page's script does.  Before the progress board, the numbers were written inside the
import's transaction and nobody saw them before the commit: the bar sat still, then jumped to the end.
"""
import os
import time

import pytest

from intake import engine, progress, runs
from models import Customer, ImportRun, User
from tests.faults_support import customers_csv

ROWS = 3000
PROGRESS = "/admin/importrun/progress/?id={}"


@pytest.fixture
def quick_steps(monkeypatch, import_dirs):
    """A progress record for every step, and steps of 250 rows, so a small file takes a dozen steps."""
    monkeypatch.setattr(runs, "PROGRESS_EVERY_S", 0)
    monkeypatch.setattr(engine, "CHUNK", 250)


def watch(app, client, run, dry_run):
    """Start the run on the worker and poll its progress until it is no longer busy; the `done` values seen
    while it was busy, and the last answer."""
    with app.app_context():
        runs.start(run, dry_run=dry_run)
    seen, deadline = [], time.monotonic() + 60
    while True:
        answer = client.get(PROGRESS.format(run.id)).get_json()
        if not answer["busy"]:
            return seen, answer
        seen.append(answer["done"])
        assert answer["text"], "the line under the bar"
        assert time.monotonic() < deadline, f"still busy after 60 s: {answer}"
        time.sleep(0.01)


def assert_moved(seen):
    moving = [done for done in seen if done]
    assert moving == sorted(moving), f"progress went backwards: {moving}"
    assert len(set(moving)) >= 2, f"the bar did not move while the import ran: {seen}"


def assert_board_empty(app, run):
    with app.app_context():
        board = progress.board()
        assert board.read(run.id) is None, "the side record outlived its run"
        if hasattr(board, "folder"):
            assert not [n for n in os.listdir(board.folder()) if n.endswith(".json")]


def test_the_bar_moves_during_a_check_and_an_import_and_the_import_stays_all_or_nothing(
        app, login, worker, quick_steps):
    client = login("admin")
    with app.app_context():
        admin = User.get(User.username == "admin")
        good = runs.upload(customers_csv(ROWS, "进度客户", 136, 3), "进度客户.csv", "customers", admin)
        # as many good rows, then one with an impossible date: all or nothing refuses the whole file
        bad_file = customers_csv(ROWS, "进度坏文件", 137, 4) + "进度坏文件末行有限公司,13799999999,IT,2024-04-31\n".encode()
        bad = runs.upload(bad_file, "进度坏文件.csv", "customers", admin)

    seen, answer = watch(app, client, good, dry_run=True)  # a check rehearses the writes and rolls them back
    assert_moved(seen)
    assert answer["status"] == "checked" and answer["percent"] == 100
    with app.app_context():
        assert Customer.select().count() == 0, "a check writes nothing"

    seen, answer = watch(app, client, good, dry_run=False)
    assert_moved(seen)
    assert answer["status"] == "done" and answer["done"] == ROWS and answer["text"].endswith(f"共 {ROWS:,} 行")
    with app.app_context():
        run = ImportRun.get_by_id(good.id)
        assert run.report["counts"]["created"] == ROWS
        assert Customer.select().where(Customer.name.startswith("进度客户")).count() == ROWS
    assert_board_empty(app, good)

    seen, answer = watch(app, client, bad, dry_run=False)
    assert_moved(seen)
    with app.app_context():
        run = ImportRun.get_by_id(bad.id)
        assert run.status == "checked" and run.report["written"] is False and run.report["counts"]["rejected"] == 1
        assert Customer.select().where(Customer.name.startswith("进度坏文件")).count() == 0, "none of it written"
    assert_board_empty(app, bad)
    page = client.get(f"/admin/importrun/details/?id={bad.id}").get_data(as_text=True)
    assert "import-progress" not in page and "2024-04-31" in page  # the outcome, not a bar
