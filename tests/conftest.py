"""Shared fixtures: an `app` on a fresh database, a `client`, `login(role)` and factories.

Runs on SQLite (a file in tmp_path, so threads see the same data) unless DATABASE_URL
points at PostgreSQL, in which case every test starts from freshly created tables there.

Creating the tables is the dear part of a fresh database (about 0.1 s on SQLite, 0.4-0.7 s
on PostgreSQL, for every test), so it is done once per session and each test gets a copy of
that empty schema (see `FreshSchema`); the default lists, policy and demo users that
`init_db` and `demo.create_users` write are written through them once and copied into every
later test's empty tables (see `SeedRows`). docs/operations.md, Test suite speed, says why.
"""
import atexit
import base64
import datetime
import itertools
import os
import re
import shutil
import tempfile

import peewee
import pytest
from flask.testing import FlaskClient

import models
import models.people
from web import create_app
from web.setup import init_db

PASSWORD = "test-pass-123"
# role -> the demo user who logs in for it
ROLE_USERS = {"admin": "admin", "manager": "manager", "sales": "sales1", "service": "service"}
# A real but cheap hash: the default scrypt costs ~0.15 s per user per test.
models.people.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
# CRM_TEST_RECREATE_TABLES=1: drop and create the tables for every test (see FreshSchema).
RECREATE = os.environ.get("CRM_TEST_RECREATE_TABLES") == "1"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Client(FlaskClient):
    """Test client that can submit forms protected by a CSRF token, as a browser would."""

    def csrf_token(self, url):
        page = self.get(url)
        found = CSRF_RE.search(page.get_data(as_text=True))
        assert found, f"no CSRF token on {url} (status {page.status_code})"
        return found.group(1)

    def submit(self, url, data, form_url=None, **kwargs):
        """GET form_url (default url) for a token, then POST data with it."""
        payload = dict(data)
        payload["csrf_token"] = self.csrf_token(form_url or url)
        return self.post(url, data=payload, **kwargs)


def _share_url_builders():
    """Every app the tests create (one per test) registers the same ~230 URL rules, and werkzeug
    generates and compile()s two URL-builder functions for each rule: about a third of create_app,
    0.1-0.3 s a test. The generated function depends only on what this key holds (the rule, its
    parsed parts, its defaults as they appear in the URL, append_unknown) and keeps no state (it
    reads its converters from the rule it is bound to), so a rule equal to one compiled before
    gets that function again, bound to itself, as werkzeug's own compile would make it."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    builders = {}

    def shared(self, append_unknown=True):
        defaults = self.defaults or {}
        key = (self.rule, tuple(self._trace), append_unknown,
               tuple((name, self._converters[name].to_url(value) if name in self._converters else None)
                     for name, value in defaults.items()))
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = shared


_share_url_builders()


def database_url(tmp_path):
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


def _config(url):
    return {
        "CRM_ENV": "testing",
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "FIELD_KEY": base64.b64encode(b"k" * 32).decode(),
    }


def _queue_url(tmp_path):
    """Each test's own jobs queue (a file beside its database), so no task outlives its test."""
    return f"sqlite:///{tmp_path / 'queue.db'}"


