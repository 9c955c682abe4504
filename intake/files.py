"""Open a CSV or XLSX file as a header and a stream of rows, or refuse it with a clear reason.

    table = open_table("客户.csv")                       # or open_table(data, filename="客户.xlsx")
    table.headers                                        # ["客户名称", "手机号码", ...]
    for row_no, values in table.rows(): ...              # row_no as Excel shows it: header 1, data from 2

CSV encoding by a strict rule, never a guess: a UTF-8 byte-order mark means UTF-8; else the whole
file must decode as strict UTF-8; else as GB18030 (a superset of GBK and GB2312, what Chinese Excel
saves); a file that is neither is refused.  The delimiter (comma, tab, semicolon or |) is detected
on a sample.  XLSX: the first worksheet unless one is named; merged cells take their top-left value;
the sheet's XML streamed through expat (see the XLSX section below).

Rows can be read again (table.rows() starts over).  A CSV and an XLSX sheet alike are read lazily,
anew each time, with flat memory (an XLSX keeps its shared strings and styles, read once in
open_table); a file damaged part way raises FileRefused when the reading reaches the damage, after
the rows before it.  Entirely blank rows are skipped: they
are not data rows.  A cell written as '=... (an apostrophe before = + - @, as our exports escape
formulas) is read without the apostrophe, so a rejected-rows file imports again unchanged.
"""
import codecs
import csv
import datetime
import io
import os
import posixpath
import re
import zipfile
import zlib
from xml.etree import ElementTree
from xml.parsers import expat

import settings

MAX_COLUMNS = 500
SAMPLE_BYTES = 64 * 1024
CHUNK = 1024 * 1024
DELIMITERS = ",\t;|"
DELIMITER_NAMES = {",": "逗号", "\t": "制表符", ";": "分号", "|": "竖线"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula (see spreadsheet_safe)
# Control characters no XLSX cell can hold (openpyxl refuses them: the rejected-rows file and the admin's
# XLSX export of a value that had one failed); tab, newline and carriage return are allowed.
UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
csv.field_size_limit(16 * 1024 * 1024)  # one cell of a long 备注 may exceed the 128 KB default


# How the strict rule's encodings are named to people (the codec names are Python's).
ENCODING_NAMES = {"utf-8-sig": "UTF-8（带 BOM）", "utf-8": "UTF-8", "gb18030": "GB18030（中文 Excel 保存的 CSV，兼容 GBK）"}


class FileRefused(ValueError):
    """The file cannot be imported at all; the message (Chinese) says why and what to do."""


def _size_text(size):
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size:,} 字节"


def spreadsheet_safe(value):
    """A text as it may go into a cell of a file people open in a spreadsheet (CSV or XLSX), the one guard
    every export and the import's rejected-rows file use: control characters a cell cannot hold are dropped,
    and a text a spreadsheet would run as a formula (= + - @, a leading tab or CR) gets an apostrophe
    (unescape takes it off again when such a file is imported).  Other values are returned as they are."""
    if not isinstance(value, str):
        return value
    value = UNWRITABLE.sub("", value)
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
            elif len(values) > width:  # XLSX: blank texts are None and '=... plain already (_sheet_cells)
                del values[width:]
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
            return max(0, self._last_row - self.header_row)
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
            if any("\x00" in value for value in values):  # binary content past the sample _open looked at
                raise FileRefused(f"第 {row_no} 行含有二进制内容（NUL 字符），这不是正常的文本文件，无法作为 CSV 导入。"
                                  "请确认选择了正确的文件，或在 Excel 中另存为 CSV（UTF-8）。")
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
# A streaming read of the sheet's XML: zipfile decompresses the sheet part as it is read and expat (C)
# parses it chunk by chunk, so the rows come back while the sheet is being read and memory does not grow
# with the file's rows.  Chosen by measurement (bench/intake.py, docs/benchmarks.md "Import"):
# python-calamine parses the whole sheet before the first row (221-253 MB for 200,000 rows, 534 MB with the
# sheet held for an import) though it reads 3.5-4x faster; openpyxl read-only is flat but 8-9x slower
# than this reader, xml.etree's iterparse about as fast with more memory.  What stays in memory is the
# workbook's shared strings (the distinct texts Excel stores once), its styles and one chunk of rows.
# openpyxl stays for writing (templates, rejected rows).

