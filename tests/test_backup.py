"""Backup and restore (run.py backup / restore, the backup package, the daily job) on the test's database.

The drill backs a database up while another thread keeps writing customers and orders, restores it into
a fresh database and compares every table with the source as of the backup's snapshot.  On PostgreSQL the
source and the fresh target are schemas of the test database (the bench role cannot create databases):
the source schema is renamed away after the backup and an empty one of the same name takes its place.
"""
import base64
import datetime
import json
import os
import threading
import time

import pytest

import backup
import models
from backup import tables
from models import AuditLog, Customer, Order
from tests.conftest import PASSWORD, database_url

KEY = base64.b64decode(base64.b64encode(b"k" * 32))  # the tests' FIELD_KEY
OTHER_KEY = b"x" * 32
DAY = datetime.datetime(2026, 12, 7, 10, 30, 0)
DRILL_SCHEMA = "backup_drill"


def scoped(url, schema):
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}%2Cpublic"


def rebind(url):
    models.db.close_all()
    models.bind(url)


def pg_execute(sql):
    with models.db.connection_context():
        models.db.execute_sql(sql)


class Writer(threading.Thread):
    """Keeps creating a customer with an order, one transaction each, until stopped."""

    def __init__(self, owner_id):
        super().__init__(daemon=True)
        self.owner_id = owner_id
        self.written = 0
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            with models.db.connection_context():
                while not self.stop.is_set():
                    n = self.written
                    with models.db.atomic():
                        customer = Customer.create(name=f"并发客户{n:04d}", customer_type="企业", mobile=f"137{n:08d}",
                                                   region="华东", first_contact=datetime.date(2024, 3, 1),
                                                   owner=self.owner_id)
                        Order.create(customer=customer, order_no=f"BK{n:08d}", ordered_at=datetime.datetime(2024, 5, 1),
                                     amount="1234.50", quantity=1, product="标准版", channel="线上")
                    self.written = n + 1
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def wait_for(self, count):
        """Block until `count` rows were committed (a safeguard of 120 s against a writer that hangs)."""
        deadline = time.monotonic() + 120
        while self.written < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"writer stuck at {self.written}"
            time.sleep(0.01)


def rows_of(table, up_to=None):
    where = f" WHERE id <= {int(up_to)}" if up_to is not None else ""
    with models.db.connection_context():
        return [tuple(row) for row in models.db.execute_sql(f"SELECT * FROM {table}{where} ORDER BY id").fetchall()]


def checksums_now():
    """Row count and content checksum of every table of the bound database."""
    database = models.db.obj
    if models.is_sqlite():
        connection = tables.open_sqlite(database.database)
        try:
            names = tables.sqlite_tables(connection)
            return tables.sqlite_counts(connection, names), tables.sqlite_checksums(connection, names)
        finally:
            connection.close()
    from backup.engines import PostgresEngine

    connection = PostgresEngine.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            (schema,) = cursor.fetchone()
            names = tables.postgres_tables(cursor, schema)
            return tables.postgres_counts(cursor, schema, names), tables.postgres_checksums(cursor, schema, names)
    finally:
        connection.close()


@pytest.fixture
def drill(app, tmp_path):
    """(source URL, fresh-target URL) bound to the source; everything is put back afterwards."""
    url = database_url(tmp_path)
    with app.app_context():
        if url.startswith("sqlite"):
            yield url, f"sqlite:///{tmp_path / 'fresh' / 'crm.db'}"
            rebind(url)
            return
        pg_execute(f"DROP SCHEMA IF EXISTS {DRILL_SCHEMA} CASCADE; DROP SCHEMA IF EXISTS {DRILL_SCHEMA}_source CASCADE;"
                   f" CREATE SCHEMA {DRILL_SCHEMA}")
        source = scoped(url, DRILL_SCHEMA)
        rebind(source)
        from web.setup import init_db

        import demo

        with models.db.connection_context():
            init_db()
            demo.create_users(PASSWORD)
        try:
            yield source, source
        finally:
            rebind(url)
            pg_execute(f"DROP SCHEMA IF EXISTS {DRILL_SCHEMA} CASCADE; DROP SCHEMA IF EXISTS {DRILL_SCHEMA}_source CASCADE")


