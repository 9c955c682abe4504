"""Load (issue 12, part 6): 50 logged-in users on loopback against the production server (`run.py serve`,
waitress) for 60 s, each looping a weighted mix of the customer list, search by name and by mobile, the details
page, an edit (the form, then a real POST with its CSRF token that changes 备注) and a CSV export; every
response checked; p50 / p95 / max and throughput per action, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.load                                  # 20,000 customers, 50 users, 60 s, SQLite
    DATABASE_URL=postgresql://bench:bench@127.0.0.1:5432/crm_bench .venv/bin/python -m bench.load --write-docs
    .venv/bin/python -m bench.load --customers 500 --users 5 --seconds 5 --think 0   # develop small

The data: `run.py demo`'s generator (demo.generate, fixed seed, history ending on demo.fixed.REFERENCE_DAY) with
the demo users, plus 43 more users so that 50 log in with row scopes that differ: 35 more sales reps (the
generated customers of sales1-3 are dealt out over all 38 reps by id), 4 more managers (the reps are dealt
over the 6 managers' teams), 3 more 客服专员 and a second 系统管理员.  SQLite: made once into
bench/data/load_<N>_s<seed>_<day>.db and copied for every run, so each run starts from the same file;
PostgreSQL: made once into a scratch schema `load_<N>_s<seed>` of DATABASE_URL's database (kept like the file;
--drop-schema drops it afterwards).  Passwords are hashed with cheap PBKDF2 (generation speed; logins are
not part of the timed mix).

The server is the real `run.py serve` process (waitress, --threads, default 8 as run.py's default), in
production mode with its own keys.  The load generator is this process: one thread per user, each with one
kept-alive HTTP/1.1 connection (the standard library's http.client: a browser also keeps its connection),
its own cookies and CSRF tokens, timing each request from sending it to the last byte of the answer.
Why a bounded script rather than locust: on this 2-core machine the generator takes CPU from the server it
measures and adds its own delay to every time it reports, so it must cost little per request and say what it
cost.  Against the same server, threads blocked in http.client spent 0.19 ms of CPU per request, locust's
FastHttpUser 0.29 ms and its HttpUser 0.82 ms, and the server answered 818 requests a second to the threads
against 552 and 280 to locust (docs/benchmarks.md, "Load"); in the real mix this generator uses about 6 % of
one core while the server uses all of one.  The report shows both CPU figures.  Locust would also bring gevent,
ZeroMQ and a Flask of its own into the dependencies for the same loop and the same hand-written checks.

Each user, after logging in and one untimed list page, loops until the deadline: pick an action by the weights
(WEIGHTS, after a first round of each step once; an action the role may not do, e.g. export for a sales rep, is
never picked for it), run it, check the answer, then think for a random 0..2x --think seconds (seeded per user,
also before the first step; --think 0: no pause, saturation).
An error is any connection failure, any status other than the one expected, any answer holding
"database is locked" or a traceback, and any page without its expected content: the list's rows, the
searched customer's code (mobile) or rows (name), the customer's code on its details page, the edit form's
CSRF token and 备注 field, a redirect away from the form after the save, and a CSV whose header is the
export's and whose every row has the status filtered on.  After the run the server's log must hold no
traceback, and the audit log must hold exactly one 备注 change per counted save.
"""
import argparse
import csv
import http.client
import io
import json
import os
import random
import re
import resource
import shutil
import statistics
import threading
import time
import urllib.parse
from html.parser import HTMLParser

from bench.timing import progress
from bench.workspace import DATA, FIELD_KEY, RESULTS, pg_autocommit, scoped_url, write_docs

SECTION = "load"
DATA_VERSION = "load-2"  # bump when the generated data or users change, so kept files and schemas are rebuilt
PASSWORD = "bench-password"
ACTIONS = ("list", "search_name", "search_mobile", "details", "edit_form", "edit_save", "export")
LABELS = {"list": "customer list page", "search_name": "search by name", "search_mobile": "search by mobile",
          "details": "details page", "edit_form": "edit: open the form", "edit_save": "edit: save (POST, CSRF)",
          "export": "export CSV (one status)"}
