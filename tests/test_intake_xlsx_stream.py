"""The XLSX reader streams the sheet's XML: rows come back while the sheet is read, and the XML as Excel,
WPS and other writers save it (shared strings, rich text, prefixes, styles, the 1904 date system) reads as
Excel shows it.  Memory and speed are measured in bench/intake.py, not asserted here."""
import datetime
import io
import zipfile

import openpyxl
import pytest

from intake import files
from intake.files import FileRefused, open_table

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def package(sheet_xml, strings_xml=None, styles_xml=None, workbook_pr="", sheets=None, prefix=""):
    """An XLSX file's bytes, its parts written by hand as another program would write them."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    sheets = sheets or [("客户", "worksheet", sheet_xml)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{PACKAGE_RELS}"><Relationship Id="rId1" '
                         f'Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        entries = "".join(f'<{p}sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>'
                          for i, (name, _kind, _xml) in enumerate(sheets, 1))
        archive.writestr("xl/workbook.xml", f'<{p}workbook {xmlns} xmlns:r="{RELS}">{workbook_pr}<{p}sheets>'
                         f'{entries}</{p}sheets></{p}workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="{RELS}/{kind}" Target="worksheets/sheet{i}.xml"/>'
                       for i, (_name, kind, _xml) in enumerate(sheets, 1))
        rels += f'<Relationship Id="rS" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>' if strings_xml else ""
        rels += f'<Relationship Id="rY" Type="{RELS}/styles" Target="/xl/styles.xml"/>' if styles_xml else ""
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PACKAGE_RELS}">{rels}</Relationships>')
        for i, (_name, _kind, xml) in enumerate(sheets, 1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", f"<{p}worksheet {xmlns}>{xml}</{p}worksheet>")
        if strings_xml:
            archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN}">{strings_xml}</sst>')
        if styles_xml:
            archive.writestr("xl/styles.xml", f'<styleSheet xmlns="{MAIN}">{styles_xml}</styleSheet>')
    return buffer.getvalue()


def damaged_and_good(tmp_path, rows=3000, damage_at=2900):
    """Two workbooks of `rows` customers: one whole, one whose sheet XML breaks off inside row `damage_at`."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户名称", "手机号码"])
    for i in range(rows):
        sheet.append([f"客户{i}", f"138{i:08d}"])
    good = tmp_path / "good.xlsx"
    workbook.save(good)
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                cut = data.index(f'<row r="{damage_at}"'.encode())
                data = data[:cut] + f'<row r="{damage_at}"><c r="A{damage_at}" t="inlineStr"><is><t>x</c>'.encode()
            target.writestr(info, data)
    return damaged, good


def test_rows_come_back_while_the_sheet_is_read_not_after(tmp_path):
    """A sheet damaged near its end: the rows before the damage are read before the reader meets it (a
    reader that parses the whole sheet first would refuse the file in open_table), then the reading
    stops with a clear refusal naming the last good row."""
    damaged, good = damaged_and_good(tmp_path)
    table = open_table(str(damaged))  # opens: the damage is past the header and the first rows
    rows = table.rows()
    assert next(rows) == (2, ["客户0", "13800000000"])
    assert next(rows) == (3, ["客户1", "13800000001"])
    read = 2
    with pytest.raises(FileRefused, match="第 2899 行之后无法读取，文件可能已损坏"):
        for _ in rows:
            read += 1
    assert read == 2898  # every row before the damage came back first
    assert len(list(open_table(str(good)).rows())) == 3000


def test_an_import_that_meets_the_damage_writes_nothing(app, tmp_path, monkeypatch):
    import intake
    import models
    from intake import engine

    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))
    damaged, good = damaged_and_good(tmp_path)
    with app.app_context():
        with pytest.raises(intake.ImportRefused, match="第 2899 行之后无法读取"):
            intake.import_file(str(damaged), "customers")
        assert models.Customer.select().count() == 0
        assert intake.import_file(str(good), "customers").created == 3000