INT_FLOATS = 2 ** 53  # whole floats below this are integers Excel stored as numbers (1.0 -> 1)
READ_BYTES = 64 * 1024  # decompressed XML per parser call: a few hundred rows at most are held
# Built-in number formats that show a date or time (ids 27-36 and 50-58 are the Chinese, Japanese and
# Korean date formats, e.g. yyyy"年"m"月"d"日", which Excel writes without their code); 46 is [h]:mm:ss.
BUILTIN_DATES = frozenset([*range(14, 23), *range(27, 37), 45, 47, *range(50, 59)])
BUILTIN_DURATIONS = frozenset([46])
LAST_SERIAL = 2958466  # 10000-01-01: larger numbers are not dates whatever their format says
MERGE_CELLS_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCells[\s>/]")
MERGE_CELL_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref="([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?"')
DIMENSION_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref="[A-Z]*[0-9]*:?[A-Z]*([0-9]+)"')
DAMAGED = "文件不是有效的 Excel（.xlsx）文件，或已损坏：请在 Excel 中重新保存后再导入。"

# The sheet XML's elements the reader acts on, by name (expat without namespace processing, which
# costs a third of the parse; a prefixed document, <x:worksheet>, gets the names with its prefix; the
# transitional namespace Excel saves and "Strict Open XML" read alike).
ROW, CELL, VALUE, TEXT, PHONETIC, STRING = range(6)
TAGS = {"row": ROW, "c": CELL, "v": VALUE, "t": TEXT, "rPh": PHONETIC}
STRING_TAGS = {"si": STRING, "t": TEXT, "rPh": PHONETIC}  # of the shared-strings part
DIGITS = "0123456789"


class _Damaged(Exception):
    """Something in the package is not what an XLSX file holds (turned into FileRefused by the caller)."""


def _local(tag):
    return tag.rpartition("}")[2]


def _archive(source):
    return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)


def _member(archive, name):
    """The zip member `name`, found case-insensitively (some writers' relationships differ in case)."""
    try:
        archive.getinfo(name)
        return name
    except KeyError:
        lowered = name.lower()
        for info in archive.infolist():
            if info.filename.lower() == lowered:
                return info.filename
    raise _Damaged(f"missing part {name}")


def _small_xml(archive, name):
    """A small part (workbook, relationships, styles) as an ElementTree; a DOCTYPE is refused: no XLSX
    part has one, and entities are how XML bombs are built."""
    data = archive.read(_member(archive, name))
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _Damaged(f"DOCTYPE in {name}")
    return ElementTree.fromstring(data)


def _relationships(archive, part):
    """{id: (type, target part)} of `part`'s relationships ("" for the package's own)."""
    folder, base = posixpath.split(part)
    name = posixpath.join(folder, "_rels", base + ".rels")
    try:
        root = _small_xml(archive, name)
    except _Damaged:
        return {}
    found = {}
    for element in root:
        target = element.get("Target") or ""
        if _local(element.tag) != "Relationship" or element.get("TargetMode") == "External":
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found[element.get("Id")] = ((element.get("Type") or "").rpartition("/")[2], path)
    return found


def _format_kind(code):
    """"date", "duration" or None for an Excel number format code, by calamine's rule: the code's first
    section, outside quotes, backslash and _ escapes and [...] holds d, m, y, h or s (a [h], [m] or [s]
    makes it a duration).  "yyyy-mm-dd", 'yyyy"年"m"月"d"日"', "[$-F800]dddd" are dates; "0.00", "#,##0",
    "[Red]0", "@", "General" are not."""
    quoted = escaped = False
    bracket = None
    for char in code:
        if escaped:
            escaped = False
        elif quoted:
            quoted = char != '"'
        elif bracket is not None:
            if char == "]":
                if bracket.lower() in ("h", "hh", "m", "mm", "s", "ss"):
                    return "duration"
                bracket = None
            else:
                bracket += char
        elif char in "\\_":
            escaped = True
        elif char == '"':
            quoted = True
        elif char == "[":
            bracket = ""
        elif char == ";":
            return None
        elif char in "dmyhsDMYHS":
            return "date"
    return None


def _style_kinds(archive, part):
    """{style index as written in s="..": "date" or "duration"} for the cell styles that show a number as
    a date or a time span."""
    if not part:
        return {}
    root = _small_xml(archive, part)
    codes, kinds = {}, {}
    for section in root:
        name = _local(section.tag)
        if name == "numFmts":
            for item in section:
                codes[int(item.get("numFmtId") or 0)] = item.get("formatCode") or ""
        elif name == "cellXfs":
            for index, item in enumerate(section):
                number_format = int(item.get("numFmtId") or 0)
                if number_format in codes:
                    kind = _format_kind(codes[number_format])
                else:
                    kind = "duration" if number_format in BUILTIN_DURATIONS else (
                        "date" if number_format in BUILTIN_DATES else None)
                if kind:
                    kinds[str(index)] = kind
    return kinds


