"""Reading import files: encodings, delimiters, XLSX sheets and merged cells, and clear refusals."""
import datetime
import zipfile

import openpyxl
import pytest

from intake import files
from intake.files import FileRefused, open_table

ROWS = "客户名称,手机号码\n北京示例科技,13812345678\n上海样本贸易,13912345678\n"


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"),
                                               ("gb18030", "gb18030")])
def test_every_encoding_reads_the_same(tmp_path, encoding, expected):
    path = tmp_path / "客户.csv"
    path.write_bytes(ROWS.encode(encoding))
    table = open_table(str(path))
    assert table.encoding == expected
    assert table.headers == ["客户名称", "手机号码"]
    assert list(table.rows()) == [(2, ["北京示例科技", "13812345678"]), (3, ["上海样本贸易", "13912345678"])]


def test_gb18030_only_characters(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("客户名称\n𠀀记商行\n".encode("gb18030"))  # outside GBK: four-byte GB18030
    assert list(open_table(str(path)).rows()) == [(2, ["𠀀记商行"])]


def test_undecodable_file_is_refused_clearly(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("客户名称\n".encode("utf-8") + b"\x81\x20\xff\xfe\n")
    with pytest.raises(FileRefused, match="无法识别文件编码"):
        open_table(str(path))


def test_bom_with_broken_utf8_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "客户名称\n".encode("gbk"))
    with pytest.raises(FileRefused, match="UTF-8"):
        open_table(str(path))


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiters_are_detected(tmp_path, delimiter):
    path = tmp_path / "a.csv"
    path.write_text(delimiter.join(["客户名称", "手机号码", "备注"]) + "\n"
                    + delimiter.join(["甲, 乙公司" if delimiter != "," else "甲公司", "13812345678", "x"]) + "\n",
                    encoding="utf-8")
    table = open_table(str(path))
    assert table.delimiter == delimiter and len(table.headers) == 3


def test_quoted_newlines_keep_excel_row_numbers(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('客户名称,备注\n甲,"第一行\n第二行"\n\n乙,x\n', encoding="utf-8")
    assert [row_no for row_no, _ in open_table(str(path)).rows()] == [2, 4]  # the blank row is not data


def test_bytes_with_filename(tmp_path):
    table = open_table(ROWS.encode("gbk"), filename="客户.csv")
    assert table.encoding == "gb18030" and table.filename == "客户.csv"


@pytest.mark.parametrize("content,message", [
    (b"", "是空的"),
    (b"   \n\n", "是空的"),
    ("客户名称,手机号码\n".encode(), "只有表头"),
    (b"\x00\x01\x02\x03binary\x00" * 20, "不是文本文件"),
])
def test_refusals(content, message):
    with pytest.raises(FileRefused, match=message):
        open_table(content, filename="a.csv")


def test_xlsx_named_csv_and_old_xls_are_refused(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["客户名称"])
    workbook.save(tmp_path / "real.xlsx")
    with pytest.raises(FileRefused, match="实际是 Excel"):
        open_table((tmp_path / "real.xlsx").read_bytes(), filename="a.csv")
    with pytest.raises(FileRefused, match=r"旧版 Excel"):
        open_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, filename="a.xls")
    with pytest.raises(FileRefused, match="不是有效的 Excel"):
        open_table(b"not a zip at all", filename="a.xlsx")
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("hello.txt", "x")
    with pytest.raises(FileRefused, match="不是有效的 Excel"):
        open_table(str(broken))


def test_thousands_of_columns_are_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"列{i}" for i in range(3000)) + "\n" + ",".join("x" * 3000) + "\n", encoding="utf-8")
    with pytest.raises(FileRefused, match="3,000 列"):
        open_table(str(path))


def test_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    path.write_text(ROWS, encoding="utf-8")
    with pytest.raises(FileRefused, match="超过导入上限"):
        open_table(str(path), max_bytes=10)
    monkeypatch.setenv("IMPORT_MAX_BYTES", "20")
    with pytest.raises(FileRefused, match="IMPORT_MAX_BYTES"):
        open_table(str(path))


