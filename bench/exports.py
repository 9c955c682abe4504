"""Exports of a 10,000-row report and of a notebook report: Excel, and PDF with both engines side by side.

    .venv/bin/python -m bench.exports                  # 10,000 customers, 2 rounds
    .venv/bin/python -m bench.exports --write-docs     # also rewrite the table in docs/benchmarks.md

The data: the demo generator's 10,000 customers (bench/data/customers_10000_<day>.db, made once, as
bench.list_page makes its databases).  The 10,000-row report is what a saved report hands on: a summary
by industry (customers, 12-month spend, share; a bar chart) and the underlying rows, one per customer
(code, name, region, industry, status, orders, spend, last order), built by exports.Handout.  The
notebook report is a real run of `segmentation` (papermill, nbconvert) on the same database.

Cases, each timed in rounds that call every engine once in turn (the machine's load falls on all):
  xlsx        exports.xlsx_bytes / exports.notebook.run_xlsx
  chromium    the PDF printed by Debian's Chromium through Playwright (exports.engines, the default)
  weasyprint  the same page printed by WeasyPrint (the bench extra)
Reported: the median seconds, WeasyPrint / Chromium, pages and size of the PDF.  The machine's load
average is printed with the table: the figures are only comparable within one run.
"""
import argparse
import datetime
import io
import os
import statistics
import tempfile
import time

from bench.list_page import app_for, build, write_docs
from bench.timing import progress
from demo.fixed import REFERENCE_DAY

ENGINES = ("chromium", "weasyprint")


def customer_report(today=REFERENCE_DAY):
    """The 10,000-row report as a Handout: every customer with their 12-month orders and spend."""
    from peewee import JOIN, fn

    from exports import Chart, Column, Handout, Table
    from models import Customer, Order

    start = datetime.datetime.combine(today - datetime.timedelta(days=365), datetime.time())
    spend = (Order.select(Order.customer, fn.COUNT(Order.id).alias("orders"), fn.SUM(Order.amount).alias("spend"),
                          fn.MAX(Order.ordered_at).alias("last"))
             .where(Order.ordered_at >= start).group_by(Order.customer).alias("spend"))
    rows = (Customer.select(Customer.code, Customer.name, Customer.region, Customer.industry, Customer.status,
                            spend.c.orders, spend.c.spend, spend.c.last)
            .join(spend, JOIN.LEFT_OUTER, on=(spend.c.customer_id == Customer.id)).order_by(Customer.code).tuples())
    detail = [[code, name, region, industry, status, orders or 0, float(total or 0), _day(last)]
              for code, name, region, industry, status, orders, total, last in rows]
    by_industry = {}
    for row in detail:
        entry = by_industry.setdefault(row[3] or "未填写", [0, 0.0])
        entry[0] += 1
        entry[1] += row[6]
    total = sum(spend for _, spend in by_industry.values()) or 1
    summary = [[industry, count, spend, spend / total] for industry, (count, spend) in
               sorted(by_industry.items(), key=lambda item: -item[1][1])]
    return Handout(
        title="客户消费明细报表", notes=[f"统计期间：{start:%Y-%m-%d} 至 {today:%Y-%m-%d}", f"客户 {len(detail):,} 位"],
        summary=Table([Column("industry", "行业"), Column("customers", "客户数", "count"),
                       Column("spend", "近12个月消费额", "money"), Column("share", "消费额占比", "percent")], summary),
        chart=Chart("bar", "industry", ["spend"], title="各行业近12个月消费额"),
        detail=Table([Column("code", "客户编号"), Column("name", "客户名称"), Column("region", "地区"),
                      Column("industry", "行业"), Column("status", "客户状态"), Column("orders", "订单数", "count"),
                      Column("spend", "近12个月消费额", "money"), Column("last", "最后下单", "date")], detail,
                     title="客户明细"))


def _day(value):
    if value is None or isinstance(value, datetime.date):
        return value.date() if isinstance(value, datetime.datetime) else value
    return datetime.date.fromisoformat(str(value)[:10])


def pages(data):
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)


def timed_rounds(cases, rounds):
    """{name: (median s, last result)} of callables called once each per round, in turn."""
    seconds, results = {name: [] for name in cases}, {}
    for number in range(rounds):
        for name, fn in cases.items():
            started = time.perf_counter()
            results[name] = fn()
            seconds[name].append(time.perf_counter() - started)
            progress(f"round {number + 1}: {name} {seconds[name][-1]:.2f} s")
    return {name: (statistics.median(values), results[name]) for name, values in seconds.items()}


def measure(size, rounds):
    import exports
    from exports import engines, notebook, picture, printed

    path = build(size)
    app = app_for(path)
    rows = []
    with app.app_context():
        handout = customer_report()
        page = printed.handout_html(handout, picture.chart_png(handout))
        progress(f"report of {len(handout.detail.rows):,} rows; printing it")
        cases = {"xlsx": lambda: exports.xlsx_bytes(handout)}
        cases.update({engine: (lambda e=engine: engines.pdf(page, e)) for engine in ENGINES})
        rows.append((f"{len(handout.detail.rows):,}-row report (客户消费明细报表)", timed_rounds(cases, rounds)))

        import reporting

        with tempfile.TemporaryDirectory(prefix="bench-exports-") as folder:
            run = reporting.runner.run_report("segmentation", config=app.config, out_dir=folder)
            assert run.status == "success", run.error
            with open(run.html_path, encoding="utf-8") as handle:
                report_page = printed.report_html(handle.read())
            cases = {"xlsx": lambda: notebook.run_xlsx(run)[0]}
            cases.update({engine: (lambda e=engine: engines.pdf(report_page, e)) for engine in ENGINES})
            rows.append(("notebook report (segmentation, 客户分群)", timed_rounds(cases, rounds)))
    return rows


def markdown(rows, size, rounds):
    # Wall time only: the CPU of this process and its reaped children missed most of Chromium's (its renderer
    # is not a child Python waits for), so a CPU column would flatter Chromium.  Rounds interleave the engines,
    # so both print under the same load; the load average says how busy the machine was.
    load = os.getloadavg()
    lines = [f"Run of {datetime.date.today():%Y-%m-%d}, {size:,} demo customers, median of {rounds} round(s); load "
             f"average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) on 2 cores.", "",
             "| report | Excel | PDF Chromium | PDF WeasyPrint | WeasyPrint / Chromium | pages "
             "| PDF size (Chromium / WeasyPrint) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, result in rows:
        chromium, weasy = result["chromium"], result["weasyprint"]
        lines.append(f"| {label} | {result['xlsx'][0]:.2f} s | {chromium[0]:.2f} s | {weasy[0]:.2f} s | "
                     f"{weasy[0] / chromium[0]:.1f}x | {pages(chromium[1])} / {pages(weasy[1])} | "
                     f"{len(chromium[1]) / 1e6:.1f} / {len(weasy[1]) / 1e6:.1f} MB |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10000, help="customers (rows of the report)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every case (WeasyPrint takes minutes)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    rows = measure(args.size, args.rounds)
    text = markdown(rows, args.size, args.rounds)
    print(text)
    if args.write_docs:
        write_docs(text, section="exports")


if __name__ == "__main__":
    main()
