"""A Handout as an XLSX workbook people open in Excel or WPS.

Sheets: 汇总 (title, notes, the summary table and a native Excel chart drawn from its cells), one
sheet per further table, and 明细 (the underlying rows).  Numbers stay numbers with a number format
(money ¥#,##0.00, shares 0.0%, counts #,##0), so the reader can sum and sort; every text cell goes
through intake.files.spreadsheet_safe, the one formula guard of all exports.

No pivot table: openpyxl reads and keeps pivot tables but cannot create their caches, and
XlsxWriter 3.3.1 (the newest release this project's registry offers) has no pivot-table writer; the
summary sheet is the pivot (rows by the report's dimensions, its measures as columns), and the 明细
sheet is laid out so Excel's 插入 → 数据透视表 takes it as it is (one header row, no merged cells).
"""
import datetime
import decimal
import io

from intake.files import spreadsheet_safe

FORMATS = {"money": '"¥"#,##0.00', "percent": "0.0%", "count": "#,##0", "number": "#,##0.00", "date": "yyyy-mm-dd"}
SUMMARY_SHEET, DETAIL_SHEET = "汇总", "明细"
MAX_WIDTH = 50


def _cell(value, kind):
    """What goes into a cell: numbers as numbers (Decimal as float: openpyxl writes it as text otherwise),
    dates as dates, everything else as formula-safe text."""
    if value is None:
        return None
    if kind in ("count", "money", "percent", "number") and isinstance(value, (int, float, decimal.Decimal)) \
            and not isinstance(value, bool):
        return float(value) if isinstance(value, decimal.Decimal) else value
    if kind == "date" and isinstance(value, (datetime.date, datetime.datetime)):
        return value
    return spreadsheet_safe(str(value))


def _width(value):
    text = "" if value is None else (f"{value:,.2f}" if isinstance(value, float) else str(value))
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)  # a CJK character takes two columns


def _size_columns(sheet, table):
    """Column widths that fit `table`'s headers and values (¥ included), set on a new write-only sheet before its
    first row: such a sheet writes its column widths with its first row and ignores any set later."""
    from openpyxl.utils import get_column_letter

    widths = [_width(column.label) for column in table.columns]
    for row in table.rows[:2000]:  # measuring every cell of a long sheet costs more than it gives
        for index, (column, value) in enumerate(zip(table.columns, row)):
            widths[index] = max(widths[index], _width(_cell(value, column.kind)) + (column.kind == "money"))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(MAX_WIDTH, max(10, width + 2))


def _write_table(sheet, table, first_row, heading_font, notes=()):
    """The table's header at `first_row` (rows before it are empty, or `notes` in bold and a blank row) and its
    rows below, streamed into a write-only sheet (sized by _size_columns before its first row); returns the last
    row written."""
    from openpyxl.cell import WriteOnlyCell

    for note in notes:
        cell = WriteOnlyCell(sheet, spreadsheet_safe(str(note)))
        cell.font = heading_font
        sheet.append([cell])
    if notes:
        sheet.append([])
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, spreadsheet_safe(column.label))
        cell.font = heading_font
        header.append(cell)
    sheet.append(header)
    # one styled template cell per formatted column: openpyxl looks a style up once, not per cell
    formats = [FORMATS.get(column.kind) for column in table.columns]
    for row in table.rows:
        values = []
        for column, number_format, value in zip(table.columns, formats, row):
            value = _cell(value, column.kind)
            if number_format and value is not None and not isinstance(value, str):
                cell = WriteOnlyCell(sheet, value)
                cell.number_format = number_format
                value = cell
            values.append(value)
        sheet.append(values)
    return first_row + len(table.rows)


