"""The mail for a finished report run: key numbers in the body, the full HTML report attached.

    message = compose(run, ["张三 <zhang@example.com>"], settings.sender)
    smtp.send(message, settings)

Subject: 【客户价值】报表 2026-11-23 — the registry description up to its first colon (else the
report name) and the run's as_of (else the day it ran).  Attachment: 客户价值报表-2026-11-23.html,
the run's HTML as the runner wrote it.  Both bodies carry the same facts; the HTML body has
inline styles only, no links or scripts, and the report's key chart (ReportRun.chart_path, see
analytics.publish.key_chart) as an inline picture after the key numbers.

Key numbers (convention for notebooks): a notebook declares the numbers worth a mail by
printing one line

    SUMMARY={"客户数": 1234, "CLV 合计": "¥1,234,567", "前 20% 客户收入占比": "68%"}

that is SUMMARY= followed by a JSON object, label -> value, on stdout of any cell (several
lines are merged in order; a later label replaces an earlier one).  Strings are shown as
given (format currencies and percentages in the notebook), integers with thousands
separators, other numbers with two decimals, lists joined with 、.  A notebook prints only
figures its run may show: the numbers come from the same scoped, suppressed data as its
tables.  A run whose notebook prints no SUMMARY line still gets a mail with the run facts
(report, date, parameters, scope, row counts of the data) and the attachment.

Only a run with status "success" whose HTML file exists is composed; anything else raises
ReportNotReady, so a half-built report is never sent.  Whoever subscribes people to a report
decides who may receive a run's content: this module mails what the run contains.
"""
import datetime
import html
import json
import logging
import os
import re

from models.reports import RUN_STATUSES

from .errors import ReportNotReady
from .message import Attachment, InlineImage, build_message, make_content_id

log = logging.getLogger(__name__)

MAX_SUMMARY_ITEMS = 20  # a mail summary, not a second report
FILTER_PARAMS = ("start", "regions", "industries", "tag")  # shown whenever set; others when not the default
TABLE_LABELS = (("customers", "客户"), ("orders", "订单"), ("followups", "跟进记录"))
STATUS_LABELS = dict(RUN_STATUSES)


# --- key numbers ------------------------------------------------------------------------------
def format_value(value):
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        return "、".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def summary_from_text(text):
    """[(label, shown value)] from the SUMMARY= lines in `text`; malformed lines are logged and skipped."""
    from reporting.runner import SUMMARY_PREFIX  # here, not at the top: reporting loads papermill

    found = {}
    for line in text.splitlines():
        if not line.startswith(SUMMARY_PREFIX):
            continue
        try:
            values = json.loads(line[len(SUMMARY_PREFIX):])
        except ValueError:
            values = None
        if not isinstance(values, dict):
            log.warning("忽略格式错误的摘要行（应为 SUMMARY= 加 JSON 对象）：%s", line[:200])
            continue
        for label, value in values.items():
            found.pop(str(label), None)  # a replaced label moves to where it was last printed
            found[str(label)] = format_value(value)
    return list(found.items())[:MAX_SUMMARY_ITEMS]


def read_summary(notebook_path):
    """The key numbers an executed notebook printed (see the module docstring); [] if none or unreadable."""
    if not notebook_path or not os.path.isfile(notebook_path):
        return []
    import nbformat  # here, not at the top: it loads jsonschema's format grammars (over a second of CPU)

    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except Exception as error:  # a damaged notebook must not stop the mail: the HTML is what is sent
        log.warning("无法读取 %s 中的摘要：%s", notebook_path, error)
        return []
    printed = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text = output.get("text", "")
                printed.append(text if isinstance(text, str) else "".join(text))
    return summary_from_text("\n".join(printed))


# --- run facts --------------------------------------------------------------------------------
def _registered(run):
    """The run's reporting.registry.Report, or None when it has been unregistered since."""
    from reporting import registry

    try:
        return registry.get(run.report)
    except registry.ReportError:
        return None


def report_title(run):
    """Short report title: the title the run published (publish.results("title", ...): a saved custom report's
    name), else the registry description up to its first colon, else the report name."""
    published = getattr(run, "published", None)
    title = published.get("title") if isinstance(published, dict) else None
    if isinstance(title, str) and title.strip():
        return title.strip()[:80]
    report = _registered(run)
    description = report.description if report else ""
    return re.split(r"[：:]", description, maxsplit=1)[0].strip() or run.report


def shown_params(run):
    """[(name, value)] worth a line in the mail: filters that are set, and whatever differs from the
    notebook's own defaults.  The scope parameters are shown as 范围 instead; as_of is 数据截至."""
    from reporting.params import SCOPE_PARAMS, declared

    report = _registered(run)
    try:
        defaults = declared(report.notebook) if report else {}
    except Exception:  # notebook moved or unreadable: show every parameter that is set
        defaults = {}
    return [(name, value) for name, value in run.params.items()
            if name not in SCOPE_PARAMS and name != "as_of" and value not in ("", None, [], {})
            and (name in FILTER_PARAMS or name not in defaults or defaults[name] != value)]


def report_date(run):
    """The date the numbers are as of: the as_of parameter, else the day the run started."""
    as_of = run.params.get("as_of")
    if as_of:
        return str(as_of)
    started = run.started_at or run.finished_at or datetime.datetime.now()
    return started.strftime("%Y-%m-%d")


def _scope(params):
    owners = params.get("owner_ids")
    scope = "全部客户" if owners is None else f"限 {len(owners)} 位负责人的客户"
    if params.get("suppress_below"):
        scope += f"（少于 {params['suppress_below']} 位客户的分组不显示）"
    return scope


