"""How models.bind configures the database."""
import os

import pytest

import models
from models import base


@pytest.fixture
def rebinds(app):
    """Tests here rebind the proxy; give the app its database back afterwards."""
    url = app.config["DATABASE_URL"]
    yield
    models.db.close()
    base.bind(url)


def test_sqlite_file_is_pooled_with_wal_foreign_keys_and_immediate_transactions(tmp_path, monkeypatch, rebinds):
    monkeypatch.chdir(tmp_path)
    database = base.bind("sqlite:///nested/dir/crm.db")  # relative to the working directory
    assert os.path.isdir(tmp_path / "nested" / "dir")
    assert not any(name.startswith("sqlite") for name in os.listdir(tmp_path))
    assert models.is_sqlite() and hasattr(database, "close_all")
    database.connect()
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database._lock_type == "IMMEDIATE"
    database.close()
    database.close_all()


def test_memory_database_is_not_pooled(rebinds):
    database = base.bind("sqlite:///:memory:")
    assert models.is_sqlite() and not hasattr(database, "close_all")


def test_init_db_brings_an_older_database_up_to_date(app):
    """An installation from before report progress and the reports screen: init-db adds the
    missing columns and the new screen's default permissions, and keeps the admins' changes."""
    import access
    from models import ReportRun, Role, RolePermission, User
    from web.setup import init_db

    with app.app_context():
        for column in ("cells_done", "cells_total"):
            models.db.execute_sql(f"ALTER TABLE report_run DROP COLUMN {column}")
        RolePermission.delete().where(RolePermission.model == "reportrun").execute()
        sales = Role.get(Role.name == "sales")
        RolePermission.update(can_edit=False).where(
            (RolePermission.role == sales) & (RolePermission.model == "customer")).execute()

        init_db()

        columns = {c.name for c in models.db.get_columns("report_run")}
        assert {"cells_done", "cells_total"} <= columns
        run = ReportRun.create(run_id="20260101-000000-upgrade", report="echo")
        assert ReportRun.get_by_id(run.id).cells_done == 0
        grant = access.grant_for(User.get(User.username == "sales1"))
        assert grant.can("reportrun", "view") and grant.can("reportrun", "create")
        assert not grant.can("customer", "edit"), "an admin's change to an existing permission is kept"
        assert RolePermission.select().where(RolePermission.model == "reportrun").count() == 3
        init_db()  # idempotent
        assert RolePermission.select().where(RolePermission.model == "reportrun").count() == 3