# Relative weights of a user's next step.  edit_save always follows edit_form (one edit = both requests).
WEIGHTS = {"list": 30, "search_name": 15, "search_mobile": 15, "details": 25, "edit": 10, "export": 5}
STATUSES = ("潜在客户", "意向客户", "成交客户", "流失客户")
# The 50 users in login order: the first few cover every role, so a small --users still mixes scopes.
EXTRA_MANAGERS = [f"manager{n}" for n in range(3, 7)]
EXTRA_SALES = [f"sales{n}" for n in range(4, 39)]
EXTRA_SERVICE = [f"service{n}" for n in range(2, 5)]


def roster():
    """[(username, role)] of the 50 users, in login order."""
    first = [("admin", "admin"), ("manager", "manager"), ("sales1", "sales"), ("service", "service"),
             ("sales2", "sales"), ("manager2", "manager"), ("sales3", "sales")]
    rest = [(u, "sales") for u in EXTRA_SALES]
    for n, name in enumerate(EXTRA_MANAGERS + EXTRA_SERVICE + ["admin2"]):
        role = "manager" if name.startswith("manager") else "service" if name.startswith("service") else "admin"
        rest.insert(4 * n + 2, (name, role))  # spread among the reps
    return first + rest


# --- the data ----------------------------------------------------------------------------------------

def app_for(url):
    from web import create_app

    return create_app({"CRM_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench", "FIELD_KEY": FIELD_KEY})


def build(url, customers, seed):
    """Generate the data set into `url` (empty): the demo, the 43 extra users and their customers."""
    from demo.fixed import REFERENCE_NOW

    app = app_for(url)
    with app.app_context():
        import demo
        import models
        from models import Customer, Role, User, db
        from web.setup import init_db

        init_db()
        demo.generate(customers=customers, seed=seed, password=PASSWORD, progress=False, now=REFERENCE_NOW)
        with db.atomic():
            roles = {r.name: r for r in Role.select()}
            managers = [User.get(User.username == u) for u in ("manager", "manager2")]
            for name in EXTRA_MANAGERS + EXTRA_SERVICE + ["admin2"]:
                role = "manager" if name.startswith("manager") else "service" if name.startswith("service") else "admin"
                user = User(username=name, display_name=name, role=roles[role], must_change_password=False)
                user.set_password(PASSWORD)
                user.save()
                if role == "manager":
                    managers.append(user)
            reps = [User.get(User.username == u) for u in ("sales1", "sales2", "sales3")]
            for n, name in enumerate(EXTRA_SALES):
                user = User(username=name, display_name=name, role=roles["sales"], manager=managers[n % len(managers)],
                            must_change_password=False)
                user.set_password(PASSWORD)
                user.save()
                reps.append(user)
            generated = [r.id for r in reps[:3]]
            dealt = {}  # the generated customers of sales1-3 dealt out over every rep by id
            for (customer_id,) in Customer.select(Customer.id).where(Customer.owner.in_(generated)).tuples():
                dealt.setdefault(reps[customer_id % len(reps)].id, []).append(customer_id)
            for owner, ids in dealt.items():
                for start in range(0, len(ids), 500):
                    Customer.update(owner=owner).where(Customer.id.in_(ids[start:start + 500])).execute()
        db.execute_sql("ANALYZE")
        db.execute_sql("CREATE TABLE bench_load_meta (version VARCHAR(40), customers INTEGER)")
        db.execute_sql("INSERT INTO bench_load_meta VALUES ('%s', %d)" % (DATA_VERSION, customers))
        if models.is_sqlite():
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        db.close_all()


def ensure_sqlite(customers, seed):
    """A fresh copy of the SQLite data set (made once); its path."""
    import sqlite3

    from demo.fixed import REFERENCE_DAY

    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"load_{customers}_s{seed}_{REFERENCE_DAY:%Y%m%d}.db")
    if os.path.exists(path):
        try:
            con = sqlite3.connect(path)
            version = con.execute("SELECT version FROM bench_load_meta").fetchone()[0]
            con.close()
        except sqlite3.Error:
            version = None
        if version != DATA_VERSION:
            os.remove(path)
    if not os.path.exists(path):
        partial = path + ".partial"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(partial + suffix):
                os.remove(partial + suffix)
        progress(f"SQLite: generating {customers:,} customers into {path}")
        build("sqlite:///" + partial, customers, seed)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(partial + suffix):
                os.remove(partial + suffix)
        os.replace(partial, path)
    run_copy = os.path.join(DATA, f"load_run_{os.getpid()}.db")
    shutil.copyfile(path, run_copy)
    return run_copy


