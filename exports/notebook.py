"""A notebook report's run (reporting: ReportRun) as a Handout, a workbook and a PDF.

The run is already what its reader may see: it was computed in the scope of the user it was run for
(reporting.runner.scope_for: owner ids, small-group suppression, masked customer columns), and its
HTML holds nothing of what reporting.outputs keeps from readers.  So these read the run's own outputs
and add nothing from the database:

- run_pdf(run): the report's HTML (charts, text, tables) printed on A4 (exports.printed.report_html);
- run_xlsx(run): the report's tables (analytics.tables' report-table outputs) as sheets, numbers turned
  back into numbers (¥1,234 -> 1234 with the ¥ format, 23.5% -> 0.235, 1,234 -> 1234), its key chart as a
  picture beside the first table, and the underlying rows as the sheet 明细 when the notebook published them.

Underlying rows: a notebook computes them with its report, in its run's scope, and hands them on with
publish_detail(table) (a saved custom report does, reportbuilder/report.ipynb): an output of a type only this
module reads (DETAIL_MIME), kept in the executed notebook and never drawn in its HTML, so the workbook's 明细 is
of the same moment and scope as its summary, and nothing is queried again at download.
"""
import datetime
import html.parser
import re

from reporting import outputs

from .document import Column, Handout, Table

MISSING = ("—", "", "-")
_MONEY = re.compile(r"^-?¥-?[\d,]+(\.\d+)?$")
_PERCENT = re.compile(r"^-?[\d,]+(\.\d+)?%$")
_NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?$")


class _Tables(html.parser.HTMLParser):
    """The <table>s of an analytics.tables output: headers and cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            self._row.append((tag, text))
            self._cell = None
        elif tag == "tr" and self.tables:
            if self._row and all(kind == "th" for kind, _ in self._row) and not self.tables[-1]["headers"]:
                self.tables[-1]["headers"] = [text for _, text in self._row]
            elif self._row:
                self.tables[-1]["rows"].append([text for _, text in self._row])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _kind(texts):
    present = [t for t in texts if t not in MISSING]
    if not present:
        return "text"
    for kind, pattern in (("money", _MONEY), ("percent", _PERCENT), ("number", _NUMBER)):
        if all(pattern.match(t) for t in present):
            if kind == "number" and all("." not in t for t in present):
                return "count"
            return kind
    return "text"


def _value(text, kind):
    if text in MISSING:
        return None
    if kind == "money":
        return float(text.replace("¥", "").replace(",", ""))
    if kind == "percent":
        return float(text.rstrip("%").replace(",", "")) / 100
    if kind == "count":
        return int(text.replace(",", ""))
    if kind == "number":
        return float(text.replace(",", ""))
    return text


def _table(headers, rows, title):
    width = max([len(headers)] + [len(row) for row in rows])
    headers = headers + [""] * (width - len(headers))
    rows = [row + [""] * (width - len(row)) for row in rows]
    kinds = [_kind([row[i] for row in rows]) for i in range(width)]
    columns = [Column(f"c{i}", header or f"列{i + 1}", kind) for i, (header, kind) in enumerate(zip(headers, kinds))]
    return Table(columns, [[_value(text, kind) for text, kind in zip(row, kinds)] for row in rows], title=title)


def report_tables(notebook):
    """The report tables of a notebook (path or node) as Tables, each titled by the heading above it."""
    readable, _ = outputs.for_readers(notebook)
    found, heading = [], ""
    for cell in readable.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
            continue
        for output in cell.get("outputs", []):
            markup = output.get("data", {}).get("text/html")
            if not markup:
                continue
            markup = markup if isinstance(markup, str) else "".join(markup)
            if "report-table" not in markup:
                continue
            parser = _Tables()
            parser.feed(markup)
            for parsed in parser.tables:
                found.append(_table(parsed["headers"], parsed["rows"], heading))
    return found


DETAIL_MIME = "application/vnd.crm.detail+json"


def publish_detail(table):
    """In a report's kernel: hand `table` (an exports.Table, already in the run's scope) on as the run's 明细."""
    from IPython.display import display

    payload = {"title": table.title, "notes": [str(note) for note in table.notes],
               "columns": [[c.key, c.label, c.kind] for c in table.columns], "rows": table.rows}
    # an empty text/html beside it: nbconvert draws nothing for the output (and warns of no type it cannot draw)
    display({DETAIL_MIME: payload, "text/html": ""}, raw=True)


def run_detail(notebook):
    """The Table a notebook (a node, as outputs.read gives) published with publish_detail (the last one), or None."""
    found = None
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = output.get("data", {}).get(DETAIL_MIME)
            if isinstance(payload, dict):
                found = payload
    if found is None:
        return None
    return Table([Column(*column) for column in found["columns"]], found["rows"], title=found.get("title") or "",
                 notes=list(found.get("notes") or []))


def _notes(run):
    shown = [f"运行编号：{run.run_id}", f"运行人：{run.username}"]
    if run.finished_at:
        shown.append(f"完成时间：{run.finished_at:%Y-%m-%d %H:%M}")
    shown.append(f"导出时间：{datetime.datetime.now():%Y-%m-%d %H:%M}")
    return shown


def run_handout(run, detail=True):
    """The Handout of a finished run: its first table as the summary, the others after it, its key chart, and the
    rows it published as its detail."""
    notebook = outputs.read(run.notebook_path)
    found = report_tables(notebook)
    published = getattr(run, "published", None)  # a saved custom report publishes its name as its title
    title = (published.get("title") if isinstance(published, dict) else None) or outputs.title(notebook) or run.report
    summary = found[0] if found else Table([Column("note", "说明")], [["本报表没有表格"]])
    chart = outputs.key_chart(notebook)
    return Handout(title=title, summary=summary, extra=found[1:], notes=_notes(run), images=[chart] if chart else [],
                   detail=run_detail(notebook) if detail else None)


def run_xlsx(run):
    """(XLSX bytes, its Handout) of a finished run's tables and key chart; handout.row_count for the audit."""
    from .workbook import xlsx_bytes

    handout = run_handout(run)
    return xlsx_bytes(handout), handout


def run_pdf(run, engine=None):
    """(PDF bytes, its Handout) of a finished run's report as its readers see it, printed on A4; the
    Handout (the run's tables) gives the title and handout.row_count for the audit."""
    from . import engines, printed

    with open(run.html_path, encoding="utf-8") as handle:
        page = printed.report_html(handle.read())
    return engines.pdf(page, engine), run_handout(run, detail=False)  # the page holds no 明细: not counted