def _shared_strings(archive, part):
    """The workbook's shared strings (every distinct text of its cells, as Excel stores them once), read
    with expat: the text of each <si>, its rich-text runs joined, phonetic guides (<rPh>) left out; a
    blank text is None, a '=... text loses its apostrophe (as Table.rows() reads cells)."""
    if not part:
        return []
    strings, pieces = [], []
    tags = STRING_TAGS
    text = None
    phonetic = 0

    def root(name, _attrs, parser):  # <sst>, or <x:sst> whose elements are x:si, x:t ...
        nonlocal tags
        if ":" in name:
            prefix = name[:name.index(":") + 1]
            tags = {prefix + local: kind for local, kind in STRING_TAGS.items()}
        parser.StartElementHandler = start

    def start(name, _attrs):
        nonlocal text, phonetic
        kind = tags.get(name)
        if kind is TEXT:
            if not phonetic:
                text = ""
        elif kind is PHONETIC:
            phonetic += 1

    def end(name):
        nonlocal text, phonetic
        kind = tags.get(name)
        if kind is TEXT:
            if text is not None:
                pieces.append(text)
                text = None
        elif kind is STRING:
            strings.append(_text(pieces[0] if len(pieces) == 1 else "".join(pieces)))
            pieces.clear()
        elif kind is PHONETIC:
            phonetic -= 1

    def data(piece):
        nonlocal text
        if text is not None:
            text += piece

    for _ in _parse(archive, part, root, end, data, lambda: None):
        pass
    return strings


def _text(value):
    """A cell's text as Table.rows() gives it: None when blank, '=... without the apostrophe."""
    if not value or value.isspace():
        return None
    return unescape(value) if value[0] == "'" else value


def _refuse_doctype(*_args):
    raise _Damaged("DOCTYPE")


def _parse(archive, part, start, end, data, after_chunk):
    """Feed the part to expat a chunk at a time; after_chunk() after each (a generator yields there).
    start(name, attrs, parser) handles the first element, and may set the parser's StartElementHandler."""
    parser = expat.ParserCreate()  # no namespace processing: names as written, "c" or "x:c"
    parser.buffer_text = True
    parser.StartElementHandler = lambda name, attrs: start(name, attrs, parser)
    parser.EndElementHandler, parser.CharacterDataHandler = end, data
    parser.StartDoctypeDeclHandler = _refuse_doctype
    with archive.open(_member(archive, part)) as handle:
        while True:
            chunk = handle.read(READ_BYTES)
            try:
                parser.Parse(chunk, not chunk)
            except BaseException:
                yield from after_chunk() or ()  # the rows finished before the damage, then the error
                raise
            yield from after_chunk() or ()
            if not chunk:
                return


def _serial(number, kind, epoch):
    """A date-formatted number as Excel shows it: a datetime (at midnight for a whole day), a time for a
    serial below 1, a timedelta for a duration format; a number outside Excel's dates stays a number."""
    if kind == "duration":
        return datetime.timedelta(days=number)
    if not 0 <= number < LAST_SERIAL:
        return int(number) if number.is_integer() else number
    milliseconds = round(number * 86_400_000)
    if number < 1 and epoch.year == 1899:
        return (datetime.datetime.min + datetime.timedelta(milliseconds=milliseconds)).time()
    if epoch.year == 1899 and number < 60:  # Excel counts a 1900-02-29 (serial 60) that never was
        milliseconds += 86_400_000
    return epoch + datetime.timedelta(milliseconds=milliseconds)


class _Workbook:
    """An XLSX package's sheets (name, kind, part), shared strings and styles, read from its workbook part."""

    def __init__(self, source):
        self.source = source
        with _archive(source) as archive:
            package = _relationships(archive, "")
            part = next((p for kind, p in package.values() if kind == "officeDocument"), "xl/workbook.xml")
            root = _small_xml(archive, part)
            relations = _relationships(archive, part)
            self.sheets, self.date1904 = [], False
            for element in root.iter():
                name = _local(element.tag)
                if name == "workbookPr":
                    self.date1904 = (element.get("date1904") or "").lower() in ("1", "true")
                elif name == "sheet":
                    rid = next((v for k, v in element.attrib.items() if k == "id" or k.endswith("}id")), None)
                    kind, sheet_part = relations.get(rid, (None, None))
                    self.sheets.append((element.get("name") or "", kind, sheet_part))
            parts = {kind: p for kind, p in relations.values()}
            self.styles = _style_kinds(archive, parts.get("styles"))
            self.strings = _shared_strings(archive, parts.get("sharedStrings"))
        self.epoch = datetime.datetime(1904, 1, 1) if self.date1904 else datetime.datetime(1899, 12, 30)


