"""How each kind of database is dumped and loaded: a registry keyed by kind, as jobs and reports are.

    engine = engines.for_database(models.db.obj)     # "sqlite" or "postgresql"
    facts = engine.dump(database, stage, checksums, progress)   # writes the dump into `stage`
    engine.load(database, plain_path, manifest)                 # replaces the database's content

An engine takes the snapshot, counts the rows inside it (tables.py) and streams the dump; `load` puts a
verified plain dump in place in one transaction, so a failure leaves the database as it was.
"""
import os
import re
import shutil
import subprocess
import tempfile

from peewee import SqliteDatabase

from . import tables
from .errors import BackupError

_registry = {}


def register(engine):
    _registry[engine.kind] = engine
    return engine


def get(kind):
    try:
        return _registry[kind]
    except KeyError:
        raise BackupError(f"不支持的数据库类型：{kind}") from None


def for_database(database):
    return get("sqlite" if isinstance(database, SqliteDatabase) else "postgresql")


def _say(progress, stage):
    if progress is not None:
        progress(stage)


class SqliteEngine:
    kind = "sqlite"
    suffix = ".sqlite.gz"
    compression = "gzip"

    @staticmethod
    def path(database):
        path = database.database
        if not path or path == ":memory:":
            raise BackupError("内存中的 SQLite 数据库无法备份")
        return os.path.abspath(path)

    def describe(self, database):
        return {"database": self.kind, "path": self.path(database)}

    def dump(self, database, stage, checksums=False, progress=None, workdir=None):
        """Copy the live database with SQLite's online backup API (one step: one read transaction, a consistent
        snapshot; in WAL mode writers carry on meanwhile), count the copy, then gzip it into `stage`."""
        source_path = self.path(database)
        handle, copy_path = tempfile.mkstemp(prefix=".crm-backup-", suffix=".db", dir=workdir)
        os.close(handle)
        try:
            source = tables.open_sqlite(source_path)
            copy = sqlite3_connect(copy_path)
            try:
                source.backup(copy)  # pages=-1: the whole database in one step
            finally:
                source.close()
            names = tables.sqlite_tables(copy)
            facts = {"tables": tables.sqlite_counts(copy, names)}
            if checksums:
                facts["checksums"] = tables.sqlite_checksums(copy, names)
            copy.execute("PRAGMA journal_mode = DELETE")  # the copy is one self-contained file
            copy.close()
            _say(progress, "snapshot")
            with open(copy_path, "rb") as data:
                for block in iter(lambda: data.read(1 << 20), b""):
                    stage.write(block)
            stage.close()
            return facts
        finally:
            for leftover in (copy_path, copy_path + "-wal", copy_path + "-shm", copy_path + "-journal"):
                if os.path.exists(leftover):
                    os.remove(leftover)

    def workdir(self, database):
        return os.path.dirname(self.path(database))

    def load(self, database, plain_path, manifest):
        """Check the extracted copy (integrity, rows as the manifest says), then copy it over the configured
        database with the backup API: one write transaction, so other connections see the old or the new
        content, never a mix, and the file is never replaced under a running server."""
        copy = sqlite3_connect(plain_path)
        try:
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"备份中的数据库未通过完整性检查（{verdict}），未做任何更改")
            names = tables.sqlite_tables(copy)
            compare(manifest, tables.sqlite_counts(copy, names),
                    tables.sqlite_checksums(copy, names) if manifest.get("checksums") else None, before=True)
            target = tables.open_sqlite(self.path(database))
            try:
                copy.backup(target)
            except Exception as error:  # noqa: BLE001 - a locked or read-only target: say so in Chinese
                raise BackupError(f"无法写入数据库 {self.path(database)}：{error}；未做任何更改") from None
            finally:
                target.close()
        finally:
            copy.close()

    def live_counts(self, database):
        connection = tables.open_sqlite(self.path(database))
        try:
            return tables.sqlite_counts(connection, tables.sqlite_tables(connection))
        finally:
            connection.close()


def sqlite3_connect(path):
    import sqlite3

    return sqlite3.connect(path)


