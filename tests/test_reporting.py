"""Report runner: parameter checks, a real kernel run, failure records, access scope and the CLI.

Uses its own tiny notebooks in tests/data/ so these tests do not depend on the analysis notebooks.
"""
import json
import os

import nbformat
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import models
import reporting
import run



def printed(notebook_path):
    """Everything the executed notebook printed to stdout."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []) if o.get("name") == "stdout")


def echoed(notebook_path):
    line = next(l for l in printed(notebook_path).splitlines() if l.startswith("PARAMS "))
    return json.loads(line[len("PARAMS "):])


# --- parameters ------------------------------------------------------------------------------
def test_three_analysis_reports_are_registered():
    names = reporting.available()
    for name in ("segmentation", "lifecycle", "value"):
        assert names[name].notebook.endswith(os.path.join("notebooks", name + ".ipynb"))
        assert names[name].description


def test_unknown_report_lists_the_known_ones():
    with pytest.raises(reporting.ReportError, match="未知报表 nope；可用报表：.*segmentation"):
        reporting.get("nope")


def test_unknown_parameter_is_rejected_with_the_valid_names(reports):
    with pytest.raises(reporting.ReportError) as caught:
        reporting.validate(reporting.get("echo"), {"topn": "5"})
    message = str(caught.value)
    assert message.startswith("未知参数 topn；可用参数：")
    assert "top_n" in message and "as_of" in message and "owner_ids" not in message


@pytest.mark.parametrize("name,value,expected", [
    ("top_n", "ten", "应为整数"),
    ("ratio", "half", "应为数字"),
    ("flag", "maybe", "应为是/否"),
    ("as_of", "2026-02-30", "应为日期"),
    ("start", "yesterday", "应为日期"),
    ("weeks", "4,x", "应为整数列表"),
])
def test_wrong_types_and_bad_dates_are_rejected(reports, name, value, expected):
    with pytest.raises(reporting.ReportError, match=f"参数 {name} {expected}"):
        reporting.validate(reporting.get("echo"), {name: value})


@pytest.mark.parametrize("name", ["owner_ids", "suppress_below", "column_access"])
def test_callers_cannot_set_the_scope(reports, name):
    with pytest.raises(reporting.ReportError, match=f"参数 {name} 由访问权限决定"):
        reporting.validate(reporting.get("echo"), {name: "1"})


def test_values_are_converted_from_cli_strings(reports):
    values = reporting.validate(reporting.get("echo"), {
        "regions": "华北, 华东,", "weeks": "1,2", "top_n": "7", "ratio": "0.25", "flag": "yes", "as_of": "2026-06-30",
    })
    assert values == {"as_of": "2026-06-30", "start": "", "regions": ["华北", "华东"], "weeks": [1, 2], "top_n": 7,
                      "ratio": 0.25, "flag": True, "tag": "默认"}  # tag: the registry's default


# --- runs ------------------------------------------------------------------------------------
def test_successful_run_as_the_system(app, reports, make_customer):
    make_customer(owner="sales1")
    make_customer(owner="sales2")
    with app.app_context():
        result = reporting.run_report("echo", {"top_n": "3", "regions": "华北"}, config=app.config)
        record = models.ReportRun.get(models.ReportRun.run_id == result.run_id)
    assert record.status == "success", record.error
    assert record.username == "system" and record.user is None
    assert record.duration > 0 and record.finished_at
    assert record.code_version and record.code_version != "unknown"
    assert record.data_watermark["customers"]["count"] == 2
    assert record.data_watermark["orders"] == {"count": 0, "latest": None}
    assert record.params["top_n"] == 3 and record.params["owner_ids"] is None
    assert os.path.basename(record.notebook_path) == record.run_id + ".ipynb"
    assert os.path.isfile(record.notebook_path) and os.path.isfile(record.html_path)
    assert os.path.basename(os.path.dirname(record.html_path)) == "echo"
    values = echoed(record.notebook_path)
    assert values["owner_ids"] is None and values["suppress_below"] == 0
    assert values["top_n"] == 3 and values["regions"] == ["华北"] and values["tag"] == "默认"
    assert "CUSTOMERS 2" in printed(record.notebook_path)  # the kernel reached this test's database
    html = open(record.html_path, encoding="utf-8").read()
    assert "PRINTED-MARKER" in html
    assert "CODE-ONLY-MARKER" not in html and "models.bind" not in html


def test_failing_cell_marks_the_run_failed_and_keeps_the_notebook(app, reports):
    with app.app_context():
        result = reporting.run_report("fails", {}, config=app.config)
        record = models.ReportRun.get_by_id(result.id)
    assert record.status == "failed"
    assert record.error_name == "ValueError" and record.error == "boom-42"
    assert record.html_path is None and record.duration is not None
    assert os.path.isfile(record.notebook_path)
    assert "before the failure" in printed(record.notebook_path)


def test_a_sales_rep_runs_over_own_customers_with_small_groups_suppressed(app, reports, users):
    with app.app_context():
        result = reporting.run_report("echo", {}, user=users["sales1"], config=app.config)
    assert result.status == "success", result.error
    assert result.username == "sales1" and result.user_id == users["sales1"].id
    values = echoed(result.notebook_path)
    assert values["owner_ids"] == [users["sales1"].id] and values["suppress_below"] == 5


def test_scope_follows_the_access_policy(app, users):
    everything = {"owner_ids": None, "suppress_below": 0, "column_access": {}}
    with app.app_context():
        assert reporting.runner.scope_for(None) == {**everything, "viewer_role": None}
        assert reporting.runner.scope_for(users["admin"]) == {**everything, "viewer_role": "admin"}
        assert reporting.runner.scope_for(users["service"]) == {**everything, "viewer_role": "service"}
        scope = reporting.runner.scope_for(users["manager"])
        assert users["manager"].id in scope["owner_ids"] and users["sales1"].id in scope["owner_ids"]
        assert scope["suppress_below"] == 5 and scope["column_access"] == {}


def test_column_rules_of_the_runner_reach_the_report(app, reports, users):
    """An admin hides customer names from service staff and masks codes: their reports follow at once."""
    import access

    service = models.Role.get(models.Role.name == "service")
    with app.app_context():
        models.ColumnRule.create(role=service, model="customer", column="name", access="hidden")
        models.ColumnRule.create(role=service, model="customer", column="code", access="masked")
        access.bump_version()
        run = reporting.run_report("echo", {}, user=users["service"], config=app.config)
    assert run.params["column_access"] == {"code": "masked", "name": "hidden"}


def test_customer_labels_mask_or_leave_out_columns(app, make_customer):
    from analytics import session

    first = make_customer(code="HB-IT-2024-001", name="甲公司")
    second = make_customer(code="HD-JR-2024-002", name="乙公司")
    with app.app_context():
        clear = session.customer_labels([second.id, first.id])
        ruled = session.customer_labels([second.id, first.id], {"code": "masked", "name": "hidden"})
    assert clear.to_dict("index") == {second.id: {"code": "HD-JR-2024-002", "name": "乙公司"},
                                      first.id: {"code": "HB-IT-2024-001", "name": "甲公司"}}
    assert list(ruled.columns) == ["code"] and list(ruled.index) == [second.id, first.id]
    assert list(ruled["code"]) == ["HD-*******-002", "HB-*******-001"]


# --- command line ----------------------------------------------------------------------------
def invoke(app, *args):
    return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_cli_runs_a_report_and_prints_the_html_path(app, reports):
    result = invoke(app, "report", "echo", "--param", "top_n=4", "--as", "admin")
    assert result.exit_code == 0, result.output
    with app.app_context():
        record = models.ReportRun.get()
    assert record.html_path in result.output and record.run_id in result.output
    assert record.username == "admin" and record.params["top_n"] == 4


def test_cli_refuses_bad_parameters_and_reports_failed_runs(app, reports):
    result = invoke(app, "report", "echo", "--param", "topn=4")
    assert result.exit_code != 0 and "未知参数 topn" in result.output
    assert invoke(app, "report", "echo", "--param", "top_n").exit_code != 0
    assert "unknown user" in invoke(app, "report", "echo", "--as", "ghost").output
    result = invoke(app, "report", "fails")
    assert result.exit_code == 1 and "ValueError: boom-42" in result.output
    with app.app_context():
        assert models.ReportRun.select().count() == 1  # validation failures never start a run


def test_html_leaves_out_the_mail_summary_line(tmp_path):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(...)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text='共 12 位客户\nSUMMARY={"客户数": 12}\n'),
                    nbformat.v4.new_output("stream", name="stdout", text='SUMMARY={"收入": "¥9"}\n')]
    notebook.cells = [nbformat.v4.new_markdown_cell("# 标题"), cell]
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, str(path))
    html = open(reporting.runner.write_html(str(path)), encoding="utf-8").read()
    assert "共 12 位客户" in html and "标题" in html
    assert "SUMMARY=" not in html
    assert "SUMMARY=" in path.read_text(encoding="utf-8"), "the notebook keeps it for the mail"


# --- out-of-range parameters are refused before anything runs --------------------------------------
@pytest.mark.parametrize("report,supplied,expected", [
    ("value", {"top_n": "1000000"}, "参数 名单长度（top_n） 应在 1 到 500 之间，收到 1000000"),
    ("value", {"top_n": "0"}, "应在 1 到 500 之间，收到 0"),
    ("value", {"unit_days": "5"}, "参数 模型时间单位（天）（unit_days） 只能是 1、7、30 之一，收到 5"),
    ("value", {"horizon_months": ""}, "参数 CLV 预测期（horizon_months） 至少需要一个值"),
    ("value", {"horizon_months": "12,1200"}, "应在 1 到 120 之间，收到 1200"),
    ("value", {"horizon_months": "1,2,3,4,5,6"}, "最多 5 个值，收到 6 个"),
    ("value", {"discount_rate": "-0.1"}, "应在 0 到 0.5 之间"),
    ("value", {"holdout_weeks": "500"}, "应在 0 到 104 之间"),
    ("lifecycle", {"churn_days": "1"}, "应在 7 到 3650 之间"),
    ("segmentation", {"clusters": "50"}, "应在 0 到 8 之间"),
    ("value", {"as_of": "2024-06-30", "start": "2024-07-01"}, "参数 起始日期（start） 应早于截止日期（as_of 2024-06-30），收到 2024-07-01"),
    ("segmentation", {"as_of": "2024-06-30", "compare_to": "2024-06-30"}, "应早于截止日期"),
])
def test_out_of_range_parameters_are_refused_with_a_sentence(report, supplied, expected):
    with pytest.raises(reporting.ReportError) as caught:
        reporting.validate(reporting.get(report), supplied)
    assert expected in str(caught.value)


def test_refused_parameters_start_no_run(app):
    with app.app_context():
        with pytest.raises(reporting.ReportError):
            reporting.runner.queue_run("value", {"top_n": "999999"})
        assert models.ReportRun.select().count() == 0


def test_parameters_within_range_pass(reports):
    values = reporting.validate(reporting.get("value"), {"top_n": "500", "horizon_months": "12,36,120",
                                                         "as_of": "2024-06-30", "start": "2021-06-30"})
    assert values["top_n"] == 500 and values["horizon_months"] == [12, 36, 120]


# --- scope: a notebook is given only what it declares, and never runs without its scope ------------------
def _write_notebook(path, parameters):
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"}})
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell('print("RAN")')]
    nbformat.write(notebook, str(path))
    return str(path)


@pytest.mark.parametrize("name", sorted(reporting.available()))
def test_every_registered_notebook_declares_exactly_the_scope_its_registration_names(name):
    report = reporting.get(name)
    assert set(reporting.registry.ROW_AND_COLUMN_SCOPE) <= set(report.scope), "every report reads customers"
    declared = reporting.params.declared(report.notebook)
    assert set(declared) & set(reporting.SCOPE_PARAMS) == set(report.scope)


@pytest.mark.parametrize("scope,parameters,missing", [
    (None, 'as_of = ""\nowner_ids = None\nsuppress_below = 0', "column_access"),
    (None, 'as_of = ""', "owner_ids、suppress_below、column_access"),
    (("owner_ids", "suppress_below", "column_access", "viewer_role"),
     'owner_ids = None\nsuppress_below = 0\ncolumn_access = {}', "viewer_role"),
])
def test_a_notebook_lacking_a_scope_parameter_is_refused_before_a_run_is_recorded(app, users, tmp_path, scope,
                                                                                  parameters, missing):
    path = _write_notebook(tmp_path / "unscoped.ipynb", parameters)
    reporting.register("unscoped", path, "缺少范围参数", **({"scope": scope} if scope else {}))
    try:
        with app.app_context():
            with pytest.raises(reporting.ReportError, match=f"未声明访问范围参数 {missing}，"):
                reporting.runner.queue_run("unscoped", {}, user=users["sales1"])
            assert models.ReportRun.select().count() == 0
    finally:
        reporting.unregister("unscoped")


def test_a_notebook_that_lost_its_scope_after_the_run_was_queued_fails_without_a_kernel(app, users, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setattr(reporting.runner, "OUT_DIR", str(tmp_path / "reports_out"))
    path = _write_notebook(tmp_path / "edited.ipynb", "owner_ids = None\nsuppress_below = 0\ncolumn_access = {}")
    reporting.register("edited", path, "排队后被修改")
    try:
        with app.app_context():
            queued = reporting.runner.queue_run("edited", {}, user=users["sales1"])
            _write_notebook(path, "suppress_below = 0\ncolumn_access = {}")  # someone drops owner_ids meanwhile
            run = reporting.runner.execute_run(queued.id, config=app.config)
    finally:
        reporting.unregister("edited")
    assert run.status == "failed" and run.error_name == "ReportError" and "owner_ids" in run.error
    assert run.params["owner_ids"] == [users["sales1"].id]  # what it was asked with stays recorded
    assert not os.path.exists(run.notebook_path) and run.html_path is None  # papermill never ran


def test_each_notebook_is_given_only_the_parameters_it_declares(app, reports, users):
    with app.app_context():
        echo = reporting.runner.run_parameters(reporting.get("echo"), {"top_n": "3"}, users["service"])
        custom = reporting.runner.run_parameters(reporting.get("custom"), {"report_id": "1"}, users["service"])
    assert echo["viewer_role"] == "service" and custom["viewer_role"] == "service"  # recorded with each run
    assert reporting.params.for_notebook(reporting.get("echo"), {**echo, "stale": 1}) == {
        name: value for name, value in echo.items() if name != "viewer_role"}  # echo declares no viewer_role
    assert reporting.params.for_notebook(reporting.get("custom"), custom) == custom


def test_declared_parameters_follow_an_edited_notebook(tmp_path):
    path = _write_notebook(tmp_path / "grows.ipynb", 'as_of = ""\ntop_n = 20  # type: int')
    assert reporting.params.declared(path) == {"as_of": "", "top_n": 20}
    _write_notebook(path, 'as_of = ""\ntop_n: int = 20\nregions = ["华北"]\nstarted = datetime.date.today()')
    assert reporting.params.declared(path) == {"as_of": "", "top_n": 20, "regions": ["华北"], "started": None}
    reporting.params.declared(path)["regions"].append("华东")  # a caller changing what it got changes nothing kept
    assert reporting.params.declared(path)["regions"] == ["华北"]


def test_a_killed_runs_kernel_sockets_are_removed_by_the_next_run(tmp_path, monkeypatch):
    """Each run's kernel talks to it over Unix sockets in a private directory, removed after the run; a run whose
    process was killed leaves its directory, which the next run removes once that process is gone."""
    import subprocess
    import sys
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    orphaned = tmp_path / f"crm-kernel-{gone}-abc123"
    alive = tmp_path / f"crm-kernel-{os.getppid()}-def456"  # a run of a process that still runs
    other = tmp_path / "crm-kernel-notes"
    for directory in (orphaned, alive, other):
        directory.mkdir()
    with reporting.runner._kernel_sockets() as config:
        sockets = os.path.dirname(config.KernelManager.ip)
        assert config.KernelManager.transport == "ipc"
        assert os.path.basename(sockets).startswith(f"crm-kernel-{os.getpid()}-") and os.path.isdir(sockets)
        assert oct(os.stat(sockets).st_mode & 0o777) == "0o700"
    assert not os.path.exists(sockets) and not orphaned.exists()
    assert alive.exists() and other.exists()
