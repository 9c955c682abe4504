"""Bulk sync through the REST API beside the importer, and the API's customer list beside the admin's, in one run.

    .venv/bin/python -m bench.sync                                   # 100,000 orders, SQLite and PostgreSQL
    .venv/bin/python -m bench.sync --orders 20000 --backends sqlite
    .venv/bin/python -m bench.sync --write-docs                      # also rewrite its table in docs/benchmarks.md

PostgreSQL is DATABASE_URL's database (default postgresql://bench:bench@127.0.0.1:5432/crm_h_sync), in a scratch
schema the bench creates and drops.  For each database, on a fresh data set (the demo's users and --customers
customers, generated for demo.fixed.REFERENCE_NOW):

- **API bulk upsert**: the orders as JSON, POSTed to /api/v1/orders/bulk in calls of --chunk items (10,000, the
  most a call takes) to a real `run.py serve` process (waitress, production mode) with an admin's write token,
  over HTTP on loopback: everything an ERP gets (token check, rate count, JSON, the importer's cleaning and
  checks, scope, set-based writes, batch, audit entry per order, the hooks);
- **importer**: the same rows (other order numbers) as one CSV through intake.import_file, as the worker runs
  the wizard's job (models bound without the web app) - the baseline the API is compared with;
- **API re-send**: the first chunk sent again: every item unchanged, nothing written (the idempotence check,
  timed);

(`--server thread` serves the WSGI app from a thread of the bench instead: the smoke test's way, not the figures'),
then a customer list page: GET /api/v1/customers?limit=50 with the token beside GET /admin/customer/ (50 rows)
with a logged-in session, over HTTP from this process (http.client, a kept-alive connection), warm, --pages
requests each, interleaved; p50 and p95.  Both runs must write every row (the bench refuses to report otherwise).
"""
import argparse
import csv
import datetime
import io
import json
import os
import random
import shutil
import statistics
import time
import urllib.parse
from contextlib import contextmanager

from bench.timing import progress
from bench.workspace import DATA, FIELD_KEY, RESULTS, pg_autocommit, scoped_url, write_docs

PASSWORD = "bench-password"
DEFAULT_PG = "postgresql://bench:bench@127.0.0.1:5432/crm_h_sync"
PRODUCTS = ["标准版", "专业版", "企业版", "年度服务", "实施服务"]
CHANNELS = ["线上", "线下", "代理商", "ERP"]


def app_for(url, queue):
    from web import create_app

    # the queue a refresh after the writes is put on: the run's own, never instance/queue.db of the checkout
    return create_app({"CRM_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench", "FIELD_KEY": FIELD_KEY,
                       "QUEUE_URL": f"sqlite:///{queue}"})


def build(url, customers, seed, queue):
    """The data set into `url` (empty): init-db, the demo's users and customers; returns (customer codes, token)."""
    from demo.fixed import REFERENCE_NOW

    app = app_for(url, queue)
    with app.app_context():
        import demo
        import models
        from models import Customer, User, db
        from models import tokens
        from web.setup import init_db

        init_db()
        demo.generate(customers=customers, seed=seed, password=PASSWORD, progress=False, now=REFERENCE_NOW)
        admin = User.get(User.username == "admin")
        admin.must_change_password = False
        admin.save()
        _, clear = tokens.issue(admin, "性能测试 ERP", days=3650, scope="write", now=datetime.datetime.now())
        codes = [code for (code,) in Customer.select(Customer.code).order_by(Customer.id).tuples()]
        if models.is_sqlite():
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            db.execute_sql("ANALYZE")
        db.close()
        db.close_all()
    return codes, clear


def orders(codes, count, prefix, seed):
    """`count` orders over the customers, as the API's items (the importer gets the same values as CSV)."""
    rng = random.Random(seed)
    start = datetime.datetime(2026, 1, 1)
    out = []
    for n in range(count):
        moment = start + datetime.timedelta(minutes=rng.randrange(0, 480 * 24 * 60))
        out.append({"order_no": f"{prefix}{n:07d}", "customer_code": rng.choice(codes),
                    "ordered_at": moment.strftime("%Y-%m-%d %H:%M"),
                    "amount": f"{rng.randrange(100, 500000) / 100:.2f}",
                    "quantity": rng.randrange(1, 5), "product": rng.choice(PRODUCTS), "channel": rng.choice(CHANNELS)})
    return out


def as_csv(items):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["客户编号", "订单号", "下单时间", "金额", "数量", "产品", "渠道"])
    for item in items:
        writer.writerow([item["customer_code"], item["order_no"], item["ordered_at"], item["amount"], item["quantity"],
                         item["product"], item["channel"]])
    return out.getvalue().encode("utf-8")


