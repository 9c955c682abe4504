"""bench.analysis_steps on CDNOW in a SQLite file: every case runs beside its baseline, the fitters
agree (the bench refuses to time fitters that disagree), the docs table is whole."""
import models
from bench import analysis_steps
from intake.cdnow import load_cdnow
from tests.test_analytics_engine import sqlite_app  # noqa: F401  (fixture)


def test_each_step_runs_beside_its_baseline(sqlite_app, tmp_path, monkeypatch):  # noqa: F811
    load_cdnow()
    monkeypatch.setattr(analysis_steps, "RESULTS", str(tmp_path))
    rows, sizes = analysis_steps.main(["--path", models.db.obj.database, "--runs", "1", "--as-of", "1997-09-30"])
    assert [(row["step"], row["how"]) for row in rows] == [
        ("BG/NBD", "lifetimes"), ("BG/NBD", "analytics.fitters"),
        ("Gamma-Gamma", "lifetimes"), ("Gamma-Gamma", "analytics.fitters"),
        ("snapshot", "take_snapshot (side by side)"), ("snapshot", "one table after another")]
    assert all(row["median_s"] > 0 for row in rows)
    assert sizes["customers"] == 2357 and sizes["bgnbd_patterns"] < sizes["customers"]
    markdown = analysis_steps.table(rows, sizes, 1)
    assert markdown.count("\n| ") == 7  # header and six cases
    assert (tmp_path / "analysis_steps.json").exists()
