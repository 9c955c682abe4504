"""A result as an exports.Handout (the Excel workbook and the PDF of issue 14 part 2): the summary table with the
same columns and kinds as the screen, the chart the screen draws (a funnel prints as bars), notes with the period
and filters.  The result was computed for the viewer (row scope, offered measures), so nothing more is applied."""
from .charts import kind as chart_kind

KINDS = {"text": "text", "count": "count", "money": "money", "percent": "percent", "number": "number"}


def handout(result, title, notes=()):
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
    return exports.Handout(title=title, summary=summary, chart=chart, notes=lines)