def test_restore_drill_under_concurrent_writes(app, drill, tmp_path):
    source, fresh = drill
    with models.db.connection_context():
        owner = models.User.get(models.User.username == "sales1").id
    writer = Writer(owner)
    writer.start()
    writer.wait_for(20)

    def at_snapshot(stage):
        if stage == "snapshot":  # the snapshot is taken and counted: more commits land before the dump is written
            writer.wait_for(writer.written + 5)

    with models.db.connection_context():
        made = backup.create(str(tmp_path / "backups"), checksums=True, now=DAY, progress=at_snapshot)
    writer.wait_for(writer.written + 3)
    writer.stop.set()
    writer.join()
    assert writer.error is None
    manifest = made.manifest
    assert manifest["database"] == ("sqlite" if source.startswith("sqlite") else "postgresql")
    snapshot = manifest["tables"]["customer"]
    assert 20 <= snapshot < writer.written == len(rows_of("customer"))  # the source went on after the snapshot
    assert manifest["tables"]["orders"] == snapshot
    source_customers, source_orders = rows_of("customer"), rows_of("orders")
    source_counts, source_sums = checksums_now()
    source_audit = rows_of("audit_log")
    with models.db.connection_context():
        last = AuditLog.select().order_by(AuditLog.id.desc()).get()
        assert last.action == "backup" and json.loads(last.changes)["sha256"] == manifest["sha256"]

    if source.startswith("sqlite"):
        rebind(fresh)
    else:  # the source schema moves away; an empty schema of the same name is the fresh database
        pg_execute(f"ALTER SCHEMA {DRILL_SCHEMA} RENAME TO {DRILL_SCHEMA}_source; CREATE SCHEMA {DRILL_SCHEMA}")
        rebind(fresh)
    with models.db.connection_context():
        assert backup.occupied() == {}
        backup.restore(made.path)
    restored_counts, restored_sums = checksums_now()
    # every table as of the snapshot: the counts and content checksums taken inside it (the audit log has the
    # restore's own entry on top, checked below)
    logged = {"audit_log"}
    assert {t: restored_counts[t] for t in manifest["tables"] if t not in logged} == \
        {t: n for t, n in manifest["tables"].items() if t not in logged}
    assert {t: restored_sums[t] for t in manifest["checksums"] if t not in logged} == \
        {t: v for t, v in manifest["checksums"].items() if t not in logged}
    # and against the source itself: the writer's tables up to the snapshot, every other table as it is
    restored_customers = rows_of("customer")
    assert restored_customers == source_customers[:snapshot]
    assert rows_of("orders") == [row for row in source_orders if row[0] in {c[0] for c in restored_customers}]
    touched = {"customer", "orders", "audit_log"} | {t for t in source_counts if t.startswith("customer_fts")}
    assert {t: restored_sums[t] for t in source_sums if t not in touched} == \
        {t: source_sums[t] for t in source_sums if t not in touched}
    restored_audit = rows_of("audit_log")
    assert len(restored_audit) == manifest["tables"]["audit_log"] + 1
    assert restored_audit[:-1] == source_audit[:-1]  # the source's last row is this backup's entry
    with models.db.connection_context():
        entry = AuditLog.select().where(AuditLog.action == "restore").get()
        assert entry.record_id == os.path.basename(made.path) and entry.rows == manifest["rows"]
        # the restored database works: search finds a customer written before the snapshot
        assert Customer.select().where(Customer.name == "并发客户0003").count() == 1


