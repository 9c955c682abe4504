"""The three reports at 100k and 1M customers (~1M and ~10M orders): where their time goes, beside raw DuckDB.

    .venv/bin/python -m bench.reports                         # 100k and 1M customers, every report
    .venv/bin/python -m bench.reports --sizes 100000 --runs 1 # one size, one run
    .venv/bin/python -m bench.reports --write-docs            # also rewrite the table in docs/benchmarks.md

Each database is generated once with the demo generator into bench/data/reports_<size>_<day>.db, with
orders_scale=ORDERS_SCALE so customers average about ten orders (the issue's 1M customers / 10M orders).

For every report the real thing runs: reporting.runner.run_report, papermill, a fresh kernel,
nbconvert to HTML.  Its time is split from what papermill records per cell:
  kernel   papermill's execution time minus the sum of the cell times (kernel start-up and the
           papermill bookkeeping between cells)
  data     cells tagged `data` (until the notebooks carry tags: cells whose source calls `queries.`
           or `session.customer_labels`)
  compute  the other cells (models, pandas, charts)
  render   nbconvert to HTML, timed again on the executed notebook
  peak MiB the kernel's peak resident memory (VmHWM, polled from /proc while it runs)

Beside each report's data step the same aggregates run in this process, interleaved round by round:
  library  the analytics.queries calls the notebook makes, as shipped (DuckDB over the SQLite file)
  raw      the same aggregates as hand-written DuckDB SQL over the same file (the baseline)
  sqlite   the analytics.queries calls on SQLite's own SQL engine, once (what it cost before)
"""
import argparse
import datetime
import json
import os
import statistics
import tempfile
import threading
import time

import pandas as pd

from bench.list_page import FIELD_KEY, RESULTS, app_for, build, write_docs
from bench.timing import measure_interleaved, progress
from demo.fixed import REFERENCE_DAY

ORDERS_SCALE = 3.2  # demo.generate's knob: ~10.7 orders per customer instead of ~3.5
REPORTS = ("segmentation", "lifecycle", "value")
SQLITE_LIMIT_S = 120.0  # SQLite's own SQL is stopped after this long; the table then says "> 120"
TARGETS = {"data_ratio": 2.0, "report_s_at_1m": 30.0, "peak_mib": 2048.0}
DATA_MARKERS = ("queries.", "session.customer_labels")

# The aggregates as hand-written DuckDB SQL: $start and $end bound ordered_at, like analytics.queries.
RAW_SQL = {
    "customer summary": """
        WITH days AS (
            SELECT customer_id, CAST(ordered_at AS DATE) AS day, count(*) AS orders, sum(amount) AS revenue
            FROM crm.orders WHERE ordered_at >= $start AND ordered_at < $end GROUP BY customer_id, day)
        SELECT customer_id, min(day) AS first_purchase, max(day) AS last_purchase, sum(orders) AS orders,
               sum(revenue) AS revenue, count(*) AS purchase_days, arg_min(revenue, day) AS first_day_revenue
        FROM days GROUP BY customer_id ORDER BY customer_id""",
    "cohort activity": """
        WITH active AS (
            SELECT DISTINCT customer_id, date_trunc('month', ordered_at) AS month
            FROM crm.orders WHERE ordered_at >= $start AND ordered_at < $end),
        firsts AS (SELECT customer_id, min(month) AS cohort FROM active GROUP BY customer_id)
        SELECT cohort, month, count(*) AS customers FROM active JOIN firsts USING (customer_id)
        GROUP BY cohort, month ORDER BY cohort, month""",
    "second purchase gaps": """
        WITH days AS (
            SELECT DISTINCT customer_id, CAST(ordered_at AS DATE) AS day
            FROM crm.orders WHERE ordered_at >= $start AND ordered_at < $end),
        firsts AS (SELECT customer_id, min(day) AS first FROM days GROUP BY customer_id),
        seconds AS (SELECT customer_id, min(day) - min(first) AS gap FROM days JOIN firsts USING (customer_id)
                    WHERE day > first GROUP BY customer_id)
        SELECT gap AS days, count(*) AS customers FROM seconds GROUP BY gap ORDER BY gap""",
    "status counts": "SELECT status, count(*) AS customers FROM crm.customer GROUP BY status",
    "status conversion": """
        WITH stages AS (SELECT * FROM (VALUES ('意向客户', 2), ('成交客户', 3)) AS s(status, stage)),
        reached AS (
            SELECT customer_id, max(coalesce(stage, 1)) AS stage FROM crm.status_change
            LEFT JOIN stages ON stages.status = to_status WHERE "at" < $end GROUP BY customer_id),
        changed AS (SELECT DISTINCT customer_id FROM crm.status_change)
        SELECT date_trunc('month', c.first_contact) AS month,
               CASE WHEN changed.customer_id IS NULL THEN coalesce(today.stage, 1)
                    ELSE coalesce(reached.stage, 1) END AS reached,
               count(*) AS customers
        FROM crm.customer AS c
        LEFT JOIN reached ON reached.customer_id = c.id
        LEFT JOIN changed ON changed.customer_id = c.id
        LEFT JOIN stages AS today ON today.status = c.status
        WHERE c.first_contact IS NOT NULL AND c.first_contact >= $first_day AND c.first_contact <= $last_day
        GROUP BY ALL ORDER BY month, reached""",
}


