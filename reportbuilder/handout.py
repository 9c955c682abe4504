"""A result as an exports.Handout (the Excel workbook and the PDF of issue 14 part 2): the summary table with the
same columns and kinds as the screen, the chart the screen draws (a funnel prints as bars), notes with the period
and filters, and for the workbook the underlying rows (reportbuilder.detail) as the sheet 明细.  The result and the
rows were computed for the viewer (row scope, offered measures, customer column rules), so nothing more is applied.

The PDF prints the summary and the chart, not the rows: a 明细 of 10,000 customers is 220-390 A4 pages and 30-60 s
of printing (docs/benchmarks.md, Exports), one of 100,000 ten times that; a line under the title says where the
rows are (PRINT_NOTE)."""
from .charts import kind as chart_kind

KINDS = {"text": "text", "count": "count", "money": "money", "percent": "percent", "number": "number"}
DETAIL_TITLE = "明细"
PRINT_NOTE = "PDF 只印汇总与图表；每位客户的明细请导出 Excel（工作表“明细”）"


def handout(result, title, notes=(), detail=None):
    """The Handout of `result`; `detail` (a reportbuilder.detail.Detail, optional) becomes its 明细."""
    import exports

    keys = [f"c{number}" for number in range(len(result.columns))]
    columns = [exports.Column(key, label, KINDS.get(kind, "number"))
               for key, label, kind in zip(keys, result.columns, result.formats)]
    summary = exports.Table(columns, [list(row) for row in result.rows])
    width = len(result.spec.rows)
    chart = None
    if result.rows:
        kind = chart_kind(result)
        chart = exports.Chart("bar" if kind == "funnel" else kind, category=keys[0], values=[keys[width]])
    lines = [f"期间：{result.spec.period_label}"] + list(notes)
    return exports.Handout(title=title, summary=summary, chart=chart, notes=lines,
                           detail=None if detail is None else detail_table(detail))


def printed(result, title, notes=()):
    """The Handout the PDF prints: the summary and chart, and a line saying where the rows are."""
    return handout(result, title, list(notes) + [PRINT_NOTE])


def detail_table(detail):
    """A Detail as the exports.Table of the sheet 明细; a list cut at its cap says so in a note above it."""
    import exports

    notes = []
    if detail.cut:
        notes.append(f"明细共 {detail.total:,} 行，此处列出前 {len(detail.rows):,} 行（单表上限 {detail.cap:,} 行）；"
                     "请增加筛选条件或缩短期间后再导出，以得到完整明细")
    columns = [exports.Column(key, label, KINDS.get(kind, "number")) for key, label, kind in detail.columns]
    return exports.Table(columns, detail.rows, title=DETAIL_TITLE, notes=notes)
