"""What an export is made of: a titled summary table, an optional chart over it and the rows beneath it.

The builder's saved reports (reportbuilder/) and the notebook reports (reporting/) both come here as
a Handout; exports.workbook writes it as XLSX and exports.printed as PDF.  Values stay values
(numbers as numbers) until a writer formats them: the workbook keeps them as numbers with a number
format (money ¥#,##0.00), the printed page shows them as text with thousands separators
(analytics.tables does the formatting, the same as the notebook reports' tables).
"""
import dataclasses
import datetime
import numbers


KINDS = ("text", "count", "money", "percent", "number", "date")
CHART_KINDS = ("bar", "line", "pie")


@dataclasses.dataclass
class Column:
    """One column: `key` names it in a row dict, `label` is its Chinese header, `kind` one of KINDS
    (money: an amount in yuan; percent: a share 0-1; count: a whole number; number: other numbers)."""

    key: str
    label: str
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"列 {self.label} 的类型 {self.kind!r} 不在 {KINDS} 之中")

    @property
    def numeric(self):
        return self.kind in ("count", "money", "percent", "number")


@dataclasses.dataclass
class Table:
    """Columns and rows; a row is a dict keyed by the columns' keys or a sequence in column order.  `notes`: lines
    printed above the table (a detail cut at its cap says so here)."""

    columns: list
    rows: list
    title: str = ""
    notes: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self.columns = [c if isinstance(c, Column) else Column(*c) for c in self.columns]
        keys = [c.key for c in self.columns]
        self.rows = [[row.get(k) for k in keys] if isinstance(row, dict) else list(row) for row in self.rows]
        for number, row in enumerate(self.rows, start=1):
            if len(row) != len(keys):
                raise ValueError(f"第 {number} 行有 {len(row)} 个值，表格有 {len(keys)} 列")

    def column(self, key):
        for index, column in enumerate(self.columns):
            if column.key == key:
                return index, column
        raise KeyError(f"表格没有列 {key!r}")

    def values(self, key):
        index, _ = self.column(key)
        return [row[index] for row in self.rows]


@dataclasses.dataclass
class Chart:
    """A chart over the summary table: `kind` one of CHART_KINDS, `category` the key of the column
    along the axis (or the slices of a pie), `values` the keys of the numeric columns drawn (a pie
    draws the first)."""

    kind: str
    category: str
    values: list
    title: str = ""

    def __post_init__(self):
        if self.kind not in CHART_KINDS:
            raise ValueError(f"图表类型 {self.kind!r} 不在 {CHART_KINDS} 之中")
        if isinstance(self.values, str):
            self.values = [self.values]
        if not self.values:
            raise ValueError("图表至少要画一列数值")


@dataclasses.dataclass
class Handout:
    """A report as it is handed on.

    title:   the report's name (客户月度活跃度报表), the first line of every page and sheet;
    summary: the summary Table (what the chart draws);
    chart:   a Chart over `summary`, or None;
    detail:  the underlying rows as a Table, or None (a second sheet; in the PDF after the summary);
    notes:   lines under the title: period, scope, who asked, when (text);
    images:  PNG bytes of charts already drawn (a notebook report's), printed under the summary.
    """

    title: str
    summary: Table
    chart: Chart = None
    detail: Table = None
    notes: list = dataclasses.field(default_factory=list)
    images: list = dataclasses.field(default_factory=list)
    extra: list = dataclasses.field(default_factory=list)  # further Tables (a notebook's other tables)

    def __post_init__(self):
        if self.chart is not None:
            self.summary.column(self.chart.category)
            for key in self.chart.values:
                _, column = self.summary.column(key)
                if not column.numeric:
                    raise ValueError(f"图表的数值列 {column.label} 不是数值")

    @property
    def tables(self):
        return [self.summary, *self.extra] + ([self.detail] if self.detail is not None else [])

    @property
    def row_count(self):
        """Rows the export hands on (summary, further tables and detail), for the audit log."""
        return sum(len(table.rows) for table in self.tables)


def shown(value, kind):
    """A value as printed: money ¥1,234.00, shares 23.5%, counts 1,234; "—" when missing."""
    from analytics import tables  # here: it loads pandas, which the web app need not pay for at start
    if kind == "money":
        return tables.money(value, decimals=2)
    if kind == "percent":
        return tables.percent(value)
    if kind == "count":
        return tables.count(value)
    if kind == "number":
        return tables.number(value)
    if value is None:
        return tables.MISSING
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return tables.number(value)
    return str(value)
