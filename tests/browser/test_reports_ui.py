"""Running an analysis report from the admin in a real browser, on demo data.

A manager sets the segmentation report's as_of to the day the demo data is generated for
(demo.fixed.REFERENCE_DAY) and presses 立即运行: the run goes on the jobs queue, and with no
worker running the page says it waits for the background worker.  A real worker (huey's
consumer on the test's queue) is then started; the page, still polling, shows the progress bar
until it says the run succeeded.  The manager opens the HTML report (code hidden, charts
embedded) and re-runs it with one click.  Screenshots go to test-artifacts/.
"""
import re

from playwright.sync_api import expect

import demo
import models
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from jobs.worker import in_process
from models import ReportRun
from tests.browser.test_ui import log_in

RUN_TIMEOUT = 240_000  # ms: a real kernel on a loaded CI machine (a deadline, not a speed check)


def test_manager_runs_a_report_watches_progress_opens_it_and_reruns(app, reports, page, live_server, password, shot):
    with app.app_context():
        # same password: the demo users are re-created
        demo.generate(customers=300, seed=5, password=password, now=REFERENCE_NOW)
    base = live_server
    log_in(page, base, "manager", password)

    page.goto(f"{base}/admin/reportrun/")
    row = page.locator("#available-reports li[data-report=segmentation]")
    expect(row).to_contain_text("客户分群")
    shot("reports")
    # The data ends on the reference day, so the report does too (its as_of would be today):
    # 设置参数… opens the report's parameters, the same 立即运行 then starts the run.
    row.get_by_role("link", name="设置参数…").click()
    page.locator("#param-as_of").fill(REFERENCE_DAY.isoformat())
    page.locator("#run-form").get_by_role("button", name="立即运行").click()

    expect(page).to_have_url(re.compile(r"/admin/reportrun/details/\?id=\d+"))
    run_id = int(re.search(r"id=(\d+)", page.url).group(1))
    expect(page.locator(".alert-success").first).to_contain_text("已加入后台队列")
    # No worker yet: the run waits on the queue, and the page says for what (not a spinner forever)
    state = page.locator("#run-state")
    expect(state).to_have_attribute("data-state", "no_worker")
    expect(state).to_contain_text("等待后台 worker")
    assert ReportRun.get_by_id(run_id).status == "queued"
    shot("waiting-for-worker")

    # A real worker on the test's queue from here on; the page, still open, keeps polling.
    with in_process(app.config):  # on leaving, it finishes what it runs and stops
        expect(page.locator("#run-outcome")).to_contain_text("运行成功", timeout=RUN_TIMEOUT)
        shot("finished")
        run = ReportRun.get_by_id(run_id)
        assert run.status == "success" and run.username == "manager"
        manager = models.User.get(models.User.username == "manager")
        assert run.params["suppress_below"] == 5 and manager.id in run.params["owner_ids"]
        assert run.params["as_of"] == REFERENCE_DAY.isoformat()

        with page.context.expect_page() as opened:
            page.locator("#view-report").click()
        report = opened.value
        report.wait_for_load_state()
        expect(report.locator("body")).to_contain_text("RFM")
        assert report.locator("img").count() >= 1, "charts are embedded in the HTML"
        assert "queries.customer_summary" not in report.content(), "the code is hidden"
        report.close()

        page.locator("#rerun").click()
        expect(page).to_have_url(re.compile(r"/admin/reportrun/details/\?id=\d+"))
        second = int(re.search(r"id=(\d+)", page.url).group(1))
        assert second != run_id
        expect(page.locator("#run-outcome")).to_contain_text("运行成功", timeout=RUN_TIMEOUT)
        assert ReportRun.get_by_id(second).params == run.params

    page.goto(f"{base}/admin/reportrun/")
    table = page.locator("table.model-list")
    for key in (run.run_id, ReportRun.get_by_id(second).run_id):
        expect(table.locator("tbody tr", has_text=key)).to_contain_text("成功")
    shot("runs")
