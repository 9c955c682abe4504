"""What a report's readers see, and what the run keeps for everyone else (reporting.outputs).

tests/data/outputs.ipynb misbehaves as real notebooks do (a warning naming a server path, a
stray `True`, text on stderr) and publishes results and a key chart.  After a real run the HTML
holds only the printed sentence and the chart; the log holds the rest, linked from 报表运行
for roles that may download notebooks; the results and the chart are kept with the run, and
the subscription mail shows the chart inline.
"""
import email
import os

import pytest

import models
import reporting
from analytics.publish import KEY_CHART_KEY, RESULTS_MIME
from delivery import compose
from reporting import outputs
from tests.conftest import TEST_NOTEBOOKS

SENDER = "客户分析平台 <reports@example.com>"
HIDDEN = ("LEAKED-WARNING", "/srv/crm", "STDERR-MARKER", "UserWarning", "SUMMARY=", RESULTS_MIME, "customers")


@pytest.fixture
def outputs_report(reports):
    reporting.register("outputs", os.path.join(TEST_NOTEBOOKS, "outputs.ipynb"), "输出测试：报表与日志")
    yield
    reporting.unregister("outputs")


def _successful_run(app, report):
    with app.app_context():
        run = reporting.runner.run_report(report, config=app.config)
    assert run.status == "success", run.error
    return run


@pytest.fixture
def finished_run(app, outputs_report):
    return _successful_run(app, "outputs")


def test_readers_see_the_sentence_and_the_chart_and_nothing_else(finished_run):
    html = open(finished_run.html_path, encoding="utf-8").read()
    assert "READER-SENTENCE 报表正文" in html
    assert html.count('<img alt="图表" class="" src="data:image/png;base64') == 1, "the key chart once, not twice"
    assert '<html lang="zh-CN">' in html and "No description" not in html
    for text in HIDDEN:
        assert text not in html, text
    assert ">True<" not in html and "True</pre>" not in html, "the stray value is not shown"


def test_the_log_keeps_what_readers_do_not_see(finished_run):
    log = open(finished_run.log_path, encoding="utf-8").read()
    assert "LEAKED-WARNING" in log and "STDERR-MARKER" in log and "True" in log
    assert "READER-SENTENCE" not in log


def test_results_and_the_key_chart_are_kept_with_the_run(finished_run):
    assert finished_run.published == {"model": {"r": 0.5, "customers": 3, "method": "mle"}}
    with open(finished_run.chart_path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert outputs.results(finished_run.notebook_path) == finished_run.published


def test_the_mail_shows_the_key_chart_inline(finished_run):
    message = email.message_from_bytes(bytes(compose(finished_run, ["张三 <zhang@example.com>"], SENDER)),
                                       policy=email.policy.default)
    related = [part for part in message.walk() if part.get_content_type() == "multipart/related"]
    assert len(related) == 1
    html_part, image = related[0].get_payload()
    assert image.get_content_type() == "image/png" and image.get_content_disposition() == "inline"
    content_id = image["Content-ID"].strip("<>")
    html = html_part.get_content()
    assert f'src="cid:{content_id}"' in html
    assert html.index("关键数字") < html.index("cid:") < html.index("运行信息"), "the chart beside the key numbers"
    assert image.get_content() == open(finished_run.chart_path, "rb").read()
    # Still one attachment, the full report, and a plain-text body for clients without HTML.
    attachments = [part for part in message.walk() if part.get_content_disposition() == "attachment"]
    assert [part.get_content_type() for part in attachments] == ["text/html"]
    assert message.get_body(("plain",)) is not None


def test_a_run_without_a_key_chart_mails_without_a_picture(app, make_run_from_echo):
    run = make_run_from_echo
    assert run.chart_path is None
    message = compose(run, ["zhang@example.com"], SENDER)
    assert not [part for part in message.walk() if part.get_content_type() == "multipart/related"]
    assert "cid:" not in message.get_body(("html",)).get_content()


@pytest.fixture
def make_run_from_echo(app, reports):
    return _successful_run(app, "echo")


def test_the_log_is_linked_for_roles_that_may_download_notebooks_and_audited(finished_run, login):
    details = f"/admin/reportrun/details/?id={finished_run.id}"
    manager = login("manager")
    # The run was started by the system: an admin sees every run.
    admin = login("admin")
    assert 'id="view-log"' in admin.get(details).get_data(as_text=True)
    response = admin.get(f"/admin/reportrun/log/?id={finished_run.id}")
    assert response.status_code == 200 and "LEAKED-WARNING" in response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    audit = models.AuditLog.select().where((models.AuditLog.model == "reportrun") & (models.AuditLog.action == "export"))
    assert audit.count() == 1
    assert manager.get(f"/admin/reportrun/log/?id={finished_run.id}").status_code in (403, 404)
    assert login("sales").get(f"/admin/reportrun/log/?id={finished_run.id}").status_code in (403, 404)


def test_for_readers_leaves_the_executed_notebook_untouched(finished_run):
    before = open(finished_run.notebook_path, encoding="utf-8").read()
    readable, log = outputs.for_readers(finished_run.notebook_path)
    assert open(finished_run.notebook_path, encoding="utf-8").read() == before
    kinds = [output.output_type for cell in readable.cells if cell.cell_type == "code" for output in cell.outputs]
    assert "error" not in kinds and "execute_result" not in kinds
    assert any(output.get("metadata", {}).get(KEY_CHART_KEY) for cell in readable.cells
               if cell.cell_type == "code" for output in cell.outputs)


def test_a_failed_run_keeps_its_traceback_in_the_log(app, reports):
    with app.app_context():
        run = reporting.runner.run_report("fails", config=app.config)
    assert run.status == "failed" and run.log_path
    assert "boom-42" in open(run.log_path, encoding="utf-8").read()


def test_the_mail_preview_shows_the_inline_chart_as_a_page_can_load_it(finished_run):
    """预览邮件 serves the HTML body in a web page, where cid: pictures cannot load: they become data: URIs."""
    from admin.subscription_preview import ScopePreview

    message = compose(finished_run, ["zhang@example.com"], SENDER)
    item = ScopePreview(key="all", run_as=None, addresses=["zhang@example.com"], visible=True, run=finished_run,
                        message=message)
    html = item.body("html")
    assert "cid:" not in html and html.count('src="data:image/png;base64,') == 1
    assert "关键数字" in html
    assert "cid:" in message.get_body(("html",)).get_content(), "the mail itself keeps the cid: reference"
