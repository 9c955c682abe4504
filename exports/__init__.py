"""Exports people hand on: a report as an Excel workbook or a PDF for A4, never importing Flask.

How to call (a saved custom report, or anything with a summary table and a chart):

    import exports
    from exports import Column, Chart, Handout, Table

    handout = Handout(
        title="行业分布",
        notes=["统计期间：2026-01-01 至 2026-11-30", "范围：销售一组的客户"],
        summary=Table([Column("industry", "行业"), Column("customers", "客户数", "count"),
                       Column("spend", "消费额", "money")],
                      [{"industry": "互联网", "customers": 120, "spend": 1234567.5}, ...]),
        chart=Chart("pie", category="industry", values=["customers"]),   # bar | line | pie
        detail=Table([...], [...]),   # the underlying rows, optional: sheet 明细 / after the summary
    )
    data = exports.xlsx_bytes(handout)   # XLSX: 汇总 (table + native chart), 明细
    data = exports.pdf_bytes(handout)    # PDF: A4, header repeated on each page, chart included
    handout.row_count                    # rows handed on, for the audit entry

Column kinds: text, count, money (yuan: ¥ format), percent (a share 0-1), number, date.  Rows are dicts
keyed by the columns' keys or sequences in column order; values stay raw (numbers, Decimals, dates).
Text cells go through intake.files.spreadsheet_safe (the formula guard of every export).

The caller applies the access policy before building the Handout (row scope, no column the
viewer may not see) and writes the audit entry with the row count: in the admin
`admin.secured.audit("export", policy_key, record_id, {"format": "pdf"}, rows=handout.row_count)`.

Notebook reports (a ReportRun): exports.notebook.run_pdf(run) and exports.notebook.run_xlsx(run), each
(bytes, handout).  A PDF that cannot be printed here raises EngineUnavailable with a Chinese message.
"""
from .document import Chart, Column, Handout, Table  # noqa: F401
from .engines import EngineUnavailable  # noqa: F401
from .workbook import xlsx_bytes  # noqa: F401


def pdf_bytes(handout, engine=None):
    """The PDF of `handout` (A4, paginated, CJK font, chart as a picture) with engine `engine`
    (exports.engines.ENGINES; default exports.engines.DEFAULT)."""
    from . import engines, picture, printed

    return engines.pdf(printed.handout_html(handout, picture.chart_png(handout)), engine)
