"""Data-quality scan at 100k and 1M customers, each finding beside its raw SQL in the same run.

    .venv/bin/python -m bench.quality                       # 100k and 1M customers
    .venv/bin/python -m bench.quality --sizes 100000 --runs 3
    .venv/bin/python -m bench.quality --write-docs          # also rewrite the section in docs/benchmarks.md

The databases are bench.list_page's (the demo generator for demo.fixed.REFERENCE_DAY, kept in
bench/data/); the scan runs for that day.  For every finding but probable duplicates:

- quality: the finding's count as quality.scan runs it (peewee, the row scope, the app's pooled
  connection with its pragmas);
- raw: the SQL statement that count sent, executed directly with sqlite3 on the same file, on one kept
  connection with the app's pragmas.

Then the whole scan (quality.scan without probable duplicates) beside every raw statement one after
another, in the same interleaved rounds, and the scan in a manager's and a sales rep's row scope
(what the 数据质量 screen would scan on a page load).  Probable duplicates are dedup.scan's work (a
benchmark of its own): quality.scan as shipped, with them, runs once in a fresh process, which reports
its time and the share of dedup's finding in it.  Peak memory is the peak RSS of a fresh process that
runs the scan once (VmHWM, bench.timing.peak_rss_mb), beside the same for the raw statements.
"""
import argparse
import datetime
import json
import logging
import os
import subprocess
import sys
import time

from bench.list_page import RESULTS, app_for, build
from bench.timing import measure_interleaved, peak_rss_mb, progress

DUPLICATES = "probable-duplicates"
SCOPES = ("manager", "sales1")  # a manager's team and a sales rep's own customers


def today():
    from demo.fixed import REFERENCE_DAY

    return REFERENCE_DAY


