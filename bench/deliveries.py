"""Subscription deliveries: what the queue, the worker and the mail add to a report's own run, and how
many deliveries a minute one and two worker processes manage.

    .venv/bin/python -m bench.deliveries                          # 10 rounds; 100 subscriptions on 1 and 2 workers
    .venv/bin/python -m bench.deliveries --runs 3 --subscriptions 10
    .venv/bin/python -m bench.deliveries --queues sqlite,redis --write-docs

Everything runs for real, in a fresh temporary folder: a SQLite CRM database with demo.generate's
customers, huey on SQLite (or a redis-server of our own on a free port), `run.py worker` processes,
papermill kernels, and an aiosmtpd server on loopback that receives every mail.

Overhead per delivery, in interleaved rounds (each round runs each column once, each column first in
turn; same report, same parameters, same scope):
  raw      papermill.execute_notebook + runner.write_html called directly here: the report's own run
  runner   reporting.runner.run_report here: the 立即运行 path (ReportRun record, data watermark,
           per-cell progress) without queue or mail
  chain    a subscription falls due: due_subscriptions() here (plan + enqueue, as the worker's
           minute job does) → huey → a `run.py worker` claims it → runner → compose → SMTP →
           Delivery 'sent'; timed from the moment it falls due to the Delivery's sent_at and split
           at the records' timestamps (claimed_at, the ReportRun's started/finished, sent_at)

Left to the worker's scheduler (--scheduled): one occurrence of the tiny report at the next minute,
planned by the worker's own due-subscriptions job; seconds from the occurrence to planned, claimed and
sent.  The worker's scheduler (jobs.worker.MinuteScheduler) checks periodic jobs just after each
minute of the clock, so the first step is about a second (huey's own, 60 s from the worker's start,
made it 0–60 s).

Throughput: N subscriptions of the tiny report fall due at once; wall time from then until the last
Delivery is 'sent', on 1 and on 2 worker processes (each with --threads threads).  Each subscription
has its own recipient and its own `tag` parameter, and the engine makes one Delivery (one run, one
mail) per subscription and scope, so N subscriptions are N runs and N mails; the results check it
(each mail's X-CRM-Delivery header and recipient counted once).  --queues sqlite,redis repeats it on
Redis.  Results go to bench/results/deliveries.{json,md}; --write-docs puts the tables between the
"deliveries" markers of docs/benchmarks.md and touches nothing else there.
"""
import argparse
import datetime
import functools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import harness.smtp
from bench.list_page import RESULTS, write_docs
from bench.timing import progress
from harness.reports import delivery_header, give_emails, mail_env, register_reports, workers
from harness.workers import FIELD_KEY

# The tests' tiny subscription notebook (tests/data/slow.ipynb; without its `marker` it does not
# sleep): it counts the customers in scope and prints the SUMMARY line.  About a second, nearly all
# kernel start-up, so what the chain adds around it stands out.
TINY = "slow"
STAGES = (("plan_enqueue", "plan + enqueue"), ("queue_wait", "queue wait"), ("claim_to_run", "claim → run start"),
          ("run", "run (ReportRun)"), ("mail", "compose + SMTP"), ("total", "total"))
WAIT_LIMIT_S = 1800.0


def smtp_server():
    """The tests' recording SMTP server on a free loopback port: namespace(port, mails)."""
    return harness.smtp.running()


def crm_database(workdir, customers):
    """An app on a fresh SQLite file: demo users (with e-mail addresses) and `customers` demo customers."""
    import demo
    from web import create_app
    from web.setup import init_db

    url = f"sqlite:///{workdir / 'crm.db'}"
    app = create_app({"CRM_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench", "FIELD_KEY": FIELD_KEY})
    with app.app_context():
        init_db()
        # Dated from today, not demo.fixed.REFERENCE_NOW: the subscriptions here fall due on the real
        # clock and their plan fills the reports' as_of with the occurrence's day, so the data must
        # end today for the reports to cover the same three years on any day.
        demo.generate(customers=customers, password="bench-password")
        give_emails()
    return app


