"""Two steps inside the reports, each beside its raw baseline in the same run: the model fits and the snapshot.

    .venv/bin/python -m bench.analysis_steps                 # on bench/data/reports_1000000.db
    .venv/bin/python -m bench.analysis_steps --size 100000 --runs 3 --write-docs

- fits: BG/NBD and Gamma-Gamma on the customer summary of the database (weighted patterns, as the
  reports fit them), with lifetimes' own fitters (the baseline: autograd differentiates the
  likelihood) and with analytics.fitters (the same objective with its gradient written out);
- snapshot: analytics.engines.take_snapshot() (orders beside the other tables, on two cursors)
  against the same CREATE TABLE ... AS SELECT copies run one after another on one DuckDB connection.

Rounds are interleaved (each round runs every case once); the database is the one bench.reports
builds (demo.generate with orders_scale=ORDERS_SCALE), built first if missing.
"""
import argparse
import datetime
import json
import os
import time

from bench.list_page import RESULTS, build, write_docs
from bench.reports import ORDERS_SCALE
from bench.timing import measure_interleaved, progress
from demo.fixed import REFERENCE_DAY


def summary_of(path, as_of):
    """The value report's customer summary (weeks, the 3 years to as_of) of the SQLite file at `path`."""
    import models
    from analytics import engines, queries

    models.bind("sqlite:///" + path)
    engines.take_snapshot()
    try:
        return queries.customer_summary(as_of, as_of.replace(year=as_of.year - 3), unit_days=7)
    finally:
        engines.drop_snapshot()


def fit_cases(summary):
    """{case: callable} for both models, lifetimes' fitter and ours on the same weighted patterns."""
    import lifetimes

    from analytics import clv, fitters

    bgnbd = clv.patterns(summary[["frequency", "recency", "T"]])
    spend = clv.patterns(clv.repeat_buyers(summary)[["frequency", "monetary_value"]])

    def bgnbd_with(cls):
        return lambda: cls().fit(bgnbd["frequency"], bgnbd["recency"], bgnbd["T"], weights=bgnbd["weights"])

    def gamma_gamma_with(cls):
        return lambda: cls().fit(spend["frequency"], spend["monetary_value"], weights=spend["weights"])

    return {
        ("BG/NBD", "lifetimes"): bgnbd_with(lifetimes.BetaGeoFitter),
        ("BG/NBD", "analytics.fitters"): bgnbd_with(fitters.BetaGeoFitter),
        ("Gamma-Gamma", "lifetimes"): gamma_gamma_with(lifetimes.GammaGammaFitter),
        ("Gamma-Gamma", "analytics.fitters"): gamma_gamma_with(fitters.GammaGammaFitter),
    }, {"bgnbd_patterns": len(bgnbd), "gamma_gamma_patterns": len(spend)}


def snapshot_cases(path):
    """{case: callable}: take_snapshot() as shipped, and the same copies in a row (the baseline)."""
    import models
    from analytics import engines

    models.bind("sqlite:///" + path)

    def shipped():
        engines.take_snapshot()
        engines.drop_snapshot()

    def one_after_another():
        connection = engines.duckdb_over_sqlite(path)
        try:
            for model, names in engines.SNAPSHOT.items():  # the shipped copy statement, one at a time
                engines.copy_table(connection, model, names)
        finally:
            connection.close()

    return {("snapshot", "take_snapshot (side by side)"): shipped,
            ("snapshot", "one table after another"): one_after_another}


def measure(path, runs, as_of):
    """Rows of (step, how, median s, p90 s) and the sizes measured."""
    progress(f"customer summary of {path}")
    summary = summary_of(path, as_of)
    fits, sizes = fit_cases(summary)
    sizes["customers"] = len(summary)
    # The fitters must agree before their times mean anything.
    for model in ("BG/NBD", "Gamma-Gamma"):
        ours, theirs = fits[(model, "analytics.fitters")]().params_, fits[(model, "lifetimes")]().params_
        if not ((ours - theirs).abs() <= 1e-6 * theirs.abs()).all():
            raise RuntimeError(f"{model}: analytics.fitters {ours.to_dict()} != lifetimes {theirs.to_dict()}")
    rows = []
    for label, cases in (("model fits", fits), ("snapshot", snapshot_cases(path))):
        progress(f"{label}: {runs} interleaved rounds after one warm-up")
        timed = measure_interleaved(cases, runs=runs, warmup=1)
        rows += [{"step": step, "how": how, "median_s": timed[(step, how)][0] / 1000,
                  "p90_s": timed[(step, how)][1] / 1000} for step, how in cases]
    return rows, sizes


def table(rows, sizes, runs):
    baseline = {row["step"]: row["median_s"] for row in rows if row["how"] in ("lifetimes", "one table after another")}
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f} at the end, "
             f"median of {runs} interleaved rounds; {sizes['customers']:,} customers in the summary, "
             f"{sizes['bgnbd_patterns']:,} BG/NBD and {sizes['gamma_gamma_patterns']:,} Gamma-Gamma patterns.",
             "", "| step | how | median s | p90 s | ÷ baseline |", "|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['step']} | {row['how']} | {row['median_s']:.2f} | {row['p90_s']:.2f} | "
                     f"{row['median_s'] / baseline[row['step']]:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="customers of the bench.reports database")
    parser.add_argument("--path", default=None, help="a SQLite CRM database to use instead")
    parser.add_argument("--as-of", default=None, help="ISO date the summary ends (default demo.fixed.REFERENCE_DAY, "
                        "the day the bench databases are generated for, as in bench.reports)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    path = args.path or build(args.size, name="reports", orders_scale=ORDERS_SCALE)
    as_of = datetime.date.fromisoformat(args.as_of) if args.as_of else REFERENCE_DAY
    rows, sizes = measure(path, args.runs, as_of)
    markdown = table(rows, sizes, args.runs)
    print(markdown)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "analysis_steps.json"), "w") as handle:
        json.dump({"rows": rows, "sizes": sizes}, handle, indent=1)
    if args.write_docs:
        write_docs(markdown, section="analysis_steps")
    return rows, sizes


if __name__ == "__main__":
    main()
