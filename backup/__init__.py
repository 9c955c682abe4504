"""Backup and restore of the configured database, never imports Flask (the CLI and the worker use it).

    import backup
    made = backup.create(directory="instance/backups", keep=14, encrypt=True, key=master_key)
    made.path        # .../crm-20261207-103000.sqlite.gz.enc, its manifest beside it (+ ".json")
    backup.restore(made.path, key=master_key, force=False)   # BackupError (Chinese) if refused

SQLite is copied with the online backup API while the app keeps serving, PostgreSQL with pg_dump of the
configured schema; the row counts (and with checksums=True a content checksum per table) are taken inside
the same snapshot and kept in the manifest with the file's sha256, the database kind and the code
version.  A restore checks the sha256 and the key before it changes anything, refuses a database that
holds records unless force=True, and checks the rows against the manifest.  Both are audited
(AuditLog action backup / restore); after a restore, what keeps data derived from the rows outside the database
is told (RESTORED: the report builder's shared copy).  The daily job `backup` is in backup/tasks.py; the engines per
database kind in engines.py; the file format in archive.py.
"""
import base64
import datetime
import getpass
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from . import archive, engines
from .archive import own_backups, rotate
from .errors import BackupError

DEFAULT_KEEP = 14
# Tables init-db fills by itself: a database holding rows only there still counts as empty.
SEEDED = ("role", "role_permission", "column_rule", "choice", "setting")


@dataclass
class Settings:
    """The backup settings from the environment (BACKUP_DIR, BACKUP_KEEP, BACKUP_ENCRYPT, BACKUP_KEY)."""
    directory: str
    keep: int = DEFAULT_KEEP
    encrypt: bool = False
    backup_key: bytes = None


def from_env(env=None):
    import settings

    env = os.environ if env is None else env
    keep = env.get("BACKUP_KEEP") or str(DEFAULT_KEEP)
    if not keep.isdigit() or int(keep) < 1:
        raise BackupError(f"BACKUP_KEEP 应为不小于 1 的整数，收到 {keep!r}")
    return Settings(directory=env.get("BACKUP_DIR") or os.path.join(settings.INSTANCE, "backups"), keep=int(keep),
                    encrypt=(env.get("BACKUP_ENCRYPT") or "0") == "1", backup_key=key_from_text(env.get("BACKUP_KEY"),
                                                                                               "BACKUP_KEY"))


def key_from_text(text, name):
    """The bytes of a base64 key (BACKUP_KEY or FIELD_KEY); None for no text; BackupError if it is not one."""
    if not text:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise BackupError(f"{name} 应为 base64 编码的随机密钥（至少 16 字节，建议 32 字节）")
    return key


def master_key(settings, field_key=None):
    """(key bytes, its name): BACKUP_KEY when set, else FIELD_KEY (base64 text from the configuration)."""
    if settings.backup_key is not None:
        return settings.backup_key, "BACKUP_KEY"
    key = key_from_text(field_key, "FIELD_KEY")
    if key is None:
        raise BackupError("加密备份需要密钥：请设置 BACKUP_KEY 或 FIELD_KEY")
    return key, "FIELD_KEY"


@dataclass
class Made:
    path: str
    manifest: dict
    deleted: list = field(default_factory=list)


def _database():
    from models import db

    return db.obj


def code_version():
    from importlib import metadata

    try:
        version = metadata.version("crm-platform")
    except metadata.PackageNotFoundError:
        version = "unknown"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+{commit}" if commit else version


def create(directory, keep=DEFAULT_KEEP, encrypt=False, key=None, key_name="FIELD_KEY", checksums=False, now=None,
           username="system", trigger="cli", progress=None):
    """Back the configured database up into `directory`; keep the newest `keep` of our naming; returns Made.

    `key` (bytes) is needed with encrypt=True; `now` names the file (UTC, default the clock);
    `progress(stage)` is called with "snapshot" once the snapshot is taken and counted."""
    from models import AuditLog

    if keep < 1:
        raise BackupError("保留份数至少为 1")
    if encrypt and not key:
        raise BackupError("加密备份需要密钥：请设置 BACKUP_KEY 或 FIELD_KEY")
    database = _database()
    engine = engines.for_database(database)
    described = engine.describe(database)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    moment = now or archive.utc_now()
    path = archive.new_path(directory, moment, engine.suffix, encrypt)
    partial = os.path.join(directory, "." + os.path.basename(path) + ".partial")
    started = time.monotonic()
    stage, sink = archive.writer(partial, key if encrypt else None, gzip=engine.compression == "gzip")
    try:
        facts = engine.dump(database, stage, checksums=checksums, progress=progress, workdir=directory)
        os.replace(partial, path)
    except BaseException:
        stage.abort()
        if os.path.exists(partial):
            os.remove(partial)
        raise
    manifest = {
        "format": 1,
        "file": os.path.basename(path),
        "created_at": moment.replace(microsecond=0).isoformat() + "Z",
        "database": engine.kind,
        "schema": facts.get("schema"),
        "source": described.get("name") or os.path.basename(described.get("path", "")),
        "compression": engine.compression,
        "encrypted": bool(encrypt),
        "key": key_name if encrypt else None,
        "bytes": sink.size,
        "sha256": sink.hash.hexdigest(),
        "tables": facts["tables"],
        "rows": sum(facts["tables"].values()),
        "code_version": code_version(),
        "seconds": round(time.monotonic() - started, 2),
    }
    if checksums:
        manifest["checksums"] = facts["checksums"]
    archive.write_manifest(path, manifest)
    deleted = rotate(directory, keep)
    AuditLog.create(username=username or "system", action="backup", model="database", record_id=manifest["file"],
                    rows=manifest["rows"], changes=json.dumps(
                        {"file": path, "sha256": manifest["sha256"], "bytes": manifest["bytes"],
                         "database": engine.kind, "encrypted": manifest["encrypted"], "trigger": trigger,
                         "deleted": [os.path.basename(p) for p in deleted], "by": _os_user()}, ensure_ascii=False))
    return Made(path=path, manifest=manifest, deleted=deleted)


