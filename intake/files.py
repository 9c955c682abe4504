"""Open a CSV or XLSX file as a header and a stream of rows, or refuse it with a clear reason.

    table = open_table("客户.csv")                       # or open_table(data, filename="客户.xlsx")
    table.headers                                        # ["客户名称", "手机号码", ...]
    for row_no, values in table.rows(): ...              # row_no as Excel shows it: header 1, data from 2

CSV encoding by a strict rule, never a guess: a UTF-8 byte-order mark means UTF-8; else the whole
file must decode as strict UTF-8; else as GB18030 (a superset of GBK and GB2312, what Chinese Excel
saves); a file that is neither is refused.  The delimiter (comma, tab, semicolon or |) is detected
on a sample.  XLSX: the first sheet unless one is named; merged cells take their top-left value;
read with python-calamine, the workbook opened once.

Rows can be read again (table.rows() starts over), so the engine makes two passes over a file.
A CSV is read lazily, anew each time, with flat memory; an XLSX sheet is parsed once, in
open_table, and held (calamine reads a whole sheet at once).  Entirely blank rows are skipped: they
are not data rows.  A cell written as '=... (an apostrophe before = + - @, as our exports escape
formulas) is read without the apostrophe, so a rejected-rows file imports again unchanged.
"""
import codecs
import csv
import datetime
import html
import io
import itertools
import os
import re

import settings

MAX_COLUMNS = 500
SAMPLE_BYTES = 64 * 1024
CHUNK = 1024 * 1024
DELIMITERS = ",\t;|"
DELIMITER_NAMES = {",": "逗号", "\t": "制表符", ";": "分号", "|": "竖线"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # as admin/secured.py escapes exports
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
csv.field_size_limit(16 * 1024 * 1024)  # one cell of a long 备注 may exceed the 128 KB default


# How the strict rule's encodings are named to people (the codec names are Python's).
ENCODING_NAMES = {"utf-8-sig": "UTF-8（带 BOM）", "utf-8": "UTF-8", "gb18030": "GB18030（中文 Excel 保存的 CSV，兼容 GBK）"}


class FileRefused(ValueError):
    """The file cannot be imported at all; the message (Chinese) says why and what to do."""


def _size_text(size):
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size:,} 字节"


