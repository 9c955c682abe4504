"""The reports screen: 立即运行 with progress, the runs list with outputs, re-run, scope and failures.

Runs execute for real (a Jupyter kernel on the tiny notebooks in tests/data/): the buttons put the
run's id on the test's jobs queue and a real worker (huey's consumer, the `worker` fixture) executes
it; the tests wait for each run to finish by polling its row.
"""
import json
import os
import time

import pytest

import models
from models import AuditLog, ReportRun
from tests import policy_support as ps

LIST = "/admin/reportrun/"


def finished(run_id, within=180):
    """The run, once the worker has finished it (a deadline, not a speed check)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = ReportRun.get_by_id(run_id)
        if run.finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {ReportRun.get_by_id(run_id).status} after {within} s")


def run_now(client, report, **params):
    """Press 立即运行 (no params) or submit the parameter form; returns (response, new run or None)."""
    before = {r.id for r in ReportRun.select(ReportRun.id)}
    url = LIST + "run/"
    if params:
        response = client.submit(url, {"report": report, **params}, form_url=f"{url}?report={report}")
    else:
        response = client.submit(url, {"report": report}, form_url=LIST)
    created = [r for r in ReportRun.select() if r.id not in before]
    assert len(created) <= 1
    return response, (created[0] if created else None)


def started(client, report, **params):
    response, run = run_now(client, report, **params)
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert run is not None and response.location.endswith(f"details/?id={run.id}")
    return finished(run.id)


def flashed(client):
    return ps.flashed_errors(client.get(LIST).get_data(as_text=True))


# --- the screen -------------------------------------------------------------------------------
def test_list_offers_every_registered_report_with_a_run_button(app, reports, login):
    html = login("admin").get(LIST).get_data(as_text=True)
    panel = ps.soup(html).select_one("#available-reports")
    offered = {li["data-report"] for li in panel.select("li[data-report]")}
    assert {"segmentation", "lifecycle", "value", "echo", "fails"} <= offered
    assert len(panel.select("button.run-now")) == len(offered)
    assert "立即运行" in panel.get_text()


def test_roles_without_the_permission_get_no_screen(app, reports, login):
    service = login("service")
    assert service.get(LIST).status_code == 403
    assert 'href="/admin/reportrun/"' not in service.get("/admin/").get_data(as_text=True)
    assert service.get(LIST + "run/?report=echo").status_code == 403


def test_run_now_executes_in_the_background_and_links_its_outputs(app, reports, login):
    admin = login("admin")
    run = started(admin, "echo")
    assert run.status == "success" and run.username == "admin"
    # progress reached the end: the two cells and the parameters cell papermill injects
    assert run.cells_total == 3 and run.cells_done == 3 and run.percent == 100
    assert run.params["tag"] == "默认" and run.params["owner_ids"] is None

    details = admin.get(f"{LIST}details/?id={run.id}").get_data(as_text=True)
    assert "运行成功" in details and 'id="view-report"' in details and 'id="download-notebook"' in details
    listed = ps.ListPage(admin.get(LIST).get_data(as_text=True))
    assert listed.rows[run.id]["run_id"] == run.run_id
    assert f"html/?id={run.id}" in listed.html and f"notebook/?id={run.id}" in listed.html

    report = admin.get(f"{LIST}html/?id={run.id}")
    assert report.status_code == 200 and report.mimetype == "text/html"
    assert "script-src" not in report.headers["Content-Security-Policy"]  # default-src 'none': no scripts
    body = report.get_data(as_text=True)
    assert "PRINTED-MARKER" in body and "CODE-ONLY-MARKER" not in body

    exports = AuditLog.select().where((AuditLog.action == "export") & (AuditLog.model == "reportrun"))
    download = admin.get(f"{LIST}notebook/?id={run.id}")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    cells = json.loads(download.get_data())["cells"]
    assert any("PRINTED-MARKER" in str(c.get("outputs")) for c in cells), "the executed notebook, with outputs"
    assert exports.count() == 1
    assert AuditLog.get((AuditLog.action == "run") & (AuditLog.record_id == str(run.id))).username == "admin"


def test_progress_endpoint_reports_the_state(app, reports, login):
    admin = login("admin")
    run = started(admin, "echo")
    state = admin.get(f"{LIST}progress/?id={run.id}").get_json()
    assert state == {"status": "success", "label": "成功", "percent": 100, "cells_done": 3, "cells_total": 3,
                     "finished": True, "error": None, "no_worker": False}
    queued = ReportRun.create(run_id="20260101-000000-aaaaaa", report="echo", user=run.user, username="admin")
    page = admin.get(f"{LIST}details/?id={queued.id}").get_data(as_text=True)
    assert 'id="run-progress"' in page and "progress_view" not in page and "progress/?id=" in page
    assert admin.get(f"{LIST}progress/?id={queued.id}").get_json()["percent"] == 0
    queued.delete_instance()  # never submitted: nothing will finish it


def test_parameter_form_validates_before_anything_is_stored(app, reports, login):
    admin = login("admin")
    form = admin.get(LIST + "run/?report=echo").get_data(as_text=True)
    names = ps.form_field_names(form)
    assert {"as_of", "regions", "top_n", "tag"} <= names and not names & {"owner_ids", "suppress_below"}
    assert "截止日期" in form

    response, run = run_now(admin, "echo", as_of="2026-02-30", top_n="20")
    assert run is None and response.status_code == 200
    assert any("参数 as_of 应为日期" in e for e in ps.flashed_errors(response.get_data(as_text=True)))
    assert 'value="2026-02-30"' in response.get_data(as_text=True), "the form keeps what was typed"

    response, run = run_now(admin, "echo", as_of="2026-02-28", regions="华北,华东", top_n="7", tag="")
    run = finished(run.id)
    assert run.params["as_of"] == "2026-02-28" and run.params["regions"] == ["华北", "华东"]
    assert run.params["top_n"] == 7


def test_unknown_report_and_missing_csrf_change_nothing(app, reports, login):
    admin = login("admin")
    response, run = run_now(admin, "nope")
    assert run is None and response.status_code == 302
    assert any("未知报表 nope" in e for e in flashed(admin))
    count = ReportRun.select().count()
    response = admin.post(LIST + "run/", data={"report": "echo"})  # no CSRF token
    assert ReportRun.select().count() == count
    assert response.status_code == 200


def test_failing_notebook_shows_the_error_and_keeps_the_notebook(app, reports, login):
    admin = login("admin")
    run = started(admin, "fails")
    assert run.status == "failed" and run.error_name == "ValueError" and "boom-42" in run.error
    assert run.html_path is None and os.path.isfile(run.notebook_path)
    details = admin.get(f"{LIST}details/?id={run.id}").get_data(as_text=True)
    error = ps.text_of(ps.soup(details).select_one("#run-error"))
    assert "ValueError" in error and "boom-42" in error
    assert 'id="view-report"' not in details
    assert admin.get(f"{LIST}html/?id={run.id}").status_code == 404
    assert admin.get(f"{LIST}notebook/?id={run.id}").status_code == 200, "kept for debugging"


def test_rerun_is_one_click_with_the_same_parameters_in_the_callers_scope(app, reports, login, users):
    sales = login("sales")
    first = started(sales, "echo", as_of="2025-12-31", top_n="9")
    assert first.params["owner_ids"] == [users["sales1"].id] and first.params["suppress_below"] == 5

    response = sales.submit(LIST + "rerun/", {"id": first.id}, form_url=LIST)
    second = ReportRun.select().order_by(ReportRun.id.desc()).first()
    assert second.id != first.id and response.location.endswith(f"details/?id={second.id}")
    second = finished(second.id)
    assert second.params == first.params

    admin = login("admin")  # re-run by someone else: their scope, not the original one
    admin.submit(LIST + "rerun/", {"id": first.id}, form_url=LIST)
    third = finished(ReportRun.select().order_by(ReportRun.id.desc()).first().id)
    assert third.username == "admin" and third.params["owner_ids"] is None and third.params["top_n"] == 9


def test_runs_are_scoped_to_the_runner_their_team_or_everyone(app, reports, login, users):
    def run_of(username):
        return ReportRun.create(run_id=f"20260101-000000-{username or 'system'}", report="echo", status="success",
                                user=users[username] if username else None, username=username or "system",
                                parameters="{}")

    runs = {name: run_of(name) for name in ("sales1", "sales2", "sales3", None)}
    reach = {  # default policy: sales own, manager the team (sales1 and sales2), admin everything
        "sales": {"sales1"}, "manager": {"sales1", "sales2"}, "admin": {"sales1", "sales2", "sales3", None},
    }
    for role, reachable in reach.items():
        client = login(role)
        listed = ps.ListPage(client.get(LIST).get_data(as_text=True)).ids
        for owner, run in runs.items():
            assert (run.id in listed) == (owner in reachable), f"{role} list, run of {owner}"
            expected = 200 if owner in reachable else 404
            assert client.get(f"{LIST}details/?id={run.id}").status_code == expected
            assert client.get(f"{LIST}progress/?id={run.id}").status_code == expected
            if owner not in reachable:  # (re-running reachable runs is tested above)
                before = ReportRun.select().count()
                response = client.submit(LIST + "rerun/", {"id": run.id}, form_url=LIST)
                assert response.status_code == 404, f"{role} re-run of {owner}'s run"
                assert ReportRun.select().count() == before


def test_only_roles_with_export_download_the_notebook(app, reports, login):
    run = started(login("sales"), "echo")
    assert login("sales").get(f"{LIST}notebook/?id={run.id}").status_code == 403
    assert login("manager").get(f"{LIST}notebook/?id={run.id}").status_code == 200


def test_deleting_a_run_removes_its_files(app, reports, login):
    admin = login("admin")
    run = started(admin, "echo")
    assert os.path.isfile(run.html_path) and os.path.isfile(run.notebook_path)
    response = admin.submit(LIST + "delete/", {"id": run.id, "url": LIST}, form_url=LIST)
    assert response.status_code == 302
    assert ReportRun.get_or_none(ReportRun.id == run.id) is None
    assert not os.path.exists(run.html_path) and not os.path.exists(run.notebook_path)
    assert AuditLog.get((AuditLog.action == "delete") & (AuditLog.model == "reportrun")).record_id == str(run.id)


def background_drain():
    """Wait for every queued or running run (re-runs started by a test) before its database goes."""
    for run in ReportRun.select().where(ReportRun.status.in_(["queued", "running"])):
        finished(run.id)


@pytest.fixture(autouse=True)
def _drain(app, worker):
    """Every test here has a worker; before it stops, the runs the test left queued are finished."""
    yield
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        background_drain()


def test_a_run_whose_files_were_removed_offers_no_links_and_says_so(app, reports, login, monkeypatch):
    admin = login("admin")
    kept = started(admin, "echo")
    gone = ReportRun.create(**{**{f: getattr(kept, f) for f in ("report", "parameters", "username", "status",
                                                                  "finished_at", "duration")},
                               "run_id": kept.run_id + "-x",
                               "html_path": kept.html_path + ".removed.html",
                               "notebook_path": kept.notebook_path + ".removed.ipynb"})
    links = {"html", "pdf", "xlsx", "notebook"}

    def offered(html, run):
        return {kind for kind in links if f'{LIST}{kind}/?id={run.id}"' in html}

    checked = []
    real_isfile = os.path.isfile
    monkeypatch.setattr(os.path, "isfile", lambda path: checked.append(path) or real_isfile(path))
    page = admin.get(LIST).get_data(as_text=True)
    assert offered(page, kept) == links and offered(page, gone) == set()
    # one look at each file of a row, not one per icon
    assert sorted(checked) == sorted([kept.html_path, kept.notebook_path, gone.html_path, gone.notebook_path])
    monkeypatch.undo()
    details = admin.get(f"{LIST}details/?id={gone.id}").get_data(as_text=True)
    assert "报表文件已被删除或清理" in details and f"{LIST}html/?id={gone.id}" not in details

    exports_before = AuditLog.select().where(AuditLog.action == "export").count()
    for kind in links:
        response = admin.get(f"{LIST}{kind}/?id={gone.id}")
        body = response.get_data(as_text=True)
        assert response.status_code == 404 and response.mimetype == "text/html", kind
        assert "报表文件已不存在" in body and gone.run_id in body and 'id="rerun"' in body, kind
    assert AuditLog.select().where(AuditLog.action == "export").count() == exports_before
    assert admin.get(f"{LIST}html/?id={kept.id}").status_code == 200