def _workbook(path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    sheet.append(["客户名称", "首次接触时间", "序列日期", "备注"])
    sheet.append(["甲公司", datetime.datetime(2024, 1, 15), 45306, "合并"])
    sheet.append(["乙公司", None, 45307, None])
    sheet.merge_cells("D2:D3")
    other = workbook.create_sheet("订单")
    other.append(["订单号"])
    other.append(["SO1"])
    workbook.save(path)


def test_xlsx_first_sheet_merged_cells_dates_and_serials(tmp_path):
    _workbook(tmp_path / "a.xlsx")
    table = open_table(str(tmp_path / "a.xlsx"))
    assert table.sheet == "客户" and table.sheets == ["客户", "订单"]
    assert any("2 个工作表" in note for note in table.notes)
    assert any("D2:D3" in note for note in table.notes)
    assert list(table.rows()) == [(2, ["甲公司", datetime.datetime(2024, 1, 15), 45306, "合并"]),
                                  (3, ["乙公司", None, 45307, "合并"])]
    second = open_table(str(tmp_path / "a.xlsx"), sheet="订单")
    assert second.headers == ["订单号"] and list(second.rows()) == [(2, ["SO1"])]
    with pytest.raises(FileRefused, match="没有名为“发票”的工作表"):
        open_table(str(tmp_path / "a.xlsx"), sheet="发票")


def test_escaped_formulas_read_back_plain():
    assert files.unescape("'=HYPERLINK(1)") == "=HYPERLINK(1)"
    assert files.unescape("'+86 138") == "+86 138"
    assert files.unescape("'quoted") == "'quoted"


def test_xlsx_sheet_starting_lower_right_keeps_excel_rows_columns_and_types(tmp_path):
    """A sheet whose first used cell is C3: rows and columns stay as Excel numbers them."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C3"], sheet["D3"], sheet["E3"] = "客户名称", "首次接触时间", "员工人数"
    sheet["C4"], sheet["D4"], sheet["E4"] = "甲公司", datetime.date(2024, 2, 1), 120
    sheet["D4"].number_format = 'yyyy"年"m"月"d"日"'
    sheet["C6"], sheet["D6"], sheet["E6"] = 13812345678, datetime.datetime(2024, 1, 15, 10, 30), 1.5
    sheet["F4"] = "跨行"
    sheet.merge_cells("F4:F8")  # past the last row with a value
    sheet["F3"] = "备注"
    workbook.save(tmp_path / "a.xlsx")
    table = open_table((tmp_path / "a.xlsx").read_bytes(), filename="a.xlsx")
    assert table.header_row == 3 and table.headers == ["", "", "客户名称", "首次接触时间", "员工人数", "备注"]
    rows = list(table.rows())
    assert rows == [(4, [None, None, "甲公司", datetime.datetime(2024, 2, 1), 120, "跨行"]),
                    (5, [None, None, None, None, None, "跨行"]),
                    (6, [None, None, 13812345678, datetime.datetime(2024, 1, 15, 10, 30), 1.5, "跨行"]),
                    (7, [None, None, None, None, None, "跨行"]),
                    (8, [None, None, None, None, None, "跨行"])]
    assert type(rows[0][1][4]) is int and type(rows[2][1][2]) is int
    assert list(table.rows()) == rows  # read again: the engine's second pass


def test_excel_error_cells_are_read_as_their_error_text_not_as_blanks(tmp_path):
    """An error cell (#DIV/0!) reads as its error text: the importer must not take a broken value for a blank."""
    import openpyxl

    from intake.files import open_table

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    sheet.append(["客户名称", "年营收", "备注"])
    sheet.append(["甲公司", 100, "好"])
    sheet.append(["乙公司", None, "ok"])
    sheet["B3"] = "#DIV/0!"
    sheet["B3"].data_type = "e"
    workbook.create_sheet("其他")
    path = tmp_path / "errors.xlsx"
    workbook.save(path)
    rows = list(open_table(str(path)).rows())
    assert rows == [(2, ["甲公司", 100, "好"]), (3, ["乙公司", "#DIV/0!", "ok"])]
    assert list(open_table(path.read_bytes(), filename="errors.xlsx").rows())[1][1][1] == "#DIV/0!"


def test_an_error_cell_in_a_number_column_is_rejected_by_the_import(app, tmp_path, monkeypatch):
    import openpyxl

    import intake
    from intake import engine

    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户名称", "手机号码", "年营收"])
    sheet.append(["乙公司", "13800000009", "#N/A"])
    sheet["C2"].data_type = "e"
    path = tmp_path / "bad.xlsx"
    workbook.save(path)
    with app.app_context():
        report = intake.validate(str(path), "customers")
    assert report.rejected == 1 and "金额无法识别" in report.errors[0].reason and report.errors[0].value == "#N/A"
