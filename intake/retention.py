"""Uploaded import files and rejected-rows files are deleted after a retention period.

An upload is a copy of customer data outside the database: ID numbers, bank cards and mobiles in
clear, where neither the encryption at rest nor the access policy reaches.  The wizard needs it only
until the import is done (undo works on the database's own record, the ImportBatch), and an error
file only until its rows are fixed.  So both go after IMPORT_FILES_KEEP_DAYS (default 30):

    intake.retention.purge()            # the daily job purge-import-files

- files under the uploads folder and the error files' folder whose last change is older than the
  period; never the file of a run a worker is checking or importing;
- a run whose upload went keeps its record, report and undo; the wizard then says the file has been
  cleared (runs.file_gone) instead of failing, and its error file download says so too;
- one audit entry per purge (files and bytes), none when there was nothing to delete.
Never imports Flask.
"""
import datetime
import json
import logging
import os
from dataclasses import dataclass

from models import AuditLog, ImportRun
from models.imports import RUN_BUSY

from . import engine, runs

log = logging.getLogger("intake")
KEEP_DAYS = 30


def keep_days():
    try:
        return max(1, int(os.environ.get("IMPORT_FILES_KEEP_DAYS") or KEEP_DAYS))
    except ValueError:
        return KEEP_DAYS


def errors_dir():
    from settings import INSTANCE

    return engine.ERRORS_DIR or os.path.join(INSTANCE, "imports")


@dataclass
class Purged:
    files: int = 0
    bytes: int = 0


def _in_use():
    """Files a busy run reads or will write its errors next to: never deleted under it."""
    return {os.path.abspath(path) for (path,) in ImportRun.select(ImportRun.path)
            .where(ImportRun.status.in_(RUN_BUSY)).tuples()}


def purge(now=None, days=None):
    """Delete upload and error files older than `days` (default keep_days()) on `now`; returns Purged."""
    now = now or datetime.datetime.now()
    days = days or keep_days()
    cutoff = (now - datetime.timedelta(days=days)).timestamp()
    busy = _in_use()
    purged = Purged()
    for folder in dict.fromkeys([runs.uploads_dir(), errors_dir()]):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):  # not recursive: the uploads folder is its own entry here
            if not entry.is_file(follow_symlinks=False) or os.path.abspath(entry.path) in busy:
                continue
            stat = entry.stat(follow_symlinks=False)
            if stat.st_mtime >= cutoff:
                continue
            try:
                os.remove(entry.path)
            except FileNotFoundError:
                continue
            purged.files += 1
            purged.bytes += stat.st_size
    if purged.files:
        AuditLog.create(at=now, username="system", action="purge", model="importrun",
                        changes=json.dumps({"files": purged.files, "bytes": purged.bytes, "days": days}),
                        rows=purged.files)
        log.info("导入文件清理：删除 %s 个超过 %s 天的文件（%s 字节）", purged.files, days, purged.bytes)
    return purged
