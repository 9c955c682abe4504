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
