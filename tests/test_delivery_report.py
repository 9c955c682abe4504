"""Composing the mail for a report run: the SUMMARY= convention, the run facts, and refusing
anything but a finished run with its HTML (no SMTP server here; tests/test_delivery_smtp.py sends)."""
import datetime
import json
import logging

import nbformat
import pytest

import models
from delivery import ReportNotReady, compose, read_summary, run_facts
from delivery.report_mail import MAX_SUMMARY_ITEMS, summary_from_text

SENDER = "客户分析平台 <reports@example.com>"
WATERMARK = {"customers": {"count": 1234, "latest": "2026-11-22 10:00:00"},
             "orders": {"count": 56789, "latest": None}, "followups": {"count": 0, "latest": None}}


def executed_notebook(path, *printed):
    """An executed notebook whose cells printed `printed` (one stdout stream each)."""
    notebook = nbformat.v4.new_notebook()
    for text in printed:
        cell = nbformat.v4.new_code_cell("print(...)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        notebook.cells.append(cell)
    nbformat.write(notebook, str(path))
    return str(path)


@pytest.fixture
def make_run(app, tmp_path):
    """make_run(status=..., html=..., printed=[...], **fields) -> a ReportRun row of report "value"."""
    serial = iter(range(1, 100))

    def _make(status="success", html="<h1>报表</h1>", printed=(), params=None, **fields):
        n = next(serial)
        run_id = f"20261123-0100{n:02d}-abcdef"
        html_path = None
        if html is not None:
            html_path = tmp_path / f"{run_id}.html"
            html_path.write_text(html, encoding="utf-8")
        values = {"run_id": run_id, "report": "value", "status": status, "html_path": str(html_path) if html_path else None,
                  "notebook_path": executed_notebook(tmp_path / f"{run_id}.ipynb", *printed),
                  "parameters": json.dumps(params if params is not None else
                                           {"as_of": "2026-11-23", "regions": [], "top_n": 50, "currency": "¥",
                                            "unit_days": 7, "owner_ids": None, "suppress_below": 0,
                                            "column_access": {}}, ensure_ascii=False),
                  "watermark": json.dumps(WATERMARK), "started_at": datetime.datetime(2026, 11, 23, 1, 0),
                  "duration": 12.34, "finished_at": datetime.datetime(2026, 11, 23, 1, 1)}
        values.update(fields)
        return models.ReportRun.create(**values)

    return _make


def bodies(message):
    """(plain text, html), line ends as \n (the SMTP policy encodes CRLF)."""
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


# --- the SUMMARY= convention ------------------------------------------------------------------
def test_summary_lines_are_merged_in_order_and_formatted():
    text = "\n".join([
        "共 12 位客户",
        'SUMMARY={"客户数": 1234567, "人均 CLV": 88.456, "复购": true}',
        "SUMMARY={\"客户数\": 1200, \"地区\": [\"华北\", \"华东\"], \"CLV 合计\": \"¥1,234\", \"缺失\": null}",
    ])
    assert summary_from_text(text) == [("人均 CLV", "88.46"), ("复购", "是"), ("客户数", "1,200"),
                                       ("地区", "华北、华东"), ("CLV 合计", "¥1,234"), ("缺失", "—")]


def test_malformed_summary_lines_are_skipped_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="delivery.report_mail"):
        found = summary_from_text('SUMMARY={"a": 1\nSUMMARY=[1, 2]\nSUMMARY={"b": 2}\n SUMMARY={"indented": 0}')
    assert found == [("b", "2")]
    assert len([r for r in caplog.records if "忽略格式错误的摘要行" in r.getMessage()]) == 2


def test_a_mail_summary_stays_short():
    line = "SUMMARY=" + json.dumps({f"指标{i}": i for i in range(50)}, ensure_ascii=False)
    assert len(summary_from_text(line)) == MAX_SUMMARY_ITEMS


def test_the_summary_is_read_from_the_executed_notebooks_stdout(tmp_path):
    path = executed_notebook(tmp_path / "run.ipynb", "前言\n", 'SUMMARY={"客户数": 3}\n', ["SUMMARY=", '{"订单数": 9}\n'])
    assert read_summary(path) == [("客户数", "3"), ("订单数", "9")]