def run_importer(url, data):
    """The CSV through intake.import_file as the admin, models bound as the worker binds them; seconds."""
    import models
    from models import User

    models.bind(url)
    try:
        admin = User.get(User.username == "admin")
        import intake

        started = time.perf_counter()
        report = intake.import_file(data, "orders", filename="bench-orders.csv", user=admin, duplicates=False,
                                    errors_to=os.path.join(RESULTS, "bench-sync-errors.xlsx"))
        seconds = time.perf_counter() - started
    finally:
        models.db.close()
    if report.created != report.rows or not report.written:
        raise RuntimeError(f"the importer wrote {report.created:,} of {report.rows:,} rows: {report.errors[:3]}")
    return seconds


class Client:
    """A kept-alive HTTP connection with cookies (the admin's session) or a bearer token (the API)."""

    def __init__(self, base, token=None):
        import http.client

        parsed = urllib.parse.urlparse(base)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
        self.token = token
        self.cookies = {}

    def request(self, method, path, body=None, form=None):
        headers = {"Accept-Language": "zh-CN"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data, elapsed

    def login(self, username):
        import re

        _, page, _ = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.decode())
        status, _, _ = self.request("POST", "/login", form={"username": username, "password": PASSWORD,
                                                           "csrf_token": token.group(1)})
        if status != 302:
            raise RuntimeError(f"login of {username}: {status}")


def run_api(base, token, items, chunk):
    """POST the items in calls of `chunk`; (seconds, created, per-call seconds)."""
    client = Client(base, token)
    created, calls = 0, []
    started = time.perf_counter()
    for start in range(0, len(items), chunk):
        status, data, elapsed = client.request("POST", "/api/v1/orders/bulk",
                                               body={"items": items[start:start + chunk]})
        if status != 200:
            raise RuntimeError(f"bulk call answered {status}: {data[:500]!r}")
        created += json.loads(data)["created"]
        calls.append(elapsed)
    return time.perf_counter() - started, created, calls


def list_pages(base, token, pages):
    """The API's first customer page beside the admin list page, warm, interleaved; {case: [seconds]}."""
    api, admin = Client(base, token), Client(base)
    admin.login("admin")
    cases = {"api": lambda: api.request("GET", "/api/v1/customers?limit=50"),
             "admin": lambda: admin.request("GET", "/admin/customer/")}
    samples = {name: [] for name in cases}
    for round_no in range(pages + 5):
        for name, call in cases.items():
            status, data, elapsed = call()
            if status != 200:
                raise RuntimeError(f"{name} list page answered {status}: {data[:300]!r}")
            if round_no >= 5:  # the first rounds warm the server's caches (grants, variants, templates)
                samples[name].append(elapsed)
    return samples


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@contextmanager
def in_thread(url, queue):
    """The WSGI app on a thread of this process (werkzeug's threaded server, as the browser tests serve it), over
    HTTP on loopback: the smoke test's way, since a `run.py serve` process spends more importing the app than the
    smoke test's whole run."""
    import threading

    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):  # a line per request would drown the bench's own output
            pass

    app = app_for(url, queue)
    app.config["API_RATE_PER_MINUTE"] = 100_000
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="bench-sync-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", None
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_backend(backend, url, args, log_dir):
    from harness.production_server import serving

    progress(f"{backend}: building {args.customers:,} customers")
    queue = os.path.join(log_dir, f"queue-{backend}.db")
    codes, token = build(url, args.customers, args.seed, queue)
    api_items = orders(codes, args.orders, "API", args.seed)
    import_items = orders(codes, args.orders, "IMP", args.seed)  # the same values, other order numbers
    data = as_csv(import_items)
    if args.server == "thread":
        server = in_thread(url, queue)
    else:
        server = serving(url, os.path.join(log_dir, f"server-{backend}.log"), threads=4, secret_key="bench-sync",
                         field_key=FIELD_KEY, API_RATE_PER_MINUTE="100000", QUEUE_URL=f"sqlite:///{queue}")
    with server as (base, _):
        progress(f"{backend}: {args.orders:,} orders through the API in calls of {args.chunk:,}")
        api_seconds, created, calls = run_api(base, token, api_items, args.chunk)
        if created != args.orders:
            raise RuntimeError(f"the API created {created:,} of {args.orders:,} orders")
        progress(f"{backend}: the first call again (unchanged)")
        resend_seconds, resent, _ = run_api(base, token, api_items[:args.chunk], args.chunk)
        if resent:
            raise RuntimeError(f"the re-send created {resent:,} orders")
        progress(f"{backend}: {args.orders:,} orders through the importer")
        import_seconds = run_importer(url, data)
        progress(f"{backend}: list pages, {args.pages} each")
        pages = list_pages(base, token, args.pages)
    return {
        "backend": backend, "server": args.server, "orders": args.orders, "chunk": args.chunk,
        "customers": args.customers,
        "api_s": api_seconds, "api_rows_s": args.orders / api_seconds, "api_call_p50_s": statistics.median(calls),
        "import_s": import_seconds, "import_rows_s": args.orders / import_seconds,
        "ratio": api_seconds / import_seconds,
        "resend_s": resend_seconds, "resend_rows_s": min(args.chunk, args.orders) / resend_seconds,
        "pages": {name: {"p50_ms": percentile(v, 0.5) * 1000, "p95_ms": percentile(v, 0.95) * 1000, "n": len(v)}
                  for name, v in pages.items()},
        "load": os.getloadavg()[0],
    }