# --- one subscription falling due --------------------------------------------------------------
@functools.cache
def weekly():
    """The benchmark's schedule: weekly, last due an hour before the run started, so the next
    occurrence is days away and never falls due by itself mid-run."""
    from subscriptions import engine, schedule

    local = schedule.to_local(engine.utcnow() - datetime.timedelta(hours=1), schedule.zone(schedule.DEFAULT_TIMEZONE))
    return {"schedule_kind": "weekly", "weekday": local.isoweekday(), "time": f"{local:%H:%M}"}


def latest_occurrence(now):
    """(UTC moment, local date) of the weekly() schedule's latest occurrence up to `now`."""
    from subscriptions import schedule

    plan = SimpleNamespace(cron=None, day=None, timezone=schedule.DEFAULT_TIMEZONE, **weekly())
    moment = schedule.occurrences(plan, now - datetime.timedelta(days=8), now)[-1]
    return moment, schedule.local_date(plan, moment)


def new_subscription(owner, report, label, parameters=None):
    """A subscription of `report` to its own address <label@example.com>; not due (see weekly())."""
    import subscriptions

    return subscriptions.create(owner, name=f"基准 {label}", report=report, parameters=parameters or {},
                                emails=f"{label}@example.com", **weekly())


def fall_due(ids):
    """Subscriptions `ids` (all on weekly()) as if planned up to just before their latest occurrence:
    it is due now, and nothing else is."""
    from models import Subscription
    from subscriptions import engine

    moment, _ = latest_occurrence(engine.utcnow())
    (Subscription.update(planned_until=moment - datetime.timedelta(minutes=1))
     .where(Subscription.id.in_(ids)).execute())


def wait_delivered(ids, label, timeout=WAIT_LIMIT_S):
    """The Delivery rows of subscriptions `ids` once each one is sent or failed; progress every 10 s."""
    from models import Delivery

    began = noted = time.monotonic()
    while True:
        rows = list(Delivery.select().where(Delivery.subscription.in_(ids)).order_by(Delivery.id))
        done = sum(row.status in ("sent", "failed") for row in rows)
        if len(rows) >= len(ids) and done == len(rows):
            return rows
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"{label}: {done}/{len(ids)} delivered after {timeout:.0f} s")
        if time.monotonic() - noted >= 10:
            progress(f"  {label}: {done}/{len(ids)} delivered, {time.monotonic() - began:.0f} s")
            noted = time.monotonic()
        time.sleep(0.1)


def plan_and_enqueue(ctx):
    """due_subscriptions(), as the worker's minute job runs it.  Should the CRM database stay locked past
    its busy timeout (seen once on this machine under a load of 5), try again, as the next minute's
    job would, and count it in ctx.plan_retries so the results say so."""
    from peewee import OperationalError

    from subscriptions.tasks import due_subscriptions

    for attempt in range(3):
        try:
            return due_subscriptions()
        except OperationalError as error:
            if "locked" not in str(error) or attempt == 2:
                raise
            ctx.plan_retries += 1
            progress(f"  planning failed ({error}); trying again")


def utc_seconds(naive_utc):
    return naive_utc.replace(tzinfo=datetime.timezone.utc).timestamp()


def chain_stages(row, began, enqueued):
    """Seconds of each stage of delivered `row`, from its records; `began`/`enqueued` are epoch seconds."""
    from models import ReportRun

    run = ReportRun.get_by_id(row.report_run_id)
    claimed, sent = utc_seconds(row.claimed_at), utc_seconds(row.sent_at)
    started, finished = run.started_at.timestamp(), run.finished_at.timestamp()  # local time, as recorded
    return {"plan_enqueue": enqueued - began, "queue_wait": claimed - enqueued, "claim_to_run": started - claimed,
            "run": finished - started, "mail": sent - finished, "total": sent - began}


