"""bench.intake at a tiny size: the files generate, the baseline and the importer write the same rows
(the bench refuses to time cases that disagree), the XLSX readers read every row, the table is whole."""
import os

from bench import intake as bench


def test_the_import_bench_runs_every_case_beside_its_baseline(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "DATA", str(tmp_path / "data"))
    monkeypatch.setattr(bench, "RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("DATABASE_URL", raising=False)  # PostgreSQL is a case of its own (bench.intake docs)
    results, xlsx = bench.main(["--customers", "400", "--orders", "300", "--xlsx-rows", "200"])
    assert [(r["kind"], r["case"]) for r in results] == [
        (kind, case) for kind in ("customers", "orders") for case in ("bare", "floor", "baseline", "importer", "check")]
    customers = {r["case"]: r for r in results if r["kind"] == "customers"}
    assert 370 <= customers["importer"]["written"] == customers["baseline"]["written"] < 400  # a few % invalid
    assert customers["floor"]["written"] == customers["bare"]["written"] == customers["baseline"]["written"]
    check = customers["check"]["counts"]  # the check (dry run) counts what the import of the file writes
    assert {k: check[k] for k in customers["importer"]["counts"]} == customers["importer"]["counts"]
    assert 0 <= check["probable_duplicates"] <= check["created"]
    assert not customers["importer"]["flask_loaded"]  # measured as the worker runs it, without the web app
    counts = customers["importer"]["counts"]
    assert counts["created"] + counts["rejected"] == counts["rows"] == 400
    assert all(r["seconds"] > 0 and r["peak_rss_mb"] > 0 for r in results)
    assert bench.has_calamine()  # the test extra installs it: the reader intake.files replaced is measured beside it
    assert [(r["file"], r["reader"]) for r in xlsx] == [
        (layout, reader) for layout in ("inline", "shared") for reader in ("openpyxl", "calamine", "etree", "intake.files")]
    assert all(r["rows"] == 200 and 0 < r["first_row_s"] <= r["seconds"] for r in xlsx)
    markdown = bench.table(results, xlsx, 1, 0.5, 0.5)
    assert markdown.count("\n| ") == 1 + 10  # the header, five cases of two files
    assert "| check (dry run): " in markdown and " × import |" in markdown
    readers = bench.xlsx_table(xlsx, 1, 0.5, 0.5)
    assert readers.count("\n| ") == 1 + len(xlsx) and "| 1.00 |" in readers  # intake.files against itself
    with open(bench.customers_xlsx(200, "shared"), "rb") as handle:  # the Excel-like file: shared strings, dates
        from intake.files import open_table
        table = open_table(handle.read(), filename="a.xlsx")
        assert table.headers == bench.CUSTOMER_HEADERS
        assert any(type(values[10]).__name__ == "datetime" for _row, values in table.rows())
    assert (tmp_path / "results" / "intake.json").exists()
    sample = open(bench.customers_csv(400), encoding="gb18030").read()
    assert "+86 " in sample and "年" in sample and "¥" in sample and "１" in sample  # what needs standardising
    assert os.path.exists(bench.orders_csv(300, 1000))


def test_a_cached_empty_database_made_before_a_model_was_added_is_made_again(tmp_path, monkeypatch):
    """The cached databases are named by their customer count only: one that lacks a model's table (made
    before the model existed) is built again, or the importer case fails in its after-import steps."""
    import sqlite3

    monkeypatch.setattr(bench, "DATA", str(tmp_path))
    stale = tmp_path / "intake_empty_0.db"
    with sqlite3.connect(stale) as con:
        con.execute("CREATE TABLE customer (id INTEGER PRIMARY KEY)")
    assert "pipeline_transition" in bench._missing_tables(str(stale))
    assert bench.empty_database(0) == str(stale) and not bench._missing_tables(str(stale))
