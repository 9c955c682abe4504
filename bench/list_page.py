"""Customer list page at 100k and 1M customers: whole request beside the raw SQL of the same query.

    .venv/bin/python -m bench.list_page                 # 100k and 1M customers
    .venv/bin/python -m bench.list_page --sizes 100000  # one size
    .venv/bin/python -m bench.list_page --write-docs    # also rewrite the table in docs/benchmarks.md

Each database is generated once with the demo generator, for demo.fixed.REFERENCE_DAY (so it is the
same data on any day), into bench/data/ and reused.
For every case the page is requested through the WSGI app (login, policy, query, template:
everything but the socket) and the SQL that page ran is then executed directly with sqlite3
on the same file, in the same run. Stock Flask-Admin (a plain peewee ModelView with LIKE search
and a COUNT(*) per page) is measured on the same data for comparison.
"""
import argparse
import base64
import json
import os
import sqlite3
import time

import flask_login
from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.peewee import ModelView

from bench.timing import measure, measure_interleaved, progress

from bench.workspace import DATA, FIELD_KEY, HERE, RESULTS, write_docs  # noqa: F401 (the other benches' names)
PASSWORD = "bench-password"


def app_for(path):
    from web import create_app

    return create_app({"CRM_ENV": "testing", "DATABASE_URL": "sqlite:///" + path, "SECRET_KEY": "bench",
                       "FIELD_KEY": FIELD_KEY})


def build(size, seed=11, name="customers", orders_scale=1.0):
    """Generate (once) a demo database with `size` customers, its history ending at
    demo.fixed.REFERENCE_NOW, into bench/data/<name>_<size>_<reference day>.db; returns its path.
    orders_scale is demo.generate's (more orders per customer). The reference day is in the name
    so that a database generated for another day (or by an older bench) is not reused."""
    from demo.fixed import REFERENCE_DAY, REFERENCE_NOW

    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"{name}_{size}_{REFERENCE_DAY:%Y%m%d}.db")
    if os.path.exists(path):
        return path
    progress(f"generating {size:,} customers (orders x{orders_scale}) into {path}")
    app = app_for(path + ".partial")
    with app.app_context():
        import demo
        from web.setup import init_db

        init_db()
        demo.generate(customers=size, seed=seed, password=PASSWORD, progress=True, orders_scale=orders_scale,
                      now=REFERENCE_NOW)
        import models

        models.db.execute_sql("ANALYZE")
        models.db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + ".partial" + suffix):
            os.replace(path + ".partial" + suffix, path + suffix)
    return path


