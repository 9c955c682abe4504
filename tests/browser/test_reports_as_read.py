"""The three reports and a subscription mail, looked at in Chromium as a manager would.

Each report runs for real (papermill, a Jupyter kernel) on demo data for the fixed reference day,
then its HTML is opened in the browser and screenshotted (test-artifacts/), and what a reader sees
is checked: Chinese headers, no warnings, paths, tracebacks, raw field names or stray values, the
charts drawn.  The mail of the value report is opened the way a mail client shows it: its HTML
body with the inline key chart (the cid: picture resolved to the attached PNG).
"""
import logging
import re

import pytest

import demo
import reporting
from delivery import compose
from delivery.message import html_for_browser
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW

RAW_NAMES = ("customer_id", "revenue_share", "top_share", "cumulative_share", "frequency_cal", "customer_share",
             "avg_order_value", "recency_days", "expected_purchases", "p_alive", "BGNBD_PARAMS", "GG_PARAMS")
NOT_FOR_READERS = ("Warning", "Traceback", "/work/", "site-packages", "SUMMARY=", "<Axes", "<Figure", "NaN", "nan%")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def runs(app, password, tmp_path, monkeypatch, caplog, capfd):
    monkeypatch.setattr(reporting.runner, "OUT_DIR", str(tmp_path / "reports_out"))
    with app.app_context():
        demo.generate(customers=300, seed=3, password=password, now=REFERENCE_NOW)
        caplog.set_level(logging.INFO)  # what a worker's log shows of a run
        capfd.readouterr()  # and its stderr, which the kernels share: from here on
        found = {name: reporting.runner.run_report(name, {"as_of": REFERENCE_DAY.isoformat()}, config=app.config)
                 for name in ("segmentation", "lifecycle", "value")}
    for name, run in found.items():
        assert run.status == "success", f"{name}: {run.error_name}: {run.error}"
    # No warning in a worker's output for a normal run.  Each notebook is given only the parameters it declares
    # (reporting.params.for_notebook): papermill warned "Passed unknown parameter: viewer_role" on every run of
    # the three while the runner passed every scope parameter; the kernels warned of TCP without encryption.
    logged = [(record.levelno, record.name, record.getMessage()) for record in caplog.records]
    assert any("Executing notebook" in line for _, _, line in logged), "papermill's log was captured"
    assert not [entry for entry in logged if entry[0] >= logging.WARNING or "unknown parameter" in entry[2]], logged
    printed = capfd.readouterr()
    assert "WARNING" not in printed.err.upper() and "unknown parameter" not in printed.err, printed.err
    return found


def _visible_text(page):
    return page.locator("body").inner_text()


def _check_reads_like_a_report(page, name):
    text = _visible_text(page)
    for raw in RAW_NAMES + NOT_FOR_READERS:
        assert raw not in text, f"{name}: {raw!r} is shown to readers"
    assert not re.search(r"^\s*(True|False|None)\s*$", text, re.MULTILINE), f"{name}: a stray value is shown"
    headers = [h.strip() for h in page.locator("th").all_inner_texts() if h.strip()]
    assert headers, f"{name}: tables have headers"
    for header in headers:
        assert CJK.search(header) or re.fullmatch(r"[\d.,%+\-—~ ]+|[\d]{4}-[\d]{2}|BG/NBD|Gamma-Gamma|\w", header), \
            f"{name}: header {header!r} is not Chinese"
    images = page.locator("img")
    assert images.count() >= 1, f"{name}: charts are drawn"
    for index in range(images.count()):
        assert images.nth(index).evaluate("img => img.complete && img.naturalWidth > 0"), f"{name}: image {index} broken"
    return text


def test_each_report_and_its_mail_read_like_finished_work(runs, page, shot, tmp_path):
    """One test for both, so the three reports run once (a minute of kernels on a loaded machine)."""
    _reports_read_like_reports(runs, page, shot)
    _the_mail_shows_key_numbers_and_the_key_chart(runs, page, shot, tmp_path)


def _reports_read_like_reports(runs, page, shot):
    for name, run in runs.items():
        page.goto(f"file://{run.html_path}")
        page.wait_for_load_state("load")
        shot(name)
        text = _check_reads_like_a_report(page, name)
        assert "¥" in text or name == "lifecycle", f"{name}: money is shown with the currency"
    value = runs["value"]
    assert set(value.published["value_models"]) == {"bgnbd", "gamma_gamma"}, "fitted parameters kept with the run"


def _the_mail_shows_key_numbers_and_the_key_chart(runs, page, shot, tmp_path):
    run = runs["value"]
    message = compose(run, ["王经理 <manager@example.com>"], "客户分析平台 <reports@example.com>")
    images = [part for part in message.walk() if part.get_content_maintype() == "image"]
    assert len(images) == 1
    # What a mail client does with cid: pictures (resolve them to the related part), as the preview does.
    html = html_for_browser(message)
    assert "cid:" not in html
    mail = tmp_path / "mail.html"
    mail.write_text(html, encoding="utf-8")
    page.goto(f"file://{mail}")
    page.wait_for_load_state("load")
    shot("mail")
    text = _visible_text(page)
    assert "关键数字" in text and "CLV 合计" in text and "¥" in text
    chart = page.locator("img")
    assert chart.count() == 1 and chart.evaluate("img => img.complete && img.naturalWidth > 300")
    for raw in RAW_NAMES + NOT_FOR_READERS:
        assert raw not in text
