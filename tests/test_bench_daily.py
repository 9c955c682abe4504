"""bench.daily at a tiny size, so it cannot rot: the data set is made set-based, the 20 rules' hand-written
SQL matches exactly the customers the sweep tags (the bench refuses to report otherwise), the second sweep
changes nothing, every check after a change evaluates all 20 rules, the previews count in two scopes, and
the docs table is whole.  With DATABASE_URL=postgresql://... the same runs on PostgreSQL too, in a scratch
schema of that database which the bench drops afterwards."""
import datetime
import os

from bench import daily as bench

CUSTOMERS = 600


def test_the_daily_bench_runs_every_case_beside_its_raw_sql(bench_scratch):
    tmp_path, docs = bench_scratch
    url = os.environ.get("DATABASE_URL", "")
    backends = "sqlite,postgresql" if url.startswith("postgres") else "sqlite"
    schema = f"bench_daily_test_{os.getpid()}"
    results = bench.main(["--customers", str(CUSTOMERS), "--checks", "30", "--dashboard-runs", "3", "--backends", backends,
                          "--schema", schema, "--drop-schema", "--write-docs"])
    assert [r["backend"] for r in results] == (["SQLite", "PostgreSQL"] if "postgresql" in backends else ["SQLite"])
    for r in results:
        assert r["customers"] == CUSTOMERS and r["orders"] == 10 * CUSTOMERS
        raw, sweep = r["raw"][0], r["sweep"][0]
        assert len(raw["counts"]) == 20 and raw["counts"] == sweep["counts"]  # checked by the bench as well
        assert sum(1 for n in raw["counts"].values() if n) >= 15  # the data set gives most rules customers
        assert sweep["applied"] == sum(raw["counts"].values()) and sweep["again_changed"] == 0
        assert set(sweep["rules"]) == set(raw["rules"]) and raw["seconds"] > 0 and sweep["seconds"] > 0
        written = r["raw_written"][0]  # the first sweep's rows by hand: the same rows, the same tables
        assert written["episodes"] == sweep["applied"] and set(written["rules"]) == set(raw["rules"])
        check = r["check"]
        assert check["checks"] == 30 and 0 < check["median_ms"] <= check["p95_ms"] <= check["max_ms"]
        assert check["changed"] > 0  # a new order moves some customer's tags
        previews = r["preview"]["previews"]
        assert [(p["rule"], p["user"]) for p in previews] == [
            (rule, user) for rule in bench.PREVIEWED for user in ("admin", "manager")]
        for admin, manager in zip(previews[::2], previews[1::2]):
            assert admin["now"] >= manager["now"] and admin["past"] >= manager["past"]
            assert admin["now"] - admin["gained"] == admin["past"] - admin["lost"]  # both days' customers agree
        assert set(r["hooks"]) <= set(bench.OPTIONAL)
        if "values" not in r["hooks"]:  # the value refresh (issue 11 part 5) covers every customer
            assert r["values"]["customers"] == CUSTOMERS and r["values"]["seconds"] > 0
        if "dashboard" not in r["hooks"]:  # the dashboard (part 6): each page as each user, one batch of SQL
            loads = r["dashboard"]["loads"]
            assert [(x["user"], x["page"].split()[0]) for x in loads] == [
                (user, page) for user in bench.DASHBOARD_USERS for page in ("首页", "period")]
            assert all(0 < x["statements"] <= 20 and x["median_ms"] <= x["p95_ms"] for x in loads)
    assert not os.path.exists(os.path.join(str(tmp_path / "data"), f"daily_{CUSTOMERS}_s1.db.partial"))
    saved = sorted((tmp_path / "results").glob("daily*.json"))
    assert [p.name for p in saved] == (["daily.json"] if "postgresql" in backends else ["daily_sqlite.json"])
    docs.write_text("# Benchmarks\n", encoding="utf-8")
    combined = bench.main(["--combine", str(saved[0]), "--write-docs"])  # runs made side by side: one table
    assert [r["backend"] for r in combined] == [r["backend"] for r in results]
    text = docs.read_text(encoding="utf-8")
    assert "<!-- daily:begin -->" in text and "full sweep of 20 rules" in text and "check after one change" in text
    assert "the same rows written by hand" in text
    assert text.count("| SQLite | 600 | 高价值") == 1  # the per-rule table


def test_the_data_set_is_the_same_for_the_same_seed(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setattr(bench, "DATA", str(tmp_path))
    path, info = bench.ensure_sqlite(300, 3)
    assert not info["reused"] and bench.ensure_sqlite(300, 3)[1]["reused"]
    first = sqlite3.connect(path).execute(
        "SELECT COUNT(*), SUM(amount), MIN(ordered_at), MAX(ordered_at) FROM orders").fetchone()
    os.rename(path, path + ".first")
    again = sqlite3.connect(bench.ensure_sqlite(300, 3)[0]).execute(
        "SELECT COUNT(*), SUM(amount), MIN(ordered_at), MAX(ordered_at) FROM orders").fetchone()
    assert first == again and first[0] == 3000
    assert first[3] < str(bench.DAY + datetime.timedelta(days=1))  # nothing after the fixed day