def test_keep_rotation_deletes_only_its_own_older_backups(app, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    foreign = ["notes.txt", "crm-latest.sqlite.gz", "crm-20200101-000000.sqlite.gz.bak", "other-20200101-000000.pgdump"]
    for name in foreign:
        (folder / name).write_text("not ours")
    with app.app_context():
        made = [backup.create(str(folder), keep=2, now=DAY + datetime.timedelta(days=day)) for day in range(4)]
        made.append(backup.create(str(folder), keep=2, now=DAY + datetime.timedelta(days=3)))  # same second
    kept = sorted(p for p in os.listdir(folder) if p not in foreign)
    suffix = ".sqlite.gz" if database_url(tmp_path).startswith("sqlite") else ".pgdump"
    assert kept == sorted([f"crm-20261210-103000{suffix}", f"crm-20261210-103000{suffix}.json",
                           f"crm-20261210-103000-2{suffix}", f"crm-20261210-103000-2{suffix}.json"])
    assert made[2].deleted == [str(folder / f"crm-20261207-103000{suffix}")]
    assert all(os.stat(folder / name).st_mode & 0o077 == 0 for name in kept)  # personal data: owner only
    assert all((folder / name).read_text() == "not ours" for name in foreign)
    with app.app_context():
        assert AuditLog.select().where(AuditLog.action == "backup").count() == 5


def test_restore_refuses_a_database_with_records_unless_forced(app, tmp_path, make_customer):
    with app.app_context():
        kept = make_customer(name="备份前的客户")
        made = backup.create(str(tmp_path / "b"), now=DAY)
        make_customer(name="备份后的客户")
        with pytest.raises(backup.BackupError, match="目标数据库不是空的.*--force"):
            backup.restore(made.path)
        assert Customer.select().count() == 2  # nothing changed
        manifest = backup.restore(made.path, force=True, username="admin")
        assert [c.name for c in Customer.select()] == [kept.name]
        entry = AuditLog.select().where(AuditLog.action == "restore").get()
        changes = json.loads(entry.changes)
        assert entry.username == "admin" and changes["forced"] and changes["replaced"]["customer"] == 2
        assert changes["sha256"] == manifest["sha256"]


def test_encrypted_backup_needs_its_key(app, tmp_path, make_customer):
    with app.app_context():
        make_customer(name="加密备份客户", id_number="110101199003071234")
        made = backup.create(str(tmp_path / "b"), encrypt=True, key=KEY, now=DAY)
        assert made.path.endswith(".enc") and made.manifest["encrypted"] and made.manifest["key"] == "FIELD_KEY"
        with open(made.path, "rb") as handle:
            assert "加密备份客户".encode() not in handle.read()
        make_customer(name="之后的客户")
        for key, message in ((OTHER_KEY, "解密密钥不正确"), (None, "此备份已加密")):
            with pytest.raises(backup.BackupError, match=message):
                backup.restore(made.path, key=key, force=True)
            assert Customer.select().count() == 2
        backup.restore(made.path, key=KEY, force=True)
        (customer,) = Customer.select()
        assert customer.name == "加密备份客户" and customer.id_number == "110101199003071234"


def _rewrite_manifest(path, **changes):
    with open(path + ".json", encoding="utf-8") as handle:
        manifest = json.load(handle)
    manifest.update(changes)
    with open(path + ".json", "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)


@pytest.mark.parametrize("encrypt", [False, True])
def test_a_corrupt_or_truncated_backup_changes_nothing(app, tmp_path, make_customer, encrypt):
    with app.app_context():
        make_customer(name="原有客户")
        made = backup.create(str(tmp_path / "b"), encrypt=encrypt, key=KEY if encrypt else None, now=DAY)
        make_customer(name="新客户")
        data = bytearray(open(made.path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        with open(made.path, "wb") as handle:
            handle.write(data)
        with pytest.raises(backup.BackupError, match="备份文件已损坏.*校验和"):
            backup.restore(made.path, key=KEY, force=True)
        # damaged before the manifest was written (its sha256 fits): the stream itself says so
        with open(made.path, "wb") as handle:
            handle.write(bytes(data[: len(data) * 3 // 4]))
        from backup.archive import file_sha256

        _rewrite_manifest(made.path, sha256=file_sha256(made.path), bytes=os.path.getsize(made.path))
        with pytest.raises(backup.BackupError, match="损坏|不完整|失败"):
            backup.restore(made.path, key=KEY, force=True)
        os.remove(made.path + ".json")
        with pytest.raises(backup.BackupError, match="找不到备份清单"):
            backup.restore(made.path, key=KEY, force=True)
        assert sorted(c.name for c in Customer.select()) == ["原有客户", "新客户"]
        assert AuditLog.select().where(AuditLog.action == "restore").count() == 0


def test_cli_backup_prints_the_path_and_restore_refuses_in_chinese(app, tmp_path, monkeypatch):
    from tests.test_cli import invoke

    monkeypatch.delenv("BACKUP_KEY", raising=False)
    result = invoke(app, "backup", "--to", str(tmp_path / "cli"), "--encrypt", "--keep", "3")
    assert result.exit_code == 0, result.output
    path = result.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path) and path.endswith(".enc") and os.path.isfile(path + ".json")
    refused = invoke(app, "restore", path)
    assert refused.exit_code == 1 and "目标数据库不是空的" in refused.output and "Traceback" not in refused.output
    monkeypatch.setenv("BACKUP_KEY", base64.b64encode(OTHER_KEY).decode())
    wrong = invoke(app, "restore", path, "--force")
    assert wrong.exit_code == 1 and "解密密钥不正确" in wrong.output
    monkeypatch.setenv("BACKUP_KEY", "not a key")
    assert "BACKUP_KEY 应为 base64" in invoke(app, "restore", path).output
    monkeypatch.delenv("BACKUP_KEY")
    done = invoke(app, "restore", path, "--force")
    assert done.exit_code == 0 and "已恢复" in done.output


def test_the_daily_job_backs_up_on_a_real_worker(app, tmp_path, monkeypatch, worker):
    import jobs
    from models import JobRun
    from tests.test_jobs_probe import wait_finished

    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "daily"))
    monkeypatch.setenv("BACKUP_KEEP", "2")
    monkeypatch.setenv("BACKUP_ENCRYPT", "1")
    job = jobs.get("backup")
    assert job.enabled and job.schedule == "30 1 * * *"
    with app.app_context():
        runs = [jobs.run_now("backup", username="admin") for _ in range(3)]
        finished = wait_finished([run.id for run in runs], timeout=120)
        assert [run.status for run in finished] == ["success"] * 3, [run.error for run in finished]
        files = sorted(os.listdir(tmp_path / "daily"))
        assert len(files) == 4 and all(".enc" in name for name in files)  # two backups and their manifests
        entries = list(AuditLog.select().where(AuditLog.action == "backup"))
        assert len(entries) == 3 and json.loads(entries[0].changes)["trigger"] == "schedule"
        assert JobRun.select().where(JobRun.job == "backup").count() == 3


def test_a_restore_retires_the_builders_copy_and_queues_one_build(app, tmp_path, make_customer, monkeypatch):
    """The report builder's shared copy holds the numbers from before a restore: it goes (the screen reads live)
    and one build is queued, also when the restored job table lists a queued build (it is not on this queue)."""
    import jobs
    from analytics import copies
    from models import JobRun
    from reportbuilder.tasks import JOB

    monkeypatch.setenv("CRM_BUILDER_COPY_DIR", str(tmp_path / "analytics"))
    monkeypatch.setenv("CRM_BUILDER_COPY_MIN_ORDERS", "0")
    later = DAY + datetime.timedelta(minutes=1)
    jobs.configure(app.config)  # the test's own queue, as run.py's commands use the configured one
    with app.app_context():
        customer = make_customer(name="恢复前的客户")
        Order.create(customer=customer, order_no="R0001", ordered_at=datetime.datetime(2026, 3, 1, 9), amount="880.00")
        JobRun.create(job=JOB, trigger="manual", username="sales1", status="queued")
        made = backup.create(str(tmp_path / "b"), now=DAY)
        assert copies.build(now=DAY) is not None and copies.newest(later) is not None
        backup.restore(made.path, force=True, username="admin")
        assert copies.newest(later) is None and os.listdir(tmp_path / "analytics") == ["builder.lock"]
        queued = JobRun.select().where((JobRun.job == JOB) & (JobRun.status == "queued")).order_by(JobRun.id)
        assert [run.username for run in queued] == ["sales1", "admin"]  # the backup's row, and the one queued now

        monkeypatch.setenv("CRM_BUILDER_COPY_MIN_ORDERS", "1000")  # below the size rule the builder reads live
        backup.restore(made.path, force=True, username="admin")
        assert [run.username for run in JobRun.select().where(JobRun.job == JOB)] == ["sales1"]
    assert len(jobs.queue.pending()) == 1  # the build put on the queue, for the worker
    jobs.queue.configure(None)