def test_no_notebook_or_a_damaged_one_means_no_summary(tmp_path):
    assert read_summary(None) == [] and read_summary(str(tmp_path / "missing.ipynb")) == []
    damaged = tmp_path / "damaged.ipynb"
    damaged.write_text("{not json")
    assert read_summary(str(damaged)) == []


# --- composing ----------------------------------------------------------------------------------
def test_the_mail_of_a_finished_run(make_run):
    run = make_run(printed=['SUMMARY={"客户数": 1234, "CLV 合计": "¥56,789"}\n'])
    message = compose(run, ["张三 <zhang@example.com>"], SENDER)
    assert message["Subject"] == "【客户价值】报表 2026-11-23"  # registry: 客户价值：消费金额、…
    assert message["To"].addresses[0].addr_spec == "zhang@example.com"
    text, html = bodies(message)
    assert text.startswith("客户价值报表（2026-11-23）\n\n关键数字\n  客户数：1,234\n  CLV 合计：¥56,789\n\n运行信息\n")
    assert "  数据量：客户 1,234 条，订单 56,789 条，跟进记录 0 条\n" in text
    assert "  运行时间：2026-11-23 01:00（用时 12.3 秒）\n" in text
    assert "  参数：名单长度 50\n" in text  # only what differs from the notebook's defaults (currency, unit_days)
    assert "  范围：全部客户\n" in text
    assert "完整报表见附件 客户价值报表-2026-11-23.html。" in text
    assert '<td style="' in html and "¥56,789" in html and "12.3 秒" in html
    assert "<a " not in html and "<script" not in html and "<link" not in html and "<style" not in html
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "客户价值报表-2026-11-23.html"
    assert attachment.get_content() == "<h1>报表</h1>"


def test_a_run_without_summary_gets_the_run_facts(make_run):
    run = make_run(params={"as_of": "", "regions": ["华北", "华东"], "owner_ids": [3, 4], "suppress_below": 5,
                           "column_access": {"name": "masked"}})
    facts = dict(run_facts(run))
    assert facts == {"报表": "客户价值", "数据截至": "2026-11-23", "参数": "地区 华北、华东",
                     "范围": "限 2 位负责人的客户（少于 5 位客户的分组不显示）", "运行时间": "2026-11-23 01:00（用时 12.3 秒）",
                     "数据量": "客户 1,234 条，订单 56,789 条，跟进记录 0 条", "运行编号": run.run_id}
    text, html = bodies(compose(run, "ops@example.com", SENDER))
    assert "关键数字" not in text and "关键数字" not in html
    assert "限 2 位负责人的客户" in text and "限 2 位负责人的客户" in html


def test_values_are_escaped_in_the_html_body(make_run):
    run = make_run(printed=['SUMMARY={"<b>标签</b>": "<script>x</script>"}\n'])
    _, html = bodies(compose(run, "ops@example.com", SENDER))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html and "&lt;b&gt;标签&lt;/b&gt;" in html


def test_an_unregistered_report_is_titled_by_its_name(make_run):
    run = make_run(report="old/report")
    message = compose(run, "ops@example.com", SENDER)
    assert message["Subject"] == "【old/report】报表 2026-11-23"
    assert next(message.iter_attachments()).get_filename() == "old_report报表-2026-11-23.html"


def test_the_subject_can_be_given(make_run):
    assert compose(make_run(), "ops@example.com", SENDER, subject="周报")["Subject"] == "周报"


# --- never a half-built report -------------------------------------------------------------------
@pytest.mark.parametrize("status,label", [("queued", "排队中"), ("running", "运行中"), ("failed", "失败")])
def test_an_unfinished_or_failed_run_is_refused(make_run, status, label):
    run = make_run(status=status, html=None, error_name="KeyError" if status == "failed" else None, error="'x'")
    with pytest.raises(ReportNotReady, match=f"报表运行 {run.run_id} 状态为 {label}，不发送邮件") as caught:
        compose(run, "ops@example.com", SENDER)
    assert not caught.value.retryable


def test_a_successful_run_whose_html_is_gone_is_refused(make_run, tmp_path):
    with pytest.raises(ReportNotReady, match="HTML 报表不存在（未生成）"):
        compose(make_run(html=None), "ops@example.com", SENDER)
    missing = str(tmp_path / "deleted.html")
    with pytest.raises(ReportNotReady, match="HTML 报表不存在"):
        compose(make_run(html_path=missing), "ops@example.com", SENDER)