def sample_values(path):
    """A real customer's full mobile and a 4-character fragment of another customer's name."""
    con = sqlite3.connect(path)
    total = con.execute("SELECT max(id) FROM customer").fetchone()[0]
    mobile = con.execute("SELECT mobile FROM customer WHERE id >= ? AND mobile IS NOT NULL ORDER BY id LIMIT 1",
                         (total // 2,)).fetchone()[0]
    name = con.execute("SELECT name FROM customer WHERE id >= ? AND length(name) >= 8 ORDER BY id LIMIT 1",
                       (total // 3,)).fetchone()[0]
    con.close()
    middle = len(name) // 2
    return mobile, name[middle - 2:middle + 2]


def cases(size, mobile, fragment):
    deep = min(5000, size // 20 - 1)  # page index; offset = page * 20
    return [
        ("page 1", "/admin/customer/", None),
        (f"deep page (offset {deep * 20:,})", f"/admin/customer/?page={deep}", deep),
        ("search by mobile", f"/admin/customer/?search={mobile}", None),
        ("search by name", f"/admin/customer/?search={fragment}", None),
        ("search by a common word (有限公司)", "/admin/customer/?search=有限公司", None),
    ]


def page_sql(app, view_endpoint, user, url):
    """The SQL and parameters the list view runs for `url`, as the given user."""
    from admin.secured import current_grant

    with app.test_request_context(url):
        flask_login.login_user(user)
        view = next(v for v in app.extensions["crm_admin"]._views if getattr(v, "endpoint", "") == view_endpoint)
        variant = view.variant(current_grant())
        args = variant._get_list_extra_args()
        page = args.page or 0
        _, query = variant.get_list(page, None, None, args.search, [], execute=False)
        return query.sql()


def raw_runner(path, sql, params):
    """A plain sqlite3 connection with the app's pragmas (page cache size above all), kept open
    across runs as the app's pooled connections are: the comparison is SQL against SQL."""
    from models.base import SQLITE_PRAGMAS

    con = sqlite3.connect(path)
    for name, value in SQLITE_PRAGMAS.items():
        con.execute(f"PRAGMA {name} = {value}")

    def run():
        con.execute(sql, params).fetchall()

    return run


def count_query_sql():
    """The statement peewee sends for Customer.select().count(), as stock Flask-Admin's pager runs it."""
    import logging

    import models

    captured = []

    class Capture(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple):  # (sql, params); the pool also logs plain messages
                captured.append(record.msg)

    logger = logging.getLogger("peewee")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        models.Customer.select().count()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    sql, params = captured[-1]
    return sql, tuple(params)


def stock_app(path):
    """Stock Flask-Admin over the same table: LIKE search on name and mobile, COUNT(*) for the pager."""
    import models

    from flask_babel import Babel

    app = Flask("stock")
    app.config["SECRET_KEY"] = "bench"
    Babel(app)  # Flask-Admin uses flask-babel whenever it is installed
    models.sealed.configure(base64.b64decode(FIELD_KEY))
    models.bind("sqlite:///" + path)

    class StockCustomerView(ModelView):
        column_list = ("code", "name", "customer_type", "contact", "mobile", "industry", "region", "status")
        column_searchable_list = ("name", "mobile")
        can_view_details = True

    admin = Admin(app, name="stock")
    admin.add_view(StockCustomerView(models.Customer, endpoint="stockcustomer"))
    return app


def run_size(size, runs):
    path = build(size)
    mobile, fragment = sample_values(path)
    rows = []
    app = app_for(path)
    app.test_client_class = flask_login.FlaskLoginClient
    import models

    # Every page and its raw SQL are timed in interleaved rounds (each round runs each once), so a
    # burst of noise on this shared machine lands on all cases alike instead of on one of them.
    timed, labels = {}, []
    for username in ("admin", "sales1"):
        with app.app_context():
            user = models.User.get(models.User.username == username)
        client = app.test_client(user=user)
        for label, url, _ in cases(size, mobile, fragment):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            with app.app_context():
                sql, params = page_sql(app, "customer", user, url)
            timed[(username, label, "page")] = (lambda c=client, u=url: c.get(u))
            timed[(username, label, "raw")] = raw_runner(path, sql, params)
            labels.append((username, label))
    progress(f"{size:,} customers: {len(timed)} page and SQL cases, {runs} interleaved rounds")
    results = measure_interleaved(timed, runs=runs)
    for username, label in labels:
        page_ms, page_p90 = results[(username, label, "page")]
        raw_ms, _ = results[(username, label, "raw")]
        rows.append({"size": size, "user": username, "case": label, "page_ms": page_ms, "page_p90_ms": page_p90,
                     "raw_ms": raw_ms, "overhead_ms": page_ms - raw_ms})
    stock = stock_app(path).test_client()
    for label, url, deep in cases(size, mobile, fragment):
        stock_url = url.replace("/admin/customer/", "/admin/stockcustomer/")
        progress(f"{size:,} customers, stock Flask-Admin: {label}")
        assert stock.get(stock_url).status_code == 200
        stock_ms, _ = measure(lambda: stock.get(stock_url), runs=max(5, runs // 3))
        rows.append({"size": size, "user": "stock Flask-Admin (admin)", "case": label, "page_ms": stock_ms,
                     "page_p90_ms": None, "raw_ms": None, "overhead_ms": None})
    count_sql, count_params = count_query_sql()
    count_ms, _ = measure(raw_runner(path, count_sql, count_params), runs=max(5, runs // 3))
    rows.append({"size": size, "user": "raw SQL", "case": "the COUNT stock Flask-Admin runs on every list page",
                 "page_ms": None, "page_p90_ms": None, "raw_ms": count_ms, "overhead_ms": None})
    return rows, {"mobile": mobile, "name_fragment": fragment}


def fmt(value):
    return "—" if value is None else f"{value:.1f}"


def table(rows):
    lines = ["| customers | who | case | page median ms | page p90 ms | raw SQL median ms | overhead ms |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['size']:,} | {r['user']} | {r['case']} | {fmt(r['page_ms'])} | {fmt(r['page_p90_ms'])} "
                     f"| {fmt(r['raw_ms'])} | {fmt(r['overhead_ms'])} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    import models.people

    models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # generation speed only; not measured
    all_rows, samples = [], {}
    for size in [int(s) for s in args.sizes.split(",")]:
        rows, sample = run_size(size, args.runs)
        all_rows += rows
        samples[size] = sample
    load = os.getloadavg()[0]
    markdown = (f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {load:.2f} at the end, "
                f"{args.runs} interleaved rounds per case after 10 warm-up rounds.\n\n" + table(all_rows))
    print(markdown)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "list_page.json"), "w") as handle:
        json.dump({"rows": all_rows, "samples": samples}, handle, ensure_ascii=False, indent=1)
    if args.write_docs:
        write_docs(markdown)


if __name__ == "__main__":
    main()
