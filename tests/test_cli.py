from click.testing import CliRunner
from flask.cli import ScriptInfo

import models
import run


def invoke(app, *args):
    return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_production_without_secret_key_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = CliRunner().invoke(run.cli, ["init-db"])
    assert result.exit_code == 1
    assert "SECRET_KEY is not set" in result.output
    assert "Traceback" not in result.output


def test_help_works_without_configuration(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = CliRunner().invoke(run.cli, ["--help"])
    assert result.exit_code == 0
    for command in ("init-db", "demo", "serve", "create-user"):
        assert command in result.output


def test_create_user_must_change_password(app):
    result = invoke(app, "create-user", "rep9", "--role", "sales", "--manager", "manager", "--password", "first-pass-9")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = models.User.get(models.User.username == "rep9")
        assert user.must_change_password and user.check_password("first-pass-9")
        assert user.manager.username == "manager" and user.role.name == "sales"


def test_create_user_refuses_unknown_role_and_duplicates(app):
    assert "unknown role" in invoke(app, "create-user", "rep9", "--role", "boss").output
    assert "already exists" in invoke(app, "create-user", "sales1", "--role", "sales").output


def test_init_db_is_idempotent(app):
    assert invoke(app, "init-db").exit_code == 0
    assert invoke(app, "init-db").exit_code == 0
    with app.app_context():
        assert models.Role.select().count() == 4
        assert models.Choice.select().where(models.Choice.kind == "region").count() == 7


def test_lab_serves_the_notebooks(tmp_path):
    """Starts the real JupyterLab through run.py and asks it for the notebooks directory."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, CRM_ENV="testing", SECRET_KEY="x", FIELD_KEY="a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
               DATABASE_URL=f"sqlite:///{tmp_path / 'lab.db'}", JUPYTER_TOKEN="test-token",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    server = subprocess.Popen([sys.executable, "run.py", "lab", "--port", str(port), "--no-browser"], cwd=root,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listing = None
        deadline = time.monotonic() + 120  # its start-up takes a few seconds, more on a loaded machine
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=test-token", timeout=2) as r:
                    listing = json.load(r)
                break
            except OSError:
                time.sleep(0.25)
        assert listing is not None, "JupyterLab did not answer"
        names = {item["name"] for item in listing["content"]}
        assert {"segmentation.ipynb", "lifecycle.ipynb", "value.ipynb"} <= names
    finally:
        server.terminate()
        server.wait(timeout=20)
    # Stopping run.py lab stops JupyterLab: nothing is left listening on the port.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "JupyterLab outlived run.py lab"


def test_import_cdnow_then_report_on_it(app, tmp_path, monkeypatch):
    """The CDNOW sample through the command line: import, then the value report over it."""
    import reporting

    monkeypatch.setattr(reporting.runner, "OUT_DIR", str(tmp_path / "reports_out"))
    result = invoke(app, "import", "cdnow", "--owner", "sales1")
    assert result.exit_code == 0, result.output
    assert "customers 2,357" in result.output and "orders 6,919" in result.output
    with app.app_context():
        sales1 = models.User.get(models.User.username == "sales1")
        assert models.Customer.select().where(models.Customer.owner == sales1).count() == 2357
        logged = models.AuditLog.get(models.AuditLog.action == "import")
        assert logged.rows == 2357 and '"kind": "cdnow"' in logged.changes

    result = invoke(app, "report", "value", "--param", "as_of=1997-09-30", "--param", "start=1997-01-01",
                    "--param", "holdout_weeks=0")
    assert result.exit_code == 0, result.output
    with app.app_context():
        run = models.ReportRun.select().order_by(models.ReportRun.id.desc()).get()
    assert run.status == "success" and run.html_path in result.output
    html = open(run.html_path, encoding="utf-8").read()
    assert "2357" in html.replace(",", "")  # the report counts the imported customers


def test_import_refuses_bad_files_unknown_kinds_and_repeats(app, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("00001 00001 19970101 1 29.33\n00002 00002 19971332 1 10.00\nbroken\n")
    result = invoke(app, "import", "cdnow", str(bad))
    assert result.exit_code == 1
    assert "第 2 行" in result.output and "第 3 行" in result.output and "未写入任何数据" in result.output
    assert "Traceback" not in result.output
    unknown = invoke(app, "import", "vcard", str(bad))
    assert unknown.exit_code == 1 and "未知的导入类型: vcard" in unknown.output and "cdnow" in unknown.output
    with app.app_context():
        assert models.Customer.select().count() == 0 and models.Order.select().count() == 0
        assert not models.AuditLog.select().where(models.AuditLog.action == "import").exists()
    assert invoke(app, "import", "cdnow").exit_code == 0
    again = invoke(app, "import", "cdnow")
    assert again.exit_code == 1 and "已导入过" in again.output