def run_facts(run):
    """[(label, value)] describing the run; the generic summary when a notebook prints none."""
    from reporting.params import parameter_label

    params = run.params
    facts = [("报表", report_title(run)), ("数据截至", report_date(run))]
    shown = [f"{parameter_label(name)} {format_value(value)}" for name, value in shown_params(run)]
    if shown:
        facts.append(("参数", "；".join(shown)))
    facts.append(("范围", _scope(params)))
    if run.started_at:
        ran = run.started_at.strftime("%Y-%m-%d %H:%M")
        if run.duration is not None:
            ran += f"（用时 {run.duration:.1f} 秒）"
        facts.append(("运行时间", ran))
    watermark = run.data_watermark
    counts = [f"{label} {watermark[key]['count']:,} 条" for key, label in TABLE_LABELS
              if isinstance(watermark.get(key), dict) and watermark[key].get("count") is not None]
    if counts:
        facts.append(("数据量", "，".join(counts)))
    facts.append(("运行编号", run.run_id))
    return facts


# --- the mail ---------------------------------------------------------------------------------
def check_ready(run):
    """Raise ReportNotReady unless `run` succeeded and its HTML report is on disk."""
    if run.status != "success":
        status = STATUS_LABELS.get(run.status, run.status)
        why = f"：{run.error_name}: {run.error}" if run.status == "failed" and run.error_name else ""
        raise ReportNotReady(f"报表运行 {run.run_id} 状态为 {status}，不发送邮件{why}")
    if not run.html_path or not os.path.isfile(run.html_path):
        raise ReportNotReady(f"报表运行 {run.run_id} 的 HTML 报表不存在（{run.html_path or '未生成'}），不发送邮件")


def attachment_name(run):
    title = re.sub(r'[\\/:*?"<>|\s]+', "_", report_title(run))
    return f"{title}报表-{report_date(run)}.html"


def render_text(heading, summary, facts, filename):
    lines = [heading, ""]
    if summary:
        lines += ["关键数字"] + [f"  {label}：{value}" for label, value in summary] + [""]
    lines += ["运行信息"] + [f"  {label}：{value}" for label, value in facts] + [""]
    lines += [f"完整报表见附件 {filename}。", "此邮件由客户分析平台自动发送。"]
    return "\n".join(lines) + "\n"


_CELL = "padding:6px 12px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top;"


def _table(title, rows):
    body = "".join(f'<tr><th style="{_CELL}font-weight:normal;color:#6b7280;white-space:nowrap;">{html.escape(label)}</th>'
                   f'<td style="{_CELL}color:#111827;">{html.escape(value)}</td></tr>' for label, value in rows)
    return (f'<h2 style="font-size:16px;margin:20px 0 8px;color:#111827;">{html.escape(title)}</h2>'
            f'<table style="border-collapse:collapse;font-size:14px;">{body}</table>')


def _chart(content_id, title):
    """The key chart as a picture in the body (multipart/related, cid:), sized for a mail column."""
    return (f'<img src="cid:{html.escape(content_id)}" alt="{html.escape(title)}" '
            'style="display:block;max-width:100%;width:640px;height:auto;margin:16px 0 0;border:0;">')


def render_html(heading, summary, facts, filename, chart_id=None):
    chart = _chart(chart_id, f"{heading}：关键图表") if chart_id else ""
    sections = (_table("关键数字", summary) if summary else "") + chart + _table("运行信息", facts)
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<title>{html.escape(heading)}</title></head>'
            '<body style="margin:0;padding:24px;font-family:\'PingFang SC\',\'Microsoft YaHei\',sans-serif;'
            'color:#111827;background:#ffffff;">'
            f'<h1 style="font-size:20px;margin:0 0 4px;">{html.escape(heading)}</h1>'
            f'{sections}'
            f'<p style="font-size:14px;margin:20px 0 4px;">完整报表见附件 {html.escape(filename)}。</p>'
            '<p style="font-size:12px;color:#6b7280;margin:0;">此邮件由客户分析平台自动发送。</p>'
            '</body></html>')


def compose(run, to, sender, subject=None, cc=(), now=None, pdf=False):
    """The EmailMessage for finished ReportRun `run` to `to` (addresses, string or list).

    Raises ReportNotReady for a run that did not succeed or lost its HTML, AddressError for a
    malformed address.  The attachment is read here, whole, before anything is sent.  With `pdf`
    (the MAIL_ATTACH_PDF setting) the report is also attached as a PDF for A4 (exports.notebook).
    """
    check_ready(run)
    with open(run.html_path, "rb") as handle:
        report_html = handle.read()
    title, date = report_title(run), report_date(run)
    subject = subject or f"【{title}】报表 {date}"
    heading = f"{title}报表（{date}）"
    filename = attachment_name(run)
    summary, facts = read_summary(run.notebook_path), run_facts(run)
    chart = key_chart(run)
    return build_message(
        sender=sender, to=to, cc=cc, subject=subject, now=now,
        text=render_text(heading, summary, facts, filename),
        html=render_html(heading, summary, facts, filename, chart.content_id if chart else None),
        attachments=[Attachment(filename, report_html, "text/html")] + (_pdf(run, filename) if pdf else []),
        inline_images=[chart] if chart else [],
    )


def _pdf(run, filename):
    """The run printed as a PDF, named as the HTML attachment (exports imports reporting, not delivery)."""
    from exports.notebook import run_pdf

    data, _ = run_pdf(run)
    return [Attachment(os.path.splitext(filename)[0] + ".pdf", data, "application/pdf")]


def key_chart(run):
    """The run's key chart (analytics.publish.key_chart) as an InlineImage, or None without one."""
    path = getattr(run, "chart_path", None)
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return InlineImage(make_content_id(), handle.read(), "png", "关键图表.png")