def unescape(value):
    """'=1+1 -> =1+1: undo the apostrophe our exports put before a formula-like text."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class Table:
    """A file's header row and its data rows; see the module's docstring."""

    def __init__(self, source, filename, file_type, headers, header_row, notes=(), encoding=None,
                 delimiter=None, sheet=None, sheets=()):
        self._source = source
        self.filename = filename
        self.file_type = file_type  # "csv" or "xlsx"
        self.headers = headers
        self.header_row = header_row
        self.notes = list(notes)
        self.encoding = encoding
        self.delimiter = delimiter
        self.sheet = sheet
        self.sheets = list(sheets)

    def describe(self):
        """One line for people: how the file was read."""
        if self.file_type == "csv":
            encoding = ENCODING_NAMES.get(self.encoding, self.encoding)
            return f"CSV，编码 {encoding}，分隔符 {DELIMITER_NAMES.get(self.delimiter, self.delimiter)}"
        return f"Excel 工作表“{self.sheet}”"

    def rows(self):
        """(row_no, [value per header]) for every non-blank data row; values are str, numbers,
        dates or None."""
        width = len(self.headers)
        csv_file = self.file_type == "csv"
        raw = _csv_rows(self) if csv_file else _xlsx_rows(self)
        for row_no, values in raw:
            if row_no <= self.header_row:
                continue
            if csv_file:  # every cell a str: the same rule, without a call per cell
                values = [None if (not v or v.isspace()) else (unescape(v) if v[0] == "'" else v)
                          for v in values[:width]]
            else:
                values = [None if (v is None or (isinstance(v, str) and not v.strip())) else unescape(v)
                          for v in values[:width]]
            if values.count(None) == len(values):  # a blank row (one C call, not a generator per row)
                continue
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            yield row_no, values

    def size_hint(self):
        """About how many data rows the file has, cheaply, for a progress bar's length: the sheet's
        last used row, or the CSV's line breaks (a quoted cell with a line break counts twice;
        blank rows count too)."""
        if self.file_type == "xlsx":
            end = self._sheet.end
            return max(0, (end[0] + 1 if end else 0) - self.header_row)
        lines = 0
        with _open_binary(self._source) as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                last = chunk
        if lines and not last.endswith(b"\n"):
            lines += 1
        return max(0, lines - self.header_row)

    def preview(self, limit=20):
        out = []
        for item in self.rows():
            out.append(item)
            if len(out) >= limit:
                break
        return out


def _open_binary(source):
    return open(source, "rb") if isinstance(source, (str, os.PathLike)) else io.BytesIO(source)


def open_table(source, filename=None, sheet=None, max_bytes=None, max_columns=MAX_COLUMNS):
    """A Table over `source` (a path, or bytes with `filename`), or FileRefused."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = bytes(source)
        size = len(source)
        if not filename:
            raise ValueError("filename is needed with bytes")
    else:
        source = os.fspath(source)
        filename = filename or os.path.basename(source)
        if not os.path.isfile(source):
            raise FileRefused(f"找不到文件：{source}")
        size = os.path.getsize(source)
    limit = settings.import_max_bytes() if max_bytes is None else max_bytes
    if size > limit:
        raise FileRefused(f"文件 {filename} 有 {_size_text(size)}，超过导入上限 {_size_text(limit)}。"
                          "请拆分成几个文件，或请管理员调高 IMPORT_MAX_BYTES。")
    if size == 0:
        raise FileRefused(f"文件 {filename} 是空的，没有表头也没有数据。")
    with _open_binary(source) as handle:
        head = handle.read(SAMPLE_BYTES)
    suffix = os.path.splitext(filename.lower())[1]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(f"文件 {filename} 是旧版 Excel（.xls）格式，请在 Excel 中另存为 .xlsx 或 CSV（UTF-8）后再导入。")
    if suffix in XLSX_SUFFIXES or (head.startswith(b"PK\x03\x04") and suffix not in CSV_SUFFIXES):
        if not head.startswith(b"PK\x03\x04"):
            raise FileRefused(f"文件 {filename} 不是有效的 Excel（.xlsx）文件，请在 Excel 中重新保存后再导入。")
        return _open_xlsx(source, filename, sheet, max_columns)
    if suffix not in CSV_SUFFIXES and suffix:
        raise FileRefused(f"不支持的文件类型 {suffix}：请使用 CSV 或 Excel（.xlsx）文件。")
    if head.startswith(b"PK\x03\x04"):
        raise FileRefused(f"文件 {filename} 实际是 Excel（.xlsx）文件，不是 CSV：请把扩展名改为 .xlsx，或在 Excel 中另存为 CSV。")
    if b"\x00" in head:
        raise FileRefused(f"文件 {filename} 不是文本文件（含有二进制内容），无法作为 CSV 导入。"
                          "请确认选择了正确的文件，或在 Excel 中另存为 CSV（UTF-8）。")
    return _open_csv(source, filename, head, max_columns)


# --- CSV ------------------------------------------------------------------------------------

