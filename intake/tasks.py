"""The import wizard's job on the one jobs queue: check or import an ImportRun by id (intake.runs).

Listed in jobs.MODULES, so every worker registers it.  Takes the run's id, opens its own
database connection, and reports progress into the run, which the browser polls.
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
    from . import retention

    retention.purge()


jobs.register("purge-import-files", purge_import_files, "30 3 * * *",
              description="删除超过保留期限的导入上传文件和错误行文件")