PAGES = (("api", "`GET /api/v1/customers?limit=50`"), ("admin", "`GET /admin/customer/` (first page)"))


def markdown(results, started):
    chunk = results[0]["chunk"] if results else 0
    served = ("a real `run.py serve`" if not results or results[0]["server"] == "process"
              else "the WSGI app on a thread of the bench")
    lines = [
        f"Run {started:%Y-%m-%d %H:%M} UTC, `python -m bench.sync` (bench/sync.py): orders through "
        f"`POST /api/v1/orders/bulk` ({served}, an admin's write token, calls of {chunk:,}) beside the "
        "same rows as one CSV through the importer (intake.import_file, as the worker runs it), on a fresh data set "
        "per database; then the API's first "
        "customer page (50) beside the admin's first list page, over HTTP, warm, interleaved; load is the 1-minute "
        "load average at the end of each database's run (2 cores, shared).",
        "",
        "| database | orders | API | importer | API / importer | re-send of one call (unchanged) | load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['backend']} | {r['orders']:,} | {r['api_s']:.1f} s ({r['api_rows_s']:,.0f} rows/s) "
                     f"| {r['import_s']:.1f} s ({r['import_rows_s']:,.0f} rows/s) | **{r['ratio']:.2f}x** | "
                     f"{r['resend_s']:.2f} s ({r['resend_rows_s']:,.0f} items/s) | {r['load']:.1f} |")
    lines += ["", "| database | page | p50 | p95 | requests |", "|---|---|---:|---:|---:|"]
    for r in results:
        for name, label in PAGES:
            page = r["pages"][name]
            lines.append(f"| {r['backend']} | {label} | {page['p50_ms']:.1f} ms | {page['p95_ms']:.1f} ms "
                         f"| {page['n']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--schema", default=f"bench_sync_{os.getpid()}")
    parser.add_argument("--server", choices=("process", "thread"), default="process",
                        help="process: a real `run.py serve` (the figures); thread: the WSGI app on a thread (smoke)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    started = datetime.datetime.utcnow()
    os.makedirs(DATA, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    log_dir = os.path.join(DATA, f"sync_run_{os.getpid()}")
    os.makedirs(log_dir, exist_ok=True)
    results = []
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                results.append(run_backend("SQLite", "sqlite:///" + os.path.join(log_dir, "sync.db"), args, log_dir))
            elif backend == "postgresql":
                url = os.environ.get("DATABASE_URL", "")
                url = url if url.startswith("postgres") else DEFAULT_PG
                con = pg_autocommit(url)
                try:
                    con.cursor().execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
                    con.cursor().execute(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
                    con.cursor().execute(f"CREATE SCHEMA {args.schema}")
                finally:
                    con.close()
                try:
                    results.append(run_backend("PostgreSQL", scoped_url(url, args.schema), args, log_dir))
                finally:
                    con = pg_autocommit(url)
                    try:
                        con.cursor().execute(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
                    finally:
                        con.close()
            else:
                raise SystemExit(f"unknown backend {backend}")
    except BaseException:
        progress(f"failed: the servers' logs are kept in {log_dir}")
        raise
    shutil.rmtree(log_dir, ignore_errors=True)
    with open(os.path.join(RESULTS, "sync.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, ensure_ascii=False, indent=1)
    text = markdown(results, started)
    print(text)
    if args.write_docs:
        write_docs(text, section="sync")
    return results


if __name__ == "__main__":
    main()
