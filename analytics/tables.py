"""Tables as a business reader sees them in a report.

A report is read by managers, not by whoever wrote the analysis: its tables carry Chinese
headers, money with thousands separators and the currency symbol, shares as percentages, and no
index column that means nothing to a reader (a customer_id, a 0, 1, 2, ... RangeIndex).  Where
the index is the row's label (a segment, a stage, a month) it becomes the first column under a
Chinese header.  Missing values show as "—", and the "—" that analytics.privacy.suppress_small
puts into suppressed cells is left as it is.

    display(tables.show(table, labels={"customers": "客户数", "revenue": "收入"},
                        money=["revenue"], percent=["revenue_share"], counts=["customers"],
                        currency=currency, index_label="分群"))

Column names in `labels`, `money`, `percent`, `counts` and `decimals` are the frame's own
(before relabelling).  Numeric columns named in none of the lists are shown with thousands
separators: whole numbers without decimals, others with `decimals.get(column, 2)` places.
"""
import html
import math
import numbers

import pandas as pd

import numberformat

MISSING = "—"  # the same dash as analytics.privacy.SUPPRESSED


def _missing(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def _number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def money(value, currency="¥", decimals=0):
    """¥1,234 (negative: -¥1,234); "—" for a missing value; text (a suppressed "—") unchanged."""
    if _missing(value):
        return MISSING
    if not _number(value):
        return str(value)
    return numberformat.money(float(value), currency, decimals)  # the one formatter every screen uses


def percent(value, decimals=1):
    """A share (0.235) as 23.5%; "—" for a missing value; text unchanged."""
    if _missing(value):
        return MISSING
    if not _number(value):
        return str(value)
    return f"{100 * float(value):,.{decimals}f}%"


def count(value):
    """A whole number with thousands separators; "—" for a missing value; text unchanged."""
    if _missing(value):
        return MISSING
    if not _number(value):
        return str(value)
    return numberformat.count(round(float(value)))


def number(value, decimals=2):
    """Whole numbers as counts, other numbers with `decimals` places; "—" if missing; text unchanged."""
    if _missing(value):
        return MISSING
    if not _number(value):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return f"{float(value):,.{decimals}f}"


# formatted() and show() take lists named money and percent; these keep the formatters in reach.
_money, _percent = money, percent


def _label(value):
    """A row label as text: a day without its midnight, a month as 2024-03."""
    if _missing(value):
        return MISSING
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    if isinstance(value, pd.Period):
        return str(value)
    return str(value)


def formatted(frame, labels=None, money=(), percent=(), counts=(), decimals=None, currency="¥", index_label=None):
    """The frame as text, ready to show: a DataFrame of strings with the reader's headers and a
    RangeIndex (which show() leaves out).  `index_label` keeps the index as the first column
    under that header; without it the index is dropped."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    labels, decimals = dict(labels or {}), dict(decimals or {})
    shown = pd.DataFrame(index=range(len(frame)))
    if index_label is not None:
        shown[index_label] = [_label(value) for value in frame.index]
    for column in frame.columns:
        values = list(frame[column])
        if column in money:
            texts = [_money(v, currency, decimals.get(column, 0)) for v in values]
        elif column in percent:
            texts = [_percent(v, decimals.get(column, 1)) for v in values]
        elif column in counts:
            texts = [count(v) for v in values]
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            texts = [_label(v) for v in values]
        else:
            texts = [number(v, decimals.get(column, 2)) for v in values]
        shown[labels.get(column, column)] = texts
    return shown


class Table:
    """What display() shows as an HTML table (no index) and prints as plain text."""

    def __init__(self, frame, right=()):
        self.frame = frame  # strings only, RangeIndex
        self.right = set(right)  # headers of the numeric columns, aligned right

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(str(column))}</th>" for column in self.frame.columns)
        rows = []
        for values in self.frame.itertuples(index=False):
            cells = []
            for column, value in zip(self.frame.columns, values):
                style = ' style="text-align: right"' if column in self.right else ' style="text-align: left"'
                cells.append(f"<td{style}>{html.escape(str(value))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table class="dataframe report-table"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table>')

    def __repr__(self):
        if self.frame.empty:
            return " ".join(str(column) for column in self.frame.columns)
        return self.frame.to_string(index=False)

    @property
    def headers(self):
        return [str(column) for column in self.frame.columns]


def show(frame, labels=None, money=(), percent=(), counts=(), decimals=None, currency="¥", index_label=None):
    """A table for display(): see the module docstring and formatted()."""
    text = formatted(frame, labels, money, percent, counts, decimals, currency, index_label)
    source = frame.to_frame() if isinstance(frame, pd.Series) else frame
    right = {(labels or {}).get(column, column) for column in source.columns
             if column in set(money) | set(percent) | set(counts)
             or pd.api.types.is_numeric_dtype(source[column])
             or all(_number(v) or v == MISSING or _missing(v) for v in source[column])}
    return Table(text, right)