class FreshSchema:
    """Freshly created, empty tables for each test without creating them for each test.

    SQLite (each test's own file): the tables are created once, in a template file that every
    test then copies to its tmp_path before the app opens it; a byte copy of empty tables is
    what creating them again would give.

    PostgreSQL (one database for the whole run): every model table is emptied with TRUNCATE
    ... RESTART IDENTITY (ids start at 1 again). That is only the same as dropping and creating
    them when the schema is still the one created last and no column statistics are left over
    (TRUNCATE keeps pg_statistic; autovacuum's ANALYZE of an earlier test's rows could change a
    plan). Both are checked after the TRUNCATE: a test that altered the schema (dropped a
    column, a table or an index) or left statistics gets the full drop and create, as before.

    Otherwise (DATABASE_URL names a SQLite file: one file for every test), and with
    CRM_TEST_RECREATE_TABLES=1 in the environment, the tables are dropped and created for
    every test, as before.
    """

    directory = None  # where the SQLite template goes: the session's tmp dir (schema_template_dir)
    sqlite_template = None  # path of the SQLite file with the empty tables, made on first use
    postgres_schema = None  # the fingerprint below, taken right after the last full create

    # One row: a digest of the current schema's tables, columns, defaults, indexes, constraints and
    # triggers, and whether any of its tables has column statistics. The current schema is public
    # unless DATABASE_URL sets a search_path (?options=-csearch_path%3Dmine,public: a run of its own
    # beside another in the same database).
    POSTGRES_CHECK = """
        SELECT md5(coalesce(string_agg(item, E'\\n' ORDER BY item), '')),
               EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema())
        FROM (
            SELECT concat_ws(' ', 'column', c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                             a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) AS item
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
              AND a.attnum > 0 AND NOT a.attisdropped
            UNION ALL
            SELECT concat_ws(' ', 'index', indexdef) FROM pg_indexes WHERE schemaname = current_schema()
            UNION ALL
            SELECT concat_ws(' ', 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid))
            FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
            UNION ALL
            SELECT concat_ws(' ', 'trigger', pg_get_triggerdef(t.oid))
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
        ) AS schema_items
    """

    @classmethod
    def before_app(cls, url, tmp_path):
        """Put the empty tables in place before the app opens `url`; True if they now are."""
        if RECREATE or os.environ.get("DATABASE_URL") or not url.startswith("sqlite:///"):
            return False
        if cls.sqlite_template is None:
            directory = cls.directory
            if directory is None:  # build_app outside a pytest session
                directory = tempfile.mkdtemp(prefix="crm-test-schema-")
                atexit.register(shutil.rmtree, directory, ignore_errors=True)
            template = os.path.join(directory, "schema.db")
            application = create_app(_config(f"sqlite:///{template}"))
            with application.app_context():
                models.create_tables()
            models.db.close()
            models.db.close_all()  # the last connection checkpoints and removes the WAL file
            cls.sqlite_template = template
        target = tmp_path / "test.db"
        if os.path.lexists(target):  # a second app on this test's file: it may be open, so not replaced
            return False
        os.makedirs(tmp_path, exist_ok=True)
        shutil.copyfile(cls.sqlite_template, target)
        return True

    @classmethod
    def in_app(cls, copied):
        """In the app's context: True if the (empty) tables are fresh, else False (drop and create)."""
        if copied:
            return True
        if RECREATE or models.is_sqlite() or cls.postgres_schema is None:
            return False
        try:
            with models.db.atomic():
                cls._empty_postgres()
        except peewee.DatabaseError:  # a model table a test dropped: create them all
            return False
        schema, has_statistics = models.db.execute_sql(cls.POSTGRES_CHECK).fetchone()
        return schema == cls.postgres_schema and not has_statistics

    @classmethod
    def _empty_postgres(cls):
        """Empty every model table, with its ids starting at 1 again.

        TRUNCATE costs a few milliseconds a table (new files for it and its indexes), whether the
        table holds rows or not, and a test writes to a few of the ~50. So once SeedRows holds the
        seeded rows: only the tables a test used (rows in them, or their id sequence moved) are
        truncated, with those referring to them (CASCADE), and the seeded tables, which every
        other table refers to, are emptied with DELETE (their sequences are set back by
        SeedRows.restore, which writes their rows again)."""
        tables = [model._meta.table_name for model in models.ALL_MODELS]
        seed = SeedRows.for_database()
        if seed is None or seed.has_delete_triggers:
            quoted = ", ".join(f'"{table}"' for table in tables)
            models.db.execute_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
            return
        used = ", ".join(f"""('{table}', EXISTS (SELECT 1 FROM "{table}"))""" for table in tables)
        dirty = {table for (table,) in models.db.execute_sql(f"""
            SELECT name FROM (VALUES {used}) AS tables (name, has_rows) WHERE has_rows
            UNION
            SELECT t.relname FROM pg_depend d
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_sequences q ON q.schemaname = current_schema() AND q.sequencename = s.relname
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
              AND t.relnamespace = current_schema()::regnamespace AND q.last_value IS NOT NULL
        """)}
        seeded = [table for table, _, _ in seed.tables]
        truncate = ", ".join(f'"{table}"' for table in tables if table in dirty and table not in seeded)
        if truncate:
            models.db.execute_sql(f"TRUNCATE {truncate} RESTART IDENTITY CASCADE")
        for table in reversed(seeded):  # those referring to others first
            models.db.execute_sql(f'DELETE FROM "{table}"')

    @classmethod
    def created(cls):
        """After a full drop and create: remember the schema that TRUNCATE must find next time."""
        if not models.is_sqlite():
            schema, _ = models.db.execute_sql(cls.POSTGRES_CHECK).fetchone()
            cls.postgres_schema = schema


