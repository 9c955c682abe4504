"""bench.sync at a tiny size, so it cannot rot: a few hundred orders through the bulk endpoint over HTTP (the WSGI app
served by waitress on a thread: a `run.py serve` process would spend more on importing the app than on the run)
in calls of 100 beside the importer, the re-send that writes nothing, and both list pages, on the configured database
(a file of its own, or a scratch schema of DATABASE_URL's PostgreSQL database that the bench drops); the docs table
is written."""
import os

import pytest

from bench import sync as bench


def test_the_sync_bench_writes_every_row_both_ways(bench_scratch):
    tmp_path, docs = bench_scratch
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    schema = f"bench_sync_test_{os.getpid()}"
    [result] = bench.main(["--orders", "300", "--chunk", "100", "--customers", "20", "--pages", "3",
                           "--server", "thread", "--backends", "postgresql" if postgres else "sqlite",
                           "--schema", schema, "--write-docs"])
    assert result["backend"] == ("PostgreSQL" if postgres else "SQLite")
    assert result["orders"] == 300 and result["api_s"] > 0 and result["import_s"] > 0
    assert result["ratio"] == pytest.approx(result["api_s"] / result["import_s"])
    for page in result["pages"].values():
        assert page["n"] == 3 and 0 < page["p50_ms"] <= page["p95_ms"]
    assert not os.listdir(tmp_path / "data")  # the run's database and server logs are removed
    if postgres:
        con = bench.pg_autocommit(os.environ["DATABASE_URL"])
        cursor = con.cursor()
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,))
        assert cursor.fetchone()[0] == 0
        con.close()
    text = docs.read_text(encoding="utf-8")
    assert "<!-- sync:begin -->" in text and "| `GET /admin/customer/` (first page) |" in text
