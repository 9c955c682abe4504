"""bench.quality on a small demo database in a SQLite file: every finding but probable duplicates
is timed beside its raw SQL (and both count the same records: the bench refuses otherwise), the
whole scan beside every statement in a row, the scan in two row scopes, dedup's finding once, peak
memory from fresh processes, and the docs table is whole."""
import models
from bench import quality as bench
from demo.fixed import REFERENCE_NOW
from tests.conftest import PASSWORD
from tests.test_analytics_engine import sqlite_app  # noqa: F401  (fixture)


def test_each_finding_runs_beside_its_raw_sql(sqlite_app, tmp_path, monkeypatch):  # noqa: F811
    import demo

    demo.generate(customers=300, seed=5, password=PASSWORD, now=REFERENCE_NOW)
    owner = models.User.get(models.User.username == "sales1")
    models.Customer.create(name="全角手机公司", mobile="13８12345678", phone="010-62345678", owner=owner,
                           email="li＠example.com")
    monkeypatch.setattr(bench, "RESULTS", str(tmp_path))
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n", encoding="utf-8")
    monkeypatch.setattr(bench, "DOCS", str(docs))
    rows, memories = bench.main(["--path", models.db.obj.database, "--sizes", "300", "--runs", "1", "--write-docs"])
    findings = [r for r in rows if r["group"] == "finding"]
    import quality

    expected = [item.key for item in quality.findings.available() if item.key != bench.DUPLICATES]
    assert [r["case"] for r in findings] == expected
    assert all(r["median_s"] > 0 and r["raw_s"] > 0 for r in findings)
    counts = {r["case"]: r["count"] for r in findings}
    assert counts["invalid-mobile"] == 1 and counts["full-width"] >= 1 and counts["invalid-email"] >= 1
    groups = [r["group"] for r in rows]
    assert groups.count("scan") == 1 and groups.count("scope") == 2 and groups.count("duplicates") == 2
    assert {"scan", "raw", "with-duplicates"} <= set(memories[0]) and memories[0]["scan"]["peak_mb"] > 0
    markdown = bench.table(rows, memories, 1)
    assert markdown.count("\n| 300 |") == len(rows) + 1  # every row, and the memory row
    assert (tmp_path / "quality.json").exists()
    text = docs.read_text(encoding="utf-8")
    assert bench.HEADING in text and "<!-- quality:begin -->" in text and "invalid-mobile" in text