def test_rows_are_a_generator_over_chunks_of_the_sheet(tmp_path, monkeypatch):
    """The first row comes back after the first chunk of the sheet's XML, not after the last."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户名称"])
    for i in range(2000):
        sheet.append([f"客户{i}"])
    path = tmp_path / "a.xlsx"
    workbook.save(path)
    monkeypatch.setattr(files, "READ_BYTES", 4096)
    reads = []
    real_open = zipfile.ZipFile.open

    def counting_open(self, name, *args, **kwargs):
        handle = real_open(self, name, *args, **kwargs)
        if str(getattr(name, "filename", name)).startswith("xl/worksheets/"):
            real_read = handle.read
            handle.read = lambda size=-1: reads.append(size) or real_read(size)
        return handle

    table = open_table(str(path))
    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    rows = table.rows()
    assert next(rows) == (2, ["客户0"])
    assert len(reads) == 1 and reads == [4096]  # one chunk read so far
    assert sum(1 for _ in rows) == 1999
    assert len(reads) > 20


def test_shared_strings_rich_text_phonetics_types_and_styles():
    strings = ("<si><t>客户名称</t></si><si><t>首次接触时间</t></si><si><t>年营收</t></si><si><t>备注</t></si>"
               "<si><r><rPr><b/></rPr><t>北京</t></r><r><t xml:space=\"preserve\">示例 科技</t></r>"
               "<rPh sb=\"0\" eb=\"1\"><t>ペキン</t></rPh></si>"
               "<si><t>a&amp;b &lt;c&gt;</t></si><si><t>  </t></si>")
    styles = ('<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
              '</numFmts><cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>'
              '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="31"/><xf numFmtId="4"/>'
              '<xf numFmtId="20"/></cellXfs>')
    sheet = ('<dimension ref="A1:D6"/><sheetData>'
             '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
             '<c r="D1" t="s"><v>3</v></c></row>'
             '<row r="2"><c r="A2" t="s"><v>4</v></c><c r="B2" s="1"><v>45306</v></c><c r="C2" s="3"><v>1234.5</v></c>'
             '<c r="D2" t="str"><f>A2&amp;"!"</f><v>北京示例 科技!</v></c></row>'
             '<row r="3"><c r="A3" t="s"><v>5</v></c><c r="B3" s="2"><v>45307</v></c><c r="C3" t="e"><v>#DIV/0!</v></c>'
             '<c r="D3" t="b"><v>1</v></c></row>'
             # no r attributes: cells follow each other, the row follows the last one
             '<row><c t="inlineStr"><is><t>丙公司</t></is></c><c s="4"><v>0.5</v></c><c><v>7</v></c>'
             '<c t="e"/></row>'
             '<row r="6"><c r="A6" t="s"><v>6</v></c><c r="C6" t="d"><v>2024-03-01T08:30:00Z</v></c>'
             '<c r="D6"><v>1e-3</v></c></row>'
             '</sheetData>')
    table = open_table(package(sheet, strings, styles), filename="a.xlsx")
    assert table.headers == ["客户名称", "首次接触时间", "年营收", "备注"]
    assert table.size_hint() == 5
    assert list(table.rows()) == [
        (2, ["北京示例 科技", datetime.datetime(2024, 1, 15), 1234.5, "北京示例 科技!"]),
        (3, ["a&b <c>", datetime.datetime(2024, 1, 16), "#DIV/0!", True]),
        (4, ["丙公司", datetime.time(12, 0), 7, "#ERROR"]),
        (6, [None, None, datetime.datetime(2024, 3, 1, 8, 30), 0.001]),
    ]


def test_prefixed_elements_and_the_1904_date_system():
    styles = '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>'
    sheet = ('<x:sheetData><x:row r="1"><x:c r="B1" t="inlineStr"><x:is><x:t>下单时间</x:t></x:is></x:c>'
             '<x:c r="C1" t="inlineStr"><x:is><x:t>金额</x:t></x:is></x:c></x:row>'
             '<x:row r="2"><x:c r="B2" s="1"><x:v>0</x:v></x:c><x:c r="C2"><x:v>12.5</x:v></x:c></x:row>'
             '</x:sheetData><x:mergeCells count="1"><x:mergeCell ref="C2:C3"/></x:mergeCells>')
    data = package(sheet, styles_xml=styles, workbook_pr='<x:workbookPr date1904="1"/>', prefix="x")
    table = open_table(data, filename="a.xlsx")
    assert table.headers == ["", "下单时间", "金额"]
    assert any("C2:C3" in note for note in table.notes)
    assert list(table.rows()) == [(2, [None, datetime.datetime(1904, 1, 1), 12.5]), (3, [None, None, 12.5])]


def test_chart_sheets_are_passed_over_or_refused_by_name():
    data_sheet = ('<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>客户名称</t></is></c></row>'
                  '<row r="2"><c r="A2" t="inlineStr"><is><t>甲公司</t></is></c></row></sheetData>')
    data = package(None, sheets=[("图表1", "chartsheet", ""), ("客户", "worksheet", data_sheet)])
    table = open_table(data, filename="a.xlsx")
    assert table.sheet == "客户" and table.sheets == ["图表1", "客户"]
    assert list(table.rows()) == [(2, ["甲公司"])]
    with pytest.raises(FileRefused, match="“图表1”是图表，不是工作表"):
        open_table(data, filename="a.xlsx", sheet="图表1")
    with pytest.raises(FileRefused, match="没有工作表（只有图表）"):
        open_table(package(None, sheets=[("图表1", "chartsheet", "")]), filename="a.xlsx")


def test_a_doctype_or_damaged_xml_is_refused():
    data = package("<sheetData/>")
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts["xl/workbook.xml"] = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>' + parts["xl/workbook.xml"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    with pytest.raises(FileRefused, match="不是有效的 Excel"):
        open_table(buffer.getvalue(), filename="a.xlsx")
    table = open_table(package('<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>名称</t></is></c></row>'
                               '<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
                               '<!DOCTYPE x>'), filename="a.xlsx")
    with pytest.raises(FileRefused, match="从第 2 行之后无法读取，文件可能已损坏"):
        list(table.rows())


@pytest.mark.parametrize("code,kind", [
    ("yyyy-mm-dd", "date"), ('yyyy"年"m"月"d"日"', "date"), ("[$-F800]dddd, mmmm dd, yyyy", "date"),
    ("yyyy-mm-dd;@", "date"), ("h:mm AM/PM", "date"), ("mm:ss", "date"), ("[h]:mm:ss", "duration"),
    ("General", None), ("0.00", None), ("#,##0;[Red]-#,##0", None), ("@", None), ('"年"0', None),
    ("[$¥-804]#,##0.00", None), ("0.00E+00", None), (r"0\d", None), ("_(* #,##0_)", None),
])
def test_date_formats_by_calamines_rule(code, kind):
    assert files._format_kind(code) == kind