def ensure_postgres(url, customers, seed, schema=None):
    """The scratch schema of the data set in `url`'s database (made once); (scoped URL, schema)."""
    import psycopg2

    schema = schema or f"load_{customers}_s{seed}"
    con = pg_autocommit(url)
    try:
        cursor = con.cursor()
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        try:
            cursor.execute(f"SELECT version FROM {schema}.bench_load_meta")
            version = cursor.fetchone()[0]
        except psycopg2.Error:
            version = None
        if version == DATA_VERSION:
            return scoped_url(url, schema), schema
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
    finally:
        con.close()
    progress(f"PostgreSQL: generating {customers:,} customers into schema {schema}")
    build(scoped_url(url, schema), customers, seed)
    return scoped_url(url, schema), schema


def drop_schema(url, schema):
    con = pg_autocommit(url)
    try:
        con.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        con.close()


def plan_users(url, count, seed):
    """The database brought up to date (init-db); for each of the first `count` users of the roster: the customers in their row scope that they will
    look up (a sample of id, code, name, mobile), and what their role may do; asked of `access` as the
    screens ask it.  Also the audit log's highest id, so the run's entries can be counted afterwards."""
    app = app_for(url)
    with app.app_context():
        from access.policy import grant_for
        from access.scope import owner_ids
        from models import AuditLog, Customer, User, db
        from web.setup import init_db

        init_db()  # as every deploy runs it: a kept data set made by older code gets the columns added since

        rows = list(Customer.select(Customer.id, Customer.code, Customer.name, Customer.mobile, Customer.owner)
                    .where(Customer.mobile.is_null(False)).order_by(Customer.id).tuples())
        plans = []
        for n, (username, _) in enumerate(roster()[:count]):
            user = User.get(User.username == username)
            grant = grant_for(user)
            owners = owner_ids(user, grant)
            mine = [r for r in rows if owners is None or r[4] in owners]
            rng = random.Random(seed * 1000 + n)
            sample = rng.sample(mine, min(200, len(mine)))
            plans.append({
                "username": username, "role": user.role.name, "in_scope": len(mine),
                "customers": [{"id": r[0], "code": r[1], "name": r[2], "mobile": r[3]} for r in sample],
                "may_edit": grant.can("customer", "edit") and grant.writable("customer", "notes"),
                "may_export": grant.can("customer", "export"),
            })
        mark = AuditLog.select(AuditLog.id).order_by(AuditLog.id.desc()).scalar() or 0
        db.close()
        db.close_all()
    return plans, mark


def audited_edits(url, mark, usernames):
    """Audit entries after `mark` that record a 备注 change of a customer by one of `usernames`."""
    app = app_for(url)
    with app.app_context():
        from models import AuditLog, db

        entries = (AuditLog.select().where((AuditLog.id > mark) & (AuditLog.action == "update")
                                            & (AuditLog.model == "customer") & AuditLog.username.in_(usernames)))
        count = sum(1 for e in entries if "notes" in json.loads(e.changes or "{}"))
        db.close()
        db.close_all()
    return count


# --- one user's browser ------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FILTER_GROUPS_RE = re.compile(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', re.S)
ROW_LINK = "/admin/customer/details/?id="
FAILURE_MARKS = ("database is locked", "Traceback (most recent call last)", "OperationalError")


class Failed(Exception):
    """An answer that is not what the user should have got."""


class FormFields(HTMLParser):
    """The fields a browser would submit from the page's POST form of class `form_class` (Flask-Admin's
    create and edit forms are class="admin-form" and post to their own URL)."""

    def __init__(self, form_class="admin-form"):
        super().__init__(convert_charrefs=True)
        self.form_class = form_class
        self.inside = False
        self.fields = []  # [(name, value)]
        self.textarea = None
        self.select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = ((a.get("method") or "").lower() == "post"
                           and self.form_class in (a.get("class") or "").split())
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append([name, a.get("value") or ("y" if kind == "checkbox" else "")])
        elif tag == "textarea" and name:
            self.textarea = [name, ""]
            self.fields.append(self.textarea)
        elif tag == "select" and name:
            self.select = {"name": name, "first": None, "chosen": None}
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if self.select["first"] is None:
                self.select["first"] = value
            if "selected" in a:
                self.select["chosen"] = value

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select" and self.select is not None:
            chosen = self.select["chosen"] if self.select["chosen"] is not None else self.select["first"]
            self.fields.append([self.select["name"], chosen or ""])
            self.select = None


