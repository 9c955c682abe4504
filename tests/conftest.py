"""Shared fixtures: an `app` on a fresh database, a `client`, `login(role)` and factories.

Runs on SQLite (a file in tmp_path, so threads see the same data) unless DATABASE_URL
points at PostgreSQL, in which case every test starts from freshly created tables there.
"""
import base64
import datetime
import itertools
import os
import re

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


def database_url(tmp_path):
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


def build_app(tmp_path):
    """An application on freshly created tables with the demo users (also for module-scoped fixtures)."""
    application = create_app(
        {
            "CRM_ENV": "testing",
            "TESTING": True,
            "DATABASE_URL": database_url(tmp_path),
            "SECRET_KEY": "test-secret",
            "FIELD_KEY": base64.b64encode(b"k" * 32).decode(),
        }
    )
    application.test_client_class = Client
    with application.app_context():
        models.drop_tables()
        init_db()
        import demo

        demo.create_users(PASSWORD)
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

    app.config["QUEUE_URL"] = f"sqlite:///{tmp_path / 'queue.db'}"
    jobs.configure(app.config)
    jobs.queue.immediate = True
    yield
    jobs.queue.immediate = False
    jobs.queue.configure(None)


@pytest.fixture
def import_dirs(tmp_path, monkeypatch):
    """Uploads and rejected-rows files of the import engine and wizard go to tmp_path."""
    from intake import engine

    monkeypatch.setattr(engine, "ERRORS_DIR", str(tmp_path / "errors"))
    monkeypatch.setattr("intake.runs.uploads_dir", lambda: str(tmp_path / "uploads"))