def occupied():
    """Tables of the configured database that hold records (rows beyond what init-db seeds): {table: rows}."""
    database = _database()
    engine = engines.for_database(database)
    counts = engine.live_counts(database)
    from models import ALL_MODELS

    ours = {model._meta.table_name for model in ALL_MODELS}
    return {name: count for name, count in counts.items() if count and name in ours and name not in SEEDED}


def verify(path, key=None):
    """The manifest of backup `path` once its sha256 (and, encrypted, the key) check out; BackupError otherwise."""
    manifest = archive.read_manifest(path)
    if os.path.getsize(path) != manifest.get("bytes") or archive.file_sha256(path) != manifest["sha256"]:
        raise BackupError(f"备份文件已损坏：{os.path.basename(path)} 的校验和（sha256）与清单不符，未做任何更改")
    if manifest.get("encrypted"):
        if not key:
            raise BackupError(f"此备份已加密（密钥 {manifest.get('key') or 'BACKUP_KEY / FIELD_KEY'}），"
                              "请设置该密钥后再恢复；未做任何更改")
        archive.check_key(path, key)
    return manifest


def restore(path, key=None, force=False, username="system", progress=None):
    """Restore backup `path` into the configured database; returns the manifest.  Verified first (sha256, key,
    database kind); a database holding records is refused unless force=True; rows checked afterwards."""
    from models import AuditLog

    path = os.path.abspath(path)
    manifest = verify(path, key)
    database = _database()
    engine = engines.for_database(database)
    if manifest["database"] != engine.kind:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(f"此备份来自 {names.get(manifest['database'], manifest['database'])} 数据库，"
                          f"当前配置的是 {names[engine.kind]}，不能直接恢复；未做任何更改")
    held = occupied()
    if held and not force:
        listed = "、".join(f"{name} {count:,} 行" for name, count in sorted(held.items())[:6])
        raise BackupError(f"目标数据库不是空的（{listed}{'等' if len(held) > 6 else ''}）：恢复会覆盖这些数据。"
                          "确认要覆盖请加 --force；未做任何更改")
    started = time.monotonic()
    handle, plain = tempfile.mkstemp(prefix=".crm-restore-", suffix=".tmp", dir=engine.workdir(database))
    os.close(handle)
    try:
        archive.extract(path, manifest, key, plain)
        if progress is not None:
            progress("extracted")
        _close_pool()
        engine.load(database, plain, manifest)
    finally:
        os.remove(plain)
    engines.compare(manifest, engine.live_counts(database))
    from models import audit as append_only

    append_only.install()  # a backup from before the audit log's triggers gets them (idempotent, docs/audit.md)
    AuditLog.create(username=username or "system", action="restore", model="database", record_id=manifest["file"],
                    rows=manifest["rows"], changes=json.dumps(
                        {"file": path, "sha256": manifest["sha256"], "created_at": manifest["created_at"],
                         "database": engine.kind, "replaced": held, "forced": bool(force and held),
                         "seconds": round(time.monotonic() - started, 2), "by": _os_user()}, ensure_ascii=False))
    _tell_restored(username or "system")
    return manifest


# What keeps something derived from the database's rows outside it, as "module:function" called with the restoring
# user's name once a restore is done and audited: the report builder's shared copy would otherwise show the
# numbers from before the restore until its next build.  Imported when called, so backup imports no capability.
RESTORED = ["reportbuilder.tasks:after_restore"]


def _tell_restored(username):
    import importlib

    for target in RESTORED:
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)(username)


def _close_pool():
    """Idle pooled connections of this process go (the next query opens one on the restored content); the one
    in use stays open: it is not in a transaction, so it holds no lock the restore waits for."""
    from models import db

    close_idle = getattr(db.obj, "close_idle", None)
    if close_idle is not None:
        close_idle()


def _os_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def describe(manifest):
    """One line for people: when, which database, how many rows, size."""
    size = manifest.get("bytes", 0)
    return (f"{manifest['created_at']} {manifest['database']} {manifest.get('rows', 0):,} 行 "
            f"{size / 1024 / 1024:,.1f} MB{'，已加密' if manifest.get('encrypted') else ''}")


__all__ = ["BackupError", "Made", "Settings", "create", "describe", "from_env", "key_from_text", "master_key",
           "occupied", "own_backups", "restore", "rotate", "verify"]