class Browser:
    """One user: a kept-alive connection, cookies, and the actions with their checks."""

    def __init__(self, base, plan, seed, think, run=0):
        parsed = urllib.parse.urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.plan = plan
        self.rng = random.Random(seed)
        self.think = think
        self.run = run  # the audit log's last id before the run: names this run in the notes it writes
        self.cookies = {}
        self.connection = None
        self.records = []  # (action, ms, error or None)
        self.edits = 0  # edit forms opened (numbers the notes written)
        self.saved = 0  # saves answered as they should be
        self.exported_rows = 0
        self.dead = False  # the login failed: the user takes no part in the run
        self.status_filter = None  # the 客户状态 filter's URL argument on this role's list

    # -- HTTP --
    def request(self, method, path, form=None):
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        headers = {"Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise
        elapsed = (time.perf_counter() - started) * 1000
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                expired = "max-age=0" in value.lower() or "expires=thu, 01 jan 1970" in value.lower()
                if expired or not cookie_value:
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = cookie_value
        if response.will_close:
            self.connection.close()
            self.connection = None
        return response.status, response, data, elapsed

    def timed(self, action, method, path, form=None, expect=200):
        """Request, record the time, check the status and the failure marks; (response, text)."""
        try:
            status, response, data, elapsed = self.request(method, path, form)
        except (OSError, http.client.HTTPException) as error:
            self.records.append((action, None, f"{self.plan['username']}: connection: {type(error).__name__}: {error}"))
            raise Failed(None) from None
        text = data.decode("utf-8", "replace")
        problem = None
        if status != expect:
            problem = f"status {status} (expected {expect}) for {method} {path}"
        else:
            problem = next((f"'{m}' in the answer to {path}" for m in FAILURE_MARKS if m in text), None)
        if problem:
            problem = f"{self.plan['username']}: {problem}"
        self.records.append((action, elapsed, problem))
        if problem:
            raise Failed(problem)
        return response, text

    def fail(self, action, message):
        """The last record of `action` was answered but without its expected content."""
        message = f"{self.plan['username']}: {message}"
        for n in range(len(self.records) - 1, -1, -1):
            if self.records[n][0] == action:
                self.records[n] = (action, self.records[n][1], message)
                break
        raise Failed(message)

    # -- login and warm-up (untimed in the report) --
    def login(self):
        _, page = self.timed("login_form", "GET", "/login")
        token = CSRF_RE.search(page)
        if not token:
            self.fail("login_form", "no CSRF token on /login")
        response, _ = self.timed("login", "POST", "/login", {"username": self.plan["username"], "password": PASSWORD,
                                                            "csrf_token": token.group(1)}, expect=302)
        if "/login" in (response.getheader("Location") or ""):
            self.fail("login", f"login of {self.plan['username']} refused")
        _, page = self.timed("warm_up", "GET", "/admin/customer/")
        if ROW_LINK not in page:
            self.fail("warm_up", "no customer rows on the first list page")
        found = FILTER_GROUPS_RE.search(page)
        groups = json.loads(found.group(1)) if found else {}
        for entry in groups.get("客户状态", []):
            if entry.get("operation") in ("等于", "equals"):
                self.status_filter = f"flt1_{entry['arg']}"
        if self.plan["may_export"] and self.status_filter is None:
            self.fail("warm_up", "no 客户状态 filter on the list page")

    # -- the mix --
    def choices(self):
        steps = dict(WEIGHTS)
        if not self.plan["may_edit"]:
            steps.pop("edit")
        if not self.plan["may_export"]:
            steps.pop("export")
        return list(steps), list(steps.values())

    def loop(self, deadline):
        names, weights = self.choices()
        # First every step the role may take once, in a random order (as a user finding their way round),
        # so that even a run of a few seconds exercises each action; then by the weights.
        tour = self.rng.sample(names, len(names))
        if self.think:  # users do not all click in the same instant when the clock starts
            time.sleep(self.rng.uniform(0, 2 * self.think))
        while time.monotonic() < deadline:
            step = tour.pop() if tour else self.rng.choices(names, weights)[0]
            customer = self.rng.choice(self.plan["customers"])
            try:
                getattr(self, "do_" + step)(customer)
            except Failed:
                pass
            except Exception as error:  # noqa: BLE001 - an answer the checks could not even read is an error too
                action = "edit_form" if step == "edit" else step
                self.records.append((action, None, f"{self.plan['username']}: {type(error).__name__}: {error}"))
            if self.think:  # no pause past the deadline: the run's wall time is its 60 s and the last answers
                time.sleep(max(0.0, min(self.rng.uniform(0, 2 * self.think), deadline - time.monotonic())))

    def do_list(self, customer):
        pages = max(1, min(5, self.plan["in_scope"] // 20))
        page = self.rng.randrange(pages)
        _, text = self.timed("list", "GET", "/admin/customer/" + (f"?page={page}" if page else ""))
        if text.count(ROW_LINK) < 1:
            self.fail("list", f"no rows on list page {page}")

    def do_search_name(self, customer):
        name = customer["name"]
        middle = len(name) // 2
        term = name if len(name) < 6 else name[middle - 2:middle + 2]
        _, text = self.timed("search_name", "GET", "/admin/customer/?search=" + urllib.parse.quote(term))
        if ROW_LINK not in text:
            self.fail("search_name", f"searching {term!r} (from {name!r}) found no row")

    def do_search_mobile(self, customer):
        _, text = self.timed("search_mobile", "GET", "/admin/customer/?search=" + customer["mobile"])
        if customer["code"] not in text:
            self.fail("search_mobile", f"searching {customer['mobile']} did not list {customer['code']}")

    def do_details(self, customer):
        _, text = self.timed("details", "GET", f"/admin/customer/details/?id={customer['id']}")
        if customer["code"] not in text:
            self.fail("details", f"details of {customer['id']} without its code")

    def do_edit(self, customer):
        path = f"/admin/customer/edit/?id={customer['id']}"
        _, text = self.timed("edit_form", "GET", path)
        parser = FormFields()
        parser.feed(text)
        fields = parser.fields
        if not any(name == "csrf_token" for name, _ in fields) or not any(name == "notes" for name, _ in fields):
            self.fail("edit_form", f"edit form of {customer['id']} without its CSRF token or 备注")
        self.edits += 1
        # The run's number in the note: a kept data set (PostgreSQL's schema) would otherwise get the same note on
        # the same customer as the run before (same seed), which changes nothing and is audited as no change.
        note = f"压测 {self.run} {self.plan['username']} 第 {self.edits} 次修改"
        form = [(name, note if name == "notes" else value) for name, value in fields]
        response, text = self.timed("edit_save", "POST", path, form, expect=302)
        location = response.getheader("Location") or ""
        if "/login" in location or "/edit/" in location:
            self.fail("edit_save", f"save of {customer['id']} went to {location}")
        self.saved += 1

    def do_export(self, customer):
        status = self.rng.choice(STATUSES)
        path = f"/admin/customer/export/csv/?{self.status_filter}={urllib.parse.quote(status)}"
        response, text = self.timed("export", "GET", path)
        if not (response.getheader("Content-Type") or "").startswith("text/csv"):
            self.fail("export", f"export answered {response.getheader('Content-Type')}")
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        if not rows or "客户编号" not in rows[0] or "客户状态" not in rows[0]:
            self.fail("export", f"export header {rows[:1]}")
        column = rows[0].index("客户状态")
        if any(len(row) != len(rows[0]) or row[column] != status for row in rows[1:]):
            self.fail("export", f"export of {status} holds rows of another status")
        self.exported_rows += len(rows) - 1

    def close(self):
        if self.connection is not None:
            self.connection.close()


# --- one run -----------------------------------------------------------------------------------------

def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered))) - 1))]