class SeedRows:
    """The rows init_db and demo.create_users write into empty tables, written once and then
    copied into every test's empty tables instead of being written again.

    Seeding goes through the ORM, about 160 statements (0.2-0.3 s a test on SQLite, more over
    PostgreSQL's connection); putting its result back is one INSERT per seeded table. The rows
    are captured, as the database returns them, right after the first seeding on fresh tables
    in the session, and put back only into tables FreshSchema reports fresh (empty, as created).
    What seeding takes from the clock (users' created_at, the policy version's updated_at) is
    moved by the time since the capture, so it reads as written now, as it would have been
    (under time_machine too); ids and sequences continue as after seeding, and the policy
    version gets a new value (access.policy.bump_version, as seed_policy ends), so no grant
    cached by an earlier test is taken for this one's. This relies on init_db and create_users
    only writing rows: anything else they may do one day has to be done in restore() too.
    CRM_TEST_RECREATE_TABLES=1 seeds through the ORM every time, as before. One capture per kind
    of database: a PostgreSQL run has tests that open SQLite files too.
    """

    _captured = {}  # "sqlite" / "postgresql" -> SeedRows

    def __init__(self, tables, sequences, window, has_delete_triggers):
        self.tables = tables  # [(table, columns, rows)] of the seeded tables, those referred to first
        self.sequences = sequences  # PostgreSQL: [(sequence, last_value, is_called)] of their columns
        self.window = window  # (start, end) of the seeding: timestamps in it came from the clock
        self.has_delete_triggers = has_delete_triggers  # PostgreSQL: then TRUNCATE them all

    @staticmethod
    def _backend():
        return "sqlite" if models.is_sqlite() else "postgresql"

    @classmethod
    def for_database(cls):
        """The capture for the kind of database the models are bound to, or None."""
        return cls._captured.get(cls._backend())

    @classmethod
    def capture(cls, start, end):
        tables = []
        for model in peewee.sort_models(models.ALL_MODELS):
            table = model._meta.table_name
            cursor = models.db.execute_sql(f'SELECT * FROM "{table}"')
            rows = cursor.fetchall()
            if rows:
                tables.append((table, [column[0] for column in cursor.description], rows))
        sequences, has_delete_triggers = [], False
        if not models.is_sqlite():
            for table, columns, _ in tables:
                for column in columns:
                    sequence = models.db.execute_sql("SELECT pg_get_serial_sequence(%s, %s)",
                                                     (f'"{table}"', column)).fetchone()[0]
                    if sequence:
                        state = models.db.execute_sql(f"SELECT last_value, is_called FROM {sequence}").fetchone()
                        sequences.append((sequence, *state))
            has_delete_triggers = models.db.execute_sql(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal AND t.tgtype & 8 = 8"  # TRIGGER_TYPE_DELETE
                " AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY (%s))",
                ([table for table, _, _ in tables],)).fetchone()[0]
        cls._captured[cls._backend()] = cls(tables, sequences, (start, end), has_delete_triggers)

    @classmethod
    def restore(cls):
        """Into fresh, empty tables: the seeded rows; False if none are captured yet."""
        seed = cls.for_database()
        if seed is None:
            return False
        shift = datetime.datetime.now() - seed.window[0]
        postgres = not models.is_sqlite()
        with models.db.atomic():
            for table, columns, rows in seed.tables:  # one statement a table: one round trip
                names = ", ".join(f'"{column}"' for column in columns)
                marks = "(" + ", ".join([models.db.param] * len(columns)) + ")"
                values = [seed._moved(value, shift, postgres) for row in rows for value in row]
                models.db.execute_sql(f'INSERT INTO "{table}" ({names}) VALUES {", ".join([marks] * len(rows))}', values)
            for sequence, last_value, is_called in seed.sequences:
                models.db.execute_sql("SELECT setval(%s, %s, %s)", (sequence, last_value, is_called))
            import access.policy

            access.policy.bump_version()
        return True

    def _moved(self, value, shift, postgres):
        """A value as written now: a time from the seeding's clock moved by `shift`; JSON adapted for psycopg2."""
        start, end = self.window
        if isinstance(value, datetime.datetime):
            return value + shift if start <= value <= end else value
        if isinstance(value, str) and not postgres and 19 <= len(value) <= 26 and value[:1].isdigit():
            try:  # SQLite keeps peewee's DateTimeField as text, str(datetime)
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                return value
            return str(moment + shift) if start <= moment <= end else value
        if postgres and isinstance(value, (dict, list)):  # json/jsonb columns come back parsed
            import psycopg2.extras

            return psycopg2.extras.Json(value)
        return value