def report_calls(report, as_of, start):
    """(aggregate, as-of days, analytics.queries call) for the data each notebook's `data` cells load,
    as they call them with default parameters.  "customer summaries" is one call for two days."""
    from analytics import queries

    before = as_of - datetime.timedelta(days=90)  # segmentation's and lifecycle's compare_to default
    calibration = as_of - datetime.timedelta(weeks=26)  # value's holdout_weeks default
    return {
        "segmentation": [
            ("customer summaries", (as_of, before), lambda: queries.customer_summaries([as_of, before], start)),
        ],
        "lifecycle": [
            ("status counts", (as_of,), lambda: queries.status_counts()),
            ("customer summaries", (as_of, before),
             lambda: queries.customer_summaries([as_of, before], start, unit_days=7)),
            ("cohort activity", (as_of,), lambda: queries.cohort_activity(as_of, start)),
            ("second purchase gaps", (as_of,), lambda: queries.second_purchase_gaps(as_of, start)),
            ("status conversion", (as_of,), lambda: queries.status_conversion(as_of, start)),
        ],
        "value": [
            ("customer summaries", (as_of, calibration),
             lambda: queries.customer_summaries([as_of, calibration], start, unit_days=7)),
        ],
    }[report]


def raw_calls(report, path, as_of, start):
    """The same aggregates, in the same order and windows, as raw DuckDB SQL over the same file.

    The raw baseline computes "customer summaries" as one customer summary per day, as plain SQL
    would, and returns {day: frame} like the library call."""
    from analytics.engines import duckdb_over_sqlite

    connection = duckdb_over_sqlite(path)

    def one(aggregate, until):
        sql = RAW_SQL[aggregate]
        params = {"start": datetime.datetime.combine(start, datetime.time()),
                  "end": datetime.datetime.combine(until + datetime.timedelta(days=1), datetime.time()),
                  "first_day": start, "last_day": until}
        params = {name: value for name, value in params.items() if f"${name}" in sql}
        return lambda: connection.execute(sql, params).df()

    calls = []
    for aggregate, days, _ in report_calls(report, as_of, start):
        if aggregate == "customer summaries":
            each = {day: one("customer summary", day) for day in days}
            calls.append((aggregate, lambda each=each: {day: call() for day, call in each.items()}))
        else:
            calls.append((aggregate, one(aggregate, days[0])))
    return calls


def time_limited(run, limit_s, connection):
    """Seconds `run` took on the SQLite `connection`, or None if it was interrupted after `limit_s`."""
    timer = threading.Timer(limit_s, connection.interrupt)
    began = time.perf_counter()
    timer.start()
    try:
        run()
    except Exception as error:  # peewee wraps sqlite3's "interrupted" in its own OperationalError
        if "interrupt" not in str(error):
            raise
        return None
    finally:
        timer.cancel()
    return time.perf_counter() - began


def sequence(calls):
    def run():
        for _, call in calls:
            call()
    return run