def run_load(url, backend, args, think, log_dir):
    """Serve `url`, log the users in, run the mix for --seconds with `think` s mean pauses; the summary."""
    from harness.production_server import cpu_seconds, serving

    plans, mark = plan_users(url, args.users, args.seed)
    log_path = os.path.join(log_dir, f"load_server_{backend.lower()}_think{think:g}.log")
    load_before = os.getloadavg()
    with serving(url, log_path, threads=args.threads, field_key=FIELD_KEY) as (base, server):
        browsers = [Browser(base, plan, args.seed * 7919 + n, think, run=mark) for n, plan in enumerate(plans)]
        ready = threading.Barrier(len(browsers) + 1, timeout=300)  # a hung login fails the run instead of hanging it
        clock = {}

        def user(browser):
            try:
                browser.login()
            except Exception as error:  # noqa: BLE001 - Failed is recorded already; anything else is recorded here
                browser.dead = True
                if not isinstance(error, Failed):
                    browser.records.append(("login", None, f"{browser.plan['username']}: {type(error).__name__}: {error}"))
            ready.wait()
            ready.wait()  # the clock is set between the two waits
            if not browser.dead:
                browser.loop(clock["deadline"])
            browser.close()

        threads = [threading.Thread(target=user, args=(b,), name=f"user-{b.plan['username']}") for b in browsers]
        for thread in threads:
            thread.start()
        ready.wait()
        progress(f"{backend}: {len(browsers)} users logged in; {args.seconds} s of load, think time {think:g} s")
        run_at = time.strftime("%Y-%m-%d %H:%M")
        server_cpu, own = cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_SELF)
        log_start = os.path.getsize(log_path)  # the queue depths of the run, not of the logins before it
        started = time.monotonic()
        clock["deadline"] = started + args.seconds
        ready.wait()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        server_cpu = cpu_seconds(server.pid) - server_cpu
        after = resource.getrusage(resource.RUSAGE_SELF)
        generator_cpu = (after.ru_utime - own.ru_utime) + (after.ru_stime - own.ru_stime)
    load_after = os.getloadavg()
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        server_log = handle.read()
    with open(log_path, "rb") as handle:
        handle.seek(log_start)
        run_log = handle.read().decode("utf-8", "replace")
    records = [r for b in browsers for r in b.records]
    saved = sum(b.saved for b in browsers)
    audited = audited_edits(url, mark, [p["username"] for p in plans])
    problems = [r[2] for r in records if r[2]]
    if "Traceback" in server_log:
        problems.append("traceback in the server's log: " + server_log[server_log.index("Traceback"):][:500])
    if audited != saved:
        problems.append(f"{saved} saves counted but {audited} 备注 changes in the audit log")
    actions = []
    for action in ACTIONS:
        done = [r for r in records if r[0] == action]
        times = [r[1] for r in done if r[1] is not None]
        actions.append({
            "action": action, "label": LABELS[action], "requests": len(done),
            "errors": sum(1 for r in done if r[2]), "per_s": len(done) / wall,
            "p50_ms": statistics.median(times) if times else None,
            "p95_ms": percentile(times, 0.95) if times else None, "max_ms": max(times) if times else None,
        })
    logins = [r[1] for r in records if r[0] == "login" and r[1] is not None]
    timed = [r for r in records if r[0] in ACTIONS]
    return {
        "backend": backend, "run_at": run_at, "customers": args.customers, "users": len(browsers), "seconds": args.seconds,
        "wall_s": wall, "threads": args.threads, "think_s": think, "queue_depth_max": max(
            (int(n) for n in re.findall(r"Task queue depth is (\d+)", run_log)), default=0),
        "roles": {role: sum(1 for p in plans if p["role"] == role) for role in ("admin", "manager", "sales", "service")},
        "requests": len(timed), "per_s": len(timed) / wall, "errors": len(problems),
        "error_samples": sorted(set(problems))[:10], "actions": actions,
        "login_p50_ms": statistics.median(logins) if logins else None,
        "saves": saved, "audited_saves": audited,
        "exported_rows": sum(b.exported_rows for b in browsers),
        "server_cpu_s": server_cpu, "generator_cpu_s": generator_cpu,
        "load_before": load_before[0], "load_after": load_after[0],
    }


