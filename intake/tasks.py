"""The import wizard's job on the one jobs queue: check or import an ImportRun by id (intake.runs).

Listed in jobs.MODULES, so every worker registers it.  Takes the run's id, opens its own
database connection, and reports progress on the progress board (intake.progress), which the browser polls.
"""
import jobs
from jobs.queue import queue


@queue.task(name="intake.import")
def import_task(run_id, dry_run):
    from models import db

    from . import runs

    with db.connection_context():
        return runs.execute(run_id, dry_run).status


def purge_import_files():
    from . import progress, retention

    retention.purge()
    progress.sweep()  # progress records a killed worker left (their runs failed by the reaper meanwhile)


jobs.register("purge-import-files", purge_import_files, "30 3 * * *",
              description="删除超过保留期限的导入上传文件和错误行文件，以及已结束导入遗留的进度记录")