# --- the three columns of one round ------------------------------------------------------------
def raw_once(report_name, supplied, owner, out_dir):
    """The report's own run: papermill and the HTML export, with the parameters the runner would pass."""
    import papermill

    from reporting import params, registry, runner

    report = registry.get(report_name)
    parameters = params.for_notebook(report, runner.run_parameters(report, supplied, owner))  # as execute_run
    path = os.path.join(out_dir, f"raw-{secrets.token_hex(4)}.ipynb")
    began = time.perf_counter()
    papermill.execute_notebook(report.notebook, path, parameters=parameters, kernel_name="python3",
                               progress_bar=False, cwd=registry.ROOT)
    runner.write_html(path)
    return time.perf_counter() - began


def runner_once(report_name, supplied, owner, config):
    from reporting import runner

    began = time.perf_counter()
    run = runner.run_report(report_name, supplied, user=owner, config=config)
    took = time.perf_counter() - began
    if run.status != "success":
        raise RuntimeError(f"report {report_name} failed: {run.error_name}: {run.error}")
    return took


def chain_once(ctx, report_name, label):
    subscription = new_subscription(ctx.owner, report_name, label)
    began = time.time()
    fall_due([subscription.id])
    plan_and_enqueue(ctx)
    enqueued = time.time()
    [row] = wait_delivered([subscription.id], label)
    if row.status != "sent":
        raise RuntimeError(f"delivery {row.id} {row.status}: {row.error}")
    return chain_stages(row, began, enqueued)