# --- the report --------------------------------------------------------------------------------------

def fmt(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown(results):
    first = results[0]
    lines = [
        f"Runs {first.get('run_at', '?')} to {results[-1].get('run_at', '?')}: {first['users']} users ({', '.join(f'{n} {r}' for r, n in first['roles'].items())}) "
        f"for {first['seconds']:g} s per run, {first['customers']:,} customers, `run.py serve` (waitress) with "
        f"{first['threads']} threads; think time: a random pause of 0 to twice the mean between a user's steps "
        "(`bench/load.py`). The machine is shared with other engineers' work: the load average is noted per run.", "",
        "| database | think s | action | requests | errors | per second | p50 ms | p95 ms | max ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for a in r["actions"]:
            lines.append(f"| {r['backend']} | {r['think_s']:g} | {a['label']} | {a['requests']:,} | {a['errors']} "
                         f"| {a['per_s']:.1f} | {fmt(a['p50_ms'])} | {fmt(a['p95_ms'])} | {fmt(a['max_ms'])} |")
        lines.append(f"| {r['backend']} | {r['think_s']:g} | **all** | {r['requests']:,} | **{r['errors']}** "
                     f"| {r['per_s']:.1f} | | | |")
    lines += ["", "| database | think s | started | load average before → after | server CPU s (of wall s) | load generator CPU s "
              "| waitress queue depth, max | saves / audited 备注 changes | rows exported | login p50 ms |",
              "|---|---:|---|---|---:|---:|---:|---|---:|---:|"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['think_s']:g} | {r.get('run_at', '?')[-5:]} "
                     f"| {r['load_before']:.2f} → {r['load_after']:.2f} "
                     f"| {r['server_cpu_s']:.1f} ({r['wall_s']:.1f}) | {r['generator_cpu_s']:.1f} | {r['queue_depth_max']} "
                     f"| {r['saves']:,} / {r['audited_saves']:,} | {r['exported_rows']:,} | {fmt(r['login_p50_ms'])} |")
    for r in results:
        for sample in r["error_samples"]:
            lines.append(f"\n{r['backend']} error: {sample}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", default="0.5", help="mean seconds between a user's steps (0: none); "
                                                          "several, comma separated, run one after the other")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (run.py serve's default: 8)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--backends", default=None,
                        help="sqlite,postgresql (default: sqlite, and postgresql when DATABASE_URL names it)")
    parser.add_argument("--schema", default=None, help="PostgreSQL scratch schema (default load_<N>_s<seed>)")
    parser.add_argument("--drop-schema", action="store_true", help="drop the PostgreSQL scratch schema afterwards")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--from-json", default=None, metavar="PATH",
                        help="no run: the table of results saved by earlier runs (bench/results/load.json; several: comma "
                             "separated, one table)")
    args = parser.parse_args(argv)
    if args.from_json:
        results = []
        for path in args.from_json.split(","):
            with open(path, encoding="utf-8") as handle:
                results += json.load(handle)
        if args.write_docs:
            write_docs(markdown(results), section=SECTION)
        return results
    thinks = [float(t) for t in args.think.split(",")]
    if not 1 <= args.users <= len(roster()):
        parser.error(f"--users: 1 to {len(roster())}")
    import models.people

    models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # generation speed only; logins are not timed
    url = os.environ.get("DATABASE_URL", "")
    backends = (args.backends or ("sqlite,postgresql" if url.startswith("postgres") else "sqlite")).split(",")
    os.makedirs(RESULTS, exist_ok=True)
    results = []
    for backend in backends:
        if backend == "sqlite":
            for think in thinks:  # each run on its own fresh copy of the file
                path = ensure_sqlite(args.customers, args.seed)
                try:
                    results.append(run_load("sqlite:///" + path, "SQLite", args, think, RESULTS))
                finally:
                    for suffix in ("", "-wal", "-shm"):
                        if os.path.exists(path + suffix):
                            os.remove(path + suffix)
        elif backend == "postgresql":
            if not url.startswith("postgres"):
                raise SystemExit("postgresql: set DATABASE_URL=postgresql://... (the bench makes a scratch schema there)")
            target, schema = ensure_postgres(url, args.customers, args.seed, args.schema)
            try:
                for think in thinks:
                    results.append(run_load(target, "PostgreSQL", args, think, RESULTS))
            finally:
                if args.drop_schema:
                    drop_schema(url, schema)
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    text = markdown(results)
    print(text)
    with open(os.path.join(RESULTS, "load.json"), "w") as handle:
        json.dump(results, handle, ensure_ascii=False, indent=1)
    if args.write_docs:
        write_docs(text, section=SECTION)
    return results


if __name__ == "__main__":
    main()