def _plain(value):
    """A parameter as sqlite3 gets it from peewee (dates and times as ISO text)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def captured(call):
    """The (sql, params) statements peewee sends while `call()` runs."""
    statements = []

    class Capture(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple):  # (sql, params); the pool also logs plain messages
                statements.append((record.msg[0], tuple(_plain(p) for p in record.msg[1])))

    logger = logging.getLogger("peewee")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        call()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return statements


def raw_connection(path):
    """A plain sqlite3 connection with the app's pragmas, kept open across runs as the app's pooled ones are."""
    import sqlite3

    from models.base import SQLITE_PRAGMAS

    con = sqlite3.connect(path)
    for name, value in SQLITE_PRAGMAS.items():
        con.execute(f"PRAGMA {name} = {value}")
    return con


def statements(day):
    """{finding key: (sql, params)} of the count quality.scan runs for each finding but duplicates."""
    import quality
    from quality.scan import context, matching

    ctx = context(day)
    found = {}
    for item in quality.findings.available():
        if item.key == DUPLICATES:
            continue
        sent = captured(lambda: matching(item, ctx, None).count())
        found[item.key] = sent[-1]
    return found


def cases(path, day, raw):
    """{(group, label, how): callable} for the interleaved rounds, and {key: count} to check both agree."""
    import access
    import models
    import quality
    from quality.scan import context, matching

    ctx = context(day)
    sql = statements(day)
    timed, counts = {}, {}
    for key, (text, params) in sql.items():
        item = quality.get(key)
        counts[key] = matching(item, ctx, None).count()
        got = raw.execute(text, params).fetchone()[0]
        if got != counts[key]:
            raise RuntimeError(f"{key}: quality {counts[key]} != raw SQL {got}")
        timed[("finding", key, "quality")] = lambda i=item: matching(i, ctx, None).count()
        timed[("finding", key, "raw")] = lambda t=text, p=params: raw.execute(t, p).fetchone()

    def raw_all():
        for text, params in sql.values():
            raw.execute(text, params).fetchone()

    timed[("scan", "every finding but probable duplicates", "quality")] = (
        lambda: quality.scan(None, day, skip=(DUPLICATES,)))
    timed[("scan", "every finding but probable duplicates", "raw")] = raw_all
    for username in SCOPES:
        user = models.User.get(models.User.username == username)
        owners = access.owner_ids(user, access.grant_for(user))
        customers = models.Customer.select().where(models.Customer.owner.in_(list(owners))).count()
        label = f"{username}'s scope ({customers:,} customers)"
        timed[("scope", label, "quality")] = lambda u=user: quality.scan(u, day, skip=(DUPLICATES,))
    return timed, counts


def peak_memory(path, how, day):
    """Peak RSS (MB) of a fresh process that binds the database and runs the scan (or the raw SQL) once,
    and its peak before the scan."""
    out = subprocess.run([sys.executable, "-m", "bench.quality", "--child", how, "--path", path,
                          "--today", day.isoformat()], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if out.returncode != 0:  # say why: the child's traceback, not only its exit status
        raise RuntimeError(f"the {how} child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(how, path, day):
    """The --child side of peak_memory."""
    peak = peak_rss_mb  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec

    app = app_for(path)
    extra = {}
    with app.app_context():
        import quality

        before = peak()
        if how == "raw":
            con = raw_connection(path)
            sql = statements(day)
            before = peak()
            for text, params in sql.values():
                con.execute(text, params).fetchone()
        elif how == "scan":
            quality.scan(None, day, skip=(DUPLICATES,))
        else:  # as shipped, with dedup's finding, whose share is timed inside the same call
            import dataclasses

            from quality import findings

            item = findings.REGISTRY[DUPLICATES]
            spent, cpu = [], []

            def timed(call):
                def timed_call(ctx):
                    started, used = time.perf_counter(), time.process_time()
                    try:
                        return call(ctx)
                    finally:
                        spent.append(time.perf_counter() - started)
                        cpu.append(time.process_time() - used)
                return timed_call

            findings.REGISTRY[DUPLICATES] = dataclasses.replace(
                item, select=timed(item.select), count=None if item.count is None else timed(item.count))
            started, used = time.perf_counter(), time.process_time()
            counts = quality.scan(None, day)
            # CPU time beside the wall time: on a loaded machine the wall time is mostly waiting for a core.
            extra = {"scan_s": time.perf_counter() - started, "duplicates_s": sum(spent),
                     "scan_cpu_s": time.process_time() - used, "duplicates_cpu_s": sum(cpu),
                     "duplicates": counts.get(DUPLICATES)}
    print(json.dumps({"before_mb": before, "peak_mb": peak(), **extra}))


def run_size(size, runs, duplicates, path=None):
    path = path or build(size)
    day = today()
    app = app_for(path)
    rows = []
    with app.app_context():
        import models
        import quality

        # A database generated by an older version gets the indexes it lacks, as `run.py init-db` does.
        progress(f"{size:,} customers: bringing the schema up to date (models.create_tables)")
        models.create_tables()
        models.db.execute_sql("PRAGMA optimize")
        raw = raw_connection(path)
        timed, counts = cases(path, day, raw)
        progress(f"{size:,} customers: {len(timed)} cases, {runs} interleaved rounds after one warm-up")
        results = measure_interleaved(timed, runs=runs, warmup=1)
        for group, label, how in timed:
            if how != "quality":
                continue
            median, p90 = results[(group, label, how)]
            raw_ms = results.get((group, label, "raw"), (None,))[0]
            rows.append({"size": size, "group": group, "case": label, "count": counts.get(label),
                         "median_s": median / 1000, "p90_s": p90 / 1000,
                         "raw_s": None if raw_ms is None else raw_ms / 1000})
        raw.close()
        duplicates = duplicates and quality.get(DUPLICATES).available()
    memory = {"size": size}
    for how in ("scan", "raw") + (("with-duplicates",) if duplicates else ()):
        progress(f"{size:,} customers: peak memory of {how}" + (" (and the scan with dedup's finding, once)"
                                                                if how == "with-duplicates" else ""))
        memory[how] = peak_memory(path, how, day)
    if duplicates:
        shipped = memory["with-duplicates"]
        rows.append({"size": size, "group": "duplicates", "case": f"{DUPLICATES} (dedup.scan, inside the scan below)",
                     "count": shipped["duplicates"], "median_s": shipped["duplicates_s"], "p90_s": None, "raw_s": None,
                     "cpu_s": shipped.get("duplicates_cpu_s")})
        rows.append({"size": size, "group": "duplicates", "case": "quality.scan as shipped, with probable duplicates",
                     "count": None, "median_s": shipped["scan_s"], "p90_s": None, "raw_s": None,
                     "cpu_s": shipped.get("scan_cpu_s")})
    return rows, memory


def fmt(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def table(rows, memories, runs):
    # No p90 column: with the few rounds a 1M run affords, bench.timing's p90 is one of two or three samples.
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f} at the end, "
             f"median of {runs} interleaved rounds after one warm-up (probable duplicates: one run).", "",
             "| customers | what | records found | quality.scan median s | raw SQL median s | ÷ raw |",
             "|---:|---|---:|---:|---:|---:|"]
    names = {"finding": "", "scan": "**whole scan**: ", "scope": "scan in ", "duplicates": ""}
    for r in rows:
        ratio = None if not r["raw_s"] else r["median_s"] / r["raw_s"]
        count = "—" if r["count"] is None else f"{r['count']:,}"
        cpu = f" (CPU {r['cpu_s']:.1f} s)" if r.get("cpu_s") is not None else ""
        lines.append(f"| {r['size']:,} | {names[r['group']]}{r['case']}{cpu} | {count} | {fmt(r['median_s'], 3)} | "
                     f"{fmt(r['raw_s'], 3)} | {fmt(ratio)} |")
    lines += ["", "| customers | peak RSS MB: scan | raw SQL | scan with probable duplicates | before the scan |",
              "|---:|---:|---:|---:|---:|"]
    for m in memories:
        dup = m.get("with-duplicates", {}).get("peak_mb")
        lines.append(f"| {m['size']:,} | {m['scan']['peak_mb']:.0f} | {m['raw']['peak_mb']:.0f} | {fmt(dup, 0)} | "
                     f"{m['scan']['before_mb']:.0f} |")
    return "\n".join(lines)


HEADING = "## Data quality (`bench/quality.py`)"
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "benchmarks.md")
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"


def write_section(markdown, path=None):
    """The table between the section's markers in docs/benchmarks.md; the first time, the section with its heading."""
    path = path or DOCS
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN not in text:
        text = text.rstrip() + f"\n\n{HEADING}\n\n{BEGIN}\n{END}\n"
    block = f"{BEGIN}\n{markdown}\n{END}"
    text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--path", default=None, help="a SQLite CRM database to use instead (one size)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-duplicates", action="store_true", help="skip the timing of dedup's finding")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", choices=("scan", "raw", "with-duplicates"), help=argparse.SUPPRESS)
    parser.add_argument("--today", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.path, datetime.date.fromisoformat(args.today))
    import models.people

    models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # generation speed only; not measured
    rows, memories = [], []
    for size in [int(s) for s in args.sizes.split(",")]:
        found, memory = run_size(size, args.runs, not args.no_duplicates, args.path)
        rows += found
        memories.append(memory)
    markdown = table(rows, memories, args.runs)
    print(markdown)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "quality.json"), "w") as handle:
        json.dump({"rows": rows, "memory": memories}, handle, ensure_ascii=False, indent=1)
    if args.write_docs:
        write_section(markdown)
    return rows, memories


if __name__ == "__main__":
    main()