class PostgresEngine:
    kind = "postgresql"
    suffix = ".pgdump"
    compression = "pg_dump"

    @staticmethod
    def environment(database):
        """libpq environment for pg_dump / pg_restore / psql: the configured database, its user and its
        search_path option; the password goes in PGPASSWORD, never on a command line."""
        params = dict(database.connect_params)
        env = dict(os.environ)
        for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"),
                              ("password", "PGPASSWORD"), ("options", "PGOPTIONS"), ("sslmode", "PGSSLMODE")):
            if params.get(key) not in (None, ""):
                env[variable] = str(params[key])
            else:
                env.pop(variable, None)
        env["PGDATABASE"] = database.database
        env["PGAPPNAME"] = "crm-backup"
        return env

    @staticmethod
    def connect(database):
        import psycopg2

        params = {k: v for k, v in database.connect_params.items() if v is not None}
        return psycopg2.connect(dbname=database.database, **params)

    def schema(self, database):
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_schema()")
                (schema,) = cursor.fetchone()
        finally:
            connection.close()
        if schema is None:
            raise BackupError("当前数据库连接没有可用的模式（search_path），无法备份或恢复")
        return schema

    def describe(self, database):
        return {"database": self.kind, "name": database.database, "schema": self.schema(database)}

    def workdir(self, database):
        return None

    def dump(self, database, stage, checksums=False, progress=None, workdir=None):
        """pg_dump (custom format) of the configured schema inside a snapshot this connection exported; the
        rows are counted in that same snapshot, so the manifest describes what the dump holds."""
        connection = self.connect(database)
        try:
            connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot(), current_schema()")
                snapshot, schema = cursor.fetchone()
                names = tables.postgres_tables(cursor, schema)
                facts = {"schema": schema, "tables": tables.postgres_counts(cursor, schema, names)}
                if checksums:
                    facts["checksums"] = tables.postgres_checksums(cursor, schema, names)
            _say(progress, "snapshot")
            command = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                       f"--snapshot={snapshot}", "--schema=" + _pattern(schema)]
            _run_into(command, self.environment(database), stage)
            stage.close()
            return facts
        finally:
            connection.rollback()
            connection.close()

    def load(self, database, plain_path, manifest):
        """One psql transaction: empty the schema (its tables, sequences, views and functions; extensions
        such as pg_trgm stay), pg_restore's SQL (without the CREATE SCHEMA entry), then a check of every
        table's rows against the manifest that raises, and so rolls everything back, on a difference."""
        schema = self.schema(database)
        if manifest.get("schema") != schema:
            raise BackupError(f"此备份来自模式 {manifest.get('schema')}，当前配置的模式是 {schema}："
                              f"请把 DATABASE_URL 的 search_path 设为 {manifest.get('schema')}；未做任何更改")
        env = self.environment(database)
        listing = subprocess.run([_tool("pg_restore"), "--list", plain_path], env=env, capture_output=True,
                                 text=True)
        if listing.returncode != 0:
            raise BackupError(f"备份文件已损坏或不完整，pg_restore 无法读取：{listing.stderr.strip()}；未做任何更改")
        kept = [line for line in listing.stdout.splitlines() if not SCHEMA_ENTRY.match(line)]
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as handle:
            handle.write("\n".join(kept) + "\n")
            list_path = handle.name
        try:
            preamble = EMPTY_SCHEMA.replace("{schema}", tables.quote(schema)).replace(
                "{schema_literal}", "'" + schema.replace("'", "''") + "'")
            check = tables.postgres_check_sql(schema, manifest["tables"], manifest.get("checksums"))
            restore = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--use-list", list_path,
                       "--file=-", plain_path]
            psql = [_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"]
            _pipe_sql(preamble, restore, check, psql, env)
        finally:
            os.remove(list_path)

    def live_counts(self, database):
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_schema()")
                (schema,) = cursor.fetchone()
                return tables.postgres_counts(cursor, schema, tables.postgres_tables(cursor, schema))
        finally:
            connection.close()


SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ (SCHEMA|COMMENT - SCHEMA) ")

EMPTY_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
DO $crm_empty$
DECLARE item record;
BEGIN
  FOR item IN
    SELECT c.oid::regclass AS name,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
    FROM pg_class c
    WHERE c.relnamespace = {schema_literal}::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype IN ('e', 'a', 'i'))
  LOOP
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = item.name::oid) THEN
      EXECUTE format('DROP %s %s CASCADE', item.kind, item.name);
    END IF;
  END LOOP;
  FOR item IN
    SELECT p.oid::regprocedure AS name FROM pg_proc p
    WHERE p.pronamespace = {schema_literal}::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', item.name);
  END LOOP;