def _decodes(source, encoding, skip=0):
    """None if the whole file decodes strictly as `encoding`, else the byte offset of the first error."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with _open_binary(source) as handle:
        handle.seek(skip)
        while True:
            chunk = handle.read(CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                return skip + offset + error.start
            if not chunk:
                return None
            offset += len(chunk)


def detect_encoding(source, head):
    """"utf-8-sig", "utf-8" or "gb18030" by the strict rule, or FileRefused naming the bad byte."""
    if head.startswith(codecs.BOM_UTF8):
        bad = _decodes(source, "utf-8", skip=3)
        if bad is not None:
            raise FileRefused(f"文件以 UTF-8 标记开头，但第 {bad + 1} 个字节起不是有效的 UTF-8：文件可能已损坏。"
                              "请在 Excel 中重新另存为“CSV UTF-8”。")
        return "utf-8-sig"
    if _decodes(source, "utf-8") is None:
        return "utf-8"
    bad = _decodes(source, "gb18030")
    if bad is None:
        return "gb18030"
    raise FileRefused(f"无法识别文件编码：既不是 UTF-8，也不是 GBK/GB18030（第 {bad + 1} 个字节起无法解码）。"
                      "请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后再导入。")


def detect_delimiter(sample):
    """The delimiter of a CSV sample: csv.Sniffer among , tab ; |, checked against the header line;
    comma when nothing else is clear."""
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    header = lines[0]
    try:
        found = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
        if found in header:
            return found
    except csv.Error:
        pass
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _text_stream(table):
    raw = _open_binary(table._source)
    return io.TextIOWrapper(raw, encoding=table.encoding, newline="")


def _csv_rows(table):
    with _text_stream(table) as stream:
        reader = csv.reader(stream, delimiter=table.delimiter)
        row_no = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise FileRefused(f"第 {row_no + 1} 行无法读取：{error}") from None
            row_no += 1
            yield row_no, values


def _open_csv(source, filename, head, max_columns):
    encoding = detect_encoding(source, head)
    sample = head.decode(encoding, errors="ignore")
    delimiter = detect_delimiter(sample)
    table = Table(source, filename, "csv", [], 0, encoding=encoding, delimiter=delimiter)
    return _finish(table, _csv_rows(table), max_columns)


def _finish(table, rows, max_columns):
    """Find the header (the first non-blank row), check its width and that data follows."""
    header = None
    for row_no, values in rows:
        if any(v is not None and str(v).strip() for v in values):
            header = (row_no, values)
            break
    if header is None:
        raise FileRefused(f"文件 {table.filename} 是空的，没有表头也没有数据。")
    row_no, values = header
    values = list(values)
    while values and (values[-1] is None or not str(values[-1]).strip()):
        values.pop()
    if len(values) > max_columns:
        raise FileRefused(f"表头有 {len(values):,} 列，超过上限 {max_columns} 列：请只保留需要导入的列。")
    table.headers = ["" if v is None else str(v).strip() for v in values]
    table.header_row = row_no
    if next(iter(table.rows()), None) is None:
        raise FileRefused(f"文件 {table.filename} 只有表头（第 {row_no} 行），没有数据行。")
    return table


# --- XLSX -----------------------------------------------------------------------------------
# Read with python-calamine (Rust): 17x faster than openpyxl read-only on a 200k-row sheet
# (bench/intake.py).  The workbook is opened and the chosen sheet parsed once, in open_table; every
# table.rows() iterates that parsed sheet again.  openpyxl stays for writing (templates, rejected rows).

INT_FLOATS = 2 ** 53  # whole floats below this are integers Excel stored as numbers (1.0 -> 1)
CONVERTED = (float, datetime.date)  # exactly these classes: a datetime is kept as it is


def _load_workbook(source):
    from python_calamine import CalamineWorkbook

    try:
        if isinstance(source, bytes):
            return CalamineWorkbook.from_filelike(io.BytesIO(source))
        return CalamineWorkbook.from_path(source)
    except Exception:  # noqa: BLE001 - zip, XML and calamine's own errors all mean "not a workbook"
        raise FileRefused("文件不是有效的 Excel（.xlsx）文件，或已损坏：请在 Excel 中重新保存后再导入。") from None


def _cell(value):
    """A float or date from calamine as openpyxl gave it: a whole float as int (Excel stores every
    number as a float), a date as a datetime at midnight."""
    if value.__class__ is float:
        return int(value) if value.is_integer() and -INT_FLOATS < value < INT_FLOATS else value
    return datetime.datetime(value.year, value.month, value.day)


ERROR_CELL_RE = re.compile(rb'<c\b([^>]*\bt="e"[^>]*)>(.*?)</c>', re.S)
CELL_REF_RE = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
VALUE_RE = re.compile(rb"<v>([^<]*)</v>")


def _error_cells(source, title):
    """{(row, col): "#DIV/0!"} of the sheet's Excel error cells, from its XML.  calamine reads an
    error cell as "", which would import a broken value as a blank without a word; openpyxl gave
    the error's text, which the engine then rejects or keeps as written.  The XML is searched for
    t="e" first (a byte search), so sheets without errors cost one scan."""
    import zipfile
    from openpyxl.utils import column_index_from_string

    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            part = _sheet_part(archive, title)
            data = archive.read(part) if part else b""
    except (KeyError, OSError, zipfile.BadZipFile):
        return {}
    if b't="e"' not in data:
        return {}
    found = {}
    for attributes, body in ERROR_CELL_RE.findall(data):
        ref, value = CELL_REF_RE.search(attributes), VALUE_RE.search(body)
        if ref:
            text = value.group(1).decode("utf-8", "replace") if value else "#ERROR"
            found[(int(ref.group(2)), column_index_from_string(ref.group(1).decode()))] = text
    return found


def _sheet_part(archive, title):
    """The zip member holding sheet `title` (workbook.xml names it, its relationships locate it)."""
    workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    for tag in re.findall(r"<sheet\b[^>]*/?>", workbook):
        name = re.search(r'\bname="([^"]*)"', tag)
        rid = re.search(r'\br:id="([^"]*)"', tag) or re.search(r'\bid="([^"]*)"', tag)
        if name and rid and html.unescape(name.group(1)) == title:
            for rel in re.findall(r"<Relationship\b[^>]*/?>", rels):
                if re.search(rf'\bId="{re.escape(rid.group(1))}"', rel):
                    target = re.search(r'\bTarget="([^"]*)"', rel).group(1)
                    return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return None


def _xlsx_rows(table):
    """(row_no, values) with Excel's row and column numbers: calamine's rows start at Excel row 1
    but at the sheet's first used column, so the columns before it are put back as None; empty cells
    (calamine's "") are None.  Rows past the last value that a merged range covers are yielded too."""
    sheet = table._sheet
    start = sheet.start
    if start is None:  # no value anywhere
        return
    lead = [None] * start[1]
    merged = table._merged
    errors = {}  # row -> [((row, col), error text)]
    for (error_row, error_col), text in table._errors.items():
        errors.setdefault(error_row, []).append(((error_row, error_col), text))
    tops = {}  # (row, col) of a merged range's top-left -> its value
    extra = max((r2 for _r1, _c1, r2, _c2 in merged), default=0) - (sheet.end[0] + 1)
    rows = itertools.chain(sheet.iter_rows(), itertools.repeat((), max(extra, 0)))
    for row_no, raw in enumerate(rows, 1):
        values = lead + [None if v == "" else (_cell(v) if v.__class__ in CONVERTED else v) for v in raw]
        for (error_row, error_col), text in errors.get(row_no, ()):
            if len(values) < error_col:
                values.extend([None] * (error_col - len(values)))
            values[error_col - 1] = text
        for min_row, min_col, max_row, max_col in merged:
            if min_row <= row_no <= max_row:
                if row_no == min_row:
                    tops[(min_row, min_col)] = values[min_col - 1] if len(values) >= min_col else None
                top = tops.get((min_row, min_col))
                if len(values) < max_col:
                    values.extend([None] * (max_col - len(values)))
                for col in range(min_col, max_col + 1):
                    values[col - 1] = top
        yield row_no, values


def _open_xlsx(source, filename, sheet, max_columns):
    from openpyxl.utils import get_column_letter
    from python_calamine import SheetTypeEnum

    workbook = _load_workbook(source)
    try:
        names = list(workbook.sheet_names)
        if sheet is None:
            worksheets = [m.name for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
            if not worksheets:
                raise FileRefused(f"文件 {filename} 中没有工作表（只有图表），没有可导入的数据。")
            title = worksheets[0]
        elif sheet in names:
            title = sheet
            if any(m.name == sheet and m.typ != SheetTypeEnum.WorkSheet for m in workbook.sheets_metadata):
                raise FileRefused(f"文件 {filename} 中的“{sheet}”是图表，不是工作表，没有可导入的数据。")
        else:
            raise FileRefused(f"文件 {filename} 中没有名为“{sheet}”的工作表；有：{'、'.join(names)}")
        try:
            chosen = workbook.get_sheet_by_name(title)  # parsed here, once; rows() reads it again
        except Exception:  # noqa: BLE001 - a sheet calamine cannot parse: the file is damaged
            raise FileRefused(f"文件 {filename} 的工作表“{title}”无法读取，文件可能已损坏：请在 Excel 中重新保存后再导入。") from None
        # calamine: ((first row, first col), (last row, last col)) from 0; kept from 1 as Excel counts
        merged = [(r1 + 1, c1 + 1, r2 + 1, c2 + 1) for (r1, c1), (r2, c2) in chosen.merged_cell_ranges or ()]
    finally:
        workbook.close()
    notes = []
    if len(names) > 1 and sheet is None:
        notes.append(f"文件有 {len(names)} 个工作表（{'、'.join(names)}），导入的是第一个“{title}”；可指定工作表。")
    if merged:
        shown = "、".join(f"{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2}" for r1, c1, r2, c2 in merged[:5])
        more = f" 等 {len(merged)} 处" if len(merged) > 5 else ""
        notes.append(f"工作表有合并单元格（{shown}{more}），其中每个单元格都按左上角的值读取。")
    table = Table(source, filename, "xlsx", [], 0, notes=notes, sheet=title, sheets=names)
    table._sheet = chosen
    table._merged = merged
    table._errors = _error_cells(source, title)
    return _finish(table, _xlsx_rows(table), max_columns)
