"""The daily backup, a periodic job on the one queue (listed in jobs.MODULES).

Enabled by default at 01:30 (worker's local time), before the nightly sweeps: a fresh installation that
nobody configured still keeps 14 daily backups in instance/backups.  BACKUP_SCHEDULE (a cron expression,
or `off`) moves or disables it; BACKUP_DIR, BACKUP_KEEP, BACKUP_ENCRYPT and BACKUP_KEY as for `run.py backup`.
"""
import logging
import os

import jobs
from jobs import tasks as job_tasks

log = logging.getLogger("backup")
JOB = "backup"
DEFAULT_SCHEDULE = "30 1 * * *"


def daily_backup(now=None):
    """Back the database up as the environment says; returns the Made backup."""
    import backup

    settings = backup.from_env()
    key, key_name = (None, None)
    if settings.encrypt:
        key, key_name = backup.master_key(settings, job_tasks._settings.get("FIELD_KEY") or os.environ.get("FIELD_KEY"))
    made = backup.create(settings.directory, keep=settings.keep, encrypt=settings.encrypt, key=key,
                         key_name=key_name, now=now, trigger="schedule")
    log.info("数据库已备份：%s（%s）", made.path, backup.describe(made.manifest))
    return made


_schedule = (os.environ.get("BACKUP_SCHEDULE") or DEFAULT_SCHEDULE).strip()
jobs.register(JOB, daily_backup, DEFAULT_SCHEDULE if _schedule == "off" else _schedule, enabled=_schedule != "off",
              description="每日备份数据库")