END
$crm_empty$;
"""


def _pattern(name):
    """A pg_dump --schema pattern matching exactly `name` (double quotes: no case folding, no wildcards)."""
    return '"' + name.replace('"', '""') + '"'


def _tool(name):
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端（Debian: postgresql-client），版本不低于服务器")
    return found


def _run_into(command, env, stage):
    """Run `command`, streaming its stdout into `stage`; BackupError with its stderr if it fails."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors)
        try:
            for block in iter(lambda: process.stdout.read(1 << 20), b""):
                stage.write(block)
        finally:
            process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f"{os.path.basename(command[0])} 失败：{errors.read().decode(errors='replace').strip()}")


def _pipe_sql(preamble, restore, check, psql, env):
    """preamble + pg_restore's output + check, into psql as one transaction; BackupError if any part fails.
    psql commits at the end of its input only if every statement succeeded (ON_ERROR_STOP); a pg_restore
    that fails midway is followed by a statement that fails, so the transaction is rolled back."""
    with tempfile.TemporaryFile() as psql_errors, tempfile.TemporaryFile() as restore_errors:
        consumer = subprocess.Popen(psql, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=psql_errors)
        producer = subprocess.Popen(restore, env=env, stdout=subprocess.PIPE, stderr=restore_errors)
        try:
            consumer.stdin.write(preamble.encode())
            for block in iter(lambda: producer.stdout.read(1 << 20), b""):
                consumer.stdin.write(block)
            producer.stdout.close()
            complete = producer.wait() == 0
            consumer.stdin.write(check.encode() if complete else b"SELECT crm_restore_incomplete();\n")
            consumer.stdin.close()
        except BrokenPipeError:  # psql stopped at an error and rolled back
            pass
        finally:
            if not producer.stdout.closed:
                producer.stdout.close()
            restore_code = producer.wait()
            psql_code = consumer.wait()
        psql_errors.seek(0)
        restore_errors.seek(0)
        said = psql_errors.read().decode(errors="replace").strip()
        if restore_code != 0:
            raise BackupError("pg_restore 失败：" + restore_errors.read().decode(errors="replace").strip()
                              + "；已回滚，数据库未做任何更改")
        if psql_code != 0:
            mismatch = re.search(r"CRM-RESTORE-MISMATCH (\S+) (.*)", said)
            if mismatch:
                raise BackupError(f"恢复后表 {mismatch.group(1)} 与备份清单不符（{mismatch.group(2).strip()}），"
                                  "已回滚，数据库未做任何更改")
            raise BackupError(f"恢复失败，已回滚，数据库未做任何更改：{said}")


def compare(manifest, counts, checksums=None, before=False):
    """BackupError naming the first tables whose rows differ from the manifest."""
    expected = manifest["tables"]
    wrong = [f"{name}（应为 {count:,} 行，实际 {counts.get(name, 0):,} 行）"
             for name, count in sorted(expected.items()) if counts.get(name) != count]
    if checksums is not None:
        wrong += [f"{name}（内容校验和不符）" for name, value in sorted(manifest.get("checksums", {}).items())
                  if checksums.get(name) != value]
    if wrong:
        tail = "，未做任何更改" if before else ""
        raise BackupError("行数与备份清单不符：" + "、".join(wrong[:5]) + ("等" if len(wrong) > 5 else "") + tail)


register(SqliteEngine())
register(PostgresEngine())