class PeakMemory:
    """Peak resident memory (VmHWM) of this process's child processes while running: the kernel."""

    def __init__(self, interval=0.1):
        self.interval, self.peak_kib, self._stop = interval, 0, threading.Event()

    def _poll(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    with open(f"/proc/{child.pid}/status") as status:
                        for line in status:
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    pass  # the child ended between listing and reading
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mib(self):
        return self.peak_kib / 1024


def split_cells(notebook):
    """{"kernel", "data", "compute"} seconds of an executed notebook, from papermill's metadata.

    Cells tagged `data` are the data step; when no cell carries that tag (notebooks not tagged
    yet), cells whose source calls analytics.queries or session.customer_labels are.
    """
    cells = [c for c in notebook["cells"] if c.get("cell_type") == "code"]
    tagged = any("data" in c.get("metadata", {}).get("tags", []) for c in cells)

    def data(cell):
        if tagged:
            return "data" in cell.get("metadata", {}).get("tags", [])
        return any(marker in "".join(cell.get("source", "")) for marker in DATA_MARKERS)

    durations = [(data(c), c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in cells]
    executed = notebook["metadata"]["papermill"]["duration"]
    data_s = sum(d for is_data, d in durations if is_data)
    compute_s = sum(d for is_data, d in durations if not is_data)
    return {"kernel": executed - data_s - compute_s, "data": data_s, "compute": compute_s, "tagged": tagged}


def run_report_once(name, path, out_dir, field_key=FIELD_KEY, as_of=None):
    """Run report `name` on the database at `path` as the runner does; its time split and peak memory.

    The report ends at `as_of` (default demo.fixed.REFERENCE_DAY, the day the bench databases are
    generated for), not at today: the same data gives the same report on any day."""
    import nbformat

    from reporting import runner

    config = {"DATABASE_URL": "sqlite:///" + path, "FIELD_KEY": field_key}
    started = time.perf_counter()
    with PeakMemory() as memory:
        run = runner.run_report(name, {"as_of": (as_of or REFERENCE_DAY).isoformat()}, config=config,
                                out_dir=out_dir)
    total = time.perf_counter() - started
    if run.status != "success":
        raise RuntimeError(f"report {name} failed: {run.error_name}: {run.error}")
    notebook = nbformat.read(run.notebook_path, as_version=4)
    split = split_cells(notebook)
    render_started = time.perf_counter()
    runner.write_html(run.notebook_path)
    split["render"] = time.perf_counter() - render_started
    split["total"] = total
    split["peak_mib"] = memory.mib
    return split


def counts(path):
    import sqlite3

    connection = sqlite3.connect(path)
    customers = connection.execute("SELECT count(*) FROM customer").fetchone()[0]
    orders = connection.execute("SELECT count(*) FROM orders").fetchone()[0]
    connection.close()
    return customers, orders


def run_size(size, reports, runs, with_sqlite):
    path = build(size, name="reports", orders_scale=ORDERS_SCALE)
    customers, orders = counts(path)
    progress(f"{size:,} customers: {customers:,} customers, {orders:,} orders in {path}")
    app = app_for(path)
    import models

    as_of = REFERENCE_DAY  # the day build() generates the data for, and the notebooks' as_of below
    start = (pd.Timestamp(as_of) - pd.DateOffset(years=3)).date()  # the notebooks' default window
    rows = []
    out_dir = tempfile.mkdtemp(prefix="bench-reports-")
    with app.app_context():
        from analytics import engines

        # Run records only: recreated so they follow models.ReportRun as it is now.
        models.ReportRun.drop_table(safe=True)
        models.ReportRun.create_table()

        for name in reports:
            splits = []
            for run_no in range(runs):
                progress(f"{size:,} customers, {name}: notebook run {run_no + 1}/{runs}")
                splits.append(run_report_once(name, path, out_dir))
                progress(f"  total {splits[-1]['total']:.1f}s, data {splits[-1]['data']:.1f}s, "
                         f"peak {splits[-1]['peak_mib']:.0f} MiB")
            median = {key: statistics.median(s[key] for s in splits) for key in splits[0] if key != "tagged"}
            library = [(aggregate, call) for aggregate, _, call in report_calls(name, as_of, start)]
            raw = raw_calls(name, path, as_of, start)
            progress(f"{size:,} customers, {name}: data calls beside raw DuckDB, {runs} interleaved rounds")
            timed = measure_interleaved({"library": sequence(library), "raw": sequence(raw)}, runs=runs, warmup=1)
            sqlite_s = None
            if with_sqlite:
                progress(f"{size:,} customers, {name}: the same calls on SQLite's own SQL (once, "
                         f"stopped after {SQLITE_LIMIT_S:.0f} s)")
                with engines.using("sqlite"):
                    sqlite_s = time_limited(sequence(library), SQLITE_LIMIT_S, models.db.connection())
            rows.append({
                "size": size, "customers": customers, "orders": orders, "report": name, "runs": runs,
                "tagged": splits[0]["tagged"], **{k: round(v, 3) for k, v in median.items()},
                "library_s": timed["library"][0] / 1000, "raw_s": timed["raw"][0] / 1000,
                "ratio": timed["library"][0] / timed["raw"][0],
                "data_cells_ratio": median["data"] / (timed["raw"][0] / 1000),
                "sqlite_s": sqlite_s, "sqlite_tried": with_sqlite, "aggregates": [aggregate for aggregate, _ in library],
            })
            progress(f"  library {rows[-1]['library_s']:.2f}s, raw {rows[-1]['raw_s']:.2f}s, "
                     f"ratio {rows[-1]['ratio']:.2f}" + (f", sqlite SQL {sqlite_s:.1f}s" if sqlite_s else ""))
        models.db.close()
    return rows


def fmt(value, digits=1):
    return "—" if value is None else f"{value:.{digits}f}"


def table(rows):
    lines = ["| customers | orders | report | total s | kernel s | data s | compute s | render s | peak MiB "
             "| data calls s | raw DuckDB s | ratio | SQLite SQL s |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['customers']:,} | {r['orders']:,} | {r['report']} | {fmt(r['total'])} | {fmt(r['kernel'])} "
                     f"| {fmt(r['data'])} | {fmt(r['compute'])} | {fmt(r['render'])} | {fmt(r['peak_mib'], 0)} "
                     f"| {fmt(r['library_s'], 2)} | {fmt(r['raw_s'], 2)} | {fmt(r['ratio'], 2)} "
                     f"| {fmt(r['sqlite_s']) if r['sqlite_s'] or not r['sqlite_tried'] else f'> {SQLITE_LIMIT_S:.0f}'} |")
    return "\n".join(lines)


def verdicts(rows):
    """One line per target: met or not, with the worst case."""
    worst_ratio = max(rows, key=lambda r: r["ratio"])
    lines = [f"- data step within {TARGETS['data_ratio']:.0f}× raw DuckDB: "
             f"{'met' if worst_ratio['ratio'] <= TARGETS['data_ratio'] else 'NOT met'} "
             f"(worst {worst_ratio['ratio']:.2f}×, {worst_ratio['report']} at {worst_ratio['customers']:,})"]
    big = [r for r in rows if r["customers"] >= 1_000_000]
    if big:
        slowest = max(big, key=lambda r: r["total"])
        lines.append(f"- each report under {TARGETS['report_s_at_1m']:.0f} s at 1M customers: "
                     f"{'met' if slowest['total'] < TARGETS['report_s_at_1m'] else 'NOT met'} "
                     f"(slowest {slowest['report']} {slowest['total']:.1f} s)")
    heaviest = max(rows, key=lambda r: r["peak_mib"])
    lines.append(f"- kernel peak memory under 2 GiB: {'met' if heaviest['peak_mib'] < TARGETS['peak_mib'] else 'NOT met'} "
                 f"(largest {heaviest['peak_mib']:.0f} MiB, {heaviest['report']} at {heaviest['customers']:,})")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--reports", default=",".join(REPORTS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-sqlite", action="store_true", help="skip the one run on SQLite's own SQL")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    import models.people

    models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # generation speed only; not measured
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        rows += run_size(size, args.reports.split(","), args.runs, not args.no_sqlite)
        markdown = write_results(rows, args.runs)  # after every size, so a long run keeps what it measured
    print(markdown)
    if args.write_docs:
        write_docs(markdown, section="reports")


def write_results(rows, runs):
    load = os.getloadavg()[0]
    markdown = (f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {load:.2f} at the end, median of "
                f"{runs} runs per report; data calls and raw DuckDB in {runs} interleaved rounds after "
                f"one warm-up.\n\n{table(rows)}\n\n{verdicts(rows)}")
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "reports.json"), "w") as handle:
        json.dump({"rows": rows}, handle, ensure_ascii=False, indent=1)
    with open(os.path.join(RESULTS, "reports.md"), "w") as handle:
        handle.write(markdown + "\n")
    return markdown


if __name__ == "__main__":
    main()