def _column(ref, known={}):  # noqa: B006 - the cache of column letters, shared on purpose
    """Column number of a cell reference: "A1" -> 1, "AB12" -> 28."""
    letters = ref.rstrip(DIGITS)
    number = known.get(letters)
    if number is None:
        number = 0
        for char in letters:
            code = ord(char) - 64
            if not 0 < code < 27:
                raise _Damaged(f"cell reference {ref}")
            number = number * 26 + code
        known[letters] = number
    return number


def _sheet_cells(workbook, part):
    """(row_no, values) of each <row> of the sheet, values by Excel's column (None where no value),
    streamed: a chunk of XML is parsed, its finished rows yielded, then the next chunk is read."""
    strings, styles, epoch = workbook.strings, workbook.styles, workbook.epoch
    columns = _column.__defaults__[0]  # the cache _column fills
    tags = TAGS
    done = []
    row_no = col = 0
    values = []
    cell_type = style = cell_text = text = None
    phonetic = False

    def root(name, _attrs, parser):  # <worksheet>, or <x:worksheet> whose elements are x:row, x:c ...
        nonlocal tags
        if ":" in name:
            prefix = name[:name.index(":") + 1]
            tags = {prefix + local: kind for local, kind in TAGS.items()}
        parser.StartElementHandler = start

    def start(name, attrs):
        nonlocal row_no, col, values, cell_type, style, cell_text, text, phonetic
        kind = tags.get(name)
        if kind is CELL:
            ref = attrs.get("r")
            col = (columns.get(ref.rstrip(DIGITS)) or _column(ref)) if ref else col + 1
            cell_type, style, cell_text = attrs.get("t"), attrs.get("s"), None
        elif kind is VALUE or kind is TEXT:
            if not phonetic:
                text = ""
        elif kind is ROW:
            number = attrs.get("r")
            row_no = int(number) if number else row_no + 1
            values, col = [], 0
        elif kind is PHONETIC:
            phonetic = True

    def end(name):
        nonlocal cell_text, text, phonetic
        kind = tags.get(name)
        if kind is CELL:  # blank and '=... texts as Table.rows() wants them: None, and without the apostrophe
            value = cell_text
            if cell_type == "s":
                if not value:
                    return
                value = strings[int(value)]
                if value is None:
                    return
            elif cell_type is None or cell_type == "n":
                if not value:
                    return
                number = float(value)
                if style in styles:
                    value = _serial(number, styles[style], epoch)
                else:
                    value = int(number) if number.is_integer() and -INT_FLOATS < number < INT_FLOATS else number
            elif cell_type == "e":
                value = value or "#ERROR"  # the error Excel shows (#N/A, #DIV/0!), never a blank
            elif value is None:
                return
            elif cell_type == "b":
                value = value.strip() in ("1", "true")
            elif cell_type == "d":
                value = datetime.datetime.fromisoformat(value.rstrip("Z")) if value.strip() else None
            else:  # inlineStr, str (a formula's text)
                value = _text(value)
            if value is None:
                return
            if col == len(values) + 1:
                values.append(value)
            else:
                if col > len(values):
                    values.extend([None] * (col - len(values)))
                values[col - 1] = value
        elif kind is VALUE or kind is TEXT:
            if text is not None:
                cell_text = text if cell_text is None else cell_text + text
                text = None
        elif kind is ROW:
            done.append((row_no, values))
        elif kind is PHONETIC:
            phonetic = False

    def data(piece):
        nonlocal text
        if text is not None:
            text += piece

    def finished():
        rows = done[:]
        done.clear()
        return rows

    with _archive(workbook.source) as archive:
        yield from _parse(archive, part, root, end, data, finished)