def _chart(handout, sheet, header_row, last_row):
    """A native chart over the summary's cells (Excel redraws it when a cell is changed)."""
    from openpyxl.chart import BarChart, LineChart, PieChart, Reference

    chart_spec, table = handout.chart, handout.summary
    kind = {"bar": BarChart, "line": LineChart, "pie": PieChart}[chart_spec.kind]
    chart = kind()
    chart.title = chart_spec.title or handout.title
    category_index, _ = table.column(chart_spec.category)
    keys = chart_spec.values[:1] if chart_spec.kind == "pie" else chart_spec.values
    for key in keys:
        index, column = table.column(key)
        data = Reference(sheet, min_col=index + 1, min_row=header_row, max_row=last_row)
        chart.add_data(data, titles_from_data=True)
        if chart_spec.kind != "pie":
            chart.y_axis.title = column.label if len(keys) == 1 else None
            chart.y_axis.numFmt = FORMATS.get(column.kind, "General")
    if chart_spec.kind == "line":
        for series in chart.series:
            series.smooth = False  # openpyxl smooths lines by default: a curve overshoots the figures it joins
    chart.set_categories(Reference(sheet, min_col=category_index + 1, min_row=header_row + 1, max_row=last_row))
    if chart_spec.kind != "pie":
        chart.x_axis.title = table.columns[category_index].label
        chart.x_axis.delete = False  # openpyxl 3.1 hides the axes unless told
        chart.y_axis.delete = False
        if len(keys) == 1:
            chart.legend = None
    chart.width, chart.height = 18, 9
    return chart


def xlsx_bytes(handout):
    """The workbook of `handout` (exports.document.Handout) as bytes (streamed: write-only sheets)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    heading = Font(bold=True)

    def titled(sheet, text, size):
        cell = WriteOnlyCell(sheet, spreadsheet_safe(text))
        cell.font = Font(bold=True, size=size)
        sheet.append([cell])

    sheet = book.create_sheet(SUMMARY_SHEET)
    _size_columns(sheet, handout.summary)
    titled(sheet, handout.title, 14)
    for note in handout.notes:
        sheet.append([spreadsheet_safe(str(note))])
    sheet.append([])
    header_row = len(handout.notes) + 3
    if handout.summary.title:  # the table's own heading (a notebook report's section)
        titled(sheet, handout.summary.title, 12)
        header_row += 1
    last_row = _write_table(sheet, handout.summary, header_row, heading)
    beside = f"{get_column_letter(len(handout.summary.columns) + 2)}{header_row}"
    if handout.chart is not None and handout.summary.rows:
        sheet.add_chart(_chart(handout, sheet, header_row, last_row), beside)
    elif handout.images:  # a chart drawn already (a notebook report's key chart), as a picture
        from openpyxl.drawing.image import Image

        picture = Image(io.BytesIO(handout.images[0]))
        scale = min(1.0, 640 / picture.width)
        picture.width, picture.height = picture.width * scale, picture.height * scale
        sheet.add_image(picture, beside)
    for number, table in enumerate(handout.extra, start=1):
        extra = book.create_sheet(_sheet_name(table.title or f"表{number}", book))
        _size_columns(extra, table)
        first = 1
        if table.title:
            titled(extra, table.title, 12)
            extra.append([])
            first = 3
        _write_table(extra, table, first, heading)
    if handout.detail is not None:
        detail = book.create_sheet(DETAIL_SHEET)
        # notes (a list cut at its cap says so) above the table, a blank row between: 插入 → 数据透视表 takes the
        # table from its header down without them
        notes = handout.detail.notes
        header = 1 + len(notes) + (1 if notes else 0)
        _size_columns(detail, handout.detail)
        detail.freeze_panes = f"A{header + 1}"  # before any row: a write-only sheet writes its view with the first
        if handout.detail.columns:
            last = get_column_letter(len(handout.detail.columns))
            detail.auto_filter.ref = f"A{header}:{last}{header + len(handout.detail.rows)}"
        _write_table(detail, handout.detail, header, heading, notes)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(title, book):
    """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in `book`."""
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "表"
    base, number = name, 1
    while name in book.sheetnames:
        number += 1
        suffix = f"({number})"
        name = base[:31 - len(suffix)] + suffix
    return name
