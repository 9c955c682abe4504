"""How far a running import has got, where the browser can see it while the import's transaction is open.

    board = progress.board()                        # the board for the bound database
    with board.reporter(run_id) as report:          # in the worker, around the import
        report(done, total, stage)                  # as often as the engine calls progress()
    progress.snapshot(run)                          # the progress view: the run's row merged with the board
    board.clear(run_id)                             # once the run's row holds its outcome

An import is all or nothing: one transaction, committed or rolled back at the end (a check too: it
rehearses the writes and rolls them back).  Progress written into the run's row on the import's own
connection is part of that transaction, so nobody sees it before the commit, and a check's is rolled back
with the rest: the bar would sit still and then jump to the end.  Progress therefore goes somewhere
outside the import's transaction, chosen by the database in use (BOARDS, a registry by backend):

- PostgreSQL: a second connection of the worker, in autocommit, writes the run's progress columns
  (done, total, stage) as soon as they change, so every server and worker, on any machine, reads them
  from the row.  It cannot deadlock with the import: the import's transaction never touches the run's row
  (the claim is committed before it begins, the outcome written after it ends), and the progress UPDATE
  takes the row with SKIP LOCKED, so even a lock someone else holds makes it skip one step, never wait.
- SQLite: the import holds the one write lock of the database file for its whole transaction, so no
  second connection can write anything there (it would wait for the lock until the import ends, or time
  out).  A separate SQLite file would work but brings its own locking, journal and busy waits for a few
  numbers; instead each run has a tiny JSON file in a folder beside the database file
  (`crm.db` -> `crm.db-progress/<run id>.json`), replaced atomically by rename, so a reader sees the old
  or the new numbers, never half a file.  It sits beside the database rather than under instance/ so
  that every process on that database (the server, each worker, whatever its instance folder) finds the
  same board; SQLite already means one machine.  The row is the truth once the run finishes: the file is
  removed then, and a file left by a killed worker is ignored as soon as the run is no longer busy (the
  reaper, jobs.reaping, fails it) and swept by the daily purge-import-files job.

Never imports Flask.
"""
import contextlib
import json
import logging
import os
import tempfile
import time

import numberformat
from models import ImportRun, db, is_sqlite
from models.imports import RUN_BUSY

log = logging.getLogger("intake")

# The engine's stages (intake.engine.import_file): a check ("validate") and an import ("write") each read,
# check and write every row, a check rolling the writes back at the end.
STAGES = {"validate": "检查数据", "write": "导入数据"}


class RowBoard:
    """PostgreSQL: the run's own progress columns, written on a second connection in autocommit."""

    name = "postgresql"
    UPDATE = ('UPDATE "import_run" SET "done" = %s, "total" = %s, "stage" = %s WHERE "id" = ('
              'SELECT "id" FROM "import_run" WHERE "id" = %s AND "status" IN %s FOR NO KEY UPDATE SKIP LOCKED)')

    @contextlib.contextmanager
    def reporter(self, run_id):
        import psycopg2

        database = db.obj
        connection = psycopg2.connect(dbname=database.database, **database.connect_params)
        connection.autocommit = True  # each step commits on its own, outside the import's transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '1s'")  # SKIP LOCKED never waits; this bounds anything else

            def report(done, total, stage):
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(self.UPDATE, (done, total, stage, run_id, RUN_BUSY))
                except psycopg2.Error as error:  # progress is a courtesy: never fail an import over it
                    log.warning("导入 #%s 的进度未能写入：%s", run_id, error)

            yield report
        finally:
            connection.close()

    def read(self, run_id):
        return None  # the row itself holds it

    def clear(self, run_id):
        pass  # the row's columns are the record; the outcome is written over them

    def sweep(self, keep):
        return 0


class FileBoard:
    """SQLite: one small JSON file per busy run beside the database file, replaced by rename."""

    name = "sqlite"

    def folder(self):
        return os.path.abspath(db.obj.database) + "-progress"

    def path(self, run_id):
        return os.path.join(self.folder(), f"{int(run_id)}.json")

    @contextlib.contextmanager
    def reporter(self, run_id):
        os.makedirs(self.folder(), exist_ok=True)
        target = self.path(run_id)

        def report(done, total, stage):
            record = {"done": done, "total": total, "stage": stage, "at": time.time()}
            try:
                handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.folder())
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(record, out)
                os.replace(temporary, target)  # atomic: a reader sees the old numbers or the new ones
            except OSError as error:  # a full disk must not fail the import
                log.warning("导入 #%s 的进度未能写入：%s", run_id, error)

        yield report

    def read(self, run_id):
        try:
            with open(self.path(run_id), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def clear(self, run_id):
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(run_id))

    def sweep(self, keep):
        """Remove the records of runs not in `keep` (ids of busy runs); returns how many."""
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.folder()):
                stem, extension = os.path.splitext(name)
                if extension == ".json" and stem.isdigit() and int(stem) not in keep:
                    self.clear(int(stem))
                    removed += 1
        return removed


BOARDS = {board.name: board for board in (RowBoard(), FileBoard())}


def board():
    """The board for the database the models are bound to."""
    return BOARDS["sqlite" if is_sqlite() else "postgresql"]


def sweep():
    """Remove the side records of runs that are no longer busy (left by a killed worker); returns how many."""
    busy = {run_id for (run_id,) in ImportRun.select(ImportRun.id).where(ImportRun.status.in_(RUN_BUSY)).tuples()}
    return board().sweep(busy)


def snapshot(run):
    """What the progress bar shows of `run`: the row, with the board's newer numbers while it is busy.

    A run that is not busy is read from its row alone, whatever the board still holds: a run the reaper
    failed after its worker was killed shows its failure, never the dead worker's last numbers."""
    done, total, stage = run.done or 0, run.total, run.stage
    if run.busy:
        record = board().read(run.id)
        if record and record.get("done", 0) >= done:
            done, total, stage = record["done"], record.get("total"), record.get("stage")
    percent = None
    if not run.busy:
        percent = 100
    elif total:
        percent = min(100, int(100 * done / total))
    label = dict(ImportRun._meta.fields["status"].choices)[run.status]
    return {"status": run.status, "label": label, "busy": run.busy, "percent": percent, "done": done,
            "total": total, "stage": stage, "stage_label": STAGES.get(stage), "text": describe(done, total, stage)}


def describe(done, total, stage):
    """The line under the bar, in Chinese with thousands separators: 导入数据：已处理 12,000 行，共约 50,000 行."""
    if not done:
        return "正在读取文件…"
    text = f"{STAGES.get(stage, '处理')}：已处理 {numberformat.count(done)} 行"
    if total and total > done:
        text += f"，共约 {numberformat.count(total)} 行"  # the file's size hint until the last row is read
    elif total:
        text += f"，共 {numberformat.count(total)} 行"
    return text