def _xlsx_rows(table):
    """(row_no, values) with Excel's row and column numbers; rows that a merged range covers get its
    top-left value in each of its cells, also rows the XML leaves out (blank) and rows past the last
    one with a value.  A damaged sheet is refused when the reading reaches the damage."""
    merged = table._merged
    last = 0
    try:
        if not merged:
            for last, values in _sheet_cells(table._workbook, table._part):
                yield last, values
            return
        first_row, last_row = min(r1 for r1, _c1, _r2, _c2 in merged), max(r2 for _r1, _c1, r2, _c2 in merged)
        tops = {}

        def fill(row_no, values):
            for min_row, min_col, max_row, max_col in merged:
                if min_row <= row_no <= max_row:
                    if row_no == min_row:
                        tops[(min_row, min_col)] = values[min_col - 1] if len(values) >= min_col else None
                    top = tops.get((min_row, min_col))
                    if len(values) < max_col:
                        values.extend([None] * (max_col - len(values)))
                    for col in range(min_col, max_col + 1):
                        values[col - 1] = top
            return values

        for row_no, values in _sheet_cells(table._workbook, table._part):
            for gap in range(max(last + 1, first_row), min(row_no, last_row + 1)):
                yield gap, fill(gap, [])
            last = row_no
            yield row_no, fill(row_no, values)
        for gap in range(max(last + 1, first_row), last_row + 1):
            yield gap, fill(gap, [])
    except (_Damaged, expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError,
            IndexError, ValueError) as error:
        where = f"第 {last} 行之后" if last else "开头"
        raise FileRefused(f"文件 {table.filename} 的工作表“{table.sheet}”从{where}无法读取，文件可能已损坏"
                          f"（{type(error).__name__}）：请在 Excel 中重新保存后再导入。") from None


def _scan_sheet(source, part):
    """The sheet's merged ranges [(r1, c1, r2, c2)] from 1, and its last row (from <dimension>, else
    about how many rows it has), by one pass of decompression and a byte search, no parsing: a
    streaming reader must know the merged ranges before the rows, and <mergeCells> follows them."""
    merged, rows, last_row, tail, rest = [], 0, None, b"", None
    with _archive(source) as archive, archive.open(_member(archive, part)) as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            if last_row is None and rows == 0:
                found = DIMENSION_RE.search(chunk)
                last_row = int(found.group(1)) if found else 0
            if rest is not None:
                rest.append(chunk)
                continue
            rows += chunk.count(b"<row") + chunk.count(b":row ")
            window = tail + chunk
            found = MERGE_CELLS_RE.search(window) if b"mergeCells" in window else None
            if found:
                rest = [window[found.start():]]
            tail = chunk[-64:]
    if rest:
        for ref in MERGE_CELL_RE.finditer(b"".join(rest)):
            c1, r1, c2, r2 = ref.group(1), ref.group(2), ref.group(3) or ref.group(1), ref.group(4) or ref.group(2)
            merged.append((int(r1), _column(c1.decode()), int(r2), _column(c2.decode())))
    return merged, max(last_row or 0, rows)


def _letters(column):
    """Column letters of a column number: 1 -> "A", 28 -> "AB"."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _open_xlsx(source, filename, sheet, max_columns):
    try:
        workbook = _Workbook(source)
    except (_Damaged, KeyError, ValueError, IndexError, zipfile.BadZipFile, zlib.error, EOFError, OSError,
            ElementTree.ParseError, expat.ExpatError):
        raise FileRefused(DAMAGED) from None
    names = [name for name, _kind, _part in workbook.sheets]
    parts = {name: (kind, part) for name, kind, part in reversed(workbook.sheets)}
    if sheet is None:
        worksheets = [name for name, kind, _part in workbook.sheets if kind == "worksheet"]
        if not worksheets:
            raise FileRefused(f"文件 {filename} 中没有工作表（只有图表），没有可导入的数据。")
        title = worksheets[0]
    elif sheet in parts:
        title = sheet
        if parts[sheet][0] != "worksheet":
            raise FileRefused(f"文件 {filename} 中的“{sheet}”是图表，不是工作表，没有可导入的数据。")
    else:
        raise FileRefused(f"文件 {filename} 中没有名为“{sheet}”的工作表；有：{'、'.join(names)}")
    part = parts[title][1]
    try:
        merged, last_row = _scan_sheet(source, part)
    except (_Damaged, KeyError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise FileRefused(f"文件 {filename} 的工作表“{title}”无法读取，文件可能已损坏：请在 Excel 中重新保存后再导入。") from None
    notes = []
    if len(names) > 1 and sheet is None:
        notes.append(f"文件有 {len(names)} 个工作表（{'、'.join(names)}），导入的是第一个“{title}”；可指定工作表。")
    if merged:
        shown = "、".join(f"{_letters(c1)}{r1}:{_letters(c2)}{r2}" for r1, c1, r2, c2 in merged[:5])
        more = f" 等 {len(merged)} 处" if len(merged) > 5 else ""
        notes.append(f"工作表有合并单元格（{shown}{more}），其中每个单元格都按左上角的值读取。")
    table = Table(source, filename, "xlsx", [], 0, notes=notes, sheet=title, sheets=names)
    table._workbook, table._part, table._merged, table._last_row = workbook, part, merged, last_row
    return _finish(table, _xlsx_rows(table), max_columns)
