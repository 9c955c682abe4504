"""Uploaded import files and rejected-rows files go after the retention period (intake.retention):
older files are deleted, newer ones and a busy run's upload are kept, the purge is audited, and the
wizard then says the file was cleared instead of failing, while the run's undo still works."""
import datetime
import json
import os

import pytest

from intake import retention, runs
from models import AuditLog, Customer, ImportRun
from tests.test_import_wizard import BAD, BASE, GOOD, check, latest_run, upload

NOW = datetime.datetime(2026, 12, 7, 3, 30)


@pytest.fixture(autouse=True)
def _inline(queue_inline, import_dirs):
    """Each step's job runs when it is queued."""


def age(path, days):
    moment = (NOW - datetime.timedelta(days=days)).timestamp()
    os.utime(path, (moment, moment))


def test_files_older_than_the_period_are_deleted_and_the_purge_is_audited(app, login):
    client = login("admin")
    upload(client, BAD)
    old = latest_run()
    check(client, old)
    old = ImportRun.get_by_id(old.id)
    old_errors = old.report["error_file"]
    upload(client, GOOD)
    young = latest_run()
    upload(client, GOOD)
    busy = latest_run()
    ImportRun.update(status="importing").where(ImportRun.id == busy.id).execute()
    for path in (old.path, old_errors, busy.path):
        age(path, 31)
    age(young.path, 29)

    purged = retention.purge(now=NOW)

    assert purged.files == 2 and purged.bytes > 0
    assert not os.path.exists(old.path) and not os.path.exists(old_errors)
    assert os.path.exists(young.path), "younger than 30 days"
    assert os.path.exists(busy.path), "a worker is importing it"
    entry = AuditLog.get(AuditLog.action == "purge")
    assert entry.username == "system" and json.loads(entry.changes) == {"files": 2, "bytes": purged.bytes, "days": 30}
    assert retention.purge(now=NOW).files == 0
    assert AuditLog.select().where(AuditLog.action == "purge").count() == 1, "nothing deleted, nothing logged"


def test_the_period_is_configurable(app, login, monkeypatch):
    client = login("admin")
    upload(client, GOOD)
    run = latest_run()
    age(run.path, 8)
    assert retention.purge(now=NOW).files == 0
    monkeypatch.setenv("IMPORT_FILES_KEEP_DAYS", "7")
    assert retention.purge(now=NOW).files == 1


def test_a_cleared_run_says_so_and_its_import_can_still_be_undone(app, login):
    client = login("admin")
    upload(client, BAD)
    run = latest_run()
    check(client, run)
    client.submit(f"{BASE}start/?id={run.id}", {"mode": "skip"}, form_url=f"{BASE}details/?id={run.id}")
    run = ImportRun.get_by_id(run.id)
    assert run.status == "done" and Customer.select().count() == 2
    for path in (run.path, run.report["error_file"]):
        age(path, 40)
    assert retention.purge(now=NOW).files == 2

    response = client.get(f"{BASE}errors/?id={run.id}", follow_redirects=True)
    assert response.status_code == 200 and "错误行文件已按保留期限（30 天）清理" in response.get_data(as_text=True)
    client.submit(f"{BASE}undo/?id={run.id}", {}, form_url=f"{BASE}details/?id={run.id}")
    assert Customer.select().count() == 0, "undo works on the database's record, not the file"

    upload(client, GOOD)
    second = latest_run()
    os.remove(second.path)  # cleared before its check
    response = client.get(f"{BASE}map/?id={second.id}", follow_redirects=True)
    assert runs.FILE_GONE in response.get_data(as_text=True)
    assert ImportRun.get_by_id(second.id).status == "uploaded", "nothing started"


def test_a_run_queued_before_its_file_was_cleared_is_refused_with_the_reason(app, login):
    client = login("admin")
    upload(client, GOOD)
    run = latest_run()
    os.remove(run.path)
    finished = runs.execute(run.id, dry_run=True)
    assert finished.status == "refused" and finished.message == runs.FILE_GONE
