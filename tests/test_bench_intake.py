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
        (kind, case) for kind in ("customers", "orders") for case in ("bare", "floor", "baseline", "importer")]
    customers = {r["case"]: r for r in results if r["kind"] == "customers"}
    assert 370 <= customers["importer"]["written"] == customers["baseline"]["written"] < 400  # a few % invalid
    assert customers["floor"]["written"] == customers["bare"]["written"] == customers["baseline"]["written"]
    assert not customers["importer"]["flask_loaded"]  # measured as the worker runs it, without the web app
    counts = customers["importer"]["counts"]
    assert counts["created"] + counts["rejected"] == counts["rows"] == 400
    assert all(r["seconds"] > 0 and r["peak_rss_mb"] > 0 for r in results)
    assert [r["reader"] for r in xlsx] == ["openpyxl", *(["calamine"] if bench.has_calamine() else []),
                                           "intake.files"]
    markdown = bench.table(results, xlsx, 1, 0.5, 0.5)
    assert markdown.count("\n| ") == 2 + 8 + len(xlsx)  # two headers, four cases of two files, the readers
    assert (tmp_path / "results" / "intake.json").exists()
    sample = open(bench.customers_csv(400), encoding="gb18030").read()
    assert "+86 " in sample and "年" in sample and "¥" in sample and "１" in sample  # what needs standardising
    assert os.path.exists(bench.orders_csv(300, 1000))