def scheduled_once(owner, report_name, label):
    """A subscription due at the next minute, left to the worker's own scheduler (its "due-subscriptions"
    job); seconds from the occurrence to planned (the Delivery row made), to claimed and to sent."""
    import subscriptions
    from subscriptions import engine, schedule

    tz = schedule.zone(schedule.DEFAULT_TIMEZONE)
    soon = schedule.to_local(engine.utcnow() + datetime.timedelta(seconds=65), tz)  # 5–65 s ahead
    subscription = subscriptions.create(owner, name=f"基准 {label}", report=report_name, schedule_kind="cron",
                                        cron=f"{soon.minute} {soon.hour} * * *", emails=f"{label}@example.com")
    progress(f"{report_name}: one occurrence at {soon:%H:%M} ({schedule.DEFAULT_TIMEZONE}), planned by the "
             "worker's own minute job")
    [row] = wait_delivered([subscription.id], label, timeout=300)
    if row.status != "sent":
        raise RuntimeError(f"delivery {row.id} {row.status}: {row.error}")
    due, planned = utc_seconds(row.scheduled_for), row.created_at.timestamp()  # created_at: local time
    claimed, sent = utc_seconds(row.claimed_at), utc_seconds(row.sent_at)
    took = {"report": report_name, "occurrence": f"{row.scheduled_for:%Y-%m-%d %H:%M:%S} UTC",
            "due_to_planned": planned - due, "planned_to_claimed": claimed - planned, "claimed_to_sent": sent - claimed,
            "total": sent - due}
    progress(f"  planned {took['due_to_planned']:.1f} s after it fell due, sent after {took['total']:.1f} s")
    return took


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def overhead(ctx, report_name, runs, warmup):
    """Raw, runner and chain for `report_name` in interleaved rounds; one result row."""
    from reporting import registry
    from reporting.params import declared

    _, as_of = latest_occurrence(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    # The chain's plan fills as_of with the occurrence's day; the other columns get the same.
    supplied = {"as_of": as_of.isoformat()} if "as_of" in declared(registry.get(report_name).notebook) else {}
    samples = {"raw": [], "runner": [], "chain": []}
    stages = []
    for round_no in range(warmup + runs):
        counted = round_no >= warmup
        progress(f"{report_name}: round {round_no + 1}/{warmup + runs}" + ("" if counted else " (warm-up)"))
        columns = {"raw": lambda: raw_once(report_name, supplied, ctx.owner, ctx.out_dir),
                   "runner": lambda: runner_once(report_name, supplied, ctx.owner, ctx.config),
                   "chain": lambda: chain_once(ctx, report_name, f"{report_name}-round-{round_no}")}
        order = list(columns)[round_no % 3:] + list(columns)[:round_no % 3]  # each column goes first in turn
        took = {column: columns[column]() for column in order}
        chain = took["chain"]
        progress(f"  raw {took['raw']:.2f} s, runner {took['runner']:.2f} s, chain {chain['total']:.2f} s "
                 f"(queue wait {chain['queue_wait']:.2f} s, compose + SMTP {chain['mail']:.2f} s)")
        if counted:
            samples["raw"].append(took["raw"])
            samples["runner"].append(took["runner"])
            samples["chain"].append(chain["total"])
            stages.append(chain)
    result = {"report": report_name, "runs": runs, **{column: spread(values) for column, values in samples.items()},
              "stages": {key: statistics.median(s[key] for s in stages) for key, _ in STAGES}}
    result["overhead_s"] = result["chain"]["median"] - result["raw"]["median"]
    result["ratio"] = result["chain"]["median"] / result["raw"]["median"]
    return result


# --- throughput --------------------------------------------------------------------------------
def exactly_once(rows, mails):
    """What reached the mailbox for delivered `rows`: counts, and whether each was sent exactly once."""
    ids = {str(row.id) for row in rows}
    ours = [(delivery_header(mail), mail) for mail in mails]
    ours = [(header, mail) for header, mail in ours if header in ids]
    per_delivery = Counter(header for header, _ in ours)
    per_recipient = Counter(address for _, mail in ours for address in mail.rcpt_tos)
    return {"sent": sum(row.status == "sent" for row in rows), "mails": len(ours),
            "runs": len({row.report_run_id for row in rows}), "retried": sum(row.attempts > 1 for row in rows),
            "each_once": (set(per_delivery) == ids and set(per_delivery.values()) == {1}
                          and len(per_recipient) == len(rows) and set(per_recipient.values()) == {1})}


def throughput(ctx, queue_name, queue_url, processes, count, threads):
    """`count` subscriptions of the tiny report falling due at once on `processes` workers; one row."""
    import jobs

    label = f"{queue_name}-w{processes}"
    ctx.app.config["QUEUE_URL"] = queue_url
    jobs.configure(ctx.app.config)
    progress(f"throughput, {queue_name} queue, {processes} worker process(es): starting the workers")
    with workers(ctx.workdir, ctx.database_url, queue_url, ctx.mailbox.port, count=processes, threads=threads,
                 name=label):
        ids = [new_subscription(ctx.owner, TINY, f"{label}-{n}", {"tag": f"{label}-{n}"}).id for n in range(count)]
        progress(f"throughput, {queue_name} queue, {processes} worker process(es): {count} subscriptions fall due")
        began = time.time()
        fall_due(ids)
        plan_and_enqueue(ctx)
        rows = wait_delivered(ids, label)
    ended = max(utc_seconds(row.sent_at) for row in rows if row.sent_at)
    wall = ended - began
    result = {"queue": queue_name, "workers": processes, "threads": threads, "subscriptions": count,
              "deliveries": len(rows), "wall_s": wall, "per_minute": len(rows) * 60 / wall,
              **exactly_once(rows, ctx.mailbox.mails)}
    progress(f"  {len(rows)} deliveries in {wall:.1f} s: {result['per_minute']:.1f} a minute, "
             f"{result['mails']} mails, each sent once: {result['each_once']}")
    return result


# --- output ------------------------------------------------------------------------------------
def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def markdown(result):
    head = result["setup"]
    lines = [f"Run {head['started']}–{head['ended']}, load average {head['load_start']:.2f} at the start and "
             f"{head['load_end']:.2f} at the end (`uptime` at the end: {head['uptime']}). SQLite CRM database with "
             f"{head['customers']:,} demo customers; `run.py worker` with {head['threads']} threads per process; "
             f"code {head['code']}.", ""]
    if result["overhead"]:
        lines += [f"Overhead per delivery: one worker process on the huey SQLite queue, "
                  f"{result['overhead'][0]['runs']} interleaved rounds after {head['warmup']} warm-up round(s); "
                  "median (min–max) in seconds.", "",
                  "| report | raw: papermill + HTML | runner.run_report | whole chain | overhead (chain − raw) "
                  "| ratio chain ÷ raw |",
                  "|---|---:|---:|---:|---:|---:|"]
        for row in result["overhead"]:
            cells = [f"{row[c]['median']:.2f} ({row[c]['min']:.2f}–{row[c]['max']:.2f})"
                     for c in ("raw", "runner", "chain")]
            lines.append(f"| {row['report']} | {' | '.join(cells)} | {row['overhead_s']:.2f} | {row['ratio']:.2f}× |")
        lines += ["", "Where the chain's time goes (medians, seconds):", "",
                  "| report | " + " | ".join(title for _, title in STAGES) + " |",
                  "|---|" + "---:|" * len(STAGES)]
        for row in result["overhead"]:
            lines.append(f"| {row['report']} | " + " | ".join(f"{row['stages'][k]:.2f}" for k, _ in STAGES) + " |")
    if result["scheduled"]:
        lines += ["", "Left to the worker's own scheduler (its due-subscriptions job), the tiny report, seconds:", "",
                  "| occurrence | due → planned | planned → claimed | claimed → sent | due → sent |",
                  "|---|---:|---:|---:|---:|"]
        for row in result["scheduled"]:
            lines.append(f"| {row['occurrence']} | {row['due_to_planned']:.1f} | {row['planned_to_claimed']:.2f} "
                         f"| {row['claimed_to_sent']:.2f} | {row['total']:.1f} |")
    if result["throughput"]:
        count = result["throughput"][0]["subscriptions"]
        lines += ["", f"Throughput: {count} subscriptions of the tiny report falling due at once, each with its "
                  "own recipient and `tag`; wall time from then to the last Delivery 'sent'.", "",
                  "| queue | worker processes | wall s | deliveries / min | speed-up | sent | mails | report runs "
                  "| retried | each sent exactly once |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for row in result["throughput"]:
            base = next(r for r in result["throughput"] if r["queue"] == row["queue"])
            lines.append(f"| {row['queue']} | {row['workers']} | {row['wall_s']:.1f} | {row['per_minute']:.1f} "
                         f"| {base['wall_s'] / row['wall_s']:.2f}× | {row['sent']} | {row['mails']} | {row['runs']} "
                         f"| {row['retried']} | {'yes' if row['each_once'] else 'NO'} |")
    if head["plan_retries"]:
        lines += ["", f"Planning found the CRM database locked past its busy timeout {head['plan_retries']} time(s) "
                  "and was tried again (the time lost is in the numbers above)."]
    return "\n".join(lines)


def write_results(result, folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "deliveries.json"), "w") as handle:
        json.dump(result, handle, ensure_ascii=False, indent=1)
    text = markdown(result)
    with open(os.path.join(folder, "deliveries.md"), "w") as handle:
        handle.write(text + "\n")
    return text


def run(args, workdir):
    import jobs
    from models import User
    from reporting import provenance, runner

    setup = {"started": time.strftime("%Y-%m-%d %H:%M"), "load_start": os.getloadavg()[0], "customers": args.customers,
             "threads": args.threads, "warmup": args.warmup, "code": provenance.code_version()}
    progress(f"a CRM database with {args.customers:,} demo customers in {workdir}")
    app = crm_database(workdir, args.customers)
    register_reports()
    runner.OUT_DIR = str(workdir / "reports_out")
    database_url = app.config["DATABASE_URL"]
    config = {"DATABASE_URL": database_url, "FIELD_KEY": FIELD_KEY}
    os.environ.update(config)  # the raw column's kernels find the database as the runner's do
    result = {"setup": setup, "overhead": [], "scheduled": [], "throughput": []}
    with smtp_server() as mailbox, app.app_context():
        os.environ.update(mail_env(mailbox.port))  # for failure notices from this process
        ctx = SimpleNamespace(app=app, workdir=workdir, database_url=database_url, config=config, mailbox=mailbox,
                              owner=User.get(User.username == "admin"), out_dir=str(workdir / "raw"), plan_retries=0)
        os.makedirs(ctx.out_dir, exist_ok=True)
        if args.runs or args.scheduled:
            queue_url = f"sqlite:///{workdir / 'queue-overhead.db'}"
            app.config["QUEUE_URL"] = queue_url
            jobs.configure(app.config)
            with workers(workdir, database_url, queue_url, mailbox.port, count=1, threads=args.threads,
                         name="overhead"):
                for report_name in args.reports.split(","):
                    result["overhead"].append(overhead(ctx, report_name, args.runs, args.warmup))
                for n in range(args.scheduled):
                    result["scheduled"].append(scheduled_once(ctx.owner, TINY, f"scheduled-{n}"))
        for queue_name in [name for name in args.queues.split(",") if name and args.workers]:
            with queue_for(queue_name, workdir) as queue_url:
                for processes in [int(n) for n in args.workers.split(",")]:
                    case_url = queue_url(processes)
                    result["throughput"].append(throughput(ctx, queue_name, case_url, processes,
                                                           args.subscriptions, args.threads))
        jobs.queue.configure(None)
    setup["plan_retries"] = ctx.plan_retries
    setup.update(ended=time.strftime("%H:%M"), load_end=os.getloadavg()[0], uptime=uptime())
    return result


@contextmanager
def queue_for(name, workdir):
    """A function giving each throughput case an empty queue of kind `name` (sqlite or redis)."""
    if name == "sqlite":
        yield lambda processes: f"sqlite:///{workdir / f'queue-sqlite-w{processes}.db'}"
    elif name == "redis":
        from bench.redis_server import redis_server

        with redis_server(workdir / "redis") as url:
            base = url.rsplit("/", 1)[0]
            yield lambda processes: f"{base}/{processes}"  # one Redis database per case
    else:
        raise SystemExit(f"unknown queue {name!r}: sqlite or redis")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="overhead rounds (0: skip the overhead part)")
    parser.add_argument("--warmup", type=int, default=1, help="overhead rounds run first and not counted")
    parser.add_argument("--reports", default=TINY, help="reports for the overhead part, comma separated")
    parser.add_argument("--scheduled", type=int, default=1,
                        help="occurrences left to the worker's own minute job (each waits for a new minute)")
    parser.add_argument("--subscriptions", type=int, default=100, help="subscriptions for the throughput part")
    parser.add_argument("--workers", default="1,2", help="worker process counts for the throughput part ('' to skip)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process (run.py worker's default)")
    parser.add_argument("--queues", default="sqlite", help="sqlite, redis or both, comma separated")
    parser.add_argument("--customers", type=int, default=2000, help="demo customers in the CRM database")
    parser.add_argument("--results", default=RESULTS, help="folder for deliveries.json and deliveries.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, logs, mails)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    import models.people

    models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # the demo users' set-up only; not measured
    workdir = Path(tempfile.mkdtemp(prefix="bench-deliveries-"))
    try:
        result = run(args, workdir)
    except BaseException:
        progress(f"failed; the database, queues and worker logs are kept in {workdir}")
        raise
    if args.keep:
        progress(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    text = write_results(result, args.results)
    print(text)
    if args.write_docs:
        write_docs(text, section="deliveries")


if __name__ == "__main__":
    main()
