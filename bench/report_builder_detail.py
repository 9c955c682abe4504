"""The custom report's 明细 (reportbuilder.detail): what the rows cost to query and to write, and why the PDF leaves
them out.

    .venv/bin/python -m bench.report_builder_detail                # 10,000 customers, 1 round
    .venv/bin/python -m bench.report_builder_detail --write-docs   # also rewrite the table in docs/benchmarks.md

The data: the demo generator's 10,000 customers (bench/data/customers_10000_<day>.db, shared with bench.exports).
The report: 行业 × 客户数、消费额 over all time, as 系统管理员 (every customer is a detail row).  Cases:
  query          reportbuilder.detail.fetch on the engine the web process uses (DuckDB over the SQLite file)
  xlsx           exports.xlsx_bytes of the Handout with its 10,000-row 明细
  xlsx at cap    the same with the rows repeated to reportbuilder.detail.MAX_ROWS (100,000), as a report cut at the
                 cap hands on: what the cap bounds an export to
  pdf            the PDF the builder prints (summary, chart, the note where the rows are), Chromium
  pdf 1,000 rows the same page with the first 1,000 rows of the 明细 printed under it, to show what rows cost a PDF
"""
import argparse
import datetime
import os
import time

from bench.list_page import app_for, build, write_docs
from bench.timing import progress
from demo.fixed import REFERENCE_DAY


def timed(label, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    progress(f"{label}: {seconds:.2f} s")
    return seconds, result


def measure(size):
    import dataclasses

    import exports
    import reportbuilder
    from exports.document import Table
    from reportbuilder import detail
    from reportbuilder.handout import handout, printed

    from bench.exports import pages

    app = app_for(build(size))
    found = []
    with app.app_context():
        spec = reportbuilder.parse({"rows": ["industry"], "measures": ["customers", "revenue"],
                                    "period": {"preset": "all"}}, None, REFERENCE_DAY)
        result = reportbuilder.run(spec)
        seconds, rows = timed("query", lambda: detail.fetch(spec))
        found.append((f"query: {len(rows.rows):,} rows (DuckDB over the SQLite file)", seconds, ""))
        whole = handout(result, "行业明细", (), rows)
        seconds, data = timed("xlsx", lambda: exports.xlsx_bytes(whole))
        found.append((f"Excel with {len(rows.rows):,} rows of 明细", seconds, f"{len(data) / 1e6:.1f} MB"))
        repeat = -(-detail.MAX_ROWS // max(1, len(rows.rows)))
        capped = dataclasses.replace(rows, rows=(rows.rows * repeat)[:detail.MAX_ROWS],
                                     total=max(rows.total, detail.MAX_ROWS + 1))
        at_cap = handout(result, "行业明细", (), capped)
        seconds, data = timed("xlsx at cap", lambda: exports.xlsx_bytes(at_cap))
        found.append((f"Excel with {detail.MAX_ROWS:,} rows of 明细 (the cap; the rows repeated)", seconds,
                      f"{len(data) / 1e6:.1f} MB"))
        exports.pdf_bytes(printed(result, "行业明细"))  # untimed: the first browser start loads Playwright
        seconds, data = timed("pdf", lambda: exports.pdf_bytes(printed(result, "行业明细")))
        found.append(("PDF as the builder prints it (summary, chart, note)", seconds, f"{pages(data)} page(s)"))
        some = dataclasses.replace(whole, detail=Table(whole.detail.columns, whole.detail.rows[:1000], title="明细"))
        seconds, data = timed("pdf 1,000 rows", lambda: exports.pdf_bytes(some))
        found.append(("PDF with 1,000 rows of 明细 printed", seconds, f"{pages(data)} pages"))
    return found


def markdown(found, size):
    load = os.getloadavg()
    lines = [f"Run of {datetime.date.today():%Y-%m-%d}, {size:,} demo customers, one round; load average at the end "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) on 2 cores.", "",
             "| case | seconds | size |", "|---|---:|---:|"]
    lines += [f"| {label} | {seconds:.2f} s | {size} |" for label, seconds, size in found]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10000, help="customers")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    text = markdown(measure(args.size), args.size)
    print(text)
    if args.write_docs:
        write_docs(text, section="builder-detail")


if __name__ == "__main__":
    main()
