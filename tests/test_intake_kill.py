"""All or nothing under a kill: `run.py import` killed (SIGKILL) while it writes leaves nothing behind,
and the same import then succeeds."""
import os
import signal
import subprocess
import sys
import time

import models
from intake import engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = 40_000


def big_file(tmp_path):
    path = tmp_path / "客户.csv"
    with open(path, "w", encoding="gb18030", newline="") as handle:
        handle.write("客户名称,手机号码,所属行业,首次接触时间\n")
        for i in range(ROWS):
            handle.write(f"测试{i}有限公司,+86 139 {i // 10000:04d} {i % 10000:04d},IT,2024年1月{i % 28 + 1}日\n")
    return str(path)


def counts():
    return {model.__name__: model.select().count()
            for model in (models.Customer, models.StatusChange, models.ImportBatch, models.ImportChange)}


def test_a_killed_import_writes_nothing_and_the_same_import_then_succeeds(app, tmp_path, monkeypatch):
    path = big_file(tmp_path)
    env = dict(os.environ, CRM_ENV="testing", DATABASE_URL=app.config["DATABASE_URL"],
               SECRET_KEY=app.config["SECRET_KEY"], FIELD_KEY=app.config["FIELD_KEY"], PYTHONUNBUFFERED="1")
    with app.app_context():
        before = counts()
        models.db.close()
    process = subprocess.Popen([sys.executable, "run.py", "import", "customers", path, "--errors",
                                str(tmp_path / "errors.xlsx")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        seen = []
        for line in process.stderr:  # "写入 1,000/40,000 行（0%）": the first chunk is written, uncommitted
            seen.append(line)
            if line.startswith("写入"):
                break
            assert time.monotonic() < deadline, "".join(seen)
        else:
            raise AssertionError("the import ended before it wrote: " + "".join(seen) + process.stdout.read())
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL  # killed, not finished
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    with app.app_context():
        assert counts() == before  # nothing of the killed import: no customers, history, batch or undo record
        monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))
        report = engine.import_file(path, "customers")
        assert report.written and report.created == ROWS and report.rejected == 0
        after = counts()
        assert after["Customer"] == before["Customer"] + ROWS
        assert after["ImportChange"] == before["ImportChange"] + ROWS