def build_app(tmp_path):
    """An application on freshly created tables with the demo users (also for module-scoped fixtures)."""
    url = database_url(tmp_path)
    copied = FreshSchema.before_app(url, tmp_path)
    application = create_app({**_config(url), "QUEUE_URL": _queue_url(tmp_path)})
    application.test_client_class = Client
    with application.app_context():
        fresh = FreshSchema.in_app(copied)
        if fresh and not RECREATE and SeedRows.restore():
            return application
        start = datetime.datetime.now()
        if fresh:
            # The tables are there and empty: init_db's create_tables would only find them so.
            original, models.create_tables = models.create_tables, lambda: None
            try:
                init_db()
            finally:
                models.create_tables = original
        else:
            models.drop_tables()
            init_db()
            FreshSchema.created()
        import demo

        demo.create_users(PASSWORD)
        if not RECREATE and SeedRows.for_database() is None:
            SeedRows.capture(start, datetime.datetime.now())
    return application


@pytest.fixture(scope="session", autouse=True)
def own_instance_dir(tmp_path_factory):
    """This run's own instance/ folder, in the session's tmp dir.

    settings.INSTANCE is instance/ in the checkout, and every create_app() rewrites the admin
    translations it compiles there (instance/translations/); the keys and the default import
    folders live there too. Two runs in one checkout at the same time (.ci/run runs the SQLite
    and the PostgreSQL suite side by side) would truncate that file while the other one reads
    it. The test process uses a folder of its own instead; in a fresh checkout instance/ is
    empty too, so the tests see the same. Subprocesses that tests start keep the checkout's.
    """
    import settings

    patch = pytest.MonkeyPatch()
    patch.setattr(settings, "INSTANCE", str(tmp_path_factory.mktemp("instance")))
    yield
    patch.undo()


@pytest.fixture(scope="session", autouse=True)
def schema_template_dir(tmp_path_factory):
    """FreshSchema's SQLite template goes in the session's tmp dir."""
    FreshSchema.directory = str(tmp_path_factory.mktemp("schema"))
    yield
    FreshSchema.directory = None


@pytest.fixture
def app(tmp_path):
    application = build_app(tmp_path)
    yield application
    models.db.close()
    models.db.close_all()  # the pool's idle connections to this test's database


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(app):
    """login("sales") or login(username="sales2") -> a client with that user's session."""

    def _login(role=None, username=None):
        username = username or ROLE_USERS[role]
        client = app.test_client()
        response = client.submit("/login", {"username": username, "password": PASSWORD})
        assert response.status_code == 302 and "/login" not in response.location, "login failed"
        return client

    return _login


@pytest.fixture
def users(app):
    return {u.username: u for u in models.User.select()}


_serial = itertools.count(1)


@pytest.fixture
def make_customer(app, users):
    """Factory: make_customer(owner="sales1", name=..., mobile=..., **fields) -> Customer."""

    def _make(owner="sales1", **fields):
        n = next(_serial)
        values = {
            "name": f"测试客户{n:04d}",
            "customer_type": "企业",
            "mobile": f"139{n:08d}",
            "region": "华北",
            "industry": "互联网",
            "first_contact": datetime.date(2024, 3, 1),
            "owner": users[owner] if owner else None,
        }
        values.update(fields)
        return models.Customer.create(**values)

    return _make


@pytest.fixture
def make_order(app):
    def _make(customer, amount="100.00", **fields):
        n = next(_serial)
        values = {"customer": customer, "order_no": f"SO{n:08d}", "ordered_at": datetime.datetime(2024, 5, 1),
                  "amount": amount, "quantity": 1, "product": "标准版", "channel": "线上"}
        values.update(fields)
        return models.Order.create(**values)

    return _make


TEST_NOTEBOOKS = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture
def bench_scratch(request, tmp_path, monkeypatch):
    """For a test of a bench (the test module's `bench`): its data and results kept in tmp_path and its docs
    table written into tmp_path/benchmarks.md instead of docs/benchmarks.md; (tmp_path, that file)."""
    bench = request.module.bench
    monkeypatch.setattr(bench, "DATA", str(tmp_path / "data"))
    monkeypatch.setattr(bench, "RESULTS", str(tmp_path / "results"))
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n", encoding="utf-8")
    monkeypatch.setattr(bench, "write_docs", lambda markdown, section: docs.write_text(
        f"# Benchmarks\n<!-- {section}:begin -->\n{markdown}\n<!-- {section}:end -->\n", encoding="utf-8"))
    return tmp_path, docs


@pytest.fixture
def reports(tmp_path, monkeypatch):
    """Registers the tiny test notebooks (echo: prints its parameters; fails: raises in cell 2)
    and sends report outputs to tmp_path."""
    import reporting

    monkeypatch.setattr(reporting.runner, "OUT_DIR", str(tmp_path / "reports_out"))
    reporting.register("echo", os.path.join(TEST_NOTEBOOKS, "echo.ipynb"), "打印参数", defaults={"tag": "默认"})
    reporting.register("fails", os.path.join(TEST_NOTEBOOKS, "fails.ipynb"), "第二个单元格出错")
    yield
    reporting.unregister("echo")
    reporting.unregister("fails")


@pytest.fixture
def queue_inline(app, tmp_path):
    """The jobs queue in huey's immediate mode: a task runs in this process when it is enqueued."""
    import jobs

    app.config["QUEUE_URL"] = _queue_url(tmp_path)
    jobs.configure(app.config)
    jobs.queue.immediate = True
    yield
    jobs.queue.immediate = False
    jobs.queue.configure(None)


@pytest.fixture
def worker(app):
    """A real worker (huey's consumer, as `run.py worker` runs it) on this test's queue, on threads of
    the test process, so it sees what the test registered (the `reports` fixture's notebooks and
    output folder).  Report runs queued by the admin's buttons execute on it.  On teardown it
    finishes what it runs; a fixture that waits for queued runs must depend on this one."""
    import jobs
    from jobs.worker import in_process

    with in_process(app.config, workers=1):
        yield
    jobs.queue.configure(None)


@pytest.fixture
def import_dirs(tmp_path, monkeypatch):
    """Uploads and rejected-rows files of the import engine and wizard go to tmp_path."""
    from intake import engine

    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))
    monkeypatch.setattr("intake.runs.uploads_dir", lambda: str(tmp_path / "uploads"))
